"""The admin's page of notification channels (DESIGN 7): each channel with its last delivery result, and a
button that sends it a test message.

    GET  /notify                   the page (admins): every channel of ``notify.channels`` (its type, the
                                   detail it carries, where it goes, its rate limit), its last delivery
                                   result (sent or failed, when, the error, consecutive failures), and a
                                   "send a test message" form posting to ``POST /api/notify/test``
                                   (``notify_pages``; an sms or smtp channel asks for the address)
    GET  /api/notify/channels      (admins) the page's JSON twin

Where a channel goes is said without a secret: a robot's URL (it holds its key) is never shown, a webhook
by its host only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.timeutil import iso


class Channels(ConsoleArea):
    def data(self) -> list[dict]:
        ctx = self.ctx
        health = {row["channel"]: row for row in ctx.store.notifications.channels()}
        found = []
        for name, section in sorted(ctx.config.notify.channels.items()):
            last = health.get(name) or {}
            found.append({"name": name, "type": section.type, "detail": section.effective_detail,
                          "where": where(section), "rate_per_minute": section.rate_per_minute,
                          "address": section.ADDRESS,  # what a test needs: None, "phone", "email"
                          "last_state": last.get("last_state"),
                          "last_at": iso(last["last_epoch"], ctx.zone) if last.get("last_epoch") else None,
                          "last_error": last.get("last_error"), "failures": last.get("failures", 0)})
        return found

    @route("/api/notify/channels")
    async def api_list(self, request: Request) -> Response:
        self.ctx.need_role(request, "admin")
        return JSONResponse(self.data())

    @route("/notify")
    async def page(self, request: Request) -> Response:
        self.ctx.need_role(request, "admin")
        return self.ctx.page(request, "notify.html", channels=self.data())


def where(section) -> str:
    """Where a channel's messages go, without its secret (a robot's webhook URL holds its key)."""
    if section.type == "sms":
        return section.port
    if section.type == "smtp":
        return f"{section.host}:{section.port}"
    if section.type == "webhook":
        return urlsplit(section.url).hostname or ""
    return ""
