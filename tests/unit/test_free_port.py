"""Ports for local servers come from below the kernel's ephemeral range, each handed out once."""

from __future__ import annotations

import socket

from infra.local.processes import _ephemeral_floor, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(20000 <= port < _ephemeral_floor() for port in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_a_port_an_outgoing_connection_holds_is_never_handed_out() -> None:
    """Outgoing connections take their local ports from the ephemeral range, which is never drawn."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        try:
            assert client.getsockname()[1] >= _ephemeral_floor()
            assert client.getsockname()[1] not in {free_port() for _ in range(200)}
        finally:
            client.close()
