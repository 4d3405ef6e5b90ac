"""Scheduled jobs (APScheduler): inactivity check, device health, retention, WAL checkpoint, status.

Each job is a plain method of ``Jobs`` so tests call it directly; ``start()`` only puts them on the
service's ``edge.lifecycle.Schedule`` (a BackgroundScheduler; a job never raises into it, a storage
failure is told to the storage guard).

Room for the database (``storage_room``, with device health; measured by ``edge.durable.disk``): below
``retention.min_free_mb`` free on the filesystem the ``disk`` alert is raised, early, and nothing is
deleted yet. Below a working reserve (``reserve_mb``: a quarter of that, at least 1 MB) of room (the
filesystem's free space plus the free pages inside the database), ``make_room`` deletes the oldest
stranger snapshots, then the oldest sent events, until the reserve is back, so new events are stored
rather than refused; an event whose message is still waiting is never deleted.
"""

from __future__ import annotations

import logging
import time

from edge.durable.disk import DiskRoom
from edge.lifecycle import Schedule
from edge.schemas.phrases import say
from edge.store import StorageFailure
from edge.store.retention import delete_expired

_LOG = logging.getLogger(__name__)
MAKE_ROOM_BATCH = 100  # rows per transaction; a checkpoint after each keeps the WAL from growing
OUTBOX_ALERT_DEPTH = 10000
BROKER_DOWN_ALERT_S = 120
INACTIVITY_TICK_S = 5.0  # how often the inactivity job looks whether the site's interval has passed


