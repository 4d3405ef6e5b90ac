"""A gate's signed replica of the office's registry (``registry.source: site``, DESIGN 6.4).

Records arrive retained on ``P/registry/#``. Each is verified with the office's ``registry.pub`` (a
forged one, or one signed with an unknown key, changes nothing and raises a ``registry`` device alert),
then applied once, by (epoch, version): a record never replaces one of a higher (epoch, version).
People arrive without name or phone, under the office's ids; templates replace the person's; a vehicle
whose owner is not here yet is kept without one and completed when the owner's record arrives;
a pass is known here only by its revocation. The site settings replace the gate's own policy, parking
and inactivity values (``SiteRules``).

``synced`` is true only when this copy holds exactly what the head record says (counts, newest version
and a digest of every key's version). A gate that is short of the head after the retained delivery
settles (the broker may drop retained messages beyond its queue limits) asks the office for the rest
with a signed ``req/resync``, page by page: the office announces each page's size on
``P/office/resync/<gate>`` before sending it; a page the broker cut short is asked for again, smaller.

Which registry (DESIGN 6.4 ``registry_id``): the gate keeps the id of the head it follows. A record of
another registry is ignored; a head of another registry is refused (a ``registry`` alert, nothing
changes) unless it says it ``replaces`` this gate's: then this copy is set aside (``registry_replaced``,
not erased, a ``registry-replaced`` alert) until an admin runs ``gate-edge confirm-replace``, and the
new registry is followed. A gate without an id (new, or from an earlier version) takes the first head's.
"""

from __future__ import annotations

import logging
import time
import uuid

from edge import contract
from edge.keys import sign_record, verify_record
from edge.locks import ordered_lock
from edge.rules.site_rules import SiteRules
from edge.schemas.phrases import Phrase, say
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
SETTLE_S = 2.0  # no record for this long: the retained delivery (or a resync page) is over
RESYNC_PAGE = 400  # below Mosquitto's default max_queued_messages (1000), with room for events
RETRY_S = 30.0  # a complete walk that left this copy different: walk again after this long
PAGE_TIMEOUT_S = 5.0  # no note from the office by then: ask again
PAGE_QUIET_S = 1.0  # the note came this long ago and the records stopped: the page is over
MIN_PAGE = 10
FIRST_SYNC_KEY = "registry_first_synced"
STAGING_KEY = "registry_adoption_staging"
ID_KEY = "registry_id"  # the registry this copy follows (the head's registry_id)


