"""The AT conversation (drivers.modem.at.Modem) with the simulated modem on a real pty pair: sending, reading
what arrived, the SIM's PIN, and modems that answer nothing, noise or ERROR (a ModemError, never a hang)."""

from __future__ import annotations

import pytest

from drivers.modem.at import Modem, ModemError
from drivers.modem.simulator import ModemSimulator, Stored
from drivers.ptylink import PtyLink


@pytest.fixture
def line():
    with PtyLink() as link:
        yield link


@pytest.fixture
def sim(line):
    with ModemSimulator(line.device_path) as simulator:
        yield simulator


def _modem(line, **kw) -> Modem:
    kw.setdefault("command_timeout_s", 1.0)
    kw.setdefault("send_timeout_s", 2.0)
    return Modem(line.host_path, **kw)


def test_a_chinese_sms_and_a_long_one_reach_the_network(line, sim):
    modem = _modem(line)
    try:
        assert len(modem.send("13800000000", "张秀英已48小时未出门")) == 1
        long_text = "x" * 150 + "{}" + "y" * 100
        assert len(modem.send("+8613800000001", long_text, reference=3)) == 2
    finally:
        modem.close()
    assert sim.sent == [("13800000000", "张秀英已48小时未出门"), ("+8613800000001", long_text)]
    # The modem was set up as documented: no echo, numbered errors, PDU mode, new SMS reported.
    assert sim.commands[:6] == ["AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0", "AT+CNMI=2,1,0,0,0"]


def test_incoming_sms_are_handed_over_whole_then_deleted(line, sim):
    sim.receive("13900000000", "早到的短信")  # stored before the office connects: found by the first sweep
    modem = _modem(line)
    got = []
    try:
        assert modem.poll(lambda sender, text: got.append((sender, text))) == 1
        sim.receive("+8613800000000", "ACK " + "确认" * 50)  # 104 UCS-2 characters: two parts, two +CMTI
        for _ in range(100):  # the +CMTI reports travel through the pty; poll until both parts are read
            if modem.poll(lambda sender, text: got.append((sender, text))):
                break
    finally:
        modem.close()
    assert got == [("13900000000", "早到的短信"), ("+8613800000000", "ACK " + "确认" * 50)]
    assert sim.state.storage == {}
    assert any(c.startswith("AT+CMGR=") for c in sim.commands)  # the second came by +CMTI, not by a sweep


def test_a_callback_that_fails_does_not_keep_the_sms_forever(line, sim):
    sim.receive("13900000000", "ACK ABC123")
    sim.state.storage[9] = Stored("00zz")  # unreadable: deleted and said in the log

    def broken(sender, text):
        raise RuntimeError("office busy")

    modem = _modem(line)
    try:
        assert modem.poll(broken) == 1
    finally:
        modem.close()
    assert sim.state.storage == {}


def test_the_sims_pin_is_given_once_and_a_refused_one_never_again(line):
    with ModemSimulator(line.device_path, pin="4321") as sim:
        modem = _modem(line, pin=lambda: "1111")
        try:
            for _ in range(2):
                with pytest.raises(ModemError, match="PIN"):
                    modem.send("13800000000", "hi")
            assert sim.commands.count("AT+CPIN=<pin>") == 1  # three wrong PINs would lock the SIM
        finally:
            modem.close()
        modem = _modem(line, pin=lambda: "4321")
        try:
            modem.send("13800000000", "hi")
        finally:
            modem.close()
        assert sim.sent == [("13800000000", "hi")]
        assert all("4321" not in c and "1111" not in c for c in sim.commands)


def test_a_sim_asking_for_a_pin_nobody_configured_says_so(line):
    with ModemSimulator(line.device_path, pin="4321"):
        modem = _modem(line)
        try:
            with pytest.raises(ModemError, match="pin_file"):
                modem.send("13800000000", "hi")
        finally:
            modem.close()


@pytest.mark.parametrize("fault, said", [
    ("silent", "no answer to AT within"),
    ("garbage", "no answer to AT within"),
    ("error", "AT answered ERROR"),
    ("no_network", r"AT\+CMGS answered \+CMS ERROR: 331"),
])
def test_a_modem_that_misbehaves_fails_the_send_and_recovers(line, sim, fault, said):
    sim.fault = fault
    modem = _modem(line)
    try:
        with pytest.raises(ModemError, match=said) as failed:
            modem.send("13800000000", "你好")
        assert failed.value.retry
        sim.fault = None
        modem.send("13800000000", "你好")  # set up again from the start: no restart needed
    finally:
        modem.close()
    assert sim.sent == [("13800000000", "你好")]


def test_nobody_on_the_line_and_no_port_at_all(line, tmp_path):
    modem = _modem(line)  # a pty nobody serves: a modem that is off
    try:
        with pytest.raises(ModemError, match="no answer to AT"):
            modem.send("13800000000", "hi")
    finally:
        modem.close()
    modem = _modem(line, command_timeout_s=1.0)
    modem.port = str(tmp_path / "ttyUSB9")
    with pytest.raises(ModemError, match="cannot open the modem's port"):
        modem.send("13800000000", "hi")


def test_a_text_too_long_for_any_sms_is_not_retried(line, sim):
    modem = _modem(line)
    with pytest.raises(ModemError) as failed:
        modem.send("13800000000", "中" * 20000)
    assert not failed.value.retry
    modem.close()
