"""``gate-edge office``: the committee office's service (DESIGN 6).

It owns the site's one registry (published signed to every gate by ``RegistryPublisher``), archives
everything the gates publish (``edge.office.archive``: events by ``event_id``, alerts by ``alert_id``, each
gate's last status), answers a gate's signed ``req/resync`` with the registry records it lacks, says who
it is on the retained ``P/office/status`` (last will ``offline``), and raises ``P/office/alert/device``
for a gate that has been silent longer than ``gate_silent_after_s`` (``edge.office.silent_gates``). While
its database cannot be written, the storage guard (``edge.office.storage_guard``) says so and nothing is
acknowledged that was not stored. Its life cycle is ``edge.lifecycle.Service``'s.

Before it publishes anything, the office reads the broker's signed retained head and compares the
registry_id there with its database's (edge.site.registry_identity): an office on an empty or mistyped
database refuses to start (exit 2) instead of emptying the registry at every gate.

Threads: the MQTT link's (network, outbox pump, inbox), the jobs' scheduler (``edge.office.jobs``) and the
supervision loop on the main thread.
"""

from __future__ import annotations

import logging
import threading
import time

from edge import contract, sdnotify
from edge.alerts import Alerts
from edge.keys import Verifier, load_public_key, load_signer, load_verifier, verify_record
from edge.lifecycle import Service
from edge.office.archive import Archive
from edge.office.jobs import OfficeJobs
from edge.office.listeners import Listeners
from edge.office.silent_gates import SilentGates
from edge.office.storage_guard import OfficeStorageGuard
from edge.schemas.phrases import say
from edge.site.registry_identity import RegistryMismatch, decide
from edge.site.registry_publish import ID_KEY, RegistryPublisher
from edge.store import StorageFailure, Store
from edge.timeutil import clock_from_config, iso

_LOG = logging.getLogger(__name__)
REQUEST_WINDOW_S = 300.0  # a resync request older (or further ahead) than this is refused
RESYNC_MIN_INTERVAL_S = 1.0  # per gate: a flood of requests costs one page a second at most
# After the broker acknowledged the subscription, its retained head (if any) follows at once: wait this
# long for it before concluding the broker holds none.
HEAD_GRACE_S = 0.7


def gate_keys(config) -> dict[str, dict]:
    """The gates' public keys as published in the site settings: {name: {"kid", "public_key" (PEM)}}."""
    from edge.keys import kid_of

    keys = {}
    for name, path in sorted(config.gates.items()):
        keys[name] = {"kid": kid_of(load_public_key(path)), "public_key": path.read_text(encoding="ascii").strip()}
    return keys


def open_office_store(config, topics: contract.Topics | None = None) -> tuple[Store, RegistryPublisher]:
    """The office's database with the publisher attached: every registry change is signed and queued.
    ``topics``: the office's (``Topics.of(config)`` when not given: the command line's one-off changes)."""
    store = Store(config.database)
    store.clock = clock_from_config(config)  # registered_at on the office's clock (the demo's simulated one)
    publisher = RegistryPublisher(config, store, load_signer(config.registry.signing_key_file),
                                  topics=topics or contract.Topics.of(config)).attach()
    return store, publisher


