"""Ports: the one place the harness, its tests and its benchmarks pick a free one, and what a
stack does when another process takes a port it picked.

A free port is free only until someone else binds it: between the pick and the service's own
bind another run (or a test session) on the machine may take it. So what can bind port 0
does: the Toxiproxy links a service does not need to know in advance (Toxiproxy reports the
port it got), the local Locust master (harness/load/master_port.py), and a child handed a
socket bound here (`listening_socket`). A port that must stay the same for the whole run
(a service the faults restart; a docker container's published port, which the engine binds
again when a partitioned container rejoins the network) is picked, and when a service or a
link loses its picked port (`PortTaken`; the engine refusing to publish it), the stack
starts again on new ports, up to PORT_ATTEMPTS times (harness/stack/local.py,
harness/stack/docker/stack.py). The harness binds and sends only to 127.0.0.1,
except the client-facing proxies and the Locust master of a scale-out run, which listen on
the `--bind` address.
"""
from __future__ import annotations

import socket

from ..errors import HealthTimeout

__all__ = ["LOOPBACK", "free_port", "free_ports", "listening_socket", "port_in_use", "PortTaken",
           "says_port_taken", "PORT_ATTEMPTS"]

LOOPBACK = "127.0.0.1"

#: How many times a stack starts its services on new ports after one lost its port.
PORT_ATTEMPTS = 3

#: How a program says its bind failed: Python (errno 98 / EADDRINUSE), Go (Toxiproxy), uvicorn,
#: the Docker engine publishing a port.
_TAKEN_WORDS = ("address already in use", "errno 98", "eaddrinuse", "port is already allocated")


class PortTaken(HealthTimeout):
    """A service or a link could not have its port: another process bound it first."""


def says_port_taken(text: str) -> bool:
    """Does a log or an error message say that a bind failed on a taken port?"""
    low = text.lower()
    return any(w in low for w in _TAKEN_WORDS)


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """n distinct ports on `host` that were free a moment ago (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = LOOPBACK) -> int:
    """A port on `host` that was free a moment ago (see the module's docstring for the race)."""
    return free_ports(1, host)[0]


def listening_socket(host: str = LOOPBACK, backlog: int = 2048) -> socket.socket:
    """A socket listening on a port of the kernel's choosing (port 0), to hand to a child
    process (`pass_fds`) that serves on it: the port is ours from the start, so no other
    process can take it between the pick and the bind. Its port: `getsockname()[1]`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return s


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((LOOPBACK, port)) == 0
