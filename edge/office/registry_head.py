"""Which registry this office publishes (DESIGN 6.4 ``registry_id``), checked against the broker's head.

At start, before it publishes anything, the office reads the broker's signed retained head and compares
its registry_id with its database's (``edge.site.registry_identity.decide``): an office on an empty or
mistyped database refuses to start (``RegistryMismatch``: exit 2) instead of emptying the registry at
every gate; a database of an earlier version is upgraded; ``--new-site`` / ``--replace ID`` are the
admin's word. While it runs, a head on the broker one ahead of ours means this database was restored
from a backup (a new epoch follows); a head of another registry means another office publishes with the
same key (the ``registry`` alert, never followed).
"""

from __future__ import annotations

import logging
import threading

from edge import contract, sdnotify
from edge.keys import Verifier, verify_record
from edge.schemas.phrases import say
from edge.site.registry_identity import RegistryMismatch, decide
from edge.site.registry_publish import ID_KEY

_LOG = logging.getLogger(__name__)
# After the broker acknowledged the subscription, its retained head (if any) follows at once: wait this
# long for it before concluding the broker holds none.
HEAD_GRACE_S = 0.7


class RegistryHead:
    def __init__(self, config, store, publisher, alerts, topics, *, wake, new_site: bool = False,
                 replace: str | None = None, config_path="CONFIG"):
        """``new_site``/``replace``: ``gate-edge office --new-site [--replace ID]``; ``wake()``: the outbox
        has something to send."""
        self.config = config
        self.store = store
        self.publisher = publisher
        self.alerts = alerts
        self.topics = topics
        self.wake = wake
        self.new_site, self.replace, self.config_path = new_site, replace, config_path
        self._broker_head: dict | None = None
        self._broker_head_raw: bytes | None = None
        self._head_seen = threading.Event()

    # -- at start ----------------------------------------------------------------------------
    def early(self, topic: str, payload: bytes) -> None:
        """Paho's thread, every message as it arrives: keep the broker's head (for the start's check)."""
        if topic == self.topics.registry("head") and not self._head_seen.is_set():
            self._broker_head_raw = payload
            self._head_seen.set()

    def check_at_start(self, link) -> None:
        """Read the broker's head through ``link`` (connected, its messages held) and refuse to start
        unless this database is the registry it names (or the command line says it replaces it)."""
        self._check_identity(self._read_broker_head(link))

    def _read_broker_head(self, link) -> dict | None:
        """Wait for the broker (as long as it takes; systemd is told), then for its retained head: the
        head, verified with registry.key, or None when the broker holds none."""
        waited = 0.0
        while not link.subscribed.wait(5.0):
            waited += 5.0
            sdnotify.notify("EXTEND_TIMEOUT_USEC=30000000\nSTATUS=waiting for the broker to read the registry head")
            if waited % 30 == 0:
                _LOG.warning("registry: waiting for the broker (%s) to read its registry head before publishing "
                             "anything (%s)", f"{self.config.mqtt.host}:{self.config.mqtt.port}", link.last_error)
        head_topic = self.topics.registry("head")
        if head_topic in link.subscribe_refused:
            raise RegistryMismatch(f"the broker refused this office's subscription to {head_topic} (check the "
                                   "ACL): the office cannot tell whether its database is the site's registry")
        if not self._head_seen.wait(HEAD_GRACE_S):
            return None
        raw = self._broker_head_raw or b""
        if not raw:
            return None  # a retained head being cleared
        try:
            return self._own_head(raw)
        except contract.Refused:
            _LOG.error("registry: the head on the broker is not signed by this office's registry key (or is "
                       "another site's): ignored")
            return None

    def _own_head(self, raw: bytes) -> dict:
        """A registry head this office's registry key signed for this site, or ``contract.Refused``."""
        own = Verifier([self.publisher.signer.public_key])
        return contract.parse_registry_record(raw, "head", self.config.site, verify=lambda r: verify_record(own, r))

    def _check_identity(self, head: dict | None) -> None:
        """Refuse to start (RegistryMismatch: exit 2) unless this database is the registry the broker's head
        says, or the command line says it replaces it; upgrade a database of an earlier version."""
        store = self.store
        db_id = store.kv_get(ID_KEY)
        db_head = store.records.get("head")
        empty = not (store.people.count() or store.vehicles.count() or store.records.page((0, 0), 1) or db_head)
        plan = decide(db_id=db_id, empty=empty, db_head=db_head, head=head, new_site=self.new_site,
                      replace=self.replace, path=self.config.database, config_path=self.config_path)
        self._broker_head = head
        if plan.action == "keep":
            return
        if plan.action == "upgrade":
            _LOG.warning("registry: a database of an earlier version: its registry gets registry_id %s (%s) and "
                         "is published again under a new epoch", plan.registry_id,
                         "the broker's head's" if head and head.get("registry_id") else "new")
        elif plan.action == "replace":
            _LOG.warning("registry: registry %s REPLACES %s at every gate (each keeps its old copy aside until an "
                         "admin runs gate-edge confirm-replace)", plan.registry_id, plan.replaces)
        else:
            _LOG.warning("registry: no registry on the broker and none here: a new site's registry %s",
                         plan.registry_id or store.kv_get(ID_KEY) or "(made at the first record)")
        self.publisher.adopt_identity(plan, head)

    # -- while running -----------------------------------------------------------------------
    def seen(self, payload: bytes) -> None:
        """A head on ``P/registry/head`` (our own come back, or another's)."""
        try:
            head = self._own_head(payload)
        except contract.Refused as exc:
            _LOG.warning("ignored a registry head on the broker that this office did not sign (%s)", exc)
            return
        position = (head["epoch"], head["version"])
        mine = self.store.kv_get(ID_KEY)
        if head.get("registry_id") != mine:
            if payload == self._broker_head_raw:
                return  # the head this start upgraded or replaced: ours follows
            # Another office with the same key publishes another registry (or an earlier version does):
            # never follow it; the gates refuse it unless it says it replaces theirs.
            _LOG.error("registry: the broker holds a head of registry %s, this office publishes %s: another "
                       "office is running with another database?", head.get("registry_id"), mine)
            self.alerts.device("registry", False, say("registry_other_office", theirs=str(head.get("registry_id")),
                                                      mine=str(mine)))
            return
        if position > self.publisher.position():
            # The broker knows a newer registry than this database: we were restored from a backup.
            self.publisher.new_epoch(head)
            self.wake()
