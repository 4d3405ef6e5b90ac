"""Delivery: every queued message leaves by its channel, at least once, never lost (DESIGN 7).

``Delivery`` takes the messages ``store.notifications`` holds, when they are due, and hands each to its
channel's ``send``. For one message::

    claim (its own transaction: queued -> sending, one more attempt)
    send  (outside any transaction: a slow robot or modem never holds the database)
    sent | failed (a transaction: the result, and the channel's consecutive failures)

A try that fails is queued again after a back-off: ``notify.retry.first_s``, doubling each try up to
``max_s`` (longer if the service asked, ``retry_after_s``); a message is never given up for failing, only
when the channel says trying again cannot help (``DeliveryFailed(retry=False)``: state ``failed``).
``notify.retry.failing_after`` consecutive failures of a channel raise the office's device alert
``notify:<channel>`` (``edge.alerts.Alerts``, as ``SilentGates`` raises ``gate:<name>``); the steps tell
it on the other channels like any device alert; the channel's next success clears it.

Restart rule: at start every message a stop caught ``sending`` is queued again with the same message id
(``requeue_sending``): it is the only one that may reach its recipient twice, and a service that
deduplicates sees the same id. Nothing sent is sent again; nothing queued is lost.

Rate limit: a channel's ``rate_per_minute`` is a sliding window on the injected monotonic clock: a try is
made only while fewer than that many were made in the last 60 s, so no minute ever holds more (a token
bucket would let a full bucket and a minute's refill, twice the limit, through in one minute). Every try
counts: a failed request reached the robot too. A message over the limit waits for room; it is not failed.
The window is in memory: after a restart a channel starts with room (the robot's own limit is per minute).

Threads: one per channel. A channel's ``send`` blocks (an SMS takes seconds on the modem, a robot that
does not answer waits out its timeout), so each channel sends on its own thread: a channel that is slow,
failing or rate-limited never holds another's messages, and each channel's messages go one at a time in
the order they are due. ``wake()`` (after the commit that queued a message) wakes them all; otherwise a
thread sleeps until its earliest message is due, at most ``POLL_S`` (the demo's clock may jump ahead).
``run_due()`` runs the same work on the caller's thread (tests on an injected clock, the benchmark).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import deque

from edge.office.notify.channels.base import Channel, DeliveryFailed, Outgoing
from edge.schemas.phrases import say
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
RATE_WINDOW_S = 60.0


def redacted(text: str) -> str:
    """A failure's text with any URL taken out (robot URLs hold keys; the error is stored and shown)."""
    return _URL.sub("<url>", text)[:500]


def backoff_s(retry, attempts: int) -> float:
    """The wait after the ``attempts``-th failed try: first_s, doubling, at most max_s."""
    return min(retry.first_s * 2 ** max(0, attempts - 1), retry.max_s)


