"""The ``sms`` channel through ``gate-edge simulate-modem --pty`` run as its own process, on a real pty: what
the office sends comes out of the simulator as JSON lines (a long text put back together), an SMS typed on
the simulator's standard input reaches the channel's ``on_sms``, and a modem that does not answer fails the
message (retryable) instead of hanging the delivery worker."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.config import ConfigError
from edge.config.notify import NotifyConfig
from edge.config.notify import SmsChannel as SmsConfig
from edge.office.notify.channels import TYPES, DeliveryFailed, Outgoing, build_channels
from edge.office.notify.channels.sms import SmsChannel

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 20  # an upper bound on a line the simulator owes us, so a broken run fails instead of hanging


class SimulatedModem:
    """``gate-edge simulate-modem --pty`` in a subprocess: its port, what it sent, and ``type(line)``."""

    def __init__(self, *args: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli.main", "simulate-modem", "--pty", *args], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: queue.Queue[str] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(self.process.stdout, self.lines)),
                         threading.Thread(target=self._read, args=(self.process.stderr, self.said))]
        for reader in self._readers:
            reader.start()
        first = self.lines.get(timeout=WAIT_S)
        assert "connect the sms channel's port to:" in first, first
        self.port = first.rsplit(" ", 1)[1].strip()

    @staticmethod
    def _read(stream, into: queue.Queue) -> None:
        for line in stream:
            into.put(line)

    def sent(self) -> dict:
        return json.loads(self.lines.get(timeout=WAIT_S))

    def type(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        while True:  # its answer on stderr says the line was taken
            answer = self.said.get(timeout=WAIT_S)
            if not answer.startswith("commands:"):
                return answer

    def stop(self) -> None:
        try:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.process.wait(timeout=WAIT_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            for reader in self._readers:
                reader.join(timeout=WAIT_S)


@pytest.fixture
def modem_process():
    started = []

    def start(*args):
        started.append(SimulatedModem(*args))
        return started[-1]

    yield start
    for simulated in started:
        simulated.stop()


def _channel(port: str, **settings) -> SmsChannel:
    config = SmsConfig.model_validate({"type": "sms", "port": port, **settings})
    return SmsChannel("modem", config, clock=lambda: 0.0)


def _message(text: str, address: str | None = "13800000000", message_id: str = "m-1") -> Outgoing:
    return Outgoing(message_id=message_id, channel="modem", address=address, text=text)


def test_chinese_and_a_200_character_text_leave_the_modem_whole(modem_process):
    simulated = modem_process()
    channel = _channel(simulated.port)
    try:
        channel.send(_message("3号楼2单元501 张秀英已48小时未出现，请上门查看。确认请回复 ACK K7Q2MX"))
        assert simulated.sent() == {"to": "13800000000",
                                    "text": "3号楼2单元501 张秀英已48小时未出现，请上门查看。确认请回复 ACK K7Q2MX"}
        long_text = "".join(f"{i:03d}门" for i in range(50))  # 200 characters, UCS-2: three parts
        channel.send(_message(long_text, address="+8613800000001", message_id="m-2"))
        assert simulated.sent() == {"to": "+8613800000001", "text": long_text}
        ascii_text = ("Gate east silent since 08:12; check its power and network. " * 4)[:200]  # 7-bit: two parts
        channel.send(_message(ascii_text, message_id="m-3"))
        assert simulated.sent() == {"to": "13800000000", "text": ascii_text}
    finally:
        channel.close()


def test_an_sms_typed_on_the_simulator_reaches_on_sms(modem_process):
    simulated = modem_process()
    channel = _channel(simulated.port)
    channel.poll_s = 0.1
    got: queue.Queue = queue.Queue()
    try:
        channel.on_sms = lambda sender, text: got.put((sender, text))
        simulated.type("sms 13800000000 ACK ABC123")
        assert got.get(timeout=WAIT_S) == ("13800000000", "ACK ABC123")
        # Sending and reading take turns on the one port.
        channel.send(_message("已确认，谢谢"))
        assert simulated.sent() == {"to": "13800000000", "text": "已确认，谢谢"}
        simulated.type("sms +8613900000000 收到 K7Q2MX")
        assert got.get(timeout=WAIT_S) == ("+8613900000000", "收到 K7Q2MX")
    finally:
        channel.close()
    assert not channel._thread  # the reading thread ended with close()
    assert "stored 0" in simulated.type("status")  # each SMS deleted from the SIM once handed over


@pytest.mark.parametrize("fault", ["silent", "garbage", "error"])
def test_a_modem_that_does_not_answer_fails_the_message_for_a_retry(modem_process, fault):
    simulated = modem_process("--fault", fault)
    channel = _channel(simulated.port, timeout_s=1)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            channel.send(_message("你好"))
        assert failed.value.retry and "AT" in failed.value.reason
        simulated.type("fault none")
        channel.send(_message("你好"))  # the next try sets the modem up again
        assert simulated.sent() == {"to": "13800000000", "text": "你好"}
    finally:
        channel.close()


def test_a_message_without_a_number_or_too_long_is_failed_for_good(tmp_path):
    channel = _channel(str(tmp_path / "ttyUSB9"), timeout_s=1)
    try:
        for message in (_message("hi", address=None), _message("中" * 20000)):
            with pytest.raises(DeliveryFailed) as failed:
                channel.send(message)
            assert not failed.value.retry
        with pytest.raises(DeliveryFailed, match="cannot open the modem's port") as failed:
            channel.send(_message("hi"))
        assert failed.value.retry
    finally:
        channel.close()


def test_the_sim_pin_comes_from_pin_file(modem_process, tmp_path):
    simulated = modem_process("--pin", "2468")
    pin_file = tmp_path / "sim.pin"
    pin_file.write_text("2468\n")
    channel = _channel(simulated.port, pin_file=str(pin_file))
    try:
        channel.send(_message("hi"))
        assert simulated.sent() == {"to": "13800000000", "text": "hi"}
    finally:
        channel.close()


def test_the_registry_builds_the_sms_channel_and_one_port_is_one_channel(tmp_path):
    assert TYPES["sms"] is SmsChannel and SmsChannel.RECEIVES
    config = NotifyConfig.model_validate({"channels": {"modem": {"type": "sms", "port": "/dev/ttyUSB2"}}})
    channels = build_channels(config, clock=lambda: 0.0)
    assert isinstance(channels["modem"], SmsChannel) and channels["modem"].detail == "full"
    channels["modem"].close()
    with pytest.raises((ConfigError, ValueError), match=r"channels\.second\.port: /dev/ttyUSB2 is already the port"):
        NotifyConfig.model_validate({"channels": {"modem": {"type": "sms", "port": "/dev/ttyUSB2"},
                                                  "second": {"type": "sms", "port": "/dev/ttyUSB2"}}})
