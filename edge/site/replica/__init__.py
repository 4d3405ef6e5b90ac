"""A gate's signed replica of the office's registry (``registry.source: site``, DESIGN 6.4).

Records arrive retained on ``P/registry/#``, in batches (``apply_many``: one transaction each). The replica
puts together its parts, each in its own module:

    records    each record verified with the office's ``registry.pub`` and applied once, by (epoch, version);
               which registry this copy follows (a head that replaces it sets this copy aside)
    summary    this copy against the head: ``complete``, ``stale``, ``synced`` (the gate's status)
    resync     asking the office, page by page, for what the retained delivery left out (``req/resync``)
    adoption   an adopted gate serving from its own registry until the office's is complete here

``synced`` is true only when this copy holds exactly what the head record says (counts, newest version
and a digest of every key's version), holds nothing of an earlier epoch, and is in use. ``tick`` (a job,
every second or so) notes the first full sync, finishes an adoption, drops what an earlier epoch had, and
asks for what is missing once the delivery has settled.
"""

from __future__ import annotations

import logging
import time

from edge import contract
from edge.locks import ordered_lock
from edge.rules.site_rules import SiteRules
from edge.schemas.phrases import say
from edge.site.replica.adoption import FIRST_SYNC_KEY, Adoption
from edge.site.replica.records import Records
from edge.site.replica.resync import ResyncClient
from edge.site.replica.summary import SyncSummary
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


class Replica:
    def __init__(self, config, store, verifier, alerts, rules: SiteRules, *, topics: contract.Topics, signer=None,
                 publish=None, clock=time.time, encoder_name=None, on_sync_change=None):
        """``topics``: the daemon's; ``signer``: the gate's identity key (signs resync requests);
        ``publish(topic, payload)``: how a resync request leaves (the outbox); ``encoder_name``: the gate's
        face encoder, checked against the site's; ``on_sync_change()``: called when ``synced`` flips (the
        daemon republishes its status)."""
        self.config = config
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.on_sync_change = on_sync_change
        self._lock = ordered_lock("replica")
        self._last_record = time.monotonic()
        self._was_synced = None
        settings = store.records.get("settings")
        if settings:
            rules.update(settings)
        self.sync_summary = SyncSummary(store)
        self.adoption = Adoption(config, store, self._lock, self.sync_summary)
        self.resync = ResyncClient(config, topics, self._lock, signer=signer, publish=publish, clock=clock)
        self.records = Records(config, store, verifier, alerts, rules, topics=topics, summary=self.sync_summary,
                               adoption=self.adoption, resync=self.resync, lock=self._lock, signer=signer,
                               clock=clock, encoder_name=encoder_name)
        self.resync.walk_done = self.records.drop_stale_epochs

    # -- receiving -------------------------------------------------------------------------
    def apply_many(self, messages: list[tuple[str, bytes]]) -> dict:
        """Apply a batch of (topic, payload) in one transaction; returns counts by outcome."""
        outcomes: dict[str, int] = {}
        with self._lock, self.store.transaction():
            for topic, raw in messages:
                outcome = self.records.apply(topic, raw)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self._last_record = time.monotonic()
        return outcomes

    def apply(self, topic: str, raw: bytes) -> str:
        return next(iter(self.apply_many([(topic, raw)])))

    def page_end(self, raw: bytes) -> None:
        """The office's "page sent" for one of our resync requests (``P/office/resync/<gate>``)."""
        self.resync.page_end(raw)

    @property
    def refused(self) -> int:
        """Records refused so far (forged, malformed, another registry's head)."""
        return self.records.refused

    # -- state -----------------------------------------------------------------------------
    def head(self) -> dict | None:
        return self.sync_summary.head()

    def summary(self) -> dict:
        """This copy against the head (``edge.site.replica.summary``)."""
        return self.sync_summary.get(self.adoption.staging)

    @property
    def synced(self) -> bool:
        return self.summary()["synced"]

    def status(self) -> dict:
        return self.sync_summary.status(self.adoption.staging)

    # -- catching up ---------------------------------------------------------------------
    def tick(self) -> None:
        """Called every second or so: note the first full sync, and ask for what is missing once the
        delivery has settled."""
        self.records.registry_alerts()
        summary = self.summary()
        if self.adoption.staging and summary["complete"]:
            self.adoption.finish(self.records.apply_record)
            summary = self.summary()
        if summary["synced"] != self._was_synced:
            self._was_synced = summary["synced"]
            if self.on_sync_change is not None:
                self.on_sync_change()
        if summary["complete"] and summary["stale"] and not self.adoption.staging:
            # Complete for the head's epoch (the office was restored from a backup and published
            # everything again): what only an earlier epoch had is no longer in the registry.
            self.records.drop_stale_epochs()
            summary = self.summary()
        if summary["synced"] and self.records.foreign_head is None:
            if self.store.kv_get(FIRST_SYNC_KEY) is None:
                self.store.kv_set(FIRST_SYNC_KEY, iso(self.clock(), self.config.zone))
                _LOG.info("registry: first full sync (%s people, %s vehicles)", summary["people"],
                          summary["vehicles"])
            self.alerts.device("registry", True, say("registry_in_sync"))
            self.resync.synced()
            return
        if self.head() is None and self.store.kv_get(FIRST_SYNC_KEY) is None:
            self.alerts.device("registry", False, say("registry_never_synced"))
        self.resync.tick(self._last_record)
