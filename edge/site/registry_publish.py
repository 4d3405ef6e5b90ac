"""The office's side of the site registry: every change becomes a signed, retained record (DESIGN 6.4).

``RegistryPublisher.attach(store)`` hooks the data layer: inside the transaction of any change to a
person (or their templates), a vehicle or a pass revocation, the current state is read, signed with
``registry.key`` and written to ``registry_records`` and to the outbox (retained, QoS 1) — so a change
made by the CLI while the service or the broker is down is published when they return. Once per
transaction, just before it commits, the head record is rebuilt: what a complete copy holds.

Versions come from one counter that never goes back; the epoch is fixed when the registry is first
published and replaced (``new_epoch``) when the office finds the broker's head ahead of its own: it
was restored from a backup, so everything is published again under a new epoch.

The registry's ``registry_id`` (DESIGN 6.4; the start rule is edge.site.registry_identity's) is made once,
when a new registry publishes its first record, and signed into every record and the head; the head
also names the registry it ``replaces`` after ``--new-site --replace``. A database of an earlier
version (records without an id) gets one only from the office's start, which compares it with the
broker's head first.
"""

from __future__ import annotations

import json
import logging
import time

from edge import contract
from edge.keys import sign_record
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
EPOCH_KEY = "registry_epoch"
ID_KEY = "registry_id"
REPLACES_KEY = "registry_replaces"


