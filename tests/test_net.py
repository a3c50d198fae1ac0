"""Ports for the local servers: free, and out of the way of outgoing connections."""

from __future__ import annotations

import socket

import pytest

from firstapp.errors import FirstappError
from firstapp.net import LOOPBACK, ephemeral_ports, free_port


def test_free_ports_are_outside_the_ephemeral_range_and_bindable():
    ephemeral = ephemeral_ports()
    for _ in range(20):
        port = free_port()
        assert port not in ephemeral
        with socket.socket() as sock:  # nothing uses it: a server can listen there
            sock.bind((LOOPBACK, port))
            sock.listen()


def test_a_port_in_use_is_not_handed_out():
    taken = []
    try:
        for _ in range(50):
            sock = socket.socket()
            sock.bind((LOOPBACK, free_port()))
            sock.listen()
            taken.append(sock)
        ports = [s.getsockname()[1] for s in taken]
        assert len(set(ports)) == len(ports)
    finally:
        for sock in taken:
            sock.close()


def test_firstapp_free_ports_narrows_the_range(monkeypatch):
    monkeypatch.setenv("FIRSTAPP_FREE_PORTS", "25000-25009")
    assert {free_port() for _ in range(30)} <= set(range(25000, 25010))


@pytest.mark.parametrize("value", ["25000", "25010-25000", "80-90", "20000-70000", "a-b"])
def test_a_wrong_firstapp_free_ports_is_one_clear_error(value, monkeypatch):
    monkeypatch.setenv("FIRSTAPP_FREE_PORTS", value)
    with pytest.raises(FirstappError, match=f"FIRSTAPP_FREE_PORTS={value} is not a range"):
        free_port()
