"""One service's topic routing: which topics it subscribes to, and which handler each received message goes to.

A service (the gate's inbox, ``edge.gate.inbox``; the office, ``edge.office.inbox``) builds one ``Router``:

    router = Router()
    router.subscribe(topics.peer_events, SubscribeOptions(qos=1, noLocal=True))   # what the broker sends us
    router.route(topics.event("+", "+"), on_event, together=True)                  # who handles it

The MQTT link subscribes to ``subscriptions`` and hands every filter to paho's per-filter callbacks
(``client.message_callback_add``): paho matches the topics, not code of ours. A message no route matches
goes to ``fallback`` (None: acknowledged and dropped). The link calls ``handle(message)`` on its inbox
thread (never paho's), where each handler gets a ``Received``: its topic, its payload and what the
filter's wildcards matched (``levels``: ``("east", "entry")`` for ``P/+/event/+`` on ``P/east/event/entry``),
so a handler reads the gate or the verb from there instead of splitting the topic by hand. Each payload is
then decoded by its kind's decoder in ``edge.contract``.

Routes are meant not to overlap; should two filters match one topic (paho then calls both), the message is
delivered once, to the first, so it is handled and acknowledged once.

``together``: runs of these messages are handled in one transaction (peer events: thousands a second);
``batched``: the handler takes a list, on a thread of its own (the registry's records, 500 at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Route:
    filter: str
    handle: Callable  # handle(Received), or handle(list[Received]) when batched
    together: bool = False
    batched: bool = False


@dataclass(frozen=True)
class Received:
    """A message as the broker delivered it, with the route paho matched it to (None: no route)."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 0
    route: Route | None = field(default=None, compare=False)

    @property
    def levels(self) -> tuple[str, ...]:
        """What the route's wildcards matched, in order (``#``: the rest of the topic, one string)."""
        return wildcards(self.route.filter, self.topic) if self.route is not None else ()


def wildcards(topic_filter: str, topic: str) -> tuple[str, ...]:
    """The topic levels that ``topic_filter``'s ``+`` and ``#`` matched (the filter matches the topic)."""
    levels = topic.split("/")
    found: list[str] = []
    for index, level in enumerate(topic_filter.split("/")):
        if level == "+":
            found.append(levels[index])
        elif level == "#":
            found.append("/".join(levels[index:]))
            break
    return tuple(found)


class Router:
    def __init__(self, fallback: Callable | None = None):
        """``fallback(Received)``: a subscribed message that no route matches (None: dropped)."""
        self.subscriptions: list[tuple[str, object]] = []  # (topic filter, paho SubscribeOptions)
        self.routes: list[Route] = []
        self.fallback = fallback
        self._last = None  # the message paho last handed us (held, so its id cannot be reused meanwhile)

    def subscribe(self, topic_filter: str, options) -> Router:
        self.subscriptions.append((topic_filter, options))
        return self

    def route(self, topic_filter: str, handle: Callable, *, together: bool = False, batched: bool = False) -> Router:
        self.routes.append(Route(topic_filter, handle, together=together, batched=batched))
        return self

    @property
    def batches(self) -> bool:
        """True when some route takes its messages in batches (the link then runs a thread for them)."""
        return any(route.batched for route in self.routes)

    def attach(self, client, arrived: Callable[[Received], None]) -> None:
        """Have paho match ``client``'s messages to the routes; ``arrived(received)`` is called once per
        message on paho's thread (with its route, or None when none matches)."""
        for route in self.routes:
            client.message_callback_add(route.filter, self._matched(route, arrived))
        client.on_message = lambda _client, _userdata, message: arrived(self._received(message, None))

    def _matched(self, route: Route, arrived):
        def callback(_client, _userdata, message) -> None:
            if message is self._last:
                return  # a second filter matched it too: delivered (and acknowledged) once
            self._last = message
            arrived(self._received(message, route))

        return callback

    @staticmethod
    def _received(message, route: Route | None) -> Received:
        return Received(message.topic, bytes(message.payload), message.mid, message.qos, route)

    def handle(self, received: Received) -> None:
        """Call the message's handler (its route's, or the fallback); the link's inbox thread."""
        if received.route is not None:
            received.route.handle(received)
        elif self.fallback is not None:
            self.fallback(received)
