"""The replica's records: each verified with the office's ``registry.pub`` and applied once, by (epoch, version).

A record never replaces one of a higher (epoch, version). People arrive without name or phone, under the
office's ids; templates replace the person's; a vehicle whose owner is not here yet is kept without one
and completed when the owner's record arrives; a pass is known here only by its revocation. The site
settings replace the gate's own policy, parking and inactivity values (``SiteRules``), and are checked
against the gate's face encoder and identity key. A forged record, or one signed with an unknown key,
changes nothing and raises a ``registry`` device alert.

Which registry (DESIGN 6.4 ``registry_id``): the gate keeps the id of the head it follows. A record of
another registry is ignored; a head of another registry is refused (a ``registry`` alert, nothing
changes) unless it says it ``replaces`` this gate's: then this copy is set aside (``registry_replaced``,
not erased, a ``registry-replaced`` alert) until an admin runs ``gate-edge confirm-replace``, and the
new registry is followed. A gate without an id (new, or from an earlier version) takes the first head's.
"""

from __future__ import annotations

import logging

from edge import contract
from edge.keys import verify_record
from edge.rules.away import Pause
from edge.schemas.phrases import Phrase, say
from edge.site.replica.summary import ID_KEY
from edge.timeutil import parse_iso

_LOG = logging.getLogger(__name__)