class Replica:
    def __init__(self, config, store, verifier, alerts, rules: SiteRules, *, topics: contract.Topics, signer=None,
                 publish=None, clock=time.time, encoder_name=None, on_sync_change=None):
        """``topics``: the daemon's; ``on_sync_change()``: called when ``synced`` flips (the daemon republishes
        its status)."""
        self.config = config
        self.store = store
        self.verifier = verifier
        self.alerts = alerts
        self.rules = rules
        self.signer = signer
        self.publish = publish  # publish(topic, payload): how a resync request leaves (the outbox)
        self.clock = clock
        self.encoder_name = encoder_name  # the gate's face encoder, checked against the site's
        self.topics = topics
        self._lock = ordered_lock("replica")
        self._last_record = time.monotonic()
        self._changes = 0
        self._summary_at = -1
        self._summary = None
        self._page = None  # the resync request waiting for its "page sent": what arrived since
        self._limit = RESYNC_PAGE
        self._ceiling = RESYNC_PAGE + 1  # the smallest page the broker has cut short so far
        self._walk_done_at = -RETRY_S
        self.refused = 0
        self.on_sync_change = on_sync_change
        self._was_synced = None
        self.foreign = 0  # records of another registry, ignored
        self._foreign_ids: set = set()
        self._foreign_head: Phrase | None = None  # why the last head was refused (another registry's)
        self._aside_seen = None
        settings = store.records.get("settings")
        if settings:
            rules.update(settings)
        # An adopted gate (edge.office.adopt): its own registry, and no record from the office yet. It keeps
        # serving from it, staging the office's records, until the first full sync.
        if store.kv_get(FIRST_SYNC_KEY) is None and store.people.count() and store.records.page((0, 0), 1) == []:
            store.kv_set(STAGING_KEY, "1")
        self.staging = store.kv_get(STAGING_KEY) == "1"

    # -- receiving -------------------------------------------------------------------------
    def apply_many(self, messages: list[tuple[str, bytes]]) -> dict:
        """Apply a batch of (topic, payload) in one transaction; returns counts by outcome."""
        outcomes: dict[str, int] = {}
        with self._lock, self.store.transaction():
            for topic, raw in messages:
                outcome = self._apply(topic, raw)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self._last_record = time.monotonic()
        return outcomes

    def apply(self, topic: str, raw: bytes) -> str:
        return next(iter(self.apply_many([(topic, raw)])))

    def _apply(self, topic: str, raw: bytes) -> str:
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
        if self._page is not None and kind in ("person", "vehicle", "pass"):
            self._page["seen"].add((store_key, position))
        current = self.store.records.version_of(store_key)
        if current is not None and current >= position:
            return "old"
        try:
            if self.staging and kind in ("person", "vehicle", "pass"):
                deleted = self._check_record(kind, key, record)
            else:
                deleted = self._apply_record(kind, key, record)
        except (KeyError, TypeError, ValueError) as exc:
            return self._refuse(topic, f"unusable record: {exc}")
        self.store.records.put(store_key, kind, record, deleted=deleted)
        self._changes += 1
        return "applied"

    def _apply_record(self, kind: str, key: str | None, record: dict) -> bool:
        store = self.store
        if kind == "person":
            person_id = int(record["person_id"])
            if str(person_id) != key:
                raise ValueError(f"person {person_id} on the topic of {key}")
            if record.get("deleted"):
                if store.people.find_by_id(person_id) is not None:
                    store.people.remove(person_id, self.clock())
                return True
            store.people.put_replica(person_id, str(record["unit"]), bool(record["care_watch"]),
                                     str(record["registered_at"]))
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
            self._foreign_head = None
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
            self._foreign_head = None
            self._changes += 1
            return None
        if theirs is not None and replaces == mine:
            self._set_aside(mine, record)
            self._foreign_head = None
            return None
        self.refused += 1
        self._foreign_head = say("registry_foreign_head", theirs=theirs or "none", epoch=str(record.get("epoch")),
                                 people=str(record.get("people")), mine=str(mine))
        _LOG.error("registry: %s", self._foreign_head)
        self._changes += 1
        return "refused"

    def _set_aside(self, old: str | None, head: dict) -> None:
        """The office replaced the registry (``--new-site --replace``): this copy is kept aside, not erased,
        and the new registry starts empty here."""
        store = self.store
        people = store.records.set_aside(old or "none", self.clock())
        store.people.clear_all()
        store.vehicles.clear_all()
        store.kv_set(ID_KEY, head["registry_id"])
        self._changes += 1
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

    def _check_record(self, kind: str, key: str, record: dict) -> bool:
        """Staging (an adopted gate before its first sync): the record is kept, applied at the end."""
        field = {"person": "person_id", "vehicle": "plate", "pass": "pass_id"}[kind]
        if str(record.get(field)) != key:
            raise ValueError(f"{field} {record.get(field)!r} on the topic of {key}")
        return bool(record.get("deleted") or record.get("revoked"))

    def _finish_adoption(self) -> None:
        """The first full sync of an adopted gate, in one transaction: what it kept under its old ids moves
        to the office's, and its own registry (with names, phones and photos) makes way for the replica."""
        store = self.store
        staged = store.records.page((0, 0), 10**9)
        ids = {}
        for kind, _, record in staged:
            origin = record.get("adopted_from") if kind == "person" else None
            if isinstance(origin, dict) and origin.get("gate") == self.config.gate:
                ids[int(origin["person_id"])] = int(record["person_id"])
        with self._lock, store.transaction():
            store.sightings.renumber_people(ids)
            store.alerts.renumber_people(ids)
            store.people.clear_all()
            store.vehicles.clear_all()
            for kind, key, record in sorted(staged, key=lambda r: r[0] != "person"):  # owners before cars
                self._apply_record(kind, key, record)
            store.kv_set(STAGING_KEY, "0")
            self.staging = False
            self._changes += 1
        _LOG.warning("registry: adopted by the office: %d people renumbered, the local registry replaced", len(ids))

    def _apply_vehicle(self, record: dict) -> None:
        owner = record.get("person_id")
        if owner is not None and self.store.people.find_by_id(owner) is None:
            owner = None  # completed when the owner's record arrives
        self.store.vehicles.upsert(record["plate"], record["class"], owner, valid_from=record.get("valid_from"),
                                   valid_until=record.get("valid_until"))

    def _refuse(self, topic: str, why: str) -> str:
        self.refused += 1
        _LOG.error("registry: refused the record on %s: %s", topic, why)
        self.alerts.device("registry", False, say("registry_record_refused", where=str(topic.rsplit("/", 2)[-2:]),
                                                  error=why))
        return "refused"

    def _check_encoder(self, site_encoder: str | None) -> None:
        if site_encoder and self.encoder_name and site_encoder != self.encoder_name:
            self.alerts.device("faces", False, say("faces_encoder_mismatch", site_encoder=site_encoder,
                                                   encoder=self.encoder_name))

    def _check_identity(self, settings: dict) -> None:
        """Our identity key against the one the office lists for us (``edge.site.identity``)."""
        from edge.site.identity import identity_problem

        problem = identity_problem(self.config.gate, self.signer, settings)
        if problem:
            _LOG.error("identity: %s", problem)
        self.alerts.device("identity", problem is None, say("identity_problem", error=problem) if problem
                           else say("identity_ok"))

    # -- state -----------------------------------------------------------------------------
    def head(self) -> dict | None:
        return self.store.records.get("head")

    def summary(self) -> dict:
        """This copy against the head (cached between changes: the digest reads every record)."""
        if self._summary is None or self._summary_at != self._changes:
            head = self.head()
            mine = self.store.records.summary(head["epoch"] if head else None)
            fields = ("people", "vehicles", "passes_revoked", "version", "epoch", "digest")
            complete = head is not None and all(mine[f] == head.get(f) for f in fields)
            stale = head is not None and bool(self.store.records.keys_older_than(head["epoch"]))
            synced = complete and not self.staging and not stale
            self._summary = {"source": "site", "epoch": mine["epoch"], "version": mine["version"],
                             "people": mine["people"], "vehicles": mine["vehicles"], "synced": synced,
                             "complete": complete, "stale": stale, "registry_id": self.store.kv_get(ID_KEY)}
            self._summary_at = self._changes
        return self._summary

    @property
    def synced(self) -> bool:
        return self.summary()["synced"]

    def status(self) -> dict:
        summary = dict(self.summary())
        summary.pop("complete", None)
        summary.pop("stale", None)
        if self.staging:
            summary["detail"] = "adopted: serving from the local registry until the office's is complete"
        head = self.head()
        if head is None:
            summary["detail"] = "never synced: no head record from the office yet"
        return summary

    # -- catching up ---------------------------------------------------------------------
    def tick(self) -> None:
        """Called every second or so: note the first full sync, and ask for what is missing once the
        delivery has settled."""
        self._registry_alerts()
        summary = self.summary()
        if self.staging and summary["complete"]:
            self._finish_adoption()
            summary = self.summary()
        if summary["synced"] != self._was_synced:
            self._was_synced = summary["synced"]
            if self.on_sync_change is not None:
                self.on_sync_change()
        if summary["complete"] and summary["stale"] and not self.staging:
            # Complete for the head's epoch (the office was restored from a backup and published
            # everything again): what only an earlier epoch had is no longer in the registry.
            self._drop_stale_epochs()
            summary = self.summary()
        if summary["synced"] and self._foreign_head is None:
            if self.store.kv_get(FIRST_SYNC_KEY) is None:
                self.store.kv_set(FIRST_SYNC_KEY, iso(self.clock(), self.config.zone))
                _LOG.info("registry: first full sync (%s people, %s vehicles)", summary["people"],
                          summary["vehicles"])
            self.alerts.device("registry", True, say("registry_in_sync"))
            self._page = None
            return
        if self.head() is None and self.store.kv_get(FIRST_SYNC_KEY) is None:
            self.alerts.device("registry", False, say("registry_never_synced"))
        quiet = SETTLE_S if self._page is None or "expect" not in self._page else PAGE_QUIET_S
        if self.publish is None or self.signer is None or time.monotonic() - self._last_record < quiet:
            return
        page = self._page
        if page is None:
            if time.monotonic() - self._walk_done_at > RETRY_S:
                self._ask((0, 0), self._limit)  # walk the whole registry, a page at a time
        elif "expect" in page and time.monotonic() - page["noted_at"] > PAGE_QUIET_S:
            self._page_done(page)
        elif "expect" not in page and time.monotonic() - page["asked_at"] > PAGE_TIMEOUT_S:
            self._ask(page["after"], self._limit)  # the request or the note was lost: ask again

    def _registry_alerts(self) -> None:
        """Outside any transaction: a refused head of another registry, and a copy kept aside (cleared
        once ``gate-edge confirm-replace`` dropped it, from another process)."""
        if self._foreign_head is not None:
            self.alerts.device("registry", False, self._foreign_head)
        aside = self.store.records.aside()
        if aside != self._aside_seen:
            self._aside_seen = aside
            if aside:
                kept = ", ".join(f"{rid} ({n} people)" for rid, n in aside.items())
                self.alerts.device("registry-replaced", False, say("registry_replaced", kept=str(kept)))
            else:
                self.alerts.device("registry-replaced", True, say("registry_replaced_dropped"))

    def page_end(self, raw: bytes) -> None:
        """The office's note of what it is sending for one of our resync requests (count, last position);
        ``tick`` compares it with what arrived once the records stop coming."""
        try:
            end = contract.parse_resync_page_end(raw)
        except contract.Refused:
            return
        with self._lock:
            page = self._page
            if page is not None and page["request_id"] == end.request_id:
                page["expect"] = (end.count, end.last, end.complete)
                page["noted_at"] = time.monotonic()

    def _page_done(self, page: dict) -> None:
        """Next page, the same page smaller (the broker dropped some), or the end of the walk."""
        count, last, complete = page["expect"]
        with self._lock:
            arrived = sum(1 for _, position in page["seen"] if page["after"] < position <= last)
        if arrived < count:
            self._smaller()
            _LOG.info("registry: %d of %d records of the page arrived; asking again %d at a time", arrived, count,
                      self._limit)
            self._ask(page["after"], self._limit)
        elif complete:
            self._page = None
            self._walk_done_at = time.monotonic()
            self._drop_stale_epochs()
        else:
            self._limit = min(RESYNC_PAGE, self._ceiling - 1, self._limit * 3 // 2)
            self._ask(last, self._limit)

    def _smaller(self) -> None:
        self._ceiling = min(self._ceiling, self._limit)
        self._limit = max(MIN_PAGE, self._limit // 2)

    def _drop_stale_epochs(self) -> None:
        """After a complete walk: records of an earlier epoch (the office was restored from a backup) that
        the new epoch no longer has are dropped."""
        head = self.head()
        if head is None:
            return
        with self._lock, self.store.transaction():
            stale = self.store.records.keys_older_than(head["epoch"])
            people = sum(1 for key in stale if key.startswith("person/"))
            for key in stale:
                self._drop(key)
            self._changes += 1
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

    def _ask(self, after: tuple[int, int], limit: int) -> None:
        request = contract.resync_request(request_id=f"resync-{uuid.uuid4().hex[:12]}", after_epoch=after[0],
                                          after_version=after[1], limit=limit, ts=iso(self.clock(), self.config.zone))
        with self._lock:
            self._page = {"request_id": request["request_id"], "after": after, "asked_at": time.monotonic(),
                          "seen": set()}
        self.publish(self.topics.request("resync"), sign_record(self.signer, request))
        _LOG.info("registry: not in sync with the head; asked the office for %d records after %s", limit, after)
