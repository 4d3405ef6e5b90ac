"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT to send, SMS-DELIVER to read what the modem received.

What we send (``submit_pdus``), one PDU per part, as hex for ``AT+CMGS`` in PDU mode (``AT+CMGF=0``):

    [SCA][FO][MR][DA-len][DA-TOA][DA digits][PID][DCS][VP?][UDL][UDH?][UD]
     00   01  00  0B      81      3124..F3   00   08       len  ...
    SCA 00: the SMS centre stored in the SIM. FO: SMS-SUBMIT, 0x40 when a UDH is present, 0x10 when a
    relative validity is given. MR 00: the modem numbers it. TOA 0x91 for "+86…", 0x81 for a national
    number. ``AT+CMGS=<n>`` takes n = the octets after the SCA.

* text the GSM default alphabet can carry (ASCII letters, digits, most punctuation) goes as 7-bit
  septets (DCS 0x00): 160 in one SMS, 153 per part of a long one (the UDH takes 6 octets + fill bits);
* anything else (Chinese) as UCS-2 (DCS 0x08; UTF-16 for characters beyond the BMP, whose surrogate
  pairs are never cut): 70 characters in one SMS, 67 per part;
* a longer text is split into concatenated parts, each with the UDH 05 00 03 <ref> <count> <seq>
  (8-bit reference). An escape pair (``{`` is 1B 28) is never cut either.

``parse_deliver`` reads an SMS-DELIVER (what ``AT+CMGR``/``AT+CMGL`` show) in GSM 7-bit, 8-bit or UCS-2,
with the concatenation header (8- or 16-bit reference) when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.modem import gsm7

GSM7, DATA8, UCS2 = 0x00, 0x04, 0x08
SINGLE = {GSM7: 160, UCS2: 70}  # septets / UTF-16 code units in one SMS
PART = {GSM7: 153, UCS2: 67}  # … in each part of a concatenated SMS
MAX_PARTS = 255


class PduError(ValueError):
    """A PDU that cannot be built (a bad number, too long a text) or read (truncated, not a DELIVER)."""


@dataclass(frozen=True)
class Submit:
    """One part to send: ``hex`` for the modem and ``tpdu_octets`` for ``AT+CMGS=<n>``."""

    hex: str
    tpdu_octets: int


@dataclass(frozen=True)
class Deliver:
    """One received SMS (or one part of a long one: ``concat`` = (reference, count, seq), else None)."""

    sender: str
    text: str
    timestamp: str  # the SMS centre's time stamp as the phone sent it: YY-MM-DD hh:mm:ss±zz (quarters)
    concat: tuple[int, int, int] | None = None


# -- encoding ----------------------------------------------------------------------------------------------
def encode_address(number: str) -> bytes:
    """Address field: digit count, type of address, digits as swapped semi-octets (F-padded)."""
    digits = number[1:] if number.startswith("+") else number
    if not digits.isdigit() or not 1 <= len(digits) <= 20 or not digits.isascii():
        raise PduError(f"phone number {number!r}: digits only, at most 20, an optional leading +")
    toa = 0x91 if number.startswith("+") else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), toa]) + bytes.fromhex(swapped)


def pack_septets(septets, fill_bits: int = 0) -> bytes:
    """Septets packed LSB first into octets, after ``fill_bits`` zero bits (those that align the text on
    a septet boundary after a UDH)."""
    out = bytearray()
    acc, bits = 0, fill_bits
    for septet in septets:
        acc |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)


def _split_gsm7(text: str, size: int) -> list[list[int]]:
    parts, current = [], []
    for ch in text:
        septets = gsm7.septets_of(ch)
        if len(current) + len(septets) > size:  # an escape pair stays in one part
            parts.append(current)
            current = []
        current.extend(septets)
    parts.append(current)
    return parts


def _split_ucs2(text: str, size: int) -> list[bytes]:
    units = text.encode("utf-16-be")
    parts, start = [], 0
    while start < len(units):
        end = min(start + 2 * size, len(units))
        if end < len(units) and 0xD8 <= units[end - 2] <= 0xDB:  # a high surrogate: keep the pair whole
            end -= 2
        parts.append(units[start:end])
        start = end
    return parts or [b""]


def user_data(udh: bytes, payload, dcs: int) -> bytes:
    """UDL + UD: the optional header (its length octet is added here) and the text. For 7-bit text the
    UDL counts septets, the header included (rounded up to a septet boundary by the fill bits)."""
    header = bytes([len(udh)]) + udh if udh else b""
    if dcs == GSM7:
        fill = (7 - len(header) * 8 % 7) % 7
        header_septets = (len(header) * 8 + fill) // 7
        return bytes([header_septets + len(payload)]) + header + pack_septets(payload, fill)
    return bytes([len(header) + len(payload)]) + header + bytes(payload)


