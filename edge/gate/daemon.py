"""The daemon: start the parts in order around one stop event, supervise them, stop them in reverse.

    registry → storage (memory queue, seqs, alerts, guard) → inbox (what it receives, edge.gate.inbox)
    → MQTT link → barriers → recognisers → gate → cameras → workers → jobs

The main thread supervises: it restarts a worker that died, pings the systemd watchdog only while
every worker makes progress, and on SIGTERM/SIGINT stops everything within a few seconds, flushing
what the broker will take.

Storage faults (README "When the disk is full or the database read-only"): a database that cannot be
opened is waited for (``edge.gate.waiting``: no restart loop); one that cannot be written is the storage
guard's (``edge.durable.guard``): decisions go on, what cannot be stored waits in memory and is
published directly, every command is answered.
"""

from __future__ import annotations

import logging
import time

from drivers.barriers import make_barriers
from edge.contract import Topics
from edge.gate.controller import Gate
from edge.gate.jobs import Jobs
from edge.gate.memory import give_back, return_freed_memory
from edge.gate.recognition import Recognizers
from edge.gate.recognition_ready import RecognitionReady
from edge.gate.status import GateStatus
from edge.lifecycle import Service
from edge.rules.site_rules import SiteRules
from edge.schemas.phrases import say
from edge.timeutil import Clock, clock_from_config

_LOG = logging.getLogger(__name__)
STALL_S = 60.0


