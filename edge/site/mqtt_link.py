"""The broker link: paho-mqtt 2.x, MQTT v5, QoS 1, TLS and user/password, last will; one service's connection.

``MqttLink`` owns the connection (connect, reconnect with capped back-off, subscribe, a clean stop) and puts
together the parts that use it, each in its own module:

    edge.site.publish_pump   ``gate-edge-outbox``: unsent outbox rows, then what waits in memory, in order,
                             at most ``window`` in flight, marked sent on a successful PUBACK; a refusal tells
                             ``on_refused`` (the daemon raises a device alert)
    edge.site.inbox          ``gate-edge-inbox`` (and ``gate-edge-registry`` for batched routes): each
                             received message to the handler its route names (``edge.site.router``:
                             paho matches the topic), committed, then acknowledged
    edge.site.link_status    the retained status, also once a backlog has drained
    edge.site.takeover       another client took our session: said once, backed off

While the database cannot be written, what the gate could not store waits in memory
(``edge.durable.memory_queue``; ``memory_queue`` set by the daemon), published by the same pump. A storage
failure is told to ``on_storage_failure`` (the storage guard), never kills a thread, and leaves received
messages unacknowledged; once storage is back the guard calls ``redeliver``, which reconnects (a clean
DISCONNECT: no last will, the session kept), so the broker delivers them again.
Every connection announces ``MAX_PACKET_BYTES`` (``edge.site.mqtt_client``): no larger message reaches us.

``hold=True`` (the office's start): connected and subscribed, but nothing is published (outbox, status)
and nothing received is handled or acknowledged until ``release()``; ``on_early(topic, payload)`` sees
each message as it arrives (paho's thread), so the office can read the broker's retained registry head
before it decides to publish anything. Held messages stay unacknowledged: if the office then refuses
to start, the broker delivers them again to the office that does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.contract import Topics, dumps, offline_will
from edge.durable.disk import DiskRoom
from edge.site.inbox import Inbox
from edge.site.link_status import LinkStatus
from edge.site.mqtt_client import configure, connect_properties
from edge.site.publish_pump import PublishPump
from edge.site.router import Router
from edge.site.takeover import RECONNECT_MAX_S, RECONNECT_MIN_S, TakeoverWatch
from edge.store import Store

_LOG = logging.getLogger(__name__)


class MqttLink:
    def __init__(self, config, store, *, router: Router | None = None, on_refused=None,
                 on_connection=None, status_provider=None, window: int = 50,
                 status_payload_fn=None, inbox_transaction=None, clock=time.time,
                 on_storage_failure=None, on_taken_over=None, hold: bool = False, on_early=None,
                 topics: Topics | None = None):
        """``router``: what to subscribe to and who handles each message (``edge.site.router``; None:
        nothing is subscribed, the link only publishes); ``inbox_transaction``: the service's database's,
        around each run of received messages, committed before they are acknowledged;
        ``status_provider()``: a gate's status parts; ``status_payload_fn(ts, outbox_depth)``: the retained
        status instead of a gate's; ``on_connection(connected, error)``; ``on_storage_failure(exc, reading)``:
        the storage guard; ``on_taken_over(detail or None)``: another client took our session (a device
        alert), or it is over; ``topics``: the service's (``Topics.of(config)`` when not given)."""
        self.config = config
        self.clock = clock  # the daemon's one clock: status timestamps
        self.mqtt = config.mqtt
        self.topics = topics or Topics.of(config)
        self.router = router or Router()
        # Its own connection: the pump never waits for the gate's lock, and "sent" marks use
        # synchronous=NORMAL (a mark lost in a power cut only re-sends that message; events stay FULL).
        self._db = Store(store.path, upgrade=False, synchronous="NORMAL")
        retention = getattr(config, "retention", None)  # a gate's: its "sent" marks are writes too
        self._db.low_on_disk = DiskRoom(store.path, min_free_mb=getattr(retention, "min_free_mb", 0)).low
        self.outbox = self._db.outbox
        self.on_refused = on_refused
        self.on_connection = on_connection
        self.on_storage_failure = on_storage_failure
        self._reconnect_lock = threading.Lock()
        self.window = window
        self.connected = threading.Event()
        self.session_present = False  # False after a connect that found no session: queued messages lost
        self.last_error = ""
        self.connect_failures = 0
        self.subscribed = threading.Event()  # the broker acknowledged this connection's subscriptions
        self.subscribe_refused: list[str] = []  # filters the broker refused (e.g. the ACL)
        self._subscriptions_sent: list[str] = []
        self._stop = threading.Event()
        self._closed = False
        self.inbox = Inbox(self.router, ack=self._ack, stop=self._stop, transaction=inbox_transaction,
                           on_storage_failure=self._storage_failed, hold=hold, on_early=on_early)
        self._client = self._make_client()
        self.takeover = TakeoverWatch(config, on_taken_over=on_taken_over, wake=self.wake)
        self.pump = PublishPump(self._client, self.outbox, window=window, stop=self._stop, ready=self._ready,
                                on_refused=lambda seq, reason: self.on_refused and self.on_refused(seq, reason),
                                on_storage_failure=lambda exc, reading: self._storage_failed(exc, reading=reading),
                                every_round=self._every_round)
        self.status = LinkStatus(self._client, self.topics, self.pump, clock=clock, zone=config.zone,
                                 ready=self._ready, provider=status_provider, payload_fn=status_payload_fn)

    @property
    def memory_queue(self):
        """What waits in memory (``edge.durable.memory_queue``), published after the outbox's rows."""
        return self.pump.sources[1] if len(self.pump.sources) > 1 else None

    @memory_queue.setter
    def memory_queue(self, queue) -> None:
        self.pump.add_source(queue)

    @property
    def published(self) -> int:
        """Messages handed to the broker by the pump."""
        return self.pump.published

    def _ready(self) -> bool:
        """Connected, and not held: we may publish."""
        return self.connected.is_set() and self.inbox.released.is_set()

    # -- set-up ------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        # Manual acknowledgement: a message is acknowledged to the broker only once it has been applied
        # and committed, so a crash or a full disk in between means the broker delivers it again.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.config.client_id, protocol=mqtt.MQTTv5,
            reconnect_on_failure=True, manual_ack=True,
        )
        configure(client, self.mqtt)  # user/password and TLS: one owner for how we connect
        client.will_set(self.topics.status(), dumps(offline_will()), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        client.max_inflight_messages_set(self.window)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        self.router.attach(client, self.inbox.arrived)  # paho matches each message to its route
        return client

    def start(self) -> MqttLink:
        _LOG.info("mqtt: connecting to %s:%s as %s (tls=%s)", self.mqtt.host, self.mqtt.port,
                  self.config.client_id, bool(self.mqtt.tls.ca))
        self._connect()
        self.pump.start()
        self.inbox.start()
        return self

    def _connect(self) -> None:
        props = connect_properties(self.mqtt.session_expiry_s)
        self._client.connect_async(self.mqtt.host, self.mqtt.port, self.mqtt.keepalive_s, clean_start=False,
                                   properties=props)
        self._client.loop_start()

    def release(self) -> None:
        """End the hold: publish, and handle what arrived meanwhile (on this connection; an earlier
        connection's messages are delivered again by the broker)."""
        self.inbox.release()
        self.publish_status()
        self.pump.wake()

    def storage_back(self) -> None:
        """The database can be written again: the link's own connection (perhaps opened read-only) is
        opened again, and what was left unacknowledged is delivered again."""
        self._db.refresh()
        self.redeliver()

    def redeliver(self) -> bool:
        """Storage is back: if a received message was left unacknowledged, reconnect so the broker delivers
        it again (a message is redelivered only on a new connection). Call from our threads, never paho's.
        True when it reconnected."""
        with self._reconnect_lock:
            if not self.inbox.unacked or self._closed:
                return False
            self.inbox.unacked = False
            _LOG.warning("mqtt: reconnecting, so the broker delivers again the messages left unacknowledged "
                         "while the database could not be written")
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                self._client.disconnect()  # clean: no last will; the session (and its messages) stays
            self._client.loop_stop()
            self._connect()
            return True

    def _storage_failed(self, exc: BaseException, *, reading: bool = False) -> None:
        if self.on_storage_failure is not None:
            self.on_storage_failure(exc, reading)
        else:
            _LOG.error("mqtt: storage failure: %s", exc)

    def close(self, timeout: float = 3.0) -> None:
        """Flush what can be flushed within ``timeout``, say offline, disconnect. Idempotent."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        while self.connected.is_set() and self.pump.inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self.inbox.join()
        self.pump.join()
        self._db.close()
        try:
            if self._ready():  # held: it never said it was online
                self.status.offline(deadline - time.monotonic())
        except (RuntimeError, ValueError, OSError):
            pass
        # Always disconnect before stopping the loop: paho's loop_stop alone waits, without end, for every
        # QoS 1 message the broker has not acknowledged while the connection stays up.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            self._client.disconnect()
        self._client.loop_stop()

    # -- paho callbacks (paho's thread) ------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.connect_failures += 1
            self.last_error = f"connect refused: {reason_code}"
            _LOG.warning("mqtt: %s", self.last_error)
            return
        _LOG.info("mqtt: connected (session present: %s)", flags.session_present)
        self.takeover.connected()
        self.session_present = bool(flags.session_present)
        subscriptions = self.router.subscriptions
        self.inbox.connected()
        self.subscribed.clear()
        self._subscriptions_sent = [topic for topic, _ in subscriptions]
        if subscriptions:
            client.subscribe(subscriptions)
        else:
            self.subscribed.set()  # nothing to subscribe to: nothing to wait for
        self.last_error = ""
        self.connected.set()
        self.publish_status()
        self.pump.wake()
        if self.on_connection:
            self.on_connection(True, "")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribe_refused = [topic for topic, code in zip(self._subscriptions_sent, reason_codes, strict=False)
                                  if code.is_failure]
        self.subscribed.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self.connect_failures += 1
        self.last_error = "cannot connect (network, TLS certificate or broker down); retrying with back-off"
        _LOG.warning("mqtt: %s", self.last_error)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        if not self._closed and was:
            self.takeover.disconnected(client, flags, reason_code)
        if was:
            self.last_error = f"disconnected: {reason_code}"
            # Our own goodbye at shutdown is news to nobody; anything else is worth a warning.
            (_LOG.info if self._closed else _LOG.warning)("mqtt: %s", self.last_error)
            if self.on_connection:
                self.on_connection(False, self.last_error)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.pump.on_puback(mid, reason_code)

    def _ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received message to the broker (the inbox, once it is applied and committed)."""
        if qos > 0:
            try:
                self._client.ack(mid, qos)
            except (OSError, ValueError):
                pass  # disconnected meanwhile: the broker delivers it again, and it is applied once

    # -- the pump's thread ---------------------------------------------------------------------
    def _every_round(self) -> None:
        """Before each of the pump's rounds: a takeover told; the status after a drain."""
        try:
            self.takeover.check(self._client, self.connected.is_set())
        except Exception:  # never let the pump die (the alert is stored by the next round's news)
            _LOG.exception("mqtt: reporting a session takeover failed")
        self.status.after_drain()

    # -- publishing ------------------------------------------------------------------------------
    def publish_status(self) -> None:
        """The retained status: who we are and how our devices are (``edge.site.link_status``)."""
        self.status.publish()

    def publish_direct(self, topic: str, payload: str, on_ack) -> bool:
        """Publish now at QoS 1, outside the outbox (the console's commands); ``on_ack(reason_code)`` on the
        PUBACK (paho's thread). False when not connected: nothing was sent."""
        return self.connected.is_set() and self.pump.publish_direct(topic, payload, on_ack)

    def depth(self) -> int:
        """Messages waiting for the broker: unsent outbox rows (the last count, when the outbox cannot be
        read) and those waiting in memory."""
        return self.pump.depth()

    def wake(self) -> None:
        """New rows are in the outbox: publish now rather than at the next poll."""
        self.pump.wake()
