"""Alert state: the ``alerts`` table (device alerts and care-watch inactivity episodes).

One row per alert id; ``raised`` until cleared. Kept so a restart neither repeats nor forgets an
alert. Cleared rows are deleted by retention.
"""

from __future__ import annotations

import json

from edge.contract import dumps
from edge.schemas.phrases import Phrase, from_wire


class AlertRows:
    def __init__(self, store):
        self._store = store

    def get(self, alert_id: str) -> dict | None:
        return self._store.row("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,))

    def open_device(self, device: str) -> dict | None:
        return self._store.row("SELECT * FROM alerts WHERE kind = 'device' AND subject = ? AND state = 'raised'",
                               (device,))

    def open_inactivity(self, person_id: int) -> list[dict]:
        """The person's raised inactivity alerts, with the unit (for the "cleared" message)."""
        return self._store.rows(
            "SELECT a.alert_id, a.detail, a.raised_epoch, p.unit FROM alerts a "
            "JOIN people p ON a.subject = 'person:' || p.id "
            "WHERE a.kind = 'inactivity' AND a.state = 'raised' AND a.subject = ?", (f"person:{person_id}",))

    def close_for_person(self, person_id: int, cleared_epoch: float) -> int:
        """An erased person's raised inactivity alerts are cleared: nobody is to knock on the door of
        someone the registry no longer holds, and no alert stays open that nothing could clear."""
        return self._store.execute(
            "UPDATE alerts SET state = 'cleared', cleared_epoch = ? "
            "WHERE kind = 'inactivity' AND state = 'raised' AND subject = ?",
            [cleared_epoch, f"person:{person_id}"]).rowcount

    def add(self, alert_id: str, kind: str, subject: str, raised_epoch: float, detail: Phrase | str) -> None:
        """``detail``: a device alert's phrase (its text, code and parameters are kept) or a text."""
        self._store.table("alerts").insert({"alert_id": alert_id, "kind": kind, "subject": subject,
                                            "state": "raised", "raised_epoch": raised_epoch, "cleared_epoch": None,
                                            **_detail_columns(detail)})

    def clear(self, alert_id: str, cleared_epoch: float) -> None:
        self._store.execute("UPDATE alerts SET state = 'cleared', cleared_epoch = ? WHERE alert_id = ?",
                            [cleared_epoch, alert_id])

    def set_detail(self, alert_id: str, detail: Phrase) -> None:
        """An open alert's detail follows what it counts (the ``peer-events`` alert's refusals)."""
        columns = _detail_columns(detail)
        self._store.execute("UPDATE alerts SET detail = ?, detail_code = ?, detail_params = ? "
                            "WHERE alert_id = ? AND state = 'raised'",
                            [columns["detail"], columns["detail_code"], columns["detail_params"], alert_id])

    def all(self, *, subject: str | None = None, state: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM alerts WHERE 1 = 1", []
        if subject is not None:
            sql, params = sql + " AND subject = ?", [*params, subject]
        if state is not None:
            sql, params = sql + " AND state = ?", [*params, state]
        return self._store.rows(sql + " ORDER BY raised_epoch, rowid", params)

    def count_raised_since(self, kind: str, since_epoch: float) -> int:
        """Alerts of ``kind`` raised at or after ``since_epoch``, cleared or not (a storm of them)."""
        return self._store.scalar("SELECT count(*) FROM alerts WHERE kind = ? AND raised_epoch >= ?",
                                  [kind, since_epoch])

    def renumber_people(self, ids: dict[int, int]) -> None:
        """Move ``person:<old>`` alerts to ``person:<new>`` (an adopted gate taking the office's ids)."""
        from edge.store.sightings import renumber

        renumber(self._store, "alerts", ids)

    def delete_cleared_before(self, cutoff_epoch: float) -> int:
        return self._store.execute("DELETE FROM alerts WHERE state = 'cleared' AND cleared_epoch < ?",
                                   [cutoff_epoch]).rowcount


def _detail_columns(detail: Phrase | str) -> dict:
    if isinstance(detail, Phrase):
        wire = detail.wire()
        return {"detail": detail.text, "detail_code": wire["code"], "detail_params": dumps(wire["params"])}
    return {"detail": detail, "detail_code": None, "detail_params": None}


def said_of(row: dict) -> Phrase | None:
    """The phrase an alert row's detail is (None: a text only, written before codes or by an older gate)."""
    if not row.get("detail_code"):
        return None
    try:
        params = json.loads(row.get("detail_params") or "{}")
    except ValueError:
        return None
    return from_wire(row["detail_code"], params)
