"""The console's notifications (DESIGN 7): who was told of which alert, and a test message per channel.

    GET  /api/notifications?alert_id=&limit=   the newest messages first (all alerts, or one; limit 1-1000,
                                               100 by default), each: message_id, alert_id, kind, step,
                                               channel, recipient (a phone's middle and an e-mail's name
                                               hidden), state queued|sent|failed (a message being sent is
                                               still queued), attempts, created, sent_at, error
    POST /api/notify/test {"channel", "address"?}   (admins) queue a test message to the channel, sent at
                                               once by the delivery worker; an sms or smtp channel needs
                                               the address (a phone number, an e-mail address). Audited.

The messages themselves are ``store.notifications``'; sending them is ``edge.office.notify.delivery``'s.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.config.notify import masked_recipient, recipient_problem
from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.office.notify.delivery import queue_test
from edge.schemas.phrases import tell
from edge.timeutil import iso

MAX_LIMIT = 1000


class Notifications(ConsoleArea):
    def data(self, alert_id: str | None, limit: int) -> list[dict]:
        zone = self.ctx.zone
        return [{"message_id": m["message_id"], "alert_id": m["alert_id"], "kind": m["kind"], "step": m["step"],
                 "channel": m["channel"], "recipient": masked_recipient(m["recipient"]),
                 "state": "queued" if m["state"] == "sending" else m["state"], "attempts": m["attempts"],
                 "created": iso(m["created_epoch"], zone),
                 "sent_at": iso(m["sent_epoch"], zone) if m["sent_epoch"] is not None else None,
                 "error": m["error"]}
                for m in self.ctx.store.notifications.recent(limit, alert_id=alert_id)]

    @route("/api/notifications")
    async def api_list(self, request: Request) -> Response:
        params = request.query_params
        raw = params.get("limit") or "100"
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise HTTPException(400, tell("limit: a whole number from 1 to 1000"))
        return JSONResponse(self.data(params.get("alert_id") or None, int(raw)))

    @route("/api/notify/test", "POST")
    async def api_test(self, request: Request) -> Response:
        ctx = self.ctx
        data = await ctx.body_of(request)
        channel = data.get("channel")
        target = f"channel:{channel}"[:80] if isinstance(channel, str) else None
        user = ctx.need_role(request, "admin", write=("notify-test", target))
        channels = ctx.config.notify.channels
        names = ", ".join(sorted(channels)) or "-"
        if not isinstance(channel, str) or not channel:
            raise HTTPException(400, tell("channel: the name of a channel in notify.channels ({channels})",
                                          channels=names))
        section = channels.get(channel)
        if section is None:
            raise HTTPException(404, tell("no channel {channel!r} in notify.channels (channels: {channels})",
                                          channel=channel, channels=names))
        address = data.get("address")
        if address is not None and not isinstance(address, str):
            raise HTTPException(400, tell("address: a phone number or an e-mail address"))
        address = (address or "").strip() or None
        if section.ADDRESS is None and address is not None:
            raise HTTPException(400, tell("address: channel {channel} is a group robot: send its test without one",
                                          channel=channel))
        if section.ADDRESS == "phone" and address is None:
            raise HTTPException(400, tell("address: channel {channel} sends SMS: give the phone number to send the "
                                          "test to as address", channel=channel))
        if section.ADDRESS == "email" and address is None:
            raise HTTPException(400, tell("address: channel {channel} sends e-mail: give the e-mail address to send "
                                          "the test to as address", channel=channel))
        recipient = channel if address is None else f"{channel}:{address}"
        if recipient_problem(recipient, channels, contacts_allowed=False):  # the one owner of the rule
            raise HTTPException(400, tell("address: {address!r} is not a phone number or e-mail address this "
                                          "channel takes", address=address))
        delivery = ctx.office.delivery
        message_id = await ctx.run_blocking(lambda: queue_test(
            ctx.store, channel, address, site=ctx.config.site, zone=ctx.zone, now=ctx.now(),
            wake=delivery.wake if delivery is not None else None))
        ctx.audit(user, "notify-test", target, {"recipient": masked_recipient(recipient),
                                                "message_id": message_id}, "ok")
        return JSONResponse({"ok": True, "message_id": message_id, "channel": channel,
                             "recipient": masked_recipient(recipient)})
