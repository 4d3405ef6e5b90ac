"""The broker link: paho-mqtt 2.x, MQTT v5, QoS 1, TLS and user/password, last will.

Threads: paho's network loop (reconnects with capped back-off), ``gate-edge-outbox`` (the publish pump,
``edge.site.publish_pump``: unsent outbox rows, then what waits in memory, in order, at most ``window`` in
flight, marked sent on a successful PUBACK; a refusal tells ``on_refused``, the daemon raises a device
alert) and ``gate-edge-inbox`` (hands each received message to the handler its route names,
``edge.site.router``: paho matches the topic, our thread runs the handler, so paho's loop never blocks on
the registry or the barrier; a route's batches, the registry's records, have ``gate-edge-registry``).

While the database cannot be written, what the gate could not store waits in memory
(``edge.durable.memory_queue``; ``memory_queue`` set by the daemon), published by the same pump. A storage
failure is told to ``on_storage_failure`` (the storage guard), never kills a thread, and leaves received
messages unacknowledged; once storage is back the guard calls ``redeliver``, which
reconnects (a clean DISCONNECT: no last will, the session kept), so the broker delivers them again.

Another client connecting with our client id (the site's broker: with our login) takes our session over: the
broker disconnects us with reason 0x8E (Mosquitto from 2.0.15, EMQX). Mosquitto before 2.0.15 only closes the
connection, so a connection the broker closed without a word ``FLAP_COUNT`` times within ``FLAP_WINDOW_S``,
each within ``FLAP_AFTER_S`` of being accepted, is taken for the same. The link says so plainly (ERROR, naming
the client id and login), tells ``on_taken_over(detail)`` (a device alert, raised from the pump's thread,
never paho's), and backs off (``TAKEOVER_BACKOFF_S``, doubling up to ``TAKEOVER_BACKOFF_MAX_S``) instead of
taking the session back a second later; ``on_taken_over(None)`` once it has kept a connection ``STABLE_S``.
Every connection announces ``MAX_PACKET_BYTES`` (``edge.site.mqtt_client``): no larger message reaches us.

``hold=True`` (the office's start): connected and subscribed, but nothing is published (outbox, status)
and nothing received is handled or acknowledged until ``release()``; ``on_early(topic, payload)`` sees
each message as it arrives (paho's thread), so the office can read the broker's retained registry head
before it decides to publish anything. Held messages stay unacknowledged: if the office then refuses
to start, the broker delivers them again to the office that does.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.contract import Topics, dumps, offline_will, status_payload
from edge.durable.disk import DiskRoom
from edge.site.mqtt_client import configure, connect_properties
from edge.site.publish_pump import PublishPump
from edge.site.router import Received, Router
from edge.store import StorageFailure, Store

_LOG = logging.getLogger(__name__)
INBOX_BATCH = 200
SESSION_TAKEN_OVER = 0x8E  # MQTT v5 DISCONNECT reason: another client connected with our client id
TAKEOVER_BACKOFF_S = 30.0
TAKEOVER_BACKOFF_MAX_S = 600.0
STABLE_S = 120.0  # connected this long after a takeover: the other client has gone (the alert clears)
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60
FLAP_COUNT, FLAP_WINDOW_S, FLAP_AFTER_S = 3, 60.0, 10.0  # a broker that closes a taken-over session silently


class MqttLink:
    def __init__(self, config, store, *, router: Router | None = None, on_refused=None,
                 on_connection=None, status_provider=None, window: int = 50,
                 status_payload_fn=None, inbox_transaction=None, clock=time.time,
                 on_storage_failure=None, on_taken_over=None, hold: bool = False, on_early=None,
                 topics: Topics | None = None):
        """``router``: what to subscribe to and who handles each message (``edge.site.router``; None:
        nothing is subscribed, the link only publishes);
        ``status_payload_fn(ts, outbox_depth)``: the retained status instead of a gate's;
        ``on_taken_over(detail or None)``: another client took our session (a device alert), or it is over;
        ``topics``: the service's (``Topics.of(config)`` when not given)."""
        self.config = config
        self.clock = clock  # the daemon's one clock: status timestamps and outbox times
        self.mqtt = config.mqtt
        self.topics = topics or Topics.of(config)
        self.router = router or Router()
        # One transaction around each batch of received messages (the daemon's database), committed
        # before they are acknowledged: applied at thousands a second, and never acknowledged unapplied.
        self.inbox_transaction = inbox_transaction or contextlib.nullcontext
        self.status_payload_fn = status_payload_fn
        self._registry_batch: list[Received] = []
        self._registry_ready = threading.Event()
        # Its own connection: the pump never waits for the gate's lock, and "sent" marks use
        # synchronous=NORMAL (a mark lost in a power cut only re-sends that message; events stay FULL).
        self._db = Store(store.path, upgrade=False, synchronous="NORMAL")
        retention = getattr(config, "retention", None)  # a gate's: its "sent" marks are writes too
        self._db.low_on_disk = DiskRoom(store.path, min_free_mb=getattr(retention, "min_free_mb", 0)).low
        self.outbox = self._db.outbox
        self.on_refused = on_refused
        self.on_connection = on_connection
        self.on_storage_failure = on_storage_failure  # f(exc, reading): the storage guard
        self.on_taken_over = on_taken_over
        self.takeovers = 0  # takeovers in a row (the back-off doubles with each)
        self._takeover_news: str | None = None  # told to on_taken_over by the pump
        self._takeover_told = False
        self._connected_at = 0.0
        self._flaps: list[float] = []  # when the broker closed a young connection without a DISCONNECT
        self._unacked = False  # a received message was left unacknowledged by a storage failure
        self._reconnect_lock = threading.Lock()
        self.status_provider = status_provider or (lambda: {})
        self.window = window
        self.connected = threading.Event()
        self.session_present = False  # False after a connect that found no session: queued messages lost
        self._published_at_status, self._status_at, self._status_depth = 0, 0.0, 0
        self.last_error = ""
        self.connect_failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._inbox: queue.Queue = queue.Queue(maxsize=1000)
        self._threads: list[threading.Thread] = []
        self.on_early = on_early
        self._released = threading.Event()
        if not hold:
            self._released.set()
        self._held: list[tuple[int, Received]] = []  # (connection number, message) received while held
        self._connection = 0
        self.subscribed = threading.Event()  # the broker acknowledged this connection's subscriptions
        self.subscribe_refused: list[str] = []  # filters the broker refused (e.g. the ACL)
        self._subscriptions_sent: list[str] = []
        self._client = self._make_client()
        self.pump = PublishPump(self._client, self.outbox, window=window, stop=self._stop,
                                ready=lambda: self.connected.is_set() and self._released.is_set(),
                                on_refused=lambda seq, reason: self.on_refused and self.on_refused(seq, reason),
                                on_storage_failure=lambda exc, reading: self._storage_failed(exc, reading=reading),
                                every_round=self._every_round)
        self._closed = False

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
        self.router.attach(client, self._arrived)  # paho matches each message to its route
        client.on_subscribe = self._on_subscribe
        return client

    def start(self) -> MqttLink:
        _LOG.info("mqtt: connecting to %s:%s as %s (tls=%s)", self.mqtt.host, self.mqtt.port,
                  self.config.client_id, bool(self.mqtt.tls.ca))
        self._connect()
        self.pump.start()
        workers = [("gate-edge-inbox", self._drain_inbox)]
        if self.router.batches:
            workers.append(("gate-edge-registry", self._drain_registry))
        for name, target in workers:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _connect(self) -> None:
        props = connect_properties(self.mqtt.session_expiry_s)
        self._client.connect_async(self.mqtt.host, self.mqtt.port, self.mqtt.keepalive_s, clean_start=False,
                                   properties=props)
        self._client.loop_start()

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
            if not self._unacked or self._closed:
                return False
            self._unacked = False
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
        for thread in self._threads:
            thread.join(timeout=5)
        self.pump.join()
        self._db.close()
        try:
            if self.connected.is_set() and self._released.is_set():  # held: it never said it was online
                info = self._client.publish(self.topics.status(), dumps(offline_will(self._now_iso())), qos=1,
                                            retain=True)
                info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
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
        self._connected_at = time.monotonic()
        self.session_present = bool(flags.session_present)
        subscriptions = self.router.subscriptions
        self._connection += 1
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

    def release(self) -> None:
        """End the hold: publish, and handle what arrived meanwhile (on this connection; an earlier
        connection's messages are delivered again by the broker)."""
        with self._lock:
            held, self._held = [m for n, m in self._held if n == self._connection], []
            self._released.set()
        for message in held:
            self._deliver(message)
        self.publish_status()
        self.pump.wake()

    def _on_connect_fail(self, client, userdata) -> None:
        self.connect_failures += 1
        self.last_error = "cannot connect (network, TLS certificate or broker down); retrying with back-off"
        _LOG.warning("mqtt: %s", self.last_error)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        if not self._closed and was:
            if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
                self._taken_over(client, "the broker closed this connection: session taken over, reason 0x8E")
            elif not getattr(flags, "is_disconnect_packet_from_server", True) and self._flapping():
                self._taken_over(client, f"the broker closed this connection {FLAP_COUNT} times within "
                                         f"{FLAP_WINDOW_S:.0f} s, each right after accepting it (most likely a "
                                         "session taken over; this broker does not send reason 0x8E)")
        if was:
            self.last_error = f"disconnected: {reason_code}"
            # Our own goodbye at shutdown is news to nobody; anything else is worth a warning.
            (_LOG.info if self._closed else _LOG.warning)("mqtt: %s", self.last_error)
            if self.on_connection:
                self.on_connection(False, self.last_error)

    def _flapping(self) -> bool:
        """A young connection closed by the broker without a word: the third within the window is a takeover."""
        now = time.monotonic()
        if now - self._connected_at > FLAP_AFTER_S:
            return False
        self._flaps = [t for t in self._flaps if now - t <= FLAP_WINDOW_S] + [now]
        if len(self._flaps) < FLAP_COUNT:
            return False
        self._flaps = []
        return True

    def _taken_over(self, client, how: str) -> None:
        self.takeovers += 1
        delay = min(TAKEOVER_BACKOFF_MAX_S, TAKEOVER_BACKOFF_S * 2 ** (self.takeovers - 1))
        login = self.mqtt.username or "(no login)"
        detail = (f"another client connected with this client's id {self.config.client_id!r} or login {login!r} "
                  f"and took its session over ({how}): two gates or services share one login or client id; "
                  "give each its own (mqtt.username, mqtt.client_id, gate)")
        _LOG.error("mqtt: %s; trying again in %.0f s (%d in a row)", detail, delay, self.takeovers)
        # Paho waits min_delay before the first reconnect after a connection that worked: take the session
        # back later, not every second (two clients with one id would otherwise throw each other off).
        client.reconnect_delay_set(min_delay=delay, max_delay=max(delay, RECONNECT_MAX_S))
        self._takeover_news = detail
        self.pump.wake()

    def _takeover_check(self) -> None:
        """In the pump's thread: tell ``on_taken_over``; after ``STABLE_S`` connected, the takeover is over."""
        news, self._takeover_news = self._takeover_news, None
        if news is not None and self.on_taken_over is not None:
            self._takeover_told = True
            self.on_taken_over(news)
        if self.takeovers and self.connected.is_set() and time.monotonic() - self._connected_at >= STABLE_S:
            self.takeovers = 0
            self._client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
            if self._takeover_told and self.on_taken_over is not None:
                self._takeover_told = False
                self.on_taken_over(None)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.pump.on_puback(mid, reason_code)

    def _arrived(self, message: Received) -> None:
        """Paho's thread, once per message, with the route paho matched it to (``Router.attach``)."""
        if self.on_early is not None:
            self.on_early(message.topic, message.payload)
        if not self._released.is_set():
            with self._lock:
                if not self._released.is_set():
                    self._held.append((self._connection, message))
                    return
        self._deliver(message)

    def _deliver(self, message: Received) -> None:
        if message.route is not None and message.route.batched:
            with self._lock:
                self._registry_batch.append(message)
            self._registry_ready.set()
            return
        # Back-pressure rather than loss: while the handlers are behind, paho stops reading and the
        # broker keeps the messages.
        while not self._stop.is_set():
            try:
                self._inbox.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    # -- our threads -------------------------------------------------------------------------
    def _every_round(self) -> None:
        """In the pump's thread, before each round: a takeover told; the status after a drain."""
        try:
            self._takeover_check()
        except Exception:  # never let the pump die (the alert is stored by the next round's news)
            _LOG.exception("mqtt: reporting a session takeover failed")
        if self.connected.is_set() and self._released.is_set():
            self._status_after_drain()

    def _status_after_drain(self) -> None:
        """Once a backlog has gone out, say so in the status (its newest seq): a peer that lost the last
        events of it sees the gap without waiting for the next event. Also when the count of messages
        waiting has changed since the last status (its ``outbox`` would otherwise stay wrong)."""
        if time.monotonic() - self._status_at <= 1.0 or not self.pump.drained():
            return
        if self.published != self._published_at_status or self.depth() != self._status_depth:
            self.publish_status()

    def _drain_registry(self) -> None:
        """Registry records in batches, one transaction each (a full sync is thousands of records)."""
        while not self._stop.is_set():
            if not self._registry_ready.wait(0.5):
                continue
            with self._lock:
                batch, self._registry_batch = self._registry_batch[:500], self._registry_batch[500:]
                if not self._registry_batch:
                    self._registry_ready.clear()
            if batch:
                try:
                    for route, messages in itertools.groupby(batch, key=lambda m: m.route):
                        route.handle(list(messages))
                except StorageFailure as exc:
                    _LOG.error("mqtt: storing %d registry records failed (%s): not acknowledged; delivered "
                               "again once storage is back", len(batch), exc)
                    self._unacked = True
                    self._storage_failed(exc)
                    continue
                except Exception:  # never let a bad record stop the replica
                    _LOG.exception("mqtt: applying %d registry records failed", len(batch))
                for message in batch:
                    self._ack(message.mid, message.qos)

    def _drain_inbox(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._inbox.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < INBOX_BATCH:  # what else is waiting: one commit for all of it
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            # Runs of peer events share one transaction; anything else (a command may pulse a barrier
            # under the gate's lock) is handled on its own, outside it: one lock order everywhere.
            run: list = []
            for message in batch:
                if message.route is not None and message.route.together:
                    run.append(message)
                    continue
                self._handle_all(run, self.inbox_transaction)
                self._handle_all([message], contextlib.nullcontext)
                run = []
            self._handle_all(run, self.inbox_transaction)

    def _handle_all(self, messages: list, transaction) -> None:
        """Handle, commit, then acknowledge; a storage failure acknowledges nothing (delivered again)."""
        if not messages:
            return
        try:
            with transaction():
                for message in messages:
                    try:
                        self.router.handle(message)
                    except StorageFailure:
                        raise
                    except Exception:  # a bad message must never stop the inbox (nor come back for ever)
                        _LOG.exception("mqtt: handling a message on %s failed", message.topic)
        except StorageFailure as exc:
            _LOG.error("mqtt: storing %d received messages failed (%s): not acknowledged; delivered again once "
                       "storage is back", len(messages), exc)
            self._unacked = True
            self._storage_failed(exc)
            return
        for message in messages:
            self._ack(message.mid, message.qos)

    def _ack(self, mid: int, qos: int) -> None:
        if qos > 0:
            try:
                self._client.ack(mid, qos)
            except (OSError, ValueError):
                pass  # disconnected meanwhile: the broker delivers it again, and it is applied once

    # -- direct publishing (state, not events) -----------------------------------------------
    def publish_status(self) -> None:
        """The retained status: who we are and how our devices are (not an outbox row: a state)."""
        if not self.connected.is_set() or not self._released.is_set():
            return
        depth = self.depth()
        if self.status_payload_fn is not None:
            payload = self.status_payload_fn(self._now_iso(), depth)
        else:
            extra = dict(self.status_provider())
            payload = status_payload("online", self._now_iso(), extra.pop("cameras", None),
                                     extra.pop("barriers", None), depth, **extra)
        self._published_at_status, self._status_at = self.published, time.monotonic()
        self._status_depth = depth
        self._client.publish(self.topics.status(), dumps(payload), qos=1, retain=True)

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

    def _now_iso(self) -> str:
        from edge.timeutil import iso

        return iso(self.clock(), self.config.zone)
