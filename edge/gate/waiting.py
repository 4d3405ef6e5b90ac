"""Starting without a database: wait for it, loudly, instead of a traceback and a restart loop.

When the database cannot be opened at start (an unmounted or unreadable disk, I/O errors, a migration
that cannot be written), ``gate-edge run`` does not exit. It logs one clear line, tells systemd it runs
(READY, STATUS "waiting for the database", watchdog pings), connects to the broker on its own and says
so: the retained status (``online``, ``"storage": {"state": "unavailable", …}``) and a ``storage``
device alert; it answers every command (``ok: false`` with the reason: nothing can be decided or
recorded), and tries again with back-off (1 s, doubling, at most 60 s). Its connection has a login of its own
(``mqtt.waiting_login``; the site's broker ties each login to one client id), so the daemon's persistent
session is left alone; a site gate without that login stays off the broker while it waits (its last will
already said ``offline``), and a local gate uses its own login as ``<client_id>-waiting``. The commands it
answered are handed to the daemon, which refuses them as replays when the broker delivers them again.
Once the database opens, this connection is closed cleanly and the daemon starts as usual; the storage
guard clears the alert when it can write (``Daemon._adopt_wait_alert``).

A database written by a newer gate-edge (``SchemaTooNew``) is not waited for: exit 2, as before.
"""

from __future__ import annotations

import logging
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge import sdnotify
from edge.contract import Topics, command_result, device_alert_payload, dumps, offline_will, status_payload
from edge.schemas.phrases import say
from edge.site.mqtt_client import configure, connect_properties
from edge.site.router import Received, Router
from edge.store import OPEN_FAILURES, SchemaTooNew, Store
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
BACKOFF_MAX_S = 60.0


def open_store(config, stop, clock=time.time, topics: Topics | None = None) -> tuple[Store | None, dict | None]:
    """(the opened Store, what the wait said or None); (None, …) when ``stop`` was set first. What the wait
    said: {"alert_id", "detail", "ts", "error", "since", "answered": {request_id: ts}}. ``topics``: the daemon's."""
    try:
        return Store(config.database), None
    except SchemaTooNew:
        raise
    except OPEN_FAILURES as exc:
        first = exc
    waiter = Waiter(config, clock, first, topics)
    delay = 1.0
    try:
        waiter.start()
        while not stop.is_set():
            deadline = time.monotonic() + delay
            while not stop.is_set() and time.monotonic() < deadline:
                sdnotify.notify("WATCHDOG=1")
                stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            if stop.is_set():
                break
            try:
                store = Store(config.database)
            except SchemaTooNew:
                raise
            except OPEN_FAILURES as exc:
                waiter.still(exc)
                delay = min(BACKOFF_MAX_S, delay * 2)
                continue
            _LOG.warning("storage: the database %s opened after %.0f s; starting", config.database,
                         time.monotonic() - waiter.started)
            return store, waiter.alert
        return None, waiter.alert
    finally:
        waiter.close()