class Jobs:
    def __init__(self, config, store, alerts, *, cameras=(), barriers=None, link=None, clock=time.time,
                 outbox=None, replica=None, gaps=None, clockwatch=None, guard=None, disk: DiskRoom | None = None):
        """``disk``: the room the database has (the daemon's; by default one of its own)."""
        self.config = config
        self.store = store
        self.alerts = alerts
        self.cameras = list(cameras)
        self.barriers = barriers or {}
        self.link = link
        self.clock = clock
        self.outbox = outbox
        self.replica = replica
        self.gaps = gaps  # ask peers for the events a gap in their seq says we missed
        self.guard = guard  # the storage guard (edge.durable.guard): told of storage failures
        self.disk = disk or DiskRoom(config.database, store, min_free_mb=config.retention.min_free_mb)
        store.low_on_disk = self.disk.low  # see Store.low_on_disk
        self._broker_down_since: float | None = None
        self._inactivity_checked: float | None = None  # time.monotonic() of the last inactivity check
        self.clockwatch = clockwatch  # jumps of the wall clock; inactivity waits while the time is unconfirmed
        self.schedule: Schedule | None = None

    # -- the jobs ----------------------------------------------------------------------------
    def inactivity(self) -> list[dict]:
        watch = self.clockwatch
        if watch is not None and not watch.confirmed:
            _LOG.info("inactivity check held back: the wall clock jumped and the time is not confirmed yet")
            return []
        return self.alerts.check_inactivity(self.clock())

    def inactivity_when_due(self) -> list[dict]:
        """Ticks every few seconds and checks when the site's interval has passed: the interval is the
        rules' (``alerts.rules``: a gate in site mode follows the office's signed settings, which may change
        while it runs), measured on the monotonic clock."""
        every_s = self.alerts.rules.inactivity.check_every_minutes * 60
        now = time.monotonic()
        if self._inactivity_checked is not None and now - self._inactivity_checked < every_s:
            return []
        if self.clockwatch is not None and not self.clockwatch.confirmed:
            return self.inactivity()  # held (and logged); checked as soon as the time is confirmed
        self._inactivity_checked = now
        return self.inactivity()

    def replan(self) -> None:
        """After a wall-clock jump (the ClockWatch says): every interval job runs now (``Schedule.replan``)."""
        if self.schedule is not None:
            self.schedule.replan()

    def camera_health(self) -> None:
        """A camera without a frame for its down_alert_s (closed or frozen) raises its device alert."""
        for camera in self.cameras:
            down = camera.down_for()
            if down > camera.config.down_alert_s:
                self.alerts.device(f"camera:{camera.id}", False,
                                   say("camera_down", seconds=down, why=camera.down_why or ""))
            elif camera.state == "ok":
                self.alerts.device(f"camera:{camera.id}", True)

    def camera_check_s(self) -> float:
        """How often camera_health runs: a quarter of the shortest down_alert_s, 0.5 to 15 s."""
        shortest = min((c.config.down_alert_s for c in self.cameras), default=60.0)
        return min(15.0, max(0.5, shortest / 4))

    def device_health(self) -> None:
        self.camera_health()
        for barrier in self.barriers.values():
            status = barrier.status()  # a cheap read: keeps the arm state known and finds dead buses
            if barrier.failing:
                self.alerts.device(f"barrier:{barrier.id}", False, say("barrier_fault", error=status.detail)
                                   if status.detail else say("barrier_not_answering"))
            elif status.reachable:
                self.alerts.device(f"barrier:{barrier.id}", True)
        if self.link is not None:
            if self.link.connected.is_set():
                self._broker_down_since = None
                self.alerts.device("broker", True)
            else:
                self._broker_down_since = self._broker_down_since or time.monotonic()
                if time.monotonic() - self._broker_down_since > BROKER_DOWN_ALERT_S:
                    self.alerts.device("broker", False, say("broker_error", error=self.link.last_error)
                                       if self.link.last_error else say("broker_not_connected"))
        self.storage_room()
        if self.outbox is not None:
            depth = self.outbox.depth()
            self.alerts.device("outbox", depth < OUTBOX_ALERT_DEPTH, say("outbox_waiting", depth=depth))

    def retention(self) -> dict:
        """Delete sent events and outbox rows past retention; never an unsent one. Refused peer events
        (``quarantine``) are kept at most Quarantine.KEEP_DAYS and MAX_ROWS."""
        keep_s = self.config.retention.events_days * 86400
        done = delete_expired(self.store, self.clock(), keep_s=keep_s, sent_keep_s=keep_s,
                              snapshots_keep_s=self.config.retention.stranger_snapshots_days * 86400)
        return {what: done[what] for what in ("events", "outbox", "snapshots", "quarantine")}

    def reserve_mb(self) -> float:
        """The room retention keeps for new rows: a quarter of retention.min_free_mb, at least 1 MB."""
        return max(1.0, self.config.retention.min_free_mb / 4)

    def storage_room(self) -> dict:
        """The ``disk`` alert while the filesystem has less than retention.min_free_mb free (the early
        warning: the disk is filling up); below the working reserve, retention first makes room."""
        floor = self.config.retention.min_free_mb
        made = self.make_room() if self.disk.room_mb() < self.reserve_mb() else {}
        free, reusable = self.disk.free_mb(), self.disk.reusable_mb()
        deleted = made if made.get("events") or made.get("snapshots") else {}
        self.alerts.device("disk", free >= floor, say(
            "disk_room", free_mb=free, folder=str(self.config.database.parent), floor_mb=floor, reusable_mb=reusable,
            deleted_events=deleted.get("events"), deleted_snapshots=deleted.get("snapshots")))
        return {"free_mb": free, "reusable_mb": reusable, **made}

    def make_room(self) -> dict:
        """Delete the oldest stranger snapshots, then the oldest sent events (with their sent outbox rows),
        a batch at a time, until there is ``reserve_mb`` of room or nothing sent is left. What was deleted
        is logged, also when a batch fails (a disk too full even to delete: raised to the caller)."""
        store, reserve = self.store, self.reserve_mb()
        made = {"events": 0, "snapshots": 0}
        try:
            for what, delete in (("snapshots", store.events.delete_oldest_snapshots),
                                 ("events", store.events.delete_oldest_sent)):
                while self.disk.room_mb() < reserve:
                    with store.transaction():
                        deleted = delete(MAKE_ROOM_BATCH)
                    made[what] += deleted  # committed: counted (and logged) whatever happens next
                    try:  # the freed pages reach the file, and the next batch reuses the WAL's space
                        store.checkpoint(truncate=False)
                    except StorageFailure:
                        pass  # a disk too full even for that: the next commit's checkpoint tries again
                    if deleted < MAKE_ROOM_BATCH:
                        break
        finally:
            if made["events"] or made["snapshots"]:
                _LOG.warning("retention: low on room for the database (%.1f MB, keeping %.0f MB): deleted the %d "
                             "oldest sent events and %d snapshots", self.disk.room_mb(), reserve, made["events"],
                             made["snapshots"])
        return made

    def stale_sessions(self) -> int:
        """Report (once) parking sessions open longer than stale_session_days."""
        sessions = self.store.sessions
        rows = sessions.stale(self.clock() - self.alerts.rules.parking.stale_session_days * 86400)
        for row in rows:
            days = (self.clock() - row["entry_epoch"]) / 86400
            self.alerts.device(f"parking:{row['plate']}", False,
                               say("parking_session_stale", session=row["session_id"], days=days))
            with self.store.transaction():
                sessions.mark_stale_reported(row["session_id"])
        return len(rows)

    def checkpoint(self) -> None:
        # Low on room: keep the WAL's space (writes reuse it and the pages retention freed).
        self.store.checkpoint(truncate=self.disk.room_mb() >= self.config.retention.min_free_mb)

    def registry_sync(self) -> None:
        """Site mode: note the first full sync, or ask the office for what is missing."""
        if self.replica is not None:
            self.replica.tick()

    def status(self) -> None:
        if self.link is not None:
            self.link.publish_status()

    # -- scheduling --------------------------------------------------------------------------
    def start(self) -> Jobs:
        schedule = Schedule(self.config.timezone, guard=self.guard)
        tick_s = min(INACTIVITY_TICK_S, self.config.inactivity.check_every_minutes * 60)
        schedule.every(tick_s, self.inactivity_when_due, id="inactivity", first_in=1)
        schedule.every(15, self.device_health, id="device_health", first_in=5)
        if self.cameras:
            schedule.every(self.camera_check_s(), self.camera_health, id="camera_health",
                           first_in=self.camera_check_s())
        schedule.every(60, self.status, id="status")
        if self.replica is not None:
            schedule.every(1, self.registry_sync, id="registry_sync")
        if self.gaps is not None:
            schedule.every(1, self.gaps, id="peer_gaps")
        schedule.daily(self.retention, id="retention", hour=3, minute=17)
        schedule.daily(self.stale_sessions, id="stale_sessions", hour=8, minute=0)
        schedule.every(3600, self.checkpoint, id="wal_checkpoint")
        self.schedule = schedule.start()
        return self

    def close(self) -> None:
        if self.schedule is not None:
            self.schedule.close()
            self.schedule = None
