"""The console's alerts (DESIGN 6.5): care-watch residents not seen, and device alerts, first on the console.

    GET  /api/alerts?state=open|all        care-watch alerts first, newest first (open, the default:
                                           raised and not acknowledged)
    POST /api/alerts/<alert_id>/ack        {"note"}: acknowledged (guards and admins), audited, announced
    GET  /alerts                           the page: care-watch alerts, who is away (until when, why), device
                                           alerts, the last acknowledged

A care-watch alert carries the person, when and where they were last seen and the hours since; a device
alert its gate and device ("<gate>:<device>"; the office's own, a gate silent, is "<device>"). Every alert
carries its short ``code`` (what an SMS reply acknowledges with; None before the office told anyone of it)
and ``told``: each message of it (DESIGN 7: kind, step, channel, recipient masked, state queued|sent|failed,
queued and sent times, error); an acknowledgement says ``via`` console or sms.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.config.notify import masked_recipient
from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.office.console.fields import digits
from edge.schemas.phrases import tell
from edge.store.alerts import said_of
from edge.timeutil import iso, parse_iso


class Alerts(ConsoleArea):
    """The alerts as the API and the page show them, and their acknowledgement."""

    def data(self, state: str) -> list[dict]:
        ctx, zone = self.ctx, self.ctx.zone
        now = ctx.now()
        gate_names = set(ctx.config.gates) | set(ctx.store.gates.all())
        rows = []
        alerts = ctx.store.console.alerts(open_only=state == "open")
        notices = ctx.store.notifications.of_alerts(a["alert_id"] for a in alerts)
        for a in alerts:
            notice = notices.get(a["alert_id"], {"alert": None, "messages": []})
            row = {"alert_id": a["alert_id"], "kind": a["kind"], "subject": a["subject"], "state": a["state"],
                   "raised": iso(a["raised_epoch"], zone), "detail": a["detail"],
                   **_detail_code(a),
                   "cleared": iso(a["cleared_epoch"], zone) if a["cleared_epoch"] else None,
                   "ack": ({"by": a["acked_by"], "note": a["ack_note"], "ts": iso(a["acked_epoch"], zone),
                            "via": (notice["alert"] or {}).get("ack_via") or "console"}
                           if a["acked_epoch"] else None),
                   "code": notice["alert"]["code"] if notice["alert"] else None,
                   "told": [told(m, zone) for m in notice["messages"]]}
            if a["kind"] == "inactivity":
                row.update(self.unseen(a, now))
            else:  # a gate's alert is "<gate>:<device>"; the office's own (a gate silent) is "<device>"
                gate, _, name = a["subject"].partition(":")
                row["gate"], row["device"] = (gate, name) if gate in gate_names else (None, a["subject"])
            rows.append(row)
        return rows

    def unseen(self, alert: dict, now: float) -> dict:
        """A care-watch alert's person, and when and where they were last seen."""
        pid = alert["person_id"] if alert["person_id"] is not None else _person_id(alert["subject"])
        seen = self.ctx.store.sightings.get(f"person:{pid}") if pid is not None else None
        last_epoch = seen["ts_epoch"] if seen else _epoch(alert["detail"])
        return {"person": {"person_id": pid, "name": alert["person_name"], "unit": alert["person_unit"],
                           "phone": alert["person_phone"]},
                "last_seen": iso(last_epoch, self.ctx.zone) if last_epoch else None,
                "last_gate": seen["gate"] if seen else None,
                "hours_unseen": round((now - last_epoch) / 3600, 1) if last_epoch else None}

    @route("/api/alerts")
    async def api_list(self, request: Request) -> Response:
        state = request.query_params.get("state", "open")
        if state not in ("open", "all"):
            raise HTTPException(400, tell("state: open or all"))
        return JSONResponse(self.data(state))

    @route("/api/alerts/{alert_id}/ack", "POST")
    async def api_ack(self, request: Request) -> Response:
        ctx, store = self.ctx, self.ctx.store
        alert_id = request.path_params["alert_id"]
        user = ctx.need_role(request, "guard", "admin", write=("ack", f"alert:{alert_id}"))
        data = await ctx.body_of(request)
        note = data.get("note")
        if not isinstance(note, str) or not note.strip():
            raise HTTPException(400, tell("note: say what was done (e.g. visited, all well)"))
        if len(note) > 500:
            raise HTTPException(400, tell("note: at most {limit} characters", limit=500))
        with store.transaction():  # the notices' too: no more steps, and those told hear of it
            if not ctx.office.acknowledgements.acknowledge(alert_id, user["username"], note.strip(), "console",
                                                           ctx.now()):
                raise HTTPException(404, tell("no alert {alert_id}", alert_id=alert_id))
            ctx.audit(user, "ack", f"alert:{alert_id}", {"note": note.strip()}, "ok")
        row = store.console.alert(alert_id)
        ctx.console.broadcaster("ack", {"alert_id": alert_id, "by": user["username"], "note": note.strip()})
        return JSONResponse({"ok": True, "alert_id": alert_id, "ack": {
            "by": row["acked_by"], "note": row["ack_note"], "ts": iso(row["acked_epoch"], ctx.zone)}})

    @route("/alerts")
    async def page(self, request: Request) -> Response:
        rows = self.data("all")
        open_rows = [a for a in rows if a["state"] == "raised" and a["ack"] is None]
        return self.ctx.page(request, "alerts.html", care=[a for a in open_rows if a["kind"] == "inactivity"],
                             devices=[a for a in open_rows if a["kind"] != "inactivity"],
                             acked=[a for a in rows if a["ack"] is not None][:10],
                             away=self.ctx.office.absences.listing(self.ctx.now()))


def told(message: dict, zone) -> dict:
    """One message of an alert as the page and the API show it (a message being sent is still queued)."""
    return {"kind": message["kind"], "step": message["step"], "channel": message["channel"],
            "recipient": masked_recipient(message["recipient"]),
            "state": "queued" if message["state"] == "sending" else message["state"],
            "queued": iso(message["created_epoch"], zone),
            "sent_at": iso(message["sent_epoch"], zone) if message["sent_epoch"] is not None else None,
            "error": message["error"]}


def _detail_code(row: dict) -> dict:
    """A device alert's detail as a code and its parameters (``edge.schemas.phrases``), when it has one."""
    said = said_of(row) if row["kind"] == "device" else None
    return {"detail_code": said.code, "detail_params": said.wire()["params"]} if said else {}


def _person_id(subject: str) -> int | None:
    return digits(subject.removeprefix("person:"))


def _epoch(text) -> float | None:
    try:
        return parse_iso(str(text))
    except (TypeError, ValueError):
        return None
