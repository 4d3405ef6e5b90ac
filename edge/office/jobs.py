"""The office's periodic work, on the same scheduler as the gate's jobs (``edge.lifecycle.Schedule``).

    every second     ask the gates for what the archive misses (``Archive.ask_for_gaps``)
    every 5 s        the silent gates' alerts (``SilentGates.check``)
    every 30 s       the notices' later steps, storms' end and the daily roll call (``Notices.tick``)
    every minute     the office's retained status; pauses whose end has come (``Absences.due``)
    every hour       retention (also a second after the start); invited cars a day past their window
                     leave the registry (``Invitations.tidy``)

Each job is a plain method so tests call it directly; ``start()`` only puts them on the scheduler.
The office has no ClockWatch: its supervision (on the monotonic clock) re-plans the jobs after a jump of
the wall clock (``follow_the_clock``), so a clock set back holds none of them.
"""

from __future__ import annotations

import logging

from edge.lifecycle import Schedule
from edge.office.notify.steps import TICK_S
from edge.store.retention import delete_expired

_LOG = logging.getLogger(__name__)
GAPS_EVERY_S = 1.0
SILENT_GATES_EVERY_S = 5.0
STATUS_EVERY_S = 60.0
NOTICES_EVERY_S = TICK_S
AWAY_EVERY_S = 60.0
RETENTION_EVERY_S = 3600.0
SENT_KEEP_S = 86400.0  # a sent message stays in the outbox this long (what was sent, for a technician)


class OfficeJobs:
    def __init__(self, config, store, *, archive, silent_gates, link, guard, clock, notices=None, absences=None):
        self.config = config
        self.store = store
        self.archive = archive
        self.silent_gates = silent_gates
        self.link = link
        self.guard = guard  # told of storage failures (edge.office.storage_guard)
        self.clock = clock
        self.notices = notices  # edge.office.notify.steps.Notices (None: nobody is told)
        self.absences = absences  # edge.office.away.Absences: a pause's end is told when its date comes
        self.schedule: Schedule | None = None

    def retention(self) -> dict:
        """The archive is kept ``retention.events_days`` (events, cleared alerts); what the outbox has sent
        a day (a registry record lives on in registry_records and, retained, at the broker); refused peer
        events (``quarantine``) at most Quarantine.KEEP_DAYS and MAX_ROWS."""
        done = delete_expired(self.store, self.clock(), keep_s=self.config.retention.events_days * 86400,
                              sent_keep_s=SENT_KEEP_S)
        done = {what: done[what] for what in ("events", "alerts", "outbox", "quarantine", "notifications")}
        if any(done.values()):
            _LOG.info("retention: %d archived events, %d cleared alerts, %d sent messages, %d refused events, "
                      "%d notifications deleted", *done.values())
        return done

    def invitations(self) -> list[str]:
        """Invited cars a day past their window and not in the car park leave the registry; published now."""
        from edge.registry.invites import Invitations

        removed = Invitations(self.store, self.config.zone, clock=self.clock).tidy()
        if removed:
            _LOG.info("invitations: %d invited cars a day past their window left the registry", len(removed))
            self.link.wake()
        return removed

    def status(self) -> None:
        self.link.publish_status()

    def start(self) -> OfficeJobs:
        schedule = Schedule(self.config.timezone, guard=self.guard)
        schedule.every(RETENTION_EVERY_S, self.retention, id="retention", first_in=1)
        schedule.every(RETENTION_EVERY_S, self.invitations, id="invitations", first_in=2)
        schedule.every(GAPS_EVERY_S, self.archive.ask_for_gaps, id="archive_gaps", first_in=1)
        schedule.every(SILENT_GATES_EVERY_S, self.silent_gates.check, id="silent_gates", first_in=1)
        schedule.every(STATUS_EVERY_S, self.status, id="status", first_in=1)
        if self.notices is not None:
            schedule.every(NOTICES_EVERY_S, self.notices.tick, id="notices", first_in=1)
        if self.absences is not None:
            schedule.every(AWAY_EVERY_S, self.absences.due, id="away_due", first_in=1)
        self.schedule = schedule.start()
        return self

    @property
    def running(self) -> bool:
        return self.schedule is not None and self.schedule.running

    def follow_the_clock(self) -> None:
        if self.schedule is not None:
            self.schedule.follow_the_clock()

    def close(self) -> None:
        if self.schedule is not None:
            self.schedule.close()
            self.schedule = None
