"""SMS PDUs: is our encoder right, and how does it compare with python-gsmmodem-new's (docs/sms.md)?

For each text of the alerts' kind (Chinese, long Chinese, long ASCII, braces that cost two septets at a
part boundary, an emoji beyond the BMP) every encoder's PDUs are decoded by smspdudecoder, a third
independent implementation, and the parts put back together must equal the text; each part's user data
must fit 140 octets. Then the time to encode a 200-character Chinese alert, and to send it through
``drivers.modem.at.Modem`` to the simulated modem over a pty paced at 115200 baud (the AT conversation
alone: a real network adds seconds per part).

    python -m bench.sms_pdu [--rounds 2000]

The comparison columns appear only where python-gsmmodem-new and smspdudecoder are installed (the
project needs neither at run time; smspdudecoder is in the test extras).
"""

from __future__ import annotations

import argparse
import io
import time

from drivers.modem import pdu as ours

ALERT = ("【门禁关怀】3号楼2单元501 张秀英 已48小时未经过任何门口（最后：东门 周二 08:12）。请上门看看。"
         "确认请回复 ACK K7Q2MX")
CASES = {
    "Chinese alert (1 part)": ALERT[:60],
    "Chinese 200 chars": (ALERT * 4)[:200],
    "ASCII 200 chars": ("Gate east silent since 08:12. Check power and network. " * 4)[:200],
    "braces at a part boundary": "x" * 152 + "{" * 10,
    "emoji beyond the BMP": "请确认 🙂" * 20,
}


def _ours(number, text):
    return [p.hex for p in ours.submit_pdus(number, text, reference=42)]


def _gsmmodem(number, text):
    from gsmmodem.pdu import encodeSmsSubmitPdu

    return [str(p) for p in encodeSmsSubmitPdu(number, text, reference=42, requestStatusReport=False)]


def _decode_all(pdus) -> tuple[str, int]:
    """Text put back together by smspdudecoder, and the largest user data (octets) among the parts."""
    from smspdudecoder.fields import SMSSubmit

    parts, biggest = [], 0
    for hex_pdu in pdus:
        sms = SMSSubmit.decode(io.StringIO(hex_pdu))
        header = sms["user_data"].get("header") or {}
        seq = next((e["data"]["part_number"] for e in header.get("elements", []) if e["iei"] in (0, 8)), 1)
        parts.append((seq, sms["user_data"]["data"]))
        data = bytes.fromhex(hex_pdu)
        tpdu = data[1 + data[0]:]
        biggest = max(biggest, len(tpdu) - _ud_offset(tpdu))
    return "".join(text for _, text in sorted(parts)), biggest


def _ud_offset(tpdu: bytes) -> int:
    digits = tpdu[2]
    vp = {0: 0, 2: 1, 1: 7, 3: 7}[(tpdu[0] >> 3) & 3]
    return 2 + 2 + (digits + 1) // 2 + 2 + vp + 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args(argv)
    encoders = {"ours": _ours}
    try:
        import gsmmodem.pdu  # noqa: F401

        encoders["python-gsmmodem-new"] = _gsmmodem
    except ImportError:
        print("python-gsmmodem-new not installed: comparing nothing")
    try:
        import smspdudecoder  # noqa: F401
    except ImportError:
        print("smspdudecoder not installed: pip install smspdudecoder to check the texts")
        return 1
    print(f"{'case':28} {'encoder':20} {'parts':>5} {'max UD':>6}  decoded back by smspdudecoder")
    for case, text in CASES.items():
        for name, encode in encoders.items():
            try:
                pdus = encode("13800000000", text)
                back, biggest = _decode_all(pdus)
                verdict = "same text" if back == text else f"DIFFERENT: {back[:30]!r}…"
                if biggest > 140:
                    verdict += f"; user data {biggest} > 140 octets"
                print(f"{case:28} {name:20} {len(pdus):>5} {biggest:>6}  {verdict}")
            except Exception as exc:
                print(f"{case:28} {name:20} {'-':>5} {'-':>6}  FAILED: {type(exc).__name__}: {exc}")
    text = CASES["Chinese 200 chars"]
    for name, encode in encoders.items():
        started = time.perf_counter()
        for _ in range(args.rounds):
            encode("13800000000", text)
        per = (time.perf_counter() - started) / args.rounds * 1e6
        parts = len(encode("13800000000", text))
        print(f"encode a 200-character Chinese alert ({parts} parts), {name}: {per:.0f} µs")
    _send_over_pty(text, sends=20)
    return 0


def _send_over_pty(text: str, sends: int) -> None:
    import statistics

    from drivers.modem.at import Modem
    from drivers.modem.simulator import ModemSimulator
    from drivers.ptylink import PtyLink

    with PtyLink(baudrate=115200) as link, ModemSimulator(link.device_path) as simulator:
        modem = Modem(link.host_path)
        started = time.perf_counter()
        modem.open()
        setup = time.perf_counter() - started
        times = []
        for i in range(sends):
            started = time.perf_counter()
            modem.send("13800000000", text, reference=i)
            times.append(time.perf_counter() - started)
        modem.close()
        assert len(simulator.sent) == sends
    print(f"over a pty at 115200 baud: modem set-up {setup * 1000:.0f} ms; send the 200-character alert "
          f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms ({sends} sends)")


if __name__ == "__main__":
    raise SystemExit(main())
