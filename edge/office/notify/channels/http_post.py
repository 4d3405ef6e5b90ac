"""One HTTP POST for the channels that speak HTTP (wecom, dingtalk, webhook), and what its answer means.

Owns, for those three: the channel's one httpx client and its timeout; which failures are worth trying
again (DESIGN 7: a timeout, a refused or broken connection, a 5xx, a 429 with its Retry-After; not another
4xx, which a second try cannot mend); a group robot's ``{"errcode": 0}`` answer; and keeping URLs and
secrets out of error texts and logs. A robot's URL holds its key, so an error says "wecom duty-group:
HTTP 500", never the URL; and httpx itself logs every request's URL at INFO ("HTTP Request: POST
https://…?key=…"), so that log line is given the URL's scheme and host only (``_UrlWithoutPath``).
"""

from __future__ import annotations

import email.utils
import logging

import httpx

from edge.office.notify.channels.base import Channel, DeliveryFailed

JSON = "application/json; charset=utf-8"


class _UrlWithoutPath(logging.Filter):
    """On httpx's logger: a request's URL is shown as scheme://host:port/… (its path and query hold keys)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(_shown(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _shown(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}/…"


_HIDE_URLS = _UrlWithoutPath()
logging.getLogger("httpx").addFilter(_HIDE_URLS)  # the same object once: adding it again is a no-op


def secret_parts(url: str) -> list[str]:
    """What of ``url`` must never be shown: itself, as httpx writes it, and each query value (a key, a token)."""
    parts = [url]
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return parts
    parts.append(str(parsed))
    parts += [value for _, value in parsed.params.multi_items() if len(value) >= 6]
    return parts


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT; a date without a zone is not one
        return None
    return max(0.0, when.timestamp() - now)


class HttpChannel(Channel):
    """Base of the channels that POST. A subclass sets ``type``, implements ``send`` with ``self.post`` (and
    ``self.robot_answer`` for a group robot), and adds what it must never show to ``self.secrets``."""

    def __init__(self, name: str, config, *, clock):
        super().__init__(name, config, clock=clock)
        self.secrets: list[str] = []
        # No redirects: a robot's URL that moved is a configuration to fix, and following one would carry
        # the signed query to wherever the redirect points.
        self._client = httpx.Client(timeout=config.timeout_s, follow_redirects=False)

    def failed(self, reason: str, *, retry: bool = True, retry_after_s: float | None = None) -> DeliveryFailed:
        return DeliveryFailed(f"{self.type} {self.name}: {self.scrub(reason)}", retry=retry,
                              retry_after_s=retry_after_s)

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST ``body``; the answer when it is a 2xx, else ``DeliveryFailed`` saying whether to try again."""
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise self.failed(f"no answer within {self.config.timeout_s:g} s") from None
        except httpx.RequestError as exc:  # refused, reset, unknown host, broken answer: the network's, for now
            raise self.failed(f"cannot reach the service ({str(exc) or type(exc).__name__})") from None
        except httpx.InvalidURL:
            raise self.failed("the URL is not valid", retry=False) from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        reason = f"HTTP {status}"
        # 429: the service asks us to slow down; 408: it gave up waiting for our request. Both pass.
        if status in (408, 429):
            raise self.failed(reason, retry_after_s=retry_after_s(response.headers.get("retry-after"), self.clock()))
        if status >= 500:
            raise self.failed(reason)
        raise self.failed(reason + (" (a redirect: fix the URL)" if 300 <= status < 400 else ""), retry=False)

    def robot_answer(self, response: httpx.Response, *, rate_limited: dict[int, float],
                     transient: frozenset[int]) -> None:
        """A group robot took the message only when it answers ``{"errcode": 0}`` (with HTTP 200).
        ``rate_limited``: errcode → seconds to wait; ``transient``: errcodes worth trying again."""
        try:
            answer = response.json()
        except ValueError:  # a proxy's or a captive portal's page, not the robot's: try again later
            raise self.failed(f"HTTP {response.status_code} but the answer is not JSON") from None
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if errcode == 0:
            return
        if not isinstance(errcode, int):
            raise self.failed("the answer carries no errcode")
        errmsg = str(answer.get("errmsg") or "")[:200]
        reason = f"errcode {errcode}" + (f" ({errmsg})" if errmsg else "")
        if errcode in rate_limited:
            raise self.failed(reason, retry_after_s=rate_limited[errcode])
        raise self.failed(reason, retry=errcode in transient)

    def close(self) -> None:
        self._client.close()  # idempotent in httpx
