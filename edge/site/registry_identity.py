"""Which registry an office may publish: the start rule of DESIGN 6.4's ``registry_id``.

A site's registry gets a random ``registry_id`` once, when it is created; it stays across epochs and
restores, and is signed in the head (``P/registry/head``) and in every record. Before an office
publishes anything it reads the broker's retained head (verified with ``registry.key``) and ``decide``
compares it with its database:

    same id                        start
    another id, or none            refuse (exit 2, naming both): a mistyped ``database:``, an empty
                                   file, another site's copy — publishing it would empty every gate
    database of an earlier version upgrade: adopt the head's id (or make one when the broker has no head)
      (no id, but a published     when the head is of the same or a later epoch; then a new epoch
      registry)                    publishes every record again, signed with the id
    ``--new-site``                 an empty database only; refused while the broker's head has people,
                                   unless ``--replace ID`` names exactly that head's id
    ``--replace ID``               this database's registry replaces the broker's (ID must be its id)

The plan's ``replaces`` goes into every head from then on, so a gate that was away still learns the
replacement was meant (edge.site.replica keeps its old copy aside; a head of another id that does not say
it replaces the gate's is refused).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


class RegistryMismatch(Exception):
    """The office must not start (exit 2): its database is not the registry the broker's head says."""


@dataclass(frozen=True)
class Plan:
    action: str  # "keep" (as it is) | "create" (a new site) | "upgrade" | "replace"
    registry_id: str | None = None  # the id to adopt (None with "keep" and "create": made when first needed)
    replaces: str | None = None  # the head's id this registry replaces ("replace" only)
    new_epoch: bool = False  # publish everything again under a new epoch (signed with the id)


def new_registry_id() -> str:
    return uuid.uuid4().hex[:16]


def head_id(head: dict | None) -> str | None:
    """The id a head goes by; an earlier version's head (no id) by its epoch, so ``--replace`` can name it."""
    if head is None:
        return None
    return str(head.get("registry_id") or f"legacy-{head.get('epoch')}")


def describe_head(head: dict | None) -> str:
    if head is None:
        return "no head on the broker"
    return (f"registry_id {head_id(head)} (epoch {head.get('epoch')}, {head.get('people')} people, "
            f"{head.get('vehicles')} vehicles)")


def describe_database(db_id: str | None, empty: bool, db_head: dict | None, path) -> str:
    if db_id:
        return f"the database {path} has registry_id {db_id}"
    if empty:
        return f"the database {path} has registry_id none (it is empty)"
    what = f"a registry of epoch {db_head.get('epoch')}" if db_head else "people never published"
    return f"the database {path} has registry_id none (an earlier version's database: {what})"


def decide(*, db_id: str | None, empty: bool, db_head: dict | None, head: dict | None, new_site: bool,
           replace: str | None, path, config_path="CONFIG") -> Plan:
    """What to do with this database given the broker's verified head; raises ``RegistryMismatch``."""
    theirs = head_id(head)
    ours = describe_database(db_id, empty, db_head, path)
    broker = f"the broker's signed head has {describe_head(head)}"
    if new_site:
        if not empty:
            raise RegistryMismatch(f"--new-site needs an empty database: {ours}")
        if replace is not None and head is not None and replace != theirs:
            raise RegistryMismatch(f"--replace {replace} does not name the registry on the broker: {broker}")
        if replace is None and head is not None and int(head.get("people") or 0) > 0:
            raise RegistryMismatch(
                f"--new-site refused: {broker}; a new registry would empty every gate. If that is meant "
                f"(the gates keep their old copy aside until an admin confirms), add --replace {theirs}")
        replaced = theirs or replace
        return Plan("replace" if replaced else "create", new_registry_id(), replaced, new_epoch=bool(head))
    if replace is not None:
        if empty:
            raise RegistryMismatch(f"--replace on an empty database needs --new-site: {ours}")
        if head is None or replace != theirs:
            raise RegistryMismatch(f"--replace {replace} does not name the registry on the broker: {broker}")
        if db_id == theirs:
            return Plan("keep")
        return Plan("replace", db_id or new_registry_id(), theirs, new_epoch=True)
    if db_id is not None:
        if head is None or head.get("registry_id") == db_id:
            return Plan("keep")
        raise RegistryMismatch(_refusal(ours, broker, config_path, theirs))
    if empty:
        if head is None:
            return Plan("create")  # a new site: nothing on the broker, nothing here
        raise RegistryMismatch(_refusal(ours, broker, config_path, theirs))
    if db_head is None:  # people, never published (a registry made before the office): a new site's
        if head is None:
            return Plan("create")
        raise RegistryMismatch(_refusal(ours, broker, config_path, theirs))
    if head is None:
        return Plan("upgrade", new_registry_id(), new_epoch=True)
    if int(head.get("epoch") or 0) >= int(db_head.get("epoch") or 0):
        return Plan("upgrade", head.get("registry_id") or new_registry_id(), new_epoch=True)
    raise RegistryMismatch(_refusal(ours, broker, config_path, theirs))


def _refusal(ours: str, broker: str, config_path, theirs: str | None) -> str:
    return (f"registry mismatch, not starting: {ours}, but {broker}. Publishing this database would change or "
            f"empty the registry at every gate. Check database: in {config_path} (a typo or a new file?); to "
            f"start a new registry for the site on purpose: gate-edge office -c {config_path} --new-site "
            f"--replace {theirs}")