def submit_pdus(number: str, text: str, *, reference: int = 0, validity: int | None = None) -> list[Submit]:
    """The SMS-SUBMIT PDUs that carry ``text`` to ``number``: one, or the parts of a concatenated SMS
    sharing ``reference`` (0..255). ``validity``: the relative validity octet (0xA7 = 24 hours), or None
    to leave it to the SMS centre."""
    address = encode_address(number)
    if gsm7.encodable(text):
        dcs, single = GSM7, len(gsm7.to_septets(text)) <= SINGLE[GSM7]
        parts = [gsm7.to_septets(text)] if single else _split_gsm7(text, PART[GSM7])
    else:
        dcs, single = UCS2, len(text.encode("utf-16-be")) <= 2 * SINGLE[UCS2]
        parts = [text.encode("utf-16-be")] if single else _split_ucs2(text, PART[UCS2])
    if len(parts) > MAX_PARTS:
        raise PduError(f"text of {len(text)} characters needs {len(parts)} parts; at most {MAX_PARTS}")
    first = 0x01 | (0x10 if validity is not None else 0) | (0x40 if len(parts) > 1 else 0)
    vp = bytes([validity]) if validity is not None else b""
    pdus = []
    for seq, payload in enumerate(parts, 1):
        udh = bytes([0x00, 0x03, reference & 0xFF, len(parts), seq]) if len(parts) > 1 else b""
        tpdu = bytes([first, 0x00]) + address + bytes([0x00, dcs]) + vp + user_data(udh, payload, dcs)
        pdus.append(Submit(hex=("00" + tpdu.hex()).upper(), tpdu_octets=len(tpdu)))
    return pdus


# -- decoding ----------------------------------------------------------------------------------------------
def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little") >> fill_bits
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


def _semi_octets(data: bytes, digits: int) -> str:
    text = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in data)[:digits]
    return text.replace("A", "*").replace("B", "#")


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError(f"PDU truncated: wanted {n} octets at offset {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def octet(self) -> int:
        return self.take(1)[0]


def _alphabet(dcs: int) -> int:
    group = dcs & 0xF0
    if dcs & 0xC0 in (0x00, 0x40):  # general data coding (and its "marked for deletion" twin)
        if dcs & 0x20:
            raise PduError(f"DCS 0x{dcs:02X}: compressed text is not supported")
        return {0: GSM7, 1: DATA8, 2: UCS2}.get((dcs >> 2) & 0x03, DATA8)
    if group in (0xC0, 0xD0):  # message waiting indication, default alphabet
        return GSM7
    if group == 0xE0:  # message waiting indication, UCS-2
        return UCS2
    if group == 0xF0:  # data coding / message class
        return DATA8 if dcs & 0x04 else GSM7
    raise PduError(f"DCS 0x{dcs:02X} is reserved")


def _read_address(reader: _Reader) -> str:
    digits = reader.octet()
    toa = reader.octet()
    raw = reader.take((digits + 1) // 2)
    if toa & 0x70 == 0x50:  # alphanumeric sender ("10086" operators send names): packed 7-bit
        return gsm7.from_septets(unpack_septets(raw, digits * 4 // 7))
    number = _semi_octets(raw, digits)
    return "+" + number if toa & 0x70 == 0x10 else number


def _timestamp(raw: bytes) -> str:
    d = [f"{b & 0x0F}{b >> 4}" for b in raw]
    # The zone in quarters of an hour, tens digit first (low nibble); its bit 3 is the sign.
    quarters = (raw[6] & 0x07) * 10 + (raw[6] >> 4)
    sign = "-" if raw[6] & 0x08 else "+"
    return f"{d[0]}-{d[1]}-{d[2]} {d[3]}:{d[4]}:{d[5]}{sign}{quarters:02d}"


def _concat(udh: bytes) -> tuple[int, int, int] | None:
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2:pos + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4 and len(value) == 4:
            return value[0] << 8 | value[1], value[2], value[3]
        pos += 2 + length
    return None


def parse_deliver(pdu_hex: str) -> Deliver:
    """One SMS-DELIVER PDU as the modem lists it (with its SMS-centre prefix)."""
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise PduError("PDU is not hexadecimal") from None
    reader = _Reader(data)
    reader.take(reader.octet())  # the SMS centre's address: not ours to use
    first = reader.octet()
    if first & 0x03 != 0x00:
        raise PduError(f"not an SMS-DELIVER (first octet 0x{first:02X})")
    sender = _read_address(reader)
    reader.octet()  # PID
    dcs = reader.octet()
    stamp = _timestamp(reader.take(7))
    udl = reader.octet()
    alphabet = _alphabet(dcs)
    rest = data[reader.pos:]
    udh = b""
    if first & 0x40 and rest:
        udh = rest[1:1 + rest[0]]
        if len(udh) != rest[0]:
            raise PduError("user data header truncated")
    header_octets = len(udh) + 1 if udh else 0
    if alphabet == GSM7:
        fill = (7 - header_octets * 8 % 7) % 7
        skip_septets = (header_octets * 8 + fill) // 7
        count = udl - skip_septets
        if count < 0 or (udl * 7 + 7) // 8 > len(rest):
            raise PduError(f"user data length {udl} septets does not fit the PDU")
        text = gsm7.from_septets(unpack_septets(rest[header_octets:], count, fill))
    else:
        if udl > len(rest) or header_octets > udl:
            raise PduError(f"user data length {udl} octets does not fit the PDU")
        body = rest[header_octets:udl]
        text = body.decode("utf-16-be", errors="replace") if alphabet == UCS2 else body.decode("latin-1")
    return Deliver(sender=sender, text=text, timestamp=stamp, concat=_concat(udh) if udh else None)
