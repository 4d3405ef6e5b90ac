"""The gate's inbox: what it subscribes to, and who handles each message (one ``edge.site.router.Router``).

    P/<gate>/cmd/<verb>         a signed command: ``edge.gate.commands`` (cmd/result, our own answer, is not one)
    P/<peer>/event/<kind>       a peer's event: ``edge.site.peers`` (runs of them share one transaction)
    P/<requester>/req/replay    a replay request: ``edge.site.replay``'s Answerer, when it names this gate
    P/office/status             the office's clock (site mode): ``edge.gate.clockwatch``
    P/<peer>/status             a peer's newest seq (a gap at the end of its stream): ``edge.site.peers``
    P/registry/#                site mode: the office's signed records, in batches: ``edge.site.replica``
    P/office/resync/<gate>      site mode: the office's "page sent" for our resync request: the replica

The broker does not echo our own messages on the peers' wildcards (No Local). A topic level that is a
reserved name (``registry``, ``office``, ``alert``: ``edge.contract``) is never read as a peer's event or
status. The inbox also asks peers for the events it missed (``ask_for_gaps``, a job), and once more for
everything after a connection on which the broker had lost our session.
"""

from __future__ import annotations

import logging

from paho.mqtt.subscribeoptions import SubscribeOptions

from edge import contract
from edge.site.peers import PeerReceiver, site_gate_keys
from edge.site.replay import Answerer
from edge.site.router import Received, Router

_LOG = logging.getLogger(__name__)


class GateInbox:
    def __init__(self, config, store, topics, alerts, rules, *, clock, signer, clockwatch, commands, publish, wake,
                 replica=None, session_present=lambda: True):
        """``commands``: ``edge.gate.commands.GateCommands``; ``publish(topic, payload)``: how a replay
        request leaves (the outbox); ``wake()``: the outbox has something to send; ``session_present()``:
        whether the broker kept our session at the last connection (the link's)."""
        self.config = config
        self.topics = topics
        self.clock = clock
        self.signer = signer
        self.clockwatch = clockwatch
        self.commands = commands
        self.publish = publish
        self.wake = wake
        self.replica = replica
        self.session_present = session_present
        keys = site_gate_keys(store) if config.site_mode else None
        self.peers = PeerReceiver(store, alerts, site_mode=config.site_mode, clock=clock, rules=rules,
                                  zone=config.zone, gate_keys=keys)

        def verifier_for(requester):
            if requester == "office":
                from edge.site.remote import command_checker

                checker = command_checker(config)
                return checker if not isinstance(checker, bytes | type(None)) else None
            return keys().get(requester)

        self.replayer = Answerer(store, topics, clock=clock, verifier_for=verifier_for if config.site_mode else None,
                                 signer=signer)
        self._was_connected = False
        self._lost_session = False

    def router(self) -> Router:
        topics = self.topics
        peers = SubscribeOptions(qos=1, noLocal=True)  # No Local: our own events are not echoed back to us
        router = (Router()
                  .subscribe(topics.command(), SubscribeOptions(qos=1))
                  .subscribe(topics.peer_events, peers)
                  .subscribe(topics.requests("replay"), peers)
                  .subscribe(topics.status("+"), peers)
                  .route(topics.command(), self._command)
                  .route(topics.event("+", "+"), self._peer_event, together=True)
                  .route(topics.requests("replay"), self._replay_request)
                  .route(topics.status("+"), self._status))
        if self.replica is not None:
            router.subscribe(topics.registry_all, SubscribeOptions(qos=1))
            router.subscribe(topics.resync_answers, SubscribeOptions(qos=1))
            router.route(topics.registry_all, self._registry_records, batched=True)
            router.route(topics.resync_answers, lambda message: self.replica.page_end(message.payload))
        return router

    # -- the routes (the link's inbox thread) ---------------------------------------------------
    def _command(self, message: Received) -> None:
        (verb,) = message.levels
        if verb != "result":
            self.commands.handle(verb, message.payload)

    def _peer_event(self, message: Received) -> None:
        gate, kind = message.levels
        if gate == self.config.gate or contract.is_reserved_gate_name(gate) \
                or not (contract.is_topic_name(gate) and contract.is_topic_name(kind)):
            return
        self.peers.receive(gate, message.payload, message.topic)

    def _status(self, message: Received) -> None:
        (name,) = message.levels
        if name == "office":
            # The office's clock (our offset from it; commands are judged on it) only where there is an
            # office: at a site, whose broker lets nobody but the office write there (config/site/acl). A
            # lone gate's broker has no such rule: a status anyone wrote would move the window in which
            # an old, captured command is fresh.
            if self.config.site_mode:
                self.clockwatch.office_status(message.payload)
            return
        if name == self.config.gate or contract.is_reserved_gate_name(name):
            return
        try:
            status = contract.parse_status(message.payload)
        except contract.Refused:
            return
        self.peers.status_seen(name, status)

    def _replay_request(self, message: Received) -> None:
        (requester,) = message.levels
        if requester == self.config.gate or not contract.is_topic_name(requester):
            return
        gate = self.config.gate
        body = self.replayer.parse(requester, message.payload, lambda target: target == gate)
        if body is not None and self.replayer.answer(gate, body):
            self.wake()

    def _registry_records(self, batch: list[Received]) -> None:
        self.replica.apply_many([(message.topic, message.payload) for message in batch])

    # -- what we missed ------------------------------------------------------------------------
    def on_connection(self, connected: bool, error: str) -> None:
        """The link's: a connection on which the broker had lost our session means what was queued for us
        while away is gone: ask for it."""
        if connected and not self.session_present() and self._was_connected:
            self._lost_session = True
        self._was_connected = self._was_connected or connected

    def ask_for_gaps(self) -> int:
        """Ask each peer whose seq has a gap for the missing events (a job, every few seconds)."""
        from edge.site.replay import request

        asks = self.peers.gaps_to_ask()
        if self._lost_session:
            self._lost_session = False
            asks += self.peers.after_session_lost()
        for gate, first, last in asks:
            self.publish(self.topics.request("replay"),
                         request(gate, first, last, zone=self.config.zone, signer=self.signer, now=self.clock()))
            self.peers.asked(gate)
            _LOG.info("asked gate %s to replay seq %s..%s", gate, first, last if last is not None else "newest")
        return len(asks)
