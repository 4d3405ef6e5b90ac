"""Who hears of the archive's new rows as they are committed: the console's live updates (its SSE stream).

The archive announces each new event and each alert change after its commit; a listener runs on the
thread that committed (the MQTT inbox's), so it must not block, and one that fails is logged and the
others still hear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

_LOG = logging.getLogger(__name__)


class Listeners:
    def __init__(self):
        self._listeners: list[Callable[[str, dict], object]] = []

    def subscribe(self, listener: Callable[[str, dict], object]) -> Callable[[], None]:
        """Call ``listener(kind, payload)`` ("event" or "alert") after each new archive row; returns the
        function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def announce(self, kind: str, payload: dict) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                _LOG.exception("archive listener failed")
