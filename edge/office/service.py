"""``gate-edge office``: the committee office's service (DESIGN 6), wired here from its parts.

``Office`` starts them in order and says who the office is on the retained ``P/office/status`` (last
will ``offline``) and on ``/healthz``; each part owns one job:

    the site's one registry     RegistryPublisher (edge.site.registry_publish): signed, published to every gate
    which registry that is      RegistryHead: the broker's head checked before anything is published (exit 2)
    what the gates publish      Archive: events, statuses, alerts; asks for what it misses
    who has gone quiet          SilentGates: the ``gate:<name>`` alert on ``P/office/alert/device``
    people told of alerts       Delivery (edge.office.notify): queued messages sent by their channels
    what the gates ask          Answers: ``req/resync`` (registry records), ``req/replay`` for a silent gate
    who is told of an alert     Notices (edge.office.notify.steps): steps, notices, roll call; Acknowledgements
    who is away                 Absences (edge.office.away): pauses set, ended, ended by a sighting or their date
    periodic work               OfficeJobs (APScheduler): retention, gaps, silent gates, status, notices, away's end
    a database that fails       OfficeStorageGuard: says so; nothing is acknowledged that was not stored
    the console                 edge.office.console, told of new archive rows by Listeners

Its life cycle (stop event, closers in reverse start order, sd_notify, signals) is ``edge.lifecycle.Service``'s.

Threads: the MQTT link's (network, outbox pump, inbox), the jobs' scheduler (``edge.office.jobs``), one per
notification channel (``edge.office.notify.delivery``) and the supervision loop on the main thread.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from edge import contract
from edge.alerts import Alerts
from edge.keys import load_public_key, load_signer, load_verifier
from edge.lifecycle import Service
from edge.office.answers import Answers
from edge.office.archive import Archive
from edge.office.away import Absences
from edge.office.jobs import OfficeJobs
from edge.office.listeners import Listeners
from edge.office.notify.ack import Acknowledgements
from edge.office.notify.channels import build_channels
from edge.office.notify.delivery import Delivery
from edge.office.notify.steps import Notices
from edge.office.registry_head import RegistryHead
from edge.office.silent_gates import SilentGates
from edge.office.storage_guard import OfficeStorageGuard
from edge.schemas.phrases import say
from edge.site.registry_publish import RegistryPublisher
from edge.store import StorageFailure, Store
from edge.timeutil import clock_from_config, iso

_LOG = logging.getLogger(__name__)


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
    """The office's parts, started in order; the life cycle itself is ``Service``'s."""

    SUPERVISE_EVERY_S = 5.0

    def __init__(self, config, *, clock=None, monotonic=time.monotonic, new_site: bool = False,
                 replace: str | None = None, config_path=None):
        """``new_site``/``replace``: ``gate-edge office --new-site [--replace ID]`` (edge.site.registry_identity)."""
        super().__init__()
        self.config = config
        self.new_site, self.replace = new_site, replace
        self.config_path = config_path or "CONFIG"
        self.clock = clock or clock_from_config(config)
        self.monotonic = monotonic  # how long a gate has been silent (SilentGates): immune to wall-clock jumps
        self.topics = contract.Topics.of(config)  # the office's: its config's gate is "office"
        self.store = self.publisher = self.link = self.alerts = self.guard = None
        self.archive = self.silent_gates = self.answers = self.registry_head = self.jobs = None
        self.notices = self.acknowledgements = self.delivery = self.absences = None
        self.verifiers = {name: load_verifier([path]) for name, path in config.gates.items()}
        self.listeners = Listeners()  # the console's live updates: told of each new archive row
        self.console = None

    def start(self) -> Office:
        from edge.office.inbox import OfficeInbox
        from edge.site.mqtt_link import MqttLink

        self.starting()
        self.store, self.publisher = open_office_store(self.config, self.topics)
        self.store.clock = self.clock
        self.on_close(self.store.close)
        self.notices = Notices(self.config, self.store, clock=self.clock, wake=self._wake_delivery)
        self.acknowledgements = Acknowledgements(self.config, self.store, self.notices, clock=self.clock,
                                                 announce=self.listeners.announce)
        self.alerts = Alerts(self.config, self.store, clock=self.clock, wake=self._wake, topics=self.topics,
                             notices=self.notices)
        self.guard = OfficeStorageGuard(self.config, self.store, self.alerts, clock=self.clock,
                                        on_change=self._publish_status, on_recovered=self._storage_back)
        command_signer = load_signer(self.config.commands.signing_key_file) if self.config.commands else None
        self.silent_gates = SilentGates(self.config, self.store, self.alerts, clock=self.clock,
                                        monotonic=self.monotonic)
        # Who is told of each pause and its end: the notices' (``away_changed``), in the change's transaction.
        self.absences = Absences(self.config, self.store, clock=self.clock, notices=self.notices, wake=self._wake)
        self.archive = Archive(self.config, self.store, self.alerts, self.topics, self.verifiers,
                               silent_gates=self.silent_gates, listeners=self.listeners, clock=self.clock,
                               command_signer=command_signer, wake=self._wake, notices=self.notices,
                               on_seen=self.absences.seen)
        self.answers = Answers(self.config, self.store, self.publisher, self.topics, self.verifiers,
                               silent_gates=self.silent_gates, clock=self.clock, wake=self._wake)
        self.registry_head = RegistryHead(self.config, self.store, self.publisher, self.alerts, self.topics,
                                          wake=self._wake, new_site=self.new_site, replace=self.replace,
                                          config_path=self.config_path)
        inbox = OfficeInbox(self.config, self.topics, clock=self.clock, archive=self.archive,
                            silent_gates=self.silent_gates, check_head=self.registry_head.seen,
                            request=self.answers.request,
                            command_result=lambda payload: self.commands.received(payload))
        self.link = MqttLink(self.config, self.store, router=inbox.router(),
                             inbox_transaction=self.store.transaction, clock=self.clock,
                             status_payload_fn=self._status_payload, on_taken_over=self._taken_over,
                             on_storage_failure=lambda exc, reading: self.guard.failed(exc, reading=reading),
                             hold=True, on_early=self.registry_head.early, topics=self.topics)
        self.link.memory_queue = self.guard.memory_queue  # the office's alerts, published from memory meanwhile
        from edge.site.command_client import OfficeCommands

        self.commands = OfficeCommands(self.config, self.link, self.clock)  # the console's, over this link
        self.link.start()
        self.on_close(self.link.close)
        self.registry_head.check_at_start(self.link)  # RegistryMismatch: refuse to start
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
        channels = build_channels(self.config.notify, clock=self.clock)
        for name, channel in channels.items():
            if channel.RECEIVES:  # an SMS reply carrying an alert's short code acknowledges it
                channel.on_sms = partial(self.acknowledgements.sms_reply, name)
        self.delivery = Delivery(self.config.notify, self.store, channels, self.alerts, clock=self.clock,
                                 monotonic=self.monotonic).start()
        self.on_close(self.delivery.close)
        self.link.release()
        self.jobs = OfficeJobs(self.config, self.store, archive=self.archive, silent_gates=self.silent_gates,
                               link=self.link, guard=self.guard, clock=self.clock, notices=self.notices,
                               absences=self.absences).start()
        self.on_close(self.jobs.close)
        if self.config.console.listen and self.config.console.users_file:
            from edge.office.console import Console

            self.console = Console(self, clock=self.clock).start()
            self.on_close(self.console.close)
        self.ready(self.clock)
        _LOG.info("office %s running: %d gates expected", self.config.site, len(self.config.gates))
        return self

    def supervise(self) -> bool:
        """``Service.run`` on the main thread (the work runs on the link's threads and the jobs): healthy
        while the jobs run; they are planned again after a jump of the wall clock."""
        self.jobs.follow_the_clock()
        return self.jobs.running

    def _wake(self) -> None:
        if self.link is not None:
            self.link.wake()

    def _wake_delivery(self) -> None:
        if self.delivery is not None:
            self.delivery.wake()

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