class Delivery:
    POLL_S = 5.0  # the longest a channel's thread sleeps without being woken
    BATCH = 50  # messages read at once per channel

    def __init__(self, notify, store, channels: dict[str, Channel], alerts, *, clock, monotonic=time.monotonic):
        """``notify``: the office's ``notify:`` section; ``channels``: built by ``build_channels``; ``alerts``:
        the office's ``Alerts`` (``notify:<channel>``); ``clock``: epoch seconds (when a retry is due, what a
        message says); ``monotonic``: the rate limits' clock."""
        self.retry = notify.retry
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.monotonic = monotonic
        self.lanes = {name: _Lane(self, name, channel) for name, channel in channels.items()}
        self._stop = threading.Event()
        self._recover_lock = threading.Lock()
        self._recovered = False

    def start(self) -> Delivery:
        """Requeue what a stop caught sending, give up on channels no longer configured, start the threads.
        While the database cannot be written, the threads do the first part first, once it can."""
        try:
            self.ensure_recovered()
        except StorageFailure as exc:
            _LOG.warning("notify: delivery waits for the database: %s", exc)
        for lane in self.lanes.values():
            lane.thread = threading.Thread(target=lane.run, name=f"notify-{lane.name}", daemon=True)
            lane.thread.start()
        return self

    def ensure_recovered(self) -> None:
        """``recover`` once, before anything is sent."""
        with self._recover_lock:
            if not self._recovered:
                self.recover()
                self._recovered = True

    def recover(self) -> list[str]:
        """The restart rule (see the module's docstring); the ids requeued."""
        with self.store.transaction():
            again = self.store.notifications.requeue_sending()
            for channel in sorted(self.store.notifications.queued_channels() - set(self.lanes)):
                n = self.store.notifications.give_up_channel(channel, f"no channel {channel!r} in notify.channels")
                _LOG.warning("notify: %d queued messages of channel %s given up: it is not configured any more",
                             n, channel)
        if again:
            _LOG.warning("notify: %d messages were being sent when the office stopped; they go again, same ids",
                         len(again))
        for lane in self.lanes.values():
            lane.alert_open = self.alerts.open_device_alert(lane.device) is not None
        return again

    def wake(self) -> None:
        """A message was queued (called after its commit): every channel looks at once."""
        for lane in self.lanes.values():
            lane.event.set()

    def run_due(self) -> int:
        """Send, on this thread, every message due now that the rate limits allow; how many tries were made."""
        tries = 0
        for lane in self.lanes.values():
            while True:
                made, _wait = lane.work()
                tries += made
                if not made:
                    break
        return tries

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the threads (a send under way finishes: its message is then sent or queued again) and the
        channels; a message still ``sending`` after ``timeout_s`` goes again at the next start."""
        self._stop.set()
        self.wake()
        for lane in self.lanes.values():
            if lane.thread is not None:
                lane.thread.join(timeout_s)
        for lane in self.lanes.values():
            try:
                lane.channel.close()
            except Exception:  # noqa: BLE001 - one channel's close never keeps the others open
                _LOG.exception("notify: closing channel %s failed", lane.name)


class _Lane:
    """One channel: its messages one at a time, its rate window, its consecutive failures and alert."""

    def __init__(self, delivery: Delivery, name: str, channel: Channel):
        self.delivery = delivery
        self.name = name
        self.channel = channel
        self.device = f"notify:{name}"
        self.limit = channel.rate_per_minute
        self.tries: deque[float] = deque()  # monotonic times of the tries in the last RATE_WINDOW_S
        self.hold_until = 0.0  # monotonic: the service asked us to wait (retry_after_s)
        self.event = threading.Event()
        self.thread: threading.Thread | None = None
        self.alert_open = False
        self.unrecorded: list = []  # results storage could not take yet: (message, error or None, retry, after)

    # -- the thread ------------------------------------------------------------------------
    def run(self) -> None:
        d = self.delivery
        while not d.stopping:
            self.event.clear()  # before the work: a wake() during it is not lost
            try:
                made, wait = self.work()
            except StorageFailure as exc:
                _LOG.warning("notify: channel %s waits for the database: %s", self.name, exc)
                made, wait = 0, d.POLL_S
            except Exception:  # noqa: BLE001 - the channel's thread never dies of one bad message
                _LOG.exception("notify: channel %s", self.name)
                made, wait = 0, d.POLL_S
            if not made:
                self.event.wait(min(max(wait, 0.01), d.POLL_S))

    # -- one step --------------------------------------------------------------------------
    def room_wait_s(self, mono: float) -> float:
        """0 when a try may be made now, else how long until one may (rate window, the service's hold)."""
        while self.tries and self.tries[0] < mono - RATE_WINDOW_S:
            self.tries.popleft()
        wait = max(0.0, self.hold_until - mono)
        if self.limit is not None and len(self.tries) >= self.limit:
            # Strictly after the oldest try leaves the window: a try exactly 60 s later would make the
            # limit plus one within one (closed) minute.
            wait = max(wait, self.tries[0] + RATE_WINDOW_S - mono + 0.001)
        return wait

    def work(self) -> tuple[int, float]:
        """Send the due messages the window allows: (tries made, seconds until there may be more to do)."""
        d, rows = self.delivery, self.delivery.store.notifications
        d.ensure_recovered()
        self._record_unrecorded()
        made = 0
        wait = self.room_wait_s(d.monotonic())
        if wait > 0:
            return made, wait
        room = d.BATCH if self.limit is None else max(1, self.limit - len(self.tries))
        for message in rows.due(d.clock(), min(room, d.BATCH), channels={self.name}):
            if d.stopping:
                break
            wait = self.room_wait_s(d.monotonic())
            if wait > 0:
                return made, wait
            with d.store.transaction():
                claimed = rows.claim(message["message_id"])
            if claimed is None:
                continue
            self.tries.append(d.monotonic())
            made += 1
            self.send(claimed)
        if made:
            return made, 0.0
        due = rows.next_due_epoch(self.name)
        return made, d.POLL_S if due is None else max(0.0, due - d.clock())

    def send(self, message: dict) -> None:
        # The message JSON carries its id: a receiver that gets a message twice (the one a stop caught
        # ``sending``) knows it is the same one.
        payload = {**message["payload"], "message_id": message["message_id"]}
        out = Outgoing(message["message_id"], self.name, message["address"], message["text"], payload)
        try:
            self.channel.send(out)
        except DeliveryFailed as exc:
            if exc.retry_after_s:
                self.hold_until = max(self.hold_until, self.delivery.monotonic() + exc.retry_after_s)
            self.result(message, redacted(exc.reason) or "failed", exc.retry, exc.retry_after_s)
        except Exception as exc:  # noqa: BLE001 - a channel's own bug: retried like any failure, said by its type
            _LOG.exception("notify: channel %s raised instead of DeliveryFailed", self.name)
            self.result(message, redacted(f"{type(exc).__name__}: {exc}"), True, None)
        else:
            self.result(message, None, True, None)

    def result(self, message: dict, error: str | None, retry: bool, after: float | None) -> None:
        try:
            self._record(message, error, retry, after)
        except StorageFailure as exc:
            # Kept until storage takes it; a stop meanwhile leaves the message ``sending``: it goes again.
            _LOG.warning("notify: result of message %s not stored yet: %s", message["message_id"], exc)
            self.unrecorded.append((message, error, retry, after))

    def _record_unrecorded(self) -> None:
        while self.unrecorded:
            self._record(*self.unrecorded[0])
            self.unrecorded.pop(0)

    def _record(self, message: dict, error: str | None, retry: bool, after: float | None) -> None:
        d, rows = self.delivery, self.delivery.store.notifications
        now, mid = d.clock(), message["message_id"]
        with d.store.transaction():
            if error is None:
                rows.sent(mid, now)
            else:
                delay = max(backoff_s(d.retry, message["attempts"]), after or 0.0)
                rows.failed(mid, error, now + delay if retry else None)
            failures = rows.channel_result(self.name, error is None, error, now)
        if error is None:
            _LOG.info("notify: message %s sent by %s (try %d)", mid, self.name, message["attempts"])
            if self.alert_open:
                d.alerts.device(self.device, True, say("notify_back", channel=self.name))
                self.alert_open = False
            return
        _LOG.warning("notify: message %s by %s failed (try %d, %s): %s", mid, self.name, message["attempts"],
                     "retried" if retry else "given up", error)
        if failures >= d.retry.failing_after:
            d.alerts.device(self.device, False, say("notify_failing", channel=self.name, failures=failures,
                                                    error=error))
            self.alert_open = True


def queue_test(store, channel: str, address: str | None, *, site: str, zone, now: float, wake=None) -> str:
    """Queue a test message to ``channel`` (``address``: the phone or e-mail for sms/smtp) in its own
    transaction, then ``wake`` (the worker's); its message id. The caller checks the recipient
    (``recipient_problem``)."""
    alert_id = f"test:{uuid.uuid4()}"
    recipient = channel if address is None else f"{channel}:{address}"
    stamp = iso(now, zone)
    text = (f"【测试】这是 {site} 门禁系统的测试通知，经 {channel} 发出，收到即表示此渠道可用。"
            f"（{stamp[:16].replace('T', ' ')}）")
    payload = {"v": 1, "alert_id": alert_id, "kind": "test", "step": "test", "text": text, "unit": None,
               "person_id": None, "code": None, "ts": stamp}
    with store.transaction():
        if wake is not None:
            store.after_commit(wake)
        return store.notifications.queue(alert_id, "test", "test", recipient, channel, address, text, payload, now)
