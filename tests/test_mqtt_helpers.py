"""The tests' MQTT listener (tests/mqtt_helpers.py) is subscribed when its constructor returns: it waits
for the broker's SUBACK instead of a pause, so a slow broker cannot make a test miss a message."""

from __future__ import annotations

import socket
import threading
import time

from mqtt_helpers import Listener, wait_for

SUBSCRIBE = 0x82  # fixed header of an MQTT SUBSCRIBE packet


class SlowSubscribeProxy:
    """A TCP relay to the broker that holds each SUBSCRIBE packet for ``delay`` seconds (a loaded broker)."""

    def __init__(self, broker_port: int, delay: float):
        self.broker_port, self.delay = broker_port, delay
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.stopping = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, name="slow-suback-proxy")]
        self.threads[0].start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            self.sockets += [client, upstream]
            for args in ((client, upstream, True), (upstream, client, False)):
                pump = threading.Thread(target=self._pump, args=args, name="slow-suback-pump")
                self.threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, target: socket.socket, hold_subscribe: bool):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                break
            if not data:
                break
            if hold_subscribe and data[0] == SUBSCRIBE:
                time.sleep(self.delay)
            try:
                target.sendall(data)
            except OSError:
                break
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in list(self.threads):
            thread.join(5)
        for sock in (*self.sockets, self.server):
            sock.close()


def test_a_listener_hears_what_is_published_as_soon_as_it_is_constructed(broker):
    proxy = SlowSubscribeProxy(broker.port, delay=1.0)
    publisher = Listener(broker.port, "nothing/#", client_id="publisher")
    office = None
    try:
        office = Listener(proxy.port, "gate/#", client_id="office")
        publisher.publish("gate/tianlin12/east/event/entry", {"event_id": "e-1"})  # not retained: live only
        assert wait_for(lambda: office.on("/event/entry"), 5), "published after the listener was ready, never heard"
    finally:
        if office is not None:
            office.close()
        publisher.close()
        proxy.close()