class Office(Service):
    SUPERVISE_EVERY_S = 5.0

    def __init__(self, config, *, clock=None, monotonic=time.monotonic, new_site: bool = False,
                 replace: str | None = None, config_path=None):
        """``new_site``/``replace``: ``gate-edge office --new-site [--replace ID]`` (edge.site.registry_identity)."""
        super().__init__()
        self.config = config
        self.new_site, self.replace = new_site, replace
        self.config_path = config_path or "CONFIG"
        self._broker_head: dict | None = None
        self._broker_head_raw: bytes | None = None
        self._head_seen = threading.Event()
        self.clock = clock or clock_from_config(config)
        self.monotonic = monotonic  # how long a gate has been silent (SilentGates): immune to wall-clock jumps
        self.topics = contract.Topics.of(config)  # the office's: its config's gate is "office"
        self.store = self.publisher = self.link = self.alerts = self.guard = None
        self.archive = self.silent_gates = None
        self.verifiers = {name: load_verifier([path]) for name, path in config.gates.items()}
        self._last_resync: dict[str, float] = {}
        self.listeners = Listeners()  # the console's live updates: told of each new archive row
        self.console = None

    def start(self) -> Office:
        from paho.mqtt.subscribeoptions import SubscribeOptions

        from edge.site.mqtt_link import MqttLink

        self.starting()
        self.store, self.publisher = open_office_store(self.config, self.topics)
        self.store.clock = self.clock
        self.on_close(self.store.close)
        self.alerts = Alerts(self.config, self.store, clock=self.clock, wake=self._wake, topics=self.topics)
        self.guard = OfficeStorageGuard(self.config, self.store, self.alerts, clock=self.clock,
                                        on_change=self._publish_status, on_recovered=self._storage_back)
        from edge.site.replay import Answerer

        self._command_signer = load_signer(self.config.commands.signing_key_file) if self.config.commands else None
        self.replayer = Answerer(self.store, self.topics, clock=self.clock, verifier_for=self.verifiers.get)
        self.silent_gates = SilentGates(self.config, self.store, self.alerts, clock=self.clock,
                                        monotonic=self.monotonic)
        self.archive = Archive(self.config, self.store, self.alerts, self.topics, self.verifiers,
                               silent_gates=self.silent_gates, listeners=self.listeners, clock=self.clock,
                               command_signer=self._command_signer, wake=self._wake)
        base = self.topics.base
        # The broker's head, even our own (one ahead of ours means we were restored), first and at QoS 0:
        # at start it must arrive while the messages queued for us wait unacknowledged (held), and a QoS 1
        # copy would queue behind them in the broker's in-flight window.
        subscriptions = [(self.topics.registry("head"), SubscribeOptions(qos=0)),
                         (f"{base}/#", SubscribeOptions(qos=1, noLocal=True))]
        self.link = MqttLink(self.config, self.store, on_message=self._on_message, subscriptions=subscriptions,
                             inbox_transaction=self.store.transaction, clock=self.clock,
                             status_payload_fn=self._status_payload, on_taken_over=self._taken_over,
                             on_storage_failure=lambda exc, reading: self.guard.failed(exc, reading=reading),
                             hold=True, on_early=self._early, topics=self.topics)
        self.link.memory_queue = self.guard.memory_queue  # the office's alerts, published from memory meanwhile
        from edge.site.command_client import OfficeCommands

        self.commands = OfficeCommands(self.config, self.link, self.clock)  # the console's, over this link
        self.link.start()
        self.on_close(self.link.close)
        self._check_registry_identity(self._read_broker_head())
        published = self.publisher.publish_missing()
        self.publisher.publish_settings(gate_keys(self.config))
        if published:
            _LOG.info("registry: published %d records that had none", published)
        self.guard.start()
        self.on_close(self.guard.close)
        try:
            self.store.probe_write(self.clock())
        except StorageFailure as exc:
            self.guard.failed(exc)
        self.link.release()
        self.jobs = OfficeJobs(self.config, self.store, archive=self.archive, silent_gates=self.silent_gates,
                               link=self.link, guard=self.guard, clock=self.clock).start()
        self.on_close(self.jobs.close)
        if self.config.console.listen and self.config.console.users_file:
            from edge.office.console import Console

            self.console = Console(self, clock=self.clock).start()
            self.on_close(self.console.close)
        self.ready(self.clock)
        _LOG.info("office %s running: %d gates expected", self.config.site, len(self.config.gates))
        return self

    # -- which registry this office publishes (DESIGN 6.4 registry_id) -----------------------------
    def _early(self, topic: str, payload: bytes) -> None:
        """Paho's thread, every message as it arrives: keep the broker's head (for the start's check)."""
        if topic == self.topics.registry("head") and not self._head_seen.is_set():
            self._broker_head_raw = payload
            self._head_seen.set()

    def _read_broker_head(self) -> dict | None:
        """Wait for the broker (as long as it takes; systemd is told), then for its retained head: the
        head, verified with registry.key, or None when the broker holds none."""
        waited = 0.0
        while not self.link.subscribed.wait(5.0):
            waited += 5.0
            sdnotify.notify("EXTEND_TIMEOUT_USEC=30000000\nSTATUS=waiting for the broker to read the registry head")
            if waited % 30 == 0:
                _LOG.warning("registry: waiting for the broker (%s) to read its registry head before publishing "
                             "anything (%s)", f"{self.config.mqtt.host}:{self.config.mqtt.port}", self.link.last_error)
        head_topic = self.topics.registry("head")
        if head_topic in self.link.subscribe_refused:
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

    def _check_registry_identity(self, head: dict | None) -> None:
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

    def supervise(self) -> bool:
        """``Service.run`` on the main thread (the work runs on the link's threads and the jobs): healthy
        while the jobs run; they are planned again after a jump of the wall clock."""
        self.jobs.follow_the_clock()
        return self.jobs.running

    def _wake(self) -> None:
        if self.link is not None:
            self.link.wake()

    def _publish_status(self) -> None:
        if self.link is not None:
            self.link.publish_status()

    def _storage_back(self) -> None:
        """The database can be written again: the messages left unacknowledged are delivered again."""
        if self.link is not None:
            self.link.storage_back()

    def health(self) -> dict:
        """What ``/healthz`` says: ``ok`` false while the database cannot be written (the storage guard's
        state); the broker's connection is told, not judged (a broker outage is the broker's alert)."""
        connected = self.link is not None and self.link.connected.is_set()
        storage = self.guard.state if self.guard is not None else "ok"
        return {"ok": storage == "ok", "broker": "connected" if connected else "disconnected", "storage": storage}

    # -- what the gates publish ------------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        base = self.topics.base + "/"
        if not topic.startswith(base):
            return
        parts = topic[len(base):].split("/")
        now = self.clock()
        if parts[0] in self.config.gates and len(parts) >= 2:
            # Heard, before anything is written: a database that cannot be written (the guard) never makes
            # a gate look silent.
            self.silent_gates.note(parts[0])
        if parts == ["registry", "head"]:
            self._check_head(payload)
        elif parts[0] in ("registry", "office"):
            return
        elif len(parts) == 3 and parts[1:] == ["cmd", "result"]:
            self.commands.received(payload)
        elif parts == ["alert", "inactivity"]:
            self.archive.inactivity_alert(payload, topic)
        elif len(parts) == 2 and parts[1] == "status":
            self.archive.gate_status(parts[0], payload, now)
        elif len(parts) == 3 and parts[1] == "event":
            self.archive.event(parts[0], payload, now)
        elif len(parts) == 3 and parts[1:] == ["alert", "device"]:
            self.archive.device_alert(parts[0], payload, topic, now)
        elif len(parts) == 3 and parts[1] == "req":
            self._request(parts[0], parts[2], payload, now)

    def _request(self, gate: str, verb: str, payload: bytes, now: float) -> None:
        if verb == "replay":
            self._replay_for_a_silent_gate(gate, payload)
            return
        if verb != "resync":
            return
        verifier = self.verifiers.get(gate)

        def signed_by_the_gate(body: dict) -> str | None:
            return f"gate {gate!r} is not listed in gates:" if verifier is None else verify_record(verifier, body)

        try:
            request = contract.parse_resync_request(payload, verify=signed_by_the_gate)
            age = now - request.ts_epoch
            if abs(age) > REQUEST_WINDOW_S:
                raise contract.Refused(f"ts is {age:.0f} s from the office's clock")
        except contract.Refused as exc:
            _LOG.warning("resync request from %s refused: %s", gate, exc)
            return
        if time.monotonic() - self._last_resync.get(gate, 0.0) < RESYNC_MIN_INTERVAL_S:
            return
        self._last_resync[gate] = time.monotonic()
        count = self.publisher.republish(gate, request.after, request.limit, request.request_id)
        _LOG.info("resync for %s: %d records after %s", gate, count, request.after)
        self._wake()

    def _replay_for_a_silent_gate(self, requester: str, payload: bytes) -> None:
        """A gate asks another for events it missed; when that gate is down, the archive answers for it
        (events only: the alerts' one reader is the office)."""
        body = self.replayer.parse(requester, payload,  # a gate that is up answers for itself
                                   lambda target: target in self.config.gates and self.silent_gates.silent(target))
        if body is not None and body.get("stream", "events") == "events" and self.replayer.answer(body["target"], body):
            self._wake()

    def _check_head(self, payload: bytes) -> None:
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
            self._wake()

    # -- health ----------------------------------------------------------------------------
    def _taken_over(self, detail: str | None) -> None:
        """Another client took the office's MQTT session (its login), or it has stopped (``None``)."""
        self.alerts.device("mqtt-session", detail is None, say("mqtt_session_taken", error=detail) if detail
                           else say("office_session_back"))

    def _status_payload(self, ts: str, outbox: int) -> dict:
        gates = {}
        for gate, seen in self.store.gates.all().items():
            status = seen["status"]
            gates[gate] = {"state": seen["state"], "last_heard": iso(seen["received_epoch"], self.config.zone),
                           "age_s": round(self.silent_gates.silence_s(gate) or 0.0, 1),
                           "registry": status.get("registry")}
        payload = contract.office_status_payload("online", ts, gates)
        payload["outbox"] = outbox
        payload["storage"] = self.guard.status()
        payload["registry"] = dict(zip(("epoch", "version"), self.publisher.position(), strict=True))
        return payload
