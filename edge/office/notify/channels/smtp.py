"""``smtp``: e-mail through the site's mail server (DESIGN 7), one connection per message.

TLS as configured: ``starttls`` (port 587), ``implicit`` (465) or ``none`` (a server on loopback only: the
config refuses it elsewhere), verified against the system's CAs or ``ca_file``. A login when ``username`` is
set, with the password read once from ``password_file``. Subject (the text's first line) and body are UTF-8
(Chinese); ``Message-ID`` is made from the message id, so a retry of the same message carries the same one
and a mail client shows it once. The recipient is ``Outgoing.address`` (``CHANNEL:ADDRESS``).

What is tried again: a refused or broken connection, a timeout, and every 4xx reply (the server's "not
now"); not a 5xx (a recipient or sender refused, a login refused) nor a TLS the server does not offer or
whose certificate is not trusted: trying again cannot mend those.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from edge.office.notify.channels.base import Channel, DeliveryFailed, Outgoing, read_secret

SUBJECT_MAX = 78  # characters of the text's first line (RFC 5322's line length, folded if longer)


def message_id(message_id_: str, sender: str) -> str:
    """``<id@sender's domain>``: the same for every try of one message (RFC 5322 3.6.4's msg-id)."""
    local = re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]", "-", message_id_).strip(".") or "message"
    return f"<{local}.gate-edge@{sender.rpartition('@')[2]}>"


class Smtp(Channel):
    type = "smtp"

    def __init__(self, name: str, config, *, clock):
        super().__init__(name, config, clock=clock)
        self._password = (read_secret(config.password_file, channel=name, key="password_file")
                          if config.password_file else None)
        if self._password is not None and not self._password.isascii():
            # smtplib encodes AUTH PLAIN/LOGIN/CRAM-MD5 as ASCII: such a password could never log in
            raise ValueError(f"notify.channels.{name}.password_file: the password has non-ASCII characters, "
                             "which smtplib cannot send; choose an ASCII password for the mailbox")
        self._tls = None
        if config.tls != "none":
            self._tls = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)

    def _failed(self, reason: str, *, retry: bool) -> DeliveryFailed:
        if self._password:
            reason = reason.replace(self._password, "***")
        return DeliveryFailed(f"smtp {self.name}: {reason}", retry=retry)

    def mail(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()  # the default policy: non-ASCII headers encoded as RFC 2047, body UTF-8
        mail["From"] = self.config.sender
        mail["To"] = message.address
        first_line = message.text.strip().splitlines()[0] if message.text.strip() else "gate-edge"
        mail["Subject"] = first_line[:SUBJECT_MAX]
        mail["Date"] = formatdate(self.clock(), usegmt=True)
        mail["Message-ID"] = message_id(message.message_id, self.config.sender)
        mail["X-Gate-Edge-Message-Id"] = message.message_id
        mail.set_content(message.text)
        return mail

    def send(self, message: Outgoing) -> None:
        if not message.address:
            raise self._failed("no address (a recipient of an smtp channel is CHANNEL:ADDRESS)", retry=False)
        mail = self.mail(message)
        try:
            server = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise self._why(exc) from None
        try:
            if self.config.username:
                server.login(self.config.username, self._password)
            server.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._why(exc) from None
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()  # the message went (or failed) already: a goodbye lost changes nothing

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.tls == "implicit":
            return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=self._tls)
        server = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        if cfg.tls == "starttls":
            try:
                server.starttls(context=self._tls)
            except BaseException:
                server.close()
                raise
        return server

    def _why(self, exc: Exception) -> DeliveryFailed:
        """What a failure of smtplib or the socket means: its reason, and whether to try again."""
        # The order matters: smtplib's exceptions are OSErrors, and ssl's too.
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            return self._failed(f"the recipient was refused ({', '.join(map(str, codes))})",
                                retry=bool(codes) and all(400 <= code < 500 for code in codes))
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return self._failed(f"login refused ({exc.smtp_code})", retry=exc.smtp_code < 500)
        if isinstance(exc, smtplib.SMTPNotSupportedError):  # STARTTLS or AUTH not offered: the settings are wrong
            return self._failed(f"the server does not offer it: {exc}", retry=False)
        if isinstance(exc, smtplib.SMTPResponseException):
            error = exc.smtp_error
            text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            return self._failed(f"the server answered {exc.smtp_code} {text[:120]}",
                                retry=400 <= exc.smtp_code < 500)
        if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
            return self._failed(f"no answer within {self.config.timeout_s:g} s", retry=True)
        if isinstance(exc, smtplib.SMTPException):  # disconnected, or an answer smtplib could not read
            return self._failed(f"{type(exc).__name__}: {exc}", retry=True)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return self._failed(f"the server's certificate is not trusted ({exc.verify_message})", retry=False)
        if isinstance(exc, ssl.SSLError):  # e.g. implicit TLS against a plain port: the setting is wrong
            return self._failed(f"TLS failed ({exc.reason or exc})", retry=False)
        if isinstance(exc, TimeoutError):
            return self._failed(f"no answer within {self.config.timeout_s:g} s", retry=True)
        return self._failed(f"cannot reach the server ({exc.strerror or type(exc).__name__})", retry=True)
