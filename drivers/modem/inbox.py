"""Incoming SMS put together (``drivers.modem.at.Modem`` reads them; this owns what they say).

``Inbox`` turns the (storage index, PDU) pairs the modem listed into whole messages: a single SMS at once;
the parts of a long one kept (by sender, reference and part count) until every part came, or until
``PARTS_WAIT_S`` passed since the first, when it is handed over as it is. A PDU that is no SMS a person
sent (a status report, garbage) goes to the ``unreadable`` it is given (the modem deletes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.modem.pdu import PduError, parse_deliver

PARTS_WAIT_S = 600.0  # a long SMS whose missing part has not come in this long is handed over as it is


@dataclass
class _Partial:
    """The parts of a long incoming SMS seen so far: seq → text, and their storage indexes."""

    count: int
    first_seen: float
    texts: dict[int, str] = field(default_factory=dict)
    indexes: set[int] = field(default_factory=set)


class Inbox:
    """``clock`` (monotonic): how long a long SMS's parts are waited for."""

    def __init__(self, *, clock):
        self._clock = clock
        self._partials: dict[tuple[str, int, int], _Partial] = {}

    def assemble(self, listed: list[tuple[int, str]],
                 unreadable: Callable[[int, PduError], object]) -> list[tuple[str, str, set[int]]]:
        """(sender, text, storage indexes) of each message now complete."""
        ready = []
        for index, pdu in listed:
            try:
                sms = parse_deliver(pdu)
            except PduError as exc:  # not something a person sent us (a status report, garbage)
                unreadable(index, exc)
                continue
            if sms.concat is None or sms.concat[1] <= 1:
                ready.append((sms.sender, sms.text, {index}))
                continue
            reference, count, seq = sms.concat
            partial = self._partials.setdefault((sms.sender, reference, count), _Partial(count, self._clock()))
            partial.texts[seq] = sms.text
            partial.indexes.add(index)
        now = self._clock()
        for key, partial in list(self._partials.items()):
            if len(partial.texts) == partial.count or now - partial.first_seen > PARTS_WAIT_S:
                del self._partials[key]
                text = "".join(partial.texts[seq] for seq in sorted(partial.texts))
                ready.append((key[0], text, partial.indexes))
        return ready


def pairs(lines: list[str], prefix: str):
    """(header, PDU) pairs of an AT+CMGL/AT+CMGR answer: each header line is followed by its PDU line."""
    for i, line in enumerate(lines):
        if line.startswith(prefix) and i + 1 < len(lines) and not lines[i + 1].startswith(prefix):
            yield line, lines[i + 1]
