"""The gate's signed commands (``P/<gate>/cmd/open|pay|reload|correct``): checked, done, answered on ``cmd/result``.

``edge.site.remote.parse_command`` judges the command (its key, signature, age on the office's clock, a
replayed request id, its fields); an ``open`` pulses the barrier through the gate's decisions, a ``pay``
settles a parking session (the result says what is still due), a ``reload`` re-reads templates, vehicles
and the pass key, a ``correct`` says which car a session is (``edge.gate.corrections``; the result says
what the car owes now). Every command is answered, also one that is refused or cannot be done while the
database cannot be read (``ok: false`` with the reason; a refusal that is a phrase also carries its
``error_code`` and ``error_params``, as an event's reason does).
"""

from __future__ import annotations

import logging

from edge.contract import command_result
from edge.schemas.phrases import Phrase
from edge.store import StorageFailure

_LOG = logging.getLogger(__name__)


class GateCommands:
    def __init__(self, config, store, topics, *, storage, clockwatch, guard, gate, reload, publish):
        """``gate()``: the gate's decisions (``edge.gate.controller.Gate``, made after the inbox);
        ``reload()``: the daemon's; ``publish(topic, payload)``: how the result leaves (the outbox)."""
        self.config = config
        self.store = store
        self.topics = topics
        self.storage = storage
        self.clockwatch = clockwatch
        self.guard = guard
        self.gate = gate
        self.reload = reload
        self.publish = publish

    def handle(self, verb: str, payload: bytes) -> None:
        from edge.site.remote import CommandRefused, command_checker, parse_command, remember_request

        mqtt = self.config.mqtt
        request_id, ok, error, extra = None, False, None, {}
        seen = self.storage.replay_guard(remember_request(self.store, mqtt.command_window_s), mqtt.command_window_s)
        try:
            key = command_checker(self.config)  # KeyFileError (a ValueError) names the file
            command = parse_command(verb, payload, key, mqtt.command_window_s, seen,
                                    now=self.clockwatch.office_now(),  # the office's time: its clock signed ts
                                    site=self.config.site, gate=self.config.gate)
            request_id = command.request_id
            body = command.body
            if verb == "open":
                self.gate().remote_open(body.get("lane", "in"), body.get("barrier"), request_id)
            elif verb == "pay":
                _, due = self.gate().pay(body["session_id"], body["amount_cents"], request_id)
                extra = {"due_cents": due}  # a part payment is accepted: ok, and what is still due
            elif verb == "reload":
                self.reload()
            elif verb == "correct":
                _, due = self.gate().correct(body["session_id"], plate=body.get("plate"),
                                             exit_event_id=body.get("exit_event_id"), request_id=request_id)
                extra = {"due_cents": due}
            ok = True
        except CommandRefused as exc:
            request_id, error = exc.request_id, exc.error
            _LOG.warning("command %s refused: %s", verb[:32], error)
        except ValueError as exc:
            error = str(exc)
            said = getattr(exc, "said", None)
            if isinstance(said, Phrase):  # a refusal the console can say in its language
                fields = said.fields("error")
                error, extra = fields.pop("error"), fields
        except StorageFailure as exc:  # what the command needed could not be read: nothing was done
            self.guard.failed(exc, reading=True)
            error = f"not done: the gate cannot read its database ({exc}); try again later"
        self.publish(self.topics.command_result, command_result(request_id, ok, error, **extra))
