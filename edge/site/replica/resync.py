"""The replica's resync client: asking the office, page by page, for what the retained delivery left out.

The broker may drop retained messages beyond its queue limits, so a gate whose copy is short of the head
once the delivery settles (``SETTLE_S`` without a record) walks the whole registry with signed
``req/resync`` requests, ``RESYNC_PAGE`` records at a time. The office first announces each page's size on
``P/office/resync/<gate>`` (``page_end``); once the records stop coming, a page of which fewer arrived is
asked for again, smaller (never again as large as one the broker cut short), and a whole page lets the
next one grow. No note within ``PAGE_TIMEOUT_S``: the request or the note was lost, asked again. A walk
that ended with the copy still different is walked again after ``RETRY_S``.
"""

from __future__ import annotations

import logging
import time
import uuid

from edge import contract
from edge.keys import sign_record
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
SETTLE_S = 2.0  # no record for this long: the retained delivery (or a resync page) is over
RESYNC_PAGE = 400  # below Mosquitto's default max_queued_messages (1000), with room for events
RETRY_S = 30.0  # a complete walk that left this copy different: walk again after this long
PAGE_TIMEOUT_S = 5.0  # no note from the office by then: ask again
PAGE_QUIET_S = 1.0  # the note came this long ago and the records stopped: the page is over
MIN_PAGE = 10


class ResyncClient:
    def __init__(self, config, topics, lock, *, signer=None, publish=None, clock=time.time, walk_done=None):
        """``publish(topic, payload)``: how a request leaves (the outbox); None, or no ``signer``: never
        asks; ``walk_done()``: the whole registry was walked (the replica drops earlier epochs' records)."""
        self.config = config
        self.topics = topics
        self.lock = lock
        self.signer = signer
        self.publish = publish
        self.clock = clock
        self.walk_done = walk_done or (lambda: None)
        self._page = None  # the request waiting for its "page sent": what arrived since
        self._limit = RESYNC_PAGE
        self._ceiling = RESYNC_PAGE + 1  # the smallest page the broker has cut short so far
        self._walk_done_at = -RETRY_S

    def seen(self, store_key: str, position: tuple[int, int]) -> None:
        """A person, vehicle or pass record arrived (under the replica's lock): counted for the page."""
        if self._page is not None:
            self._page["seen"].add((store_key, position))

    def synced(self) -> None:
        """The copy is in sync: no page is waited for."""
        self._page = None

    def page_end(self, raw: bytes) -> None:
        """The office's note of what it is sending for one of our requests (count, last position); ``tick``
        compares it with what arrived once the records stop coming."""
        try:
            end = contract.parse_resync_page_end(raw)
        except contract.Refused:
            return
        with self.lock:
            page = self._page
            if page is not None and page["request_id"] == end.request_id:
                page["expect"] = (end.count, end.last, end.complete)
                page["noted_at"] = time.monotonic()

    def tick(self, last_record_at: float) -> None:
        """The copy is not in sync: ask for the next page, again, or smaller, once the records stopped
        coming (``last_record_at``: monotonic)."""
        quiet = SETTLE_S if self._page is None or "expect" not in self._page else PAGE_QUIET_S
        if self.publish is None or self.signer is None or time.monotonic() - last_record_at < quiet:
            return
        page = self._page
        if page is None:
            if time.monotonic() - self._walk_done_at > RETRY_S:
                self._ask((0, 0), self._limit)  # walk the whole registry, a page at a time
        elif "expect" in page and time.monotonic() - page["noted_at"] > PAGE_QUIET_S:
            self._page_done(page)
        elif "expect" not in page and time.monotonic() - page["asked_at"] > PAGE_TIMEOUT_S:
            self._ask(page["after"], self._limit)  # the request or the note was lost: ask again

    def _page_done(self, page: dict) -> None:
        """Next page, the same page smaller (the broker dropped some), or the end of the walk."""
        count, last, complete = page["expect"]
        with self.lock:
            arrived = sum(1 for _, position in page["seen"] if page["after"] < position <= last)
        if arrived < count:
            self._smaller()
            _LOG.info("registry: %d of %d records of the page arrived; asking again %d at a time", arrived, count,
                      self._limit)
            self._ask(page["after"], self._limit)
        elif complete:
            self._page = None
            self._walk_done_at = time.monotonic()
            self.walk_done()
        else:
            self._limit = min(RESYNC_PAGE, self._ceiling - 1, self._limit * 3 // 2)
            self._ask(last, self._limit)

    def _smaller(self) -> None:
        self._ceiling = min(self._ceiling, self._limit)
        self._limit = max(MIN_PAGE, self._limit // 2)

    def _ask(self, after: tuple[int, int], limit: int) -> None:
        request = contract.resync_request(request_id=f"resync-{uuid.uuid4().hex[:12]}", after_epoch=after[0],
                                          after_version=after[1], limit=limit, ts=iso(self.clock(), self.config.zone))
        with self.lock:
            self._page = {"request_id": request["request_id"], "after": after, "asked_at": time.monotonic(),
                          "seen": set()}
        self.publish(self.topics.request("resync"), sign_record(self.signer, request))
        _LOG.info("registry: not in sync with the head; asked the office for %d records after %s", limit, after)