class Records:
    def __init__(self, config, store, verifier, alerts, rules, *, topics, summary, adoption, resync, lock,
                 signer=None, clock, encoder_name=None):
        """``summary``, ``adoption``, ``resync``: the replica's other parts (told of changes, asked whether
        staging, told of what arrived for a page); ``lock``: the replica's; ``signer``: the gate's identity
        key, checked against the one the site settings list; ``encoder_name``: the gate's face encoder."""
        self.config = config
        self.store = store
        self.verifier = verifier
        self.alerts = alerts
        self.rules = rules
        self.summary = summary
        self.adoption = adoption
        self.resync = resync
        self.lock = lock
        self.signer = signer
        self.clock = clock
        self.encoder_name = encoder_name
        self.topics = topics
        self.refused = 0
        self.foreign = 0  # records of another registry, ignored
        self._foreign_ids: set = set()
        self.foreign_head: Phrase | None = None  # why the last head was refused (another registry's)
        self._aside_seen = None

    def apply(self, topic: str, raw: bytes) -> str:
        """One record, inside the caller's transaction and the replica's lock: applied, old, foreign,
        ignored or refused."""
        parsed = self.topics.parse_registry_topic(topic)
        if parsed is None:
            return "ignored"
        kind, key = parsed
        if not raw:
            return "ignored"  # a retained message being cleared
        try:
            record = contract.parse_registry_record(raw, kind, self.config.site,
                                                    verify=lambda r: verify_record(self.verifier, r))
        except contract.Refused as exc:
            return self._refuse(topic, str(exc))
        position = (record["epoch"], record["version"])
        if kind == "head":
            refusal = self._registry_of_head(record)
            if refusal:
                return refusal
        else:
            mine = self.store.kv_get(ID_KEY)
            if mine is not None and record.get("registry_id") != mine:
                return self._foreign(topic, record, mine)
        store_key = kind if key is None else f"{kind}/{key}"
        if kind in ("person", "vehicle", "pass"):
            self.resync.seen(store_key, position)
        current = self.store.records.version_of(store_key)
        if current is not None and current >= position:
            return "old"
        try:
            if self.adoption.staging and kind in ("person", "vehicle", "pass"):
                deleted = self.adoption.check_record(kind, key, record)
            else:
                deleted = self.apply_record(kind, key, record)
        except (KeyError, TypeError, ValueError) as exc:
            return self._refuse(topic, f"unusable record: {exc}")
        self.store.records.put(store_key, kind, record, deleted=deleted)
        self.summary.changed()
        return "applied"

    def apply_record(self, kind: str, key: str | None, record: dict) -> bool:
        """A verified record into the store (people, templates, vehicles, settings); True when it deletes
        (or revokes) its key."""
        store = self.store
        if kind == "person":
            person_id = int(record["person_id"])
            if str(person_id) != key:
                raise ValueError(f"person {person_id} on the topic of {key}")
            if record.get("deleted"):
                if store.people.find_by_id(person_id) is not None:
                    store.people.remove(person_id, self.clock())
                return True
            # An added field (DESIGN 4.3: older gates ignore it): the pause, checked readable before it is kept.
            away_until, away_since = record.get("away_until"), record.get("away_since")
            Pause.of(away_until, away_since)
            store.people.put_replica(person_id, str(record["unit"]), bool(record["care_watch"]),
                                     str(record["registered_at"]), away_until, away_since)
            store.templates.replace(person_id, [(str(t["encoder"]), contract.vector_of(t["vector"]))
                                                for t in record.get("templates", [])])
            for vehicle in store.records.vehicles_of_person(person_id):  # owners that arrived after their cars
                self._apply_vehicle(vehicle)
            return False
        if kind == "vehicle":
            if record.get("plate") != key:
                raise ValueError(f"plate {record.get('plate')!r} on the topic of {key}")
            if record.get("deleted"):
                store.vehicles.remove_replica(key)
                return True
            self._apply_vehicle(record)
            return False
        if kind == "pass":
            if record.get("pass_id") != key or record.get("revoked") is not True:
                raise ValueError("a pass record is a revocation of the pass on its topic")
            return True
        if kind == "settings":
            self.rules.update(record)
            self._check_encoder(record.get("face_encoder"))
            self._check_identity(record)
            return False
        if kind == "head":
            return False
        raise ValueError(f"unknown record kind {kind}")

    def _registry_of_head(self, record: dict) -> str | None:
        """Inside the batch's transaction: follow a head of this registry, take a first id, or set this
        copy aside for a registry that says it replaces this one. Returns "refused" for any other head."""
        store = self.store
        mine, theirs = store.kv_get(ID_KEY), record.get("registry_id")
        replaces = record.get("replaces")
        if theirs is not None and not isinstance(theirs, str):
            theirs = None
        if mine is not None and theirs == mine or mine is None and theirs is None:
            self.foreign_head = None
            people = record.get("people")
            if isinstance(people, int) and people < store.people.count():
                _LOG.warning("registry: the office's head lists %d people, this copy holds %d: %d will be removed "
                             "as the copy follows it", people, store.people.count(), store.people.count() - people)
            return None
        if mine is None:
            if replaces and (store.people.count() or store.records.page((0, 0), 1)):
                self._set_aside(None, record)
            else:
                store.kv_set(ID_KEY, theirs)
                _LOG.info("registry: this copy follows registry %s", theirs)
            self.foreign_head = None
            self.summary.changed()
            return None
        if theirs is not None and replaces == mine:
            self._set_aside(mine, record)
            self.foreign_head = None
            return None
        self.refused += 1
        self.foreign_head = say("registry_foreign_head", theirs=theirs or "none", epoch=str(record.get("epoch")),
                                 people=str(record.get("people")), mine=str(mine))
        _LOG.error("registry: %s", self.foreign_head)
        self.summary.changed()
        return "refused"

    def _set_aside(self, old: str | None, head: dict) -> None:
        """The office replaced the registry (``--new-site --replace``): this copy is kept aside, not erased,
        and the new registry starts empty here."""
        store = self.store
        people = store.records.set_aside(old or "none", self.clock())
        store.people.clear_all()
        store.vehicles.clear_all()
        store.kv_set(ID_KEY, head["registry_id"])
        self.summary.changed()
        _LOG.warning("registry: the office REPLACED registry %s (%d people) by %s: the old copy is kept aside until "
                     "an admin runs gate-edge confirm-replace", old or "none", people, head["registry_id"])

    def _foreign(self, topic: str, record: dict, mine: str) -> str:
        """A genuine record of another registry (a replaced one's, still retained at the broker): ignored."""
        self.foreign += 1
        theirs = record.get("registry_id")
        if theirs not in self._foreign_ids:
            self._foreign_ids.add(theirs)
            _LOG.warning("registry: ignored a record of registry %s on %s (this gate follows %s)", theirs or "none",
                         topic, mine)
        return "foreign"

    def _apply_vehicle(self, record: dict) -> None:
        owner = record.get("person_id")
        if owner is not None and self.store.people.find_by_id(owner) is None:
            owner = None  # completed when the owner's record arrives
        # An added field (DESIGN 4.3): an invited car's window, checked readable before it is kept.
        window = {name: record.get(name) for name in ("valid_from_at", "valid_until_at")}
        for name, value in window.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be an ISO-8601 time, got {type(value).__name__}")
            if value is not None:
                parse_iso(value)
        self.store.vehicles.upsert(record["plate"], record["class"], owner, valid_from=record.get("valid_from"),
                                   valid_until=record.get("valid_until"), **window)

    def _refuse(self, topic: str, why: str) -> str:
        self.refused += 1
        _LOG.error("registry: refused the record on %s: %s", topic, why)
        self.alerts.device("registry", False, say("registry_record_refused", where=str(topic.rsplit("/", 2)[-2:]),
                                                  error=why))
        return "refused"

    def _check_encoder(self, site_encoder: str | None) -> None:
        """The site's face encoder (its settings) against this gate's: a device alert of its own naming both
        while they differ (not ``faces``, which says who must re-enrol: neither clears the other), cleared
        once the settings and the gate agree."""
        if site_encoder and self.encoder_name:
            mismatch = site_encoder != self.encoder_name
            self.alerts.device("faces-encoder", not mismatch, say(
                "faces_encoder_mismatch", site_encoder=site_encoder, encoder=self.encoder_name) if mismatch else None)

    def _check_identity(self, settings: dict) -> None:
        """Our identity key against the one the office lists for us (``edge.site.identity``)."""
        from edge.site.identity import identity_problem

        problem = identity_problem(self.config.gate, self.signer, settings)
        if problem:
            _LOG.error("identity: %s", problem)
        self.alerts.device("identity", problem is None, say("identity_problem", error=problem) if problem
                           else say("identity_ok"))

    def registry_alerts(self) -> None:
        """Outside any transaction: a refused head of another registry, and a copy kept aside (cleared
        once ``gate-edge confirm-replace`` dropped it, from another process)."""
        if self.foreign_head is not None:
            self.alerts.device("registry", False, self.foreign_head)
        aside = self.store.records.aside()
        if aside != self._aside_seen:
            self._aside_seen = aside
            if aside:
                kept = ", ".join(f"{rid} ({n} people)" for rid, n in aside.items())
                self.alerts.device("registry-replaced", False, say("registry_replaced", kept=str(kept)))
            else:
                self.alerts.device("registry-replaced", True, say("registry_replaced_dropped"))

    def drop_stale_epochs(self) -> None:
        """After a complete walk: records of an earlier epoch (the office was restored from a backup) that
        the new epoch no longer has are dropped."""
        head = self.summary.head()
        if head is None:
            return
        with self.lock, self.store.transaction():
            stale = self.store.records.keys_older_than(head["epoch"])
            people = sum(1 for key in stale if key.startswith("person/"))
            for key in stale:
                self._drop(key)
            self.summary.changed()
        if people:
            _LOG.warning("registry: removed %d people that the office's epoch %s no longer has", people,
                         head["epoch"])

    def _drop(self, key: str) -> None:
        kind, _, name = key.partition("/")
        if kind == "person" and self.store.people.find_by_id(int(name)) is not None:
            self.store.people.remove(int(name), self.clock())
        elif kind == "vehicle":
            self.store.vehicles.remove_replica(name)
        self.store.records.delete(key)