class RegistryPublisher:
    def __init__(self, config, store, signer, clock=time.time, *, topics: contract.Topics):
        """``topics``: the office's (``Topics.of`` its config)."""
        self.config = config
        self.store = store
        self.signer = signer
        self.clock = clock
        self.topics = topics

    def attach(self) -> RegistryPublisher:
        self.store.on_registry_change = self.changed
        return self

    # -- epoch and version -----------------------------------------------------------------
    def epoch(self) -> int:
        value = self.store.kv_get(EPOCH_KEY)
        if value is None:
            value = str(int(self.clock()))
            self.store.kv_set(EPOCH_KEY, value)
        return int(value)

    def registry_id(self) -> str | None:
        """This registry's id; made here for a new registry (no head published yet). None: a database of
        an earlier version, until the office's start gives it one (``adopt_identity``)."""
        value = self.store.kv_get(ID_KEY)
        if value is None and self.store.records.get("head") is None:
            from edge.site.registry_identity import new_registry_id

            value = new_registry_id()
            self.store.kv_set(ID_KEY, value)
        return value

    def adopt_identity(self, plan, broker_head: dict | None) -> None:
        """The office's start decided (edge.site.registry_identity.decide): take the plan's id, note what it
        replaces, and publish everything again under a new epoch above the broker's when the plan says so."""
        store = self.store
        with store.transaction():
            if plan.registry_id:
                store.kv_set(ID_KEY, plan.registry_id)
            if plan.replaces:
                store.kv_set(REPLACES_KEY, plan.replaces)
        if plan.new_epoch:
            self.new_epoch(broker_head)
        elif plan.action != "keep":
            with store.transaction():
                store.before_commit(self.publish_head)

    def position(self) -> tuple[int, int]:
        head = self.store.records.get("head")
        return (head["epoch"], head["version"]) if head else (self.epoch(), 0)

    def _ts(self) -> str:
        return iso(self.clock(), self.config.zone)

    # -- records ---------------------------------------------------------------------------
    def changed(self, kind: str, key) -> None:
        """Inside the change's transaction: sign and queue the record of ``kind``/``key`` as it is now."""
        store = self.store
        epoch, version = self.epoch(), store.next_number("registry_version")
        record, deleted = self._build(kind, key, epoch, version)
        self._put(f"{kind}/{key}", kind, self.topics.registry(kind, key), record, deleted)
        store.before_commit(self.publish_head)

    def _build(self, kind: str, key, epoch: int, version: int) -> tuple[dict, bool]:
        store, ts = self.store, self._ts()
        if kind == "person":
            person = store.people.find_by_id(int(key))
            if person is None:
                return contract.tombstone("person", int(key), epoch=epoch, version=version, ts=ts), True
            record = contract.person_record(
                person_id=person["id"], unit=person["unit"], care_watch=bool(person["care_watch"]),
                registered_at=person["created_at"], templates=store.templates.of_person(person["id"]), epoch=epoch,
                version=version, ts=ts, away_until=person["away_until"], away_since=person["away_since"])
            adopted = store.kv_get(f"adopted:person:{person['id']}")
            if adopted:  # an added field: the adopted gate moves what it kept under the old id (edge.office.adopt)
                record["adopted_from"] = json.loads(adopted)
            return record, False
        if kind == "vehicle":
            vehicle = store.vehicles.get(key)
            if vehicle is None:
                return contract.tombstone("vehicle", key, epoch=epoch, version=version, ts=ts), True
            return contract.vehicle_record(
                plate=vehicle["plate"], vehicle_class=vehicle["class"], person_id=vehicle["person_id"],
                valid_from=vehicle["valid_from"], valid_until=vehicle["valid_until"], epoch=epoch, version=version,
                ts=ts, valid_from_at=vehicle["valid_from_at"], valid_until_at=vehicle["valid_until_at"]), False
        if kind == "pass":
            return contract.pass_revocation(pass_id=key, epoch=epoch, version=version, ts=ts), True
        raise ValueError(f"no registry record of kind {kind!r}")

    def _put(self, key: str, kind: str, topic: str, record: dict, deleted: bool) -> dict:
        # The kind and the site are signed with the rest: a genuine record replayed on another topic (a
        # vehicle on registry/settings, another site's head) is refused by every gate.
        # The registry's id too: a gate refuses a record of another registry (a replaced one's, left
        # retained at the broker) instead of mixing it into its copy.
        registry_id = self.registry_id()
        identity = {"registry_id": registry_id} if registry_id else {}
        signed = sign_record(self.signer, {**record, "kind": kind, "site": self.config.site, **identity})
        self.store.records.put(key, kind, signed, deleted=deleted)
        # The record replaces every earlier one on its topic (retained: the broker keeps the newest only):
        # the earlier ones leave the outbox, sent or not, so a removed template or an erased person's
        # unit is not kept there after the registry forgot it.
        self.store.outbox.supersede(topic)
        self.store.outbox.enqueue(topic, signed, retain=True,
                                  msg_id=f"registry:{key}:{record['epoch']}:{record['version']}", now=self.clock())
        return signed

    def publish_head(self) -> dict:
        epoch = self.epoch()
        summary = self.store.records.summary(epoch)
        # The head's version is that of the newest person, vehicle or pass record its digest covers;
        # next_person_id (added) lets an office restored from a backup never reuse an id.
        head = contract.head_record(epoch=epoch, version=summary["version"], people=summary["people"],
                                    vehicles=summary["vehicles"], passes_revoked=summary["passes_revoked"],
                                    digest=summary["digest"], ts=self._ts())
        head["next_person_id"] = self.store.people.next_id()
        replaces = self.store.kv_get(REPLACES_KEY)
        if replaces:  # kept in every head: a gate that was away when it happened learns it was meant
            head["replaces"] = replaces
        return self._put("head", "head", self.topics.registry("head"), head, False)

    def publish_settings(self, gate_keys: dict[str, dict]) -> dict | None:
        """The site settings with the gates' public keys; a new record only when something changed."""
        settings = self.config.site_settings.model_dump(mode="json")
        current = self.store.records.get("settings")
        if current is not None:
            same = {k: current.get(k) for k in (*settings, "gates")} == {**settings, "gates": gate_keys}
            if same and current.get("epoch") == self.epoch():
                return None
        with self.store.transaction():
            record = contract.settings_record(settings=settings, gates=gate_keys, epoch=self.epoch(),
                                              version=self.store.next_number("registry_version"), ts=self._ts())
            return self._put("settings", "settings", self.topics.registry("settings"), record, False)

    def publish_missing(self) -> int:
        """Publish what has no record yet (a registry made before the office, an adopted gate's); returns how many."""
        count = 0
        with self.store.transaction():
            for kind in ("person", "vehicle", "pass"):
                for key in self.store.records.missing(kind):
                    self.changed(kind, key)
                    count += 1
            if self.store.records.get("head") is None:
                self.store.before_commit(self.publish_head)
        return count

    def new_epoch(self, broker_head: dict | None = None) -> int:
        """After a restore from backup: a new epoch above every earlier one (the broker's included, whatever
        the clock says), person ids above every id already handed out, and everything published again."""
        store = self.store
        with store.transaction():
            seen = broker_head or {}
            epoch = max(int(self.clock()), self.position()[0] + 1, int(seen.get("epoch", 0)) + 1)
            while store.next_number("person") < int(seen.get("next_person_id", 0)):
                pass  # never hand out again an id the lost changes had given
            store.kv_set(EPOCH_KEY, str(epoch))
            for key in store.records.keys_older_than(epoch):
                store.records.delete(key)
            if store.records.get("settings") is not None:
                store.records.delete("settings")
        _LOG.warning("registry: starting epoch %s; publishing every record again", epoch)
        self.publish_missing()
        return epoch

    def republish(self, gate: str, after: tuple[int, int], limit: int, request_id: str) -> int:
        """Answer a gate's resync request: first a note to that gate of how many records follow (sent first,
        so the broker never drops it with the tail of a burst), then the records after (epoch, version)
        and the head. The gate counts what arrives, and asks again, smaller, when the broker cut it short."""
        records = self.store.records.page(after, limit)
        last = max([after, *((r["epoch"], r["version"]) for _, _, r in records)])
        with self.store.transaction():
            self.store.outbox.enqueue(
                self.topics.for_gate(gate).resync_answers,
                contract.resync_page_end(request_id=request_id, count=len(records), last=last, limit=limit),
                msg_id=f"resync:{request_id}:page", now=self.clock())
            for kind, key, record in records:
                self.store.outbox.enqueue(self.topics.registry(kind, key), record, retain=True,
                                          msg_id=f"resync:{request_id}:{kind}/{key}", now=self.clock())
            head = self.store.records.get("head")
            if head is not None:
                self.store.outbox.enqueue(self.topics.registry("head"), head, retain=True,
                                          msg_id=f"resync:{request_id}:head", now=self.clock())
        return len(records)
