"""The smtp channel against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS and implicit TLS
with a CA made for the test, a login, Chinese subject and body arriving intact, and which failures are
tried again (a 4xx reply, a refused or silent server) and which are not (a 5xx, a login or TLS refused)."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from certs import make_pki

from edge.config.notify import NotifyConfig
from edge.office.notify.channels import TYPES, DeliveryFailed, Outgoing, build_channels

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
PASSWORD = "mail-password-7f3a"
TEXT = "【看护提醒】王秀英（12号楼3单元301）已 49 小时未见\n最后一次：东门 2025-12-30 07:12\n回复 K7Q2XM 确认。"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd's handler: keeps what it accepted; a recipient in ``refuse`` gets that reply instead."""

    def __init__(self):
        self.received: list = []  # aiosmtpd Envelopes
        self.refuse: dict[str, str] = {}
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(envelope)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
            ok = auth_data.login == b"office@example.com" and auth_data.password == PASSWORD.encode()
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself
        return AuthResult(success=False, handled=False)

    def mail(self, n: int = 0):
        return email.message_from_bytes(self.received[n].content, policy=email.policy.default)


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def smtp_server():
    """smtp_server(tls=None|"starttls"|"implicit", login=False) → (Mailbox, port), stopped after the test."""
    started = []

    def _start(*, tls=None, pki=None, login=False):
        box = Mailbox()
        kwargs = {}
        server_ctx = None
        if tls:
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain(pki["server"], pki["server_key"])
        if tls == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        if login:
            kwargs.update(authenticator=box.authenticate, auth_required=True, auth_require_tls=tls is not None)
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port,
                                ssl_context=server_ctx if tls == "implicit" else None, **kwargs)
        controller.start()
        started.append(controller)
        return box, port

    yield _start
    for controller in started:
        controller.stop()


@pytest.fixture
def make(tmp_path):
    made = []

    def _make(**section):
        if section.pop("login", False):
            (tmp_path / "smtp.password").write_text(section.pop("password", PASSWORD) + "\n", encoding="utf-8")
            section.update(username="office@example.com", password_file=str(tmp_path / "smtp.password"))
        section = {"type": "smtp", "host": "127.0.0.1", "tls": "none", "from": "office@tianlin12.example",
                   "timeout_s": 5, **section}
        config = NotifyConfig.model_validate({"channels": {"mail": section}})
        channel = build_channels(config, clock=lambda: NOW)["mail"]
        made.append(channel)
        return channel

    yield _make
    for channel in made:
        channel.close()


def message(address: str | None = "duty@tianlin12.example", message_id: str = "m-0042") -> Outgoing:
    return Outgoing(message_id=message_id, channel="mail", address=address, text=TEXT, payload={})


def failure(channel, msg=None) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        channel.send(msg or message())
    return caught.value


def test_the_registry_has_smtp():
    assert TYPES["smtp"].type == "smtp"


def test_chinese_subject_and_body_arrive_intact_with_the_message_id(smtp_server, make):
    box, port = smtp_server()
    channel = make(port=port)
    channel.send(message())
    channel.send(message())  # the same message tried again: the same Message-ID, so mail clients show it once
    [first, again] = box.received
    assert first.mail_from == "office@tianlin12.example" and first.rcpt_tos == ["duty@tianlin12.example"]
    mail = box.mail(0)
    assert mail["Subject"] == "【看护提醒】王秀英（12号楼3单元301）已 49 小时未见"
    assert mail.get_content().replace("\r\n", "\n") == TEXT + "\n"  # CRLF on the wire
    assert mail["To"] == "duty@tianlin12.example" and mail["From"] == "office@tianlin12.example"
    assert mail["Message-ID"] == "<m-0042.gate-edge@tianlin12.example>" == box.mail(1)["Message-ID"]
    assert mail["X-Gate-Edge-Message-Id"] == "m-0042"
    assert mail["Date"].datetime.timestamp() == NOW  # the channel's clock
    assert b"\xe7\x8e\x8b" not in first.content.split(b"\r\n\r\n")[0]  # headers are 7-bit (RFC 2047), not raw UTF-8


def test_login_with_the_password_from_its_file(smtp_server, make, pki):
    box, port = smtp_server(tls="starttls", pki=pki, login=True)
    make(port=port, tls="starttls", ca_file=str(pki["ca"]), login=True).send(message())
    assert box.logins == [(b"office@example.com", PASSWORD.encode())] and len(box.received) == 1


def test_a_refused_login_is_not_tried_again_and_never_shows_the_password(smtp_server, make, pki):
    box, port = smtp_server(tls="starttls", pki=pki, login=True)
    failed = failure(make(port=port, tls="starttls", ca_file=str(pki["ca"]), login=True, password="wrong-Pw-91"))
    assert not failed.retry and str(failed) == "smtp mail: login refused (535)"
    assert box.received == [] and "wrong-Pw-91" not in str(failed)


def test_a_password_smtplib_cannot_send_is_refused_when_the_channel_is_made(make):
    with pytest.raises(ValueError, match=r"notify.channels.mail.password_file: the password has non-ASCII") as err:
        make(port=free_port(), login=True, password="pässwort")
    assert "pässwort" not in str(err.value)


def test_implicit_tls_with_the_sites_ca(smtp_server, make, pki):
    box, port = smtp_server(tls="implicit", pki=pki)
    make(port=port, tls="implicit", ca_file=str(pki["ca"])).send(message())
    assert box.mail(0)["Subject"].startswith("【看护提醒】")


def test_a_certificate_not_trusted_is_not_tried_again(smtp_server, make, pki):
    box, port = smtp_server(tls="implicit", pki=pki)
    failed = failure(make(port=port, tls="implicit"))  # the system's CAs do not know the test's CA
    assert not failed.retry and "certificate is not trusted" in str(failed)


def test_starttls_against_a_server_without_it_is_not_tried_again(smtp_server, make):
    box, port = smtp_server()
    failed = failure(make(port=port, tls="starttls"))
    assert not failed.retry and "does not offer" in str(failed) and box.received == []


@pytest.mark.parametrize("reply, retry", [("550 5.1.1 no such user", False), ("451 4.3.0 try again later", True),
                                          ("452 4.2.2 mailbox full", True), ("553 not allowed", False)])
def test_a_refused_recipient_is_tried_again_only_on_a_4xx(smtp_server, make, reply, retry):
    box, port = smtp_server()
    box.refuse["duty@tianlin12.example"] = reply
    failed = failure(make(port=port))
    assert failed.retry is retry and str(failed) == f"smtp mail: the recipient was refused ({reply[:3]})"


def test_a_server_that_refuses_the_connection_is_tried_again(make):
    failed = failure(make(port=free_port()))
    assert failed.retry and str(failed) == "smtp mail: cannot reach the server (Connection refused)"


def test_a_server_that_never_greets_times_out_and_is_tried_again(make):
    with socket.socket() as silent:  # listening: the connection is made, but nobody ever answers it
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        failed = failure(make(port=silent.getsockname()[1], timeout_s=0.3))
    assert failed.retry and str(failed) == "smtp mail: no answer within 0.3 s"


def test_a_message_without_an_address_is_not_tried_again(make):
    failed = failure(make(port=free_port()), message(address=None))
    assert not failed.retry and "no address" in str(failed)
