"""The SMS modem: a GSM/4G modem on a serial port, AT commands in PDU mode (``at.Modem``: the conversation;
``wire.AtWire``: its lines on the port; ``inbox.Inbox``: incoming SMS put together), the PDUs
themselves (``pdu``: SMS-SUBMIT out, SMS-DELIVER in; UCS-2 for Chinese, long texts in parts), the GSM
7-bit alphabet (``gsm7``) and a simulated modem on a pty (``simulator``, for ``gate-edge simulate-modem``).
Why our own PDU code rather than a GSM library: docs/sms.md (measured)."""
