"""``wecom``: a 企业微信 (WeChat Work) group robot (DESIGN 7).

POST ``{"msgtype": "text", "text": {"content", "mentioned_mobile_list"}}`` to the robot's webhook URL, read
from ``url_file`` (the URL holds the robot's key: never logged). Taken only when the robot answers
``{"errcode": 0}``; errcode 45009 is its rate limit (20 messages a minute per robot): tried again after a
minute; -1 (system busy) is tried again; any other errcode (an invalid key, a malformed message) is not.
"""

from __future__ import annotations

import json

from edge.office.notify.channels.base import Outgoing, read_secret
from edge.office.notify.channels.http_post import JSON, HttpChannel, secret_parts

# WeChat Work cuts nothing itself: a text.content over 2048 bytes is refused (errcode 40058), so the
# message would never pass. The first 2048 bytes say what matters (the unit, the code come first).
CONTENT_MAX_BYTES = 2048
RATE_LIMITED = {45009: 60.0}
TRANSIENT = frozenset({-1})


def cut_utf8(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes, cut at a character, ending with … when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit - len("…".encode())].decode("utf-8", errors="ignore") + "…"


class Wecom(HttpChannel):
    type = "wecom"

    def __init__(self, name: str, config, *, clock):
        super().__init__(name, config, clock=clock)
        self._url = read_secret(config.url_file, channel=name, key="url_file")
        self.secrets += secret_parts(self._url)

    def send(self, message: Outgoing) -> None:
        body = {"msgtype": "text", "text": {"content": cut_utf8(message.text, CONTENT_MAX_BYTES),
                                            "mentioned_mobile_list": list(self.config.mention_mobiles)}}
        response = self.post(self._url, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                             {"Content-Type": JSON})
        self.robot_answer(response, rate_limited=RATE_LIMITED, transient=TRANSIENT)
