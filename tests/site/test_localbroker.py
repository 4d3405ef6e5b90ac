"""The tests' own mosquitto (edge.site.localbroker): with the suite on several workers, a port it chose can be
taken by another process before mosquitto binds it; the broker must then listen on another port, never report
itself started on a port somebody else holds, and keep a port clients already know."""

from __future__ import annotations

import socket

from conftest import need_mosquitto


def test_a_chosen_port_taken_before_the_bind_moves_and_a_known_port_stays(monkeypatch, tmp_path):
    need_mosquitto()
    from edge.site import localbroker

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()  # somebody else listens there: a connect alone would succeed
    taken = holder.getsockname()[1]
    handed = iter([taken])
    real = localbroker.free_port
    monkeypatch.setattr(localbroker, "free_port", lambda: next(handed, None) or real())
    broker = localbroker.LocalBroker(tmp_path / "b")
    try:
        assert broker.port == taken
        broker.start()
        assert broker.port != taken and broker.process.poll() is None
        moved = broker.port
        broker.stop()
        broker.start()  # a restart: clients know the port
        assert broker.port == moved
        broker.stop()
        given = localbroker.LocalBroker(tmp_path / "c", port=taken)  # a port given is never changed
        try:
            given.start(timeout=5)
            raise AssertionError("started on a port another process holds")
        except RuntimeError as error:
            assert "Address already in use" in str(error) and given.port == taken
    finally:
        broker.stop()
        holder.close()
