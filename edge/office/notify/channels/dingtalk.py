"""``dingtalk``: a 钉钉 group robot with 加签 (signing), as DingTalk's documentation shows (DESIGN 7).

Each request adds ``timestamp`` (milliseconds, from the channel's clock) and ``sign`` to the robot's URL
(read from ``url_file``; it holds the access_token, never logged)::

    sign = urlencode(base64(HMAC-SHA256(key = secret, message = "<timestamp>\\n<secret>")))

The secret (``SEC…``, from ``secret_file``) is both the key and part of the signed text. DingTalk refuses a
timestamp more than an hour from its own clock (errcode 310000, as for a wrong sign: not tried again, the
office's clock or the secret must be fixed). Body ``{"msgtype": "text", "text": {"content"}}``; taken only
on ``{"errcode": 0}``. Over 20 messages a minute DingTalk blocks the robot for 10 minutes (errcode 130101):
tried again after that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse

from edge.office.notify.channels.base import Outgoing, read_secret
from edge.office.notify.channels.http_post import JSON, HttpChannel, secret_parts

RATE_LIMITED = {130101: 600.0}
TRANSIENT = frozenset({-1})


def sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's 加签 of ``timestamp_ms`` with ``secret``, URL-encoded as it goes in the query."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))


def signed_url(url: str, timestamp_ms: int, secret: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign(timestamp_ms, secret)}"


class Dingtalk(HttpChannel):
    type = "dingtalk"

    def __init__(self, name: str, config, *, clock):
        super().__init__(name, config, clock=clock)
        self._url = read_secret(config.url_file, channel=name, key="url_file")
        self._secret = read_secret(config.secret_file, channel=name, key="secret_file")
        self.secrets += [*secret_parts(self._url), self._secret]

    def send(self, message: Outgoing) -> None:
        timestamp_ms = int(round(self.clock() * 1000))
        body = {"msgtype": "text", "text": {"content": message.text}}
        response = self.post(signed_url(self._url, timestamp_ms, self._secret),
                             json.dumps(body, ensure_ascii=False).encode("utf-8"), {"Content-Type": JSON})
        self.robot_answer(response, rate_limited=RATE_LIMITED, transient=TRANSIENT)
