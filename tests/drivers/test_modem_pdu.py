"""SMS PDUs (drivers.modem.pdu) against examples published by others, and against two decoders that are not
ours: smspdudecoder (a third-party package, test extras) and the simulated modem's own bit-string reader.

Published examples used (hex copied from the source named beside each):
* DREAMFABRIC: the "hellohello" SMS-SUBMIT and SMS-DELIVER of Lars Pettersson's "SMS and the PDU format"
  (dreamfabric.com/sms, mirrored at turbocontrol.com/CoolStuff/SMS messages and the PDU format.htm).
* NEOWAY: Neoway N11 V2 AT Command Manual, appendix A.1 "Content of PDU SMS Messages": UCS-2 "hello" to
  13421839693, SMSC address length 0.
* USENET: alt.cellular.gsm, "change sms id" (a reply-address UDH of 10 octets: the text after it starts on a
  septet boundary, 3 fill bits).
* SMSPDUDECODER_README: smspdudecoder's README, GSM.decode('C8F71D14969741F977FD07') == 'How are you?'.
* NOKIA_FORUM: a UCS-2 SMS-DELIVER read with AT+CMGR posted on Nokia's developer forum ("how to send UCS
  character"): 2 Arabic characters, U+0628 U+062A.
"""

from __future__ import annotations

import io

import pytest
from smspdudecoder.codecs import GSM
from smspdudecoder.fields import SMSDeliver, SMSSubmit

from drivers.modem import gsm7
from drivers.modem.pdu import GSM7, UCS2, PduError, pack_septets, parse_deliver, submit_pdus, user_data
from drivers.modem.simulator import deliver_pdus, read_submit

DREAMFABRIC_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
DREAMFABRIC_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
NEOWAY_UCS2_SUBMIT = "0001000B813124819396F300080A00680065006C006C006F"
USENET_FILL_BITS = ("0A22080B912143658709F1", "Please reply", "190A22080B912143658709F180B2CBE17919242FC3D979")
NOKIA_FORUM_UCS2_DELIVER = "07910201956905F0040B910201014160F30008202191305215800406280" "62A"

ALERT = "【门禁关怀】3号楼2单元501 张秀英 已48小时未经过任何门口（最后：东门 周二 08:12）。确认请回复 ACK K7Q2MX"


def _third_party(pdus) -> tuple[str, str]:
    """(recipient, text) as smspdudecoder reads the parts, put together by their part number."""
    parts, to = [], None
    for part in pdus:
        sms = SMSSubmit.decode(io.StringIO(part.hex))
        to = sms["recipient"]["number"]
        header = sms["user_data"].get("header") or {}
        seq = next((e["data"]["part_number"] for e in header.get("elements", []) if e["iei"] == 0), 1)
        parts.append((seq, sms["user_data"]["data"]))
    return to, "".join(text for _, text in sorted(parts))


def _simulator(pdus) -> str:
    return "".join(read_submit(p.hex, p.tpdu_octets)[1] for p in pdus)


# -- published examples -------------------------------------------------------------------------------------
def test_the_dreamfabric_submit_is_what_we_build():
    (pdu,) = submit_pdus("+46708251358", "hellohello", validity=0xAA)
    assert pdu.hex == DREAMFABRIC_SUBMIT
    assert pdu.tpdu_octets == len(DREAMFABRIC_SUBMIT) // 2 - 1  # what AT+CMGS=<n> is given


def test_the_neoway_ucs2_example_is_our_layout_for_a_national_number():
    # We send "hello" as 7-bit (it fits the default alphabet); the manual's example carries the same text
    # as UCS-2. Its header (SCA 00, FO 01, MR 00, national TOA 81) and user data are what we build.
    assert NEOWAY_UCS2_SUBMIT.startswith("0001000B813124819396F30008")
    (pdu,) = submit_pdus("13421839693", "你好")
    assert pdu.hex.startswith("0001000B813124819396F30008")
    assert user_data(b"", "hello".encode("utf-16-be"), UCS2).hex().upper() == NEOWAY_UCS2_SUBMIT[-22:]


def test_fill_bits_after_a_header_match_the_usenet_example():
    udh, text, expected = USENET_FILL_BITS
    assert user_data(bytes.fromhex(udh)[1:], gsm7.to_septets(text), GSM7).hex().upper() == expected


def test_septet_packing_matches_smspdudecoders_readme():
    assert pack_septets(gsm7.to_septets("How are you?")).hex().upper() == "C8F71D14969741F977FD07"