class Waiter:
    """The gate's voice while it has no database: status, alert, command answers (its own connection)."""

    def __init__(self, config, clock, exc: BaseException, topics: Topics | None = None):
        self.config = config
        self.clock = clock
        self.error = str(exc)
        self.started = time.monotonic()
        self.since = clock()
        self.topics = topics or Topics.of(config)
        detail = say("storage_cannot_open", database=str(config.database), error=str(exc), backoff_s=BACKOFF_MAX_S)
        self._seen: dict[str, float] = {}
        self.alert = {"alert_id": str(uuid.uuid4()), "detail": detail, "ts": self.since, "error": self.error,
                      "answered": self._seen}
        self._client = None
        self._alert_mid = None
        # One subscription, one route: the commands it answers (refused: it cannot do them).
        self._router = (Router().subscribe(self.topics.command(), SubscribeOptions(qos=1))
                        .route(self.topics.command(), self._command))
        _LOG.error("storage: cannot open the database %s (%s): the gate waits for it instead of exiting, and "
                   "retries with back-off up to %.0f s", config.database, exc, BACKOFF_MAX_S)
        sdnotify.notify(f"READY=1\nSTATUS=waiting for the database {config.database}: {exc}")

    def start(self) -> None:
        if not self.config.mqtt.enabled:
            return
        login = self.config.mqtt.waiting_login if self.config.mqtt.waiting_login.username else None
        if login is None and self.config.site_mode:
            _LOG.warning("storage: mqtt.waiting_login is not set, so the gate says nothing on the broker while it "
                         "waits (its own login would take over its session at the site's broker)")
            return
        client_id = login.username if login else f"{self.config.client_id}-waiting"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        configure(client, self.config.mqtt, login)
        client.will_set(self.topics.status(), dumps(offline_will()), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self._router.attach(client, self._router.handle)  # answered at once, on paho's thread
        self._client = client
        props = connect_properties(0)  # a session of its own, gone when it disconnects
        client.connect_async(self.config.mqtt.host, self.config.mqtt.port, self.config.mqtt.keepalive_s,
                             clean_start=True, properties=props)
        client.loop_start()

    def still(self, exc: BaseException) -> None:
        self.error = str(exc)
        _LOG.warning("storage: still cannot open the database %s: %s", self.config.database, exc)
        self._publish_status()

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.disconnect()  # clean: no last will (the daemon says online itself next)
            except (RuntimeError, ValueError, OSError):
                pass
            self._client.loop_stop()
            self._client = None

    # -- paho (its thread) -------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            _LOG.warning("mqtt: connect refused: %s", reason_code)
            return
        client.subscribe(self._router.subscriptions)
        self._publish_status()
        payload = device_alert_payload(self.alert["alert_id"], "storage", "raised", self.alert["detail"],
                                       iso(self.since, self.config.zone))
        payload["gate"] = self.config.gate
        if self.config.identity_key_file:  # site mode: the office takes only what our own key signed
            from edge.keys import load_signer, sign_record

            payload = sign_record(load_signer(self.config.identity_key_file), payload)
        self._alert_mid = client.publish(self.topics.device_alert, dumps(payload), qos=1).mid

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if mid == self._alert_mid and not reason_code.is_failure:
            self.alert["published"] = True  # the daemon then stores it as sent

    def _command(self, message: Received) -> None:
        """``P/<gate>/cmd/<verb>``: refused, with the reason (our own cmd/result is no command)."""
        (verb,) = message.levels
        if verb == "result":
            return
        request_id, error = self._refusal(verb, message.payload)
        client = self._client
        if client is not None:  # None: closed meanwhile
            client.publish(self.topics.command_result, dumps(command_result(request_id, False, error)), qos=1)

    def _refusal(self, verb: str, raw: bytes) -> tuple[str | None, str]:
        from edge.site.remote import CommandRefused, command_checker, parse_command

        now = self.clock()
        for old in [k for k, t in self._seen.items() if now - t >= 2 * self.config.mqtt.command_window_s]:
            del self._seen[old]

        def seen(request_id: str) -> bool:
            again = request_id in self._seen
            self._seen[request_id] = now
            return again

        try:
            command = parse_command(verb, raw, command_checker(self.config), self.config.mqtt.command_window_s, seen,
                                    now=now, site=self.config.site, gate=self.config.gate)
        except CommandRefused as exc:
            return exc.request_id, exc.error
        except ValueError as exc:
            return _request_id(raw), str(exc)
        return command.request_id, (f"not done: the gate cannot open its database ({self.error}); it retries; "
                                    "open the barrier by hand meanwhile")

    def _publish_status(self) -> None:
        if self._client is None or not self._client.is_connected():
            return
        storage = {"state": "unavailable", "since": iso(self.since, self.config.zone), "error": self.error,
                   "queued": 0, "min_free_mb": self.config.retention.min_free_mb}
        payload = status_payload("online", iso(self.clock(), self.config.zone), {}, {}, 0, storage=storage)
        self._client.publish(self.topics.status(), dumps(payload), qos=1, retain=True)


def _request_id(raw: bytes) -> str | None:
    from edge.contract import Refused, parse_command_body

    try:
        value = parse_command_body(raw).get("request_id")
    except Refused:
        return None
    return value if isinstance(value, str) else None
