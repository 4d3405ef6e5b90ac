"""The office's inbox: what it subscribes to, and who handles each message (one ``edge.site.router.Router``).

    P/registry/head             the broker's retained head (QoS 0, also our own): ``edge.office.registry_head``
    P/<gate>/status             a gate's retained status: the archive (``edge.office.archive``)
    P/<gate>/event/<kind>       a gate's event: the archive
    P/<gate>/alert/device       a gate's device alert: the archive
    P/alert/inactivity          a care-watch alert (the raising gate is named inside): the archive
    P/<gate>/req/<verb>         a gate's resync or replay request: ``edge.office.answers``
    P/<gate>/cmd/result         a gate's answer to the console's command: ``OfficeCommands.received``

Everything else under ``P/#`` is acknowledged and dropped; so is what sits under a reserved name
(``P/registry/…``, ``P/office/…``, ``P/alert/…``: ``edge.contract``) but the head and the care-watch alerts.
Any message under a listed gate's name counts as hearing from it, noted before anything is written
(``edge.office.silent_gates``): a database that cannot be written never makes a gate look silent.
"""

from __future__ import annotations

from paho.mqtt.subscribeoptions import SubscribeOptions

from edge import contract
from edge.site.router import Received, Router


class OfficeInbox:
    def __init__(self, config, topics, *, clock, archive, silent_gates, check_head, request, command_result):
        """``check_head(payload)``, ``request(gate, verb, payload, now)``, ``command_result(payload)``: the
        office's handlers (the last one its console's commands, made with the link)."""
        self.config = config
        self.topics = topics
        self.clock = clock
        self.archive = archive
        self.silent_gates = silent_gates
        self.check_head = check_head
        self.request = request
        self.command_result = command_result

    def router(self) -> Router:
        topics = self.topics
        # The broker's head, even our own (one ahead of ours means we were restored), first and at QoS 0:
        # at start it must arrive while the messages queued for us wait unacknowledged (held), and a QoS 1
        # copy would queue behind them in the broker's in-flight window.
        return (Router()
                .subscribe(topics.registry("head"), SubscribeOptions(qos=0))
                .subscribe(f"{topics.base}/#", SubscribeOptions(qos=1, noLocal=True))
                .route(topics.registry("head"), lambda message: self.check_head(message.payload))
                .route(topics.inactivity, lambda message: self.archive.inactivity_alert(message.payload,
                                                                                         message.topic))
                .route(topics.status("+"), self._from_a_gate(self._status))
                .route(topics.event("+", "+"), self._from_a_gate(self._event))
                .route(f"{topics.base}/+/alert/device", self._from_a_gate(self._device_alert))
                .route(topics.requests("+"), self._from_a_gate(self._request))
                .route(f"{topics.base}/+/cmd/+", self._from_a_gate(self._command)))

    def _from_a_gate(self, handle):
        """A route whose first level names the gate: heard first, then handled; a reserved name is no gate."""
        def route(message: Received) -> None:
            gate = message.levels[0]
            if contract.is_reserved_gate_name(gate):
                return
            if gate in self.config.gates:
                self.silent_gates.note(gate)
            handle(gate, message)

        return route

    def _status(self, gate: str, message: Received) -> None:
        self.archive.gate_status(gate, message.payload, self.clock())

    def _event(self, gate: str, message: Received) -> None:
        self.archive.event(gate, message.payload, self.clock())

    def _device_alert(self, gate: str, message: Received) -> None:
        self.archive.device_alert(gate, message.payload, message.topic, self.clock())

    def _request(self, gate: str, message: Received) -> None:
        self.request(gate, message.levels[1], message.payload, self.clock())

    def _command(self, gate: str, message: Received) -> None:
        if message.levels[1] == "result":
            self.command_result(message.payload)
