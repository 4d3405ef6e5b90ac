"""``webhook``: the message JSON POSTed to any HTTP endpoint (the street's platform, a paging service).

Body: ``Outgoing.payload`` (DESIGN 7's ``{"v": 1, "alert_id", "kind", "step", "text", "unit",
"person_id", "code", "ts"}``) as compact UTF-8 JSON. Headers a receiver checks::

    X-Gate-Edge-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>
    X-Gate-Edge-Message-Id: <the message id: the same on every retry and after a restart, for dedup>

The HMAC key is the text of ``secret_file`` without surrounding whitespace, as UTF-8 bytes. A 2xx answer is
delivered; a timeout, a refused connection or a 5xx is tried again, a 429 after its Retry-After; any other
4xx is not (the endpoint refuses this request as it is). The URL may hold a token: never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from edge.office.notify.channels.base import Outgoing, read_secret
from edge.office.notify.channels.http_post import JSON, HttpChannel, secret_parts

SIGNATURE_HEADER = "X-Gate-Edge-Signature"
MESSAGE_ID_HEADER = "X-Gate-Edge-Message-Id"


def body_of(message: Outgoing) -> bytes:
    return json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(body: bytes, key: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class Webhook(HttpChannel):
    type = "webhook"

    def __init__(self, name: str, config, *, clock):
        super().__init__(name, config, clock=clock)
        self._key = read_secret(config.secret_file, channel=name, key="secret_file").encode("utf-8")
        self.secrets += [*secret_parts(config.url), self._key.decode("utf-8")]

    def send(self, message: Outgoing) -> None:
        body = body_of(message)
        self.post(self.config.url, body, {"Content-Type": JSON, SIGNATURE_HEADER: signature(body, self._key),
                                          MESSAGE_ID_HEADER: message.message_id})