class Daemon(Service):
    """The gate's parts, started in order and supervised; the life cycle itself is ``Service``'s."""

    def __init__(self, config, *, clock: Clock | None = None, on_event=None, barriers: dict | None = None,
                 engines: dict | None = None):
        """``engines``: already loaded recognition models to share ({"faces", "plates", "qr"}; tests, demos)."""
        super().__init__()
        self._engines = engines
        self.config = config
        self.clock = clock or clock_from_config(config)
        self.on_event = on_event
        self._given_barriers = barriers
        self.topics = Topics.of(config)  # built once; every part that publishes or subscribes gets this one
        self.store = self.alerts = self.link = self.gate = self.jobs = self.recognizers = self.status = None
        self.clockwatch = self.recognition = None
        self.storage = self.memory_queue = self.seqs = self.guard = None
        self.replica = self.rules = self.inbox = None
        self.barriers: dict = {}
        self.cameras: list = []
        self.workers: list = []
        self.restarts = 0

    # -- start -------------------------------------------------------------------------------
    def start(self) -> Daemon:
        config = self.config
        self.starting()
        return_freed_memory()  # before the models allocate
        from edge.gate.waiting import open_store

        self.store, waited = open_store(config, self.stop, self.clock, self.topics)
        if self.store is None:
            _LOG.warning("stopped while waiting for the database")
            return self
        self.on_close(self.store.close)
        self.rules = SiteRules.for_store(config, self.store)
        self._signer = self._load_signer()
        self._start_storage(waited)
        from edge.gate.clockwatch import ClockWatch

        self.clockwatch = ClockWatch(config, self.store, self.alerts, self.clock)
        self.recognizers = Recognizers(config, self.store, **(self._engines or {}))
        self.recognition = RecognitionReady(config, self.store, self.recognizers, self.alerts, self.guard)
        signer = self._signer
        if config.site_mode:
            self._start_replica()
        self._start_inbox()
        if config.mqtt.enabled:
            self.link = self.make_link()
            self.on_close(self.link.close)
        self._start_barriers()
        pass_key = self.recognition.prepare()
        give_back()  # what loading the models freed, before the cameras' and workers' threads allocate
        self.gate = Gate(config, self.store, self.barriers, self.alerts, clock=self.clock, wake=self._wake,
                         on_event=self.on_event, rules=self.rules, signer=signer, journal=self.storage.journal,
                         topics=self.topics)
        self.status = GateStatus(self.store, self.storage, self.clockwatch, self.guard, cameras=self.cameras,
                                 barriers=self.barriers, replica=self.replica, gate=self.gate)
        if self.link is not None:
            # Connected only now that every handler it calls exists (a retained message arrives at once).
            self.link.start()
        from drivers.camera import Camera
        from edge.gate.pipeline import CameraWorker

        for cam_config in config.cameras:
            camera = Camera(cam_config, self.stop, clock=self.clock).start()
            self.cameras.append(camera)
            self.workers.append(CameraWorker(camera, config, self.recognizers, self.gate, self.stop, pass_key).start())
        self.on_close(self._stop_cameras)
        self.guard.start()  # stores what waits in memory (a restart's RAM copy) as soon as it can write
        self.on_close(self.guard.close)
        self.jobs = Jobs(config, self.store, self.alerts, cameras=self.cameras, barriers=self.barriers,
                         clockwatch=self.clockwatch,
                         link=self.link, clock=self.clock, outbox=self.store.outbox, replica=self.replica,
                         gaps=self.inbox.ask_for_gaps if self.link is not None else None, guard=self.guard,
                         disk=self.storage.disk).start()
        self.guard.make_room = self.jobs.make_room
        self.on_close(self.jobs.close)
        self.clockwatch.start(on_jump=self.jobs.replan)  # ticks on the monotonic clock, in its own thread
        self.on_close(self.clockwatch.close)
        if self.link is not None:
            self.link.publish_status()  # now with the cameras and barriers in it
        self.ready(self.clock)
        _LOG.info("gate %s/%s running: %d cameras, %d barriers", config.site, config.gate, len(self.cameras),
                  len(self.barriers))
        return self

    def _start_storage(self, waited: dict | None) -> None:
        """The memory queue, the numbering, the alerts and the storage guard (``edge.durable.storage``)."""
        from edge.durable.storage import Storage

        self.storage = Storage(self.config, self.store, self.rules, clock=self.clock, wake=self._wake,
                               on_change=self._status_changed, on_recovered=self._storage_back, signer=self._signer,
                               topics=self.topics)
        self.memory_queue, self.seqs, self.alerts, self.guard = (self.storage.memory_queue, self.storage.seqs,
                                                            self.storage.alerts, self.storage.guard)
        self.on_close(self.storage.clean_stop)  # runs just before the registry closes
        self.storage.check(waited)

    def _storage_back(self) -> None:
        """Storage works again and what waited in memory is stored: have the messages that could not be
        acknowledged delivered again."""
        if self.link is not None:
            self.link.storage_back()

    def _load_signer(self):
        """The gate's identity key (site mode): it signs our events, alerts and requests (DESIGN 6.1)."""
        from edge.keys import load_signer

        config = self.config
        signer = load_signer(config.identity_key_file) if config.identity_key_file else None
        if signer is None and config.site_mode:
            _LOG.warning("site mode without identity_key_file: events go out unsigned and a missing registry "
                         "record cannot be asked for (req/resync)")
        return signer

    def _start_replica(self) -> None:
        """Site mode: the office's registry, verified with its registry.pub."""
        from edge.keys import load_verifier
        from edge.site.replica import Replica

        config = self.config
        signer = self._signer
        encoder = config.recognition.face.encoder if any(c.role == "face" for c in config.cameras) else None
        if encoder is not None:
            encoder = self.recognizers.faces.encoder.name  # "default" resolved to the encoder it is
        self.replica = Replica(config, self.store, load_verifier(config.registry.public_keys), self.alerts,
                               self.rules, topics=self.topics, signer=signer, publish=self._publish, clock=self.clock,
                               encoder_name=encoder, on_sync_change=self._status_changed)

    def _start_inbox(self) -> None:
        """What the gate receives and who handles it (``edge.gate.inbox``): signed commands
        (``edge.gate.commands``), peers' events and statuses, replay requests, the office's registry."""
        from edge.gate.commands import GateCommands
        from edge.gate.inbox import GateInbox

        commands = GateCommands(self.config, self.store, self.topics, storage=self.storage, clockwatch=self.clockwatch,
                                guard=self.guard, gate=lambda: self.gate,
                                reload=lambda: self.recognition.reload(self.workers), publish=self._publish)
        self.inbox = GateInbox(self.config, self.store, self.topics, self.alerts, self.rules, clock=self.clock,
                               signer=self._signer, clockwatch=self.clockwatch, commands=commands,
                               publish=self._publish, wake=self._wake, replica=self.replica,
                               session_present=lambda: self.link is not None and self.link.session_present)

    def make_link(self):
        """The broker link, its inbox routed by ``self.inbox`` (not started: ``start`` does, once every
        handler it calls exists)."""
        from edge.site.mqtt_link import MqttLink

        link = MqttLink(self.config, self.store, router=self.inbox.router(), on_refused=self._refused,
                        status_provider=lambda: self.status.payload(), on_connection=self.inbox.on_connection,
                        inbox_transaction=self.store.transaction, clock=self.clock, on_taken_over=self._taken_over,
                        on_storage_failure=lambda exc, reading: self.guard.failed(exc, reading=reading),
                        topics=self.topics)
        link.memory_queue = self.memory_queue
        return link

    def _status_changed(self) -> None:
        if self.link is not None:
            self.link.publish_status()

    def _publish(self, topic: str, payload: dict) -> None:
        """A message that is not an event or alert (a resync request, a command's result): through the
        outbox, or from memory when it cannot be written."""
        self.storage.send(topic, payload)

    def _start_barriers(self) -> None:
        if self._given_barriers is not None:
            self.barriers = dict(self._given_barriers)
            return
        # One bus per RS-485 port, shared by every barrier (unit) wired to it.
        self.barriers = make_barriers(self.config.barriers)
        self.on_close(lambda: [b.close() for b in self.barriers.values()])
        for barrier in self.barriers.values():
            try:
                barrier.release_all()  # never replay a command from before the restart: coils start OFF
            except Exception as exc:
                _LOG.error("barrier %s: could not reset its coils at start: %s", barrier.id, exc)

    # -- supervise (``Service.run`` calls it every second) -------------------------------------
    def supervise(self) -> bool:
        """Restart dead workers; True when every worker is alive and making progress."""
        healthy = True
        for index, worker in enumerate(self.workers):
            if worker.camera.state == "ended":
                continue
            if not worker.alive:
                _LOG.error("worker for camera %s died; restarting it", worker.cam.id)
                self.alerts.device(f"worker:{worker.cam.id}", False, say("worker_restarted"))
                self.restarts += 1
                from edge.gate.pipeline import CameraWorker

                self.workers[index] = CameraWorker(worker.camera, self.config, self.recognizers, self.gate,
                                                   self.stop, worker.pass_key).start()
                healthy = False
            elif time.monotonic() - worker.last_progress > STALL_S:
                healthy = False  # stuck in a model call: let the watchdog restart us
        return healthy

    # -- stop --------------------------------------------------------------------------------
    def _stop_cameras(self) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(5)
        for camera in self.cameras:
            camera.close()

    # -- MQTT callbacks ----------------------------------------------------------------------
    def _wake(self) -> None:
        if self.link is not None:
            self.link.wake()

    def _taken_over(self, detail: str | None) -> None:
        """Another client took this gate's MQTT session (its login or client id), or it has stopped."""
        self.alerts.device("mqtt-session", detail is None, say("mqtt_session_taken", error=detail) if detail
                           else say("gate_session_back"))

    def _refused(self, seq: int, reason: str) -> None:
        where = say("outbox_row", seq=seq) if seq else say("kept_in_memory")
        self.alerts.device("broker", False, say("broker_refused_message", where=where, error=reason))