def test_the_dreamfabric_deliver_reads_as_published():
    sms = parse_deliver(DREAMFABRIC_DELIVER)
    assert (sms.sender, sms.text, sms.concat) == ("27838890001", "hellohello", None)
    assert sms.timestamp == "99-03-29 15:16:59+08"  # 08 quarters of an hour: GMT+2, as the page says


def test_a_ucs2_deliver_read_with_cmgr_on_nokias_forum():
    sms = parse_deliver(NOKIA_FORUM_UCS2_DELIVER)
    assert (sms.sender, sms.text) == ("+20101014063", "\u0628\u062a")


# -- our PDUs read by decoders that are not ours ---------------------------------------------------------------
@pytest.mark.parametrize("text, parts, dcs", [
    (ALERT[:60], 1, UCS2),
    ((ALERT * 4)[:200], 3, UCS2),  # 67 + 67 + 66
    ("Gate east silent since 08:12, check power. " * 5, 2, GSM7),  # 215 septets: 153 + 62
    ("x" * 152 + "{" * 10, 2, GSM7),  # the escape pair 1B 28 is never cut by the part boundary
    ("请确认 🙂" * 20, 2, UCS2),  # surrogate pairs stay whole
    ("a" * 160, 1, GSM7),
    ("中" * 70, 1, UCS2),
])
def test_smspdudecoder_and_the_simulator_read_back_every_text(text, parts, dcs):
    pdus = submit_pdus("+8613800000000", text, reference=77)
    assert len(pdus) == parts
    assert all(bytes.fromhex(p.hex)[13] == dcs for p in pdus)  # DCS after SCA FO MR DA(2+7) PID
    assert _third_party(pdus) == ("8613800000000", text)
    assert _simulator(pdus) == text
    for p in pdus:
        tpdu = bytes.fromhex(p.hex)[1:]
        assert len(tpdu) == p.tpdu_octets
        assert len(tpdu) - 14 <= 140  # FO MR DA(9) PID DCS UDL = 14 octets, then at most 140 of user data


def test_a_long_message_has_one_reference_and_numbered_parts():
    pdus = submit_pdus("13800000000", "x" * 400, reference=0x5A)
    headers = [SMSSubmit.decode(io.StringIO(p.hex))["user_data"]["header"]["elements"][0]["data"] for p in pdus]
    assert [(h["reference"], h["parts_count"], h["part_number"]) for h in headers] == [(0x5A, 3, 1), (0x5A, 3, 2),
                                                                                       (0x5A, 3, 3)]


def test_our_decoder_reads_what_the_simulators_encoder_builds():
    text = "紧急：" + "确认" * 40  # 83 UCS-2 characters: two parts
    built = deliver_pdus("+8613912345678", text, __import__("time").gmtime(0), reference=9)
    read = [parse_deliver(pdu) for pdu, _ in built]
    assert [r.concat for r in read] == [(9, 2, 1), (9, 2, 2)]
    assert "".join(r.text for r in read) == text and read[0].sender == "+8613912345678"
    third = [SMSDeliver.decode(io.StringIO(pdu)) for pdu, _ in built]
    assert "".join(t["user_data"]["data"] for t in third) == text


def test_gsm_alphabet_agrees_with_smspdudecoder():
    everything = "".join(ch for ch in gsm7.BASIC if ch != "\x1b") + "".join(gsm7.EXTENSION.values())
    packed = pack_septets(gsm7.to_septets(everything)).hex().upper()
    assert GSM.decode(packed)[:len(everything)] == everything


# -- what cannot be built or read ----------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["", "+", "138-0000", "１３８", "1" * 21])
def test_a_number_that_is_no_number_is_refused(number):
    with pytest.raises(PduError, match="phone number"):
        submit_pdus(number, "hi")


def test_a_text_needing_more_than_255_parts_is_refused():
    with pytest.raises(PduError, match="at most 255"):
        submit_pdus("13800000000", "中" * (67 * 255 + 1))


@pytest.mark.parametrize("pdu, problem", [
    ("zz", "not hexadecimal"),
    (DREAMFABRIC_DELIVER[:40], "truncated"),
    (DREAMFABRIC_SUBMIT, "not an SMS-DELIVER"),
])
def test_an_unreadable_deliver_says_why(pdu, problem):
    with pytest.raises(PduError, match=problem):
        parse_deliver(pdu)
