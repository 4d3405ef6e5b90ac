"""The console's reports (issue 18): counts over the office's archive, grouped by time buckets.

Reads only. A bucket is a half-open interval of epochs ``[lo, hi)`` chosen by the caller (the hours or
the days of the site's time zone, whatever their length on a daylight-saving day); every query takes the
list of buckets and answers per bucket index, so the day boundaries are decided in one place
(``edge.office.console.reports``) and SQL only counts. Buckets travel as a ``VALUES`` table joined on the
time range, which lets SQLite walk the ``ts_epoch`` index once per bucket.

    passages(buckets)        events per bucket and gate: entries and exits let through, denials, strangers
    occupancy(moments)       parking sessions open at each moment (the lot as the gates counted it)
    alerts(buckets, kind)    alerts raised and cleared per bucket
    payments(buckets)        money received per bucket: the rise of a session's recorded total paid
"""

from __future__ import annotations

# What each passage column counts (the events' own kind and decision; DESIGN 4.3).
_PASSAGES = """
    sum(e.kind = 'entry' AND e.decision = 'open') AS entries,
    sum(e.kind = 'exit' AND e.decision = 'open') AS exits,
    sum(e.kind = 'denied') AS denied,
    sum(e.kind = 'stranger') AS strangers
"""

# A payment is recorded once, by the gate that took it (edge.gate.controller.Gate.pay), in one of two events, each
# carrying the session's total paid so far: a ``session`` event with ``transition: paid`` and
# ``paid_cents`` (a part payment, or one made before the car is held here), or the ``exit`` it opened,
# with ``decision: open`` and ``fee_cents`` = that total (no other exit that opens carries a fee).
def _is_payment(e: str) -> str:
    return (f"{e}.session_id IS NOT NULL AND (({e}.kind = 'session' AND json_extract({e}.payload, '$.transition') = "
            f"'paid' AND json_extract({e}.payload, '$.paid_cents') IS NOT NULL) OR ({e}.kind = 'exit' AND "
            f"{e}.decision = 'open' AND {e}.fee_cents > 0))")


def _total_paid(e: str) -> str:
    return f"CASE WHEN {e}.kind = 'session' THEN json_extract({e}.payload, '$.paid_cents') ELSE {e}.fee_cents END"


def _values(buckets) -> tuple[str, list]:
    """``b(i, lo, hi)`` as a VALUES list and its parameters."""
    if not buckets:
        raise ValueError("at least one bucket")
    params: list = []
    for i, (lo, hi) in enumerate(buckets):
        params += [i, float(lo), float(hi)]
    return "b(i, lo, hi) AS (VALUES " + ", ".join(["(?, ?, ?)"] * len(buckets)) + ")", params


class Reports:
    def __init__(self, store):
        self._store = store

    def passages(self, buckets) -> list[dict]:
        """{bucket, gate, entries, exits, denied, strangers} for each bucket and gate with any event."""
        values, params = _values(buckets)
        return self._store.rows(
            f"WITH {values} SELECT b.i AS bucket, e.gate AS gate, {_PASSAGES} "
            "FROM b JOIN events e ON e.ts_epoch >= b.lo AND e.ts_epoch < b.hi "
            "WHERE e.kind IN ('entry', 'exit', 'denied', 'stranger') GROUP BY b.i, e.gate ORDER BY b.i, e.gate",
            params)

    def occupancy(self, moments) -> list[int]:
        """How many parking sessions were open at each moment: entered at or before it, and not yet closed.
        A session closes at its exit; one superseded (the same car entered again with no exit read) closes
        when that next entry was made, which is when every gate stopped counting it."""
        moments = [float(m) for m in moments]
        if not moments:
            return []
        marks = ", ".join(["(?, ?)"] * len(moments))
        params: list = []
        for i, moment in enumerate(moments):
            params += [i, moment]
        first, last = min(moments), max(moments)
        rows = self._store.rows(
            f"WITH m(i, t) AS (VALUES {marks}), "
            "s AS MATERIALIZED (SELECT lo, hi FROM ("
            "  SELECT p.entry_epoch AS lo, CASE"
            "    WHEN p.state = 'open' THEN NULL"
            "    WHEN p.closed_reason = 'superseded' THEN coalesce((SELECT min(n.entry_epoch) FROM parking_sessions n"
            "      WHERE n.plate = p.plate AND n.entry_epoch > p.entry_epoch), p.entry_epoch)"
            "    ELSE coalesce(p.exit_epoch, p.entry_epoch) END AS hi"
            "  FROM parking_sessions p WHERE p.entry_epoch <= ?"
            ") WHERE hi IS NULL OR hi > ?) "
            "SELECT m.i AS i, count(s.lo) AS cars FROM m LEFT JOIN s ON s.lo <= m.t AND (s.hi IS NULL OR s.hi > m.t) "
            "GROUP BY m.i ORDER BY m.i",
            [*params, last, first])
        return [r["cars"] for r in rows]

    def alerts(self, buckets, kind: str) -> list[dict]:
        """{bucket, raised, cleared}: alerts of ``kind`` raised, and cleared, in each bucket (every bucket)."""
        values, params = _values(buckets)
        return self._store.rows(
            f"WITH {values} SELECT b.i AS bucket, "
            "(SELECT count(*) FROM alerts a WHERE a.kind = ? AND a.raised_epoch >= b.lo AND a.raised_epoch < b.hi) "
            "AS raised, "
            "(SELECT count(*) FROM alerts a WHERE a.kind = ? AND a.state = 'cleared' AND a.cleared_epoch >= b.lo "
            "AND a.cleared_epoch < b.hi) AS cleared FROM b ORDER BY b.i",
            [*params, kind, kind])

    def payments(self, buckets) -> list[dict]:
        """{bucket, payments, collected_cents} for each bucket with a payment: each payment is the rise of
        its session's recorded total paid over the session's previous payment event (the first one: all
        of it), dated when the gate recorded it."""
        values, params = _values(buckets)
        return self._store.rows(
            f"WITH {values}, p AS (SELECT b.i AS bucket, {_total_paid('e')} - coalesce(("
            f"  SELECT max({_total_paid('q')}) FROM events q WHERE q.session_id = e.session_id AND {_is_payment('q')}"
            "   AND (q.ts_epoch < e.ts_epoch OR (q.ts_epoch = e.ts_epoch AND q.rowid < e.rowid))), 0) AS amount "
            f"  FROM b JOIN events e ON e.ts_epoch >= b.lo AND e.ts_epoch < b.hi WHERE {_is_payment('e')}) "
            "SELECT bucket, count(*) AS payments, sum(amount) AS collected_cents FROM p WHERE amount > 0 "
            "GROUP BY bucket ORDER BY bucket",
            params)
