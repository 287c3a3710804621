"""The Docker engine the docker backend talks to, and the labels that mark what a run owns.

The client asks the engine which API version it speaks (`version="auto"`), so a Docker SDK
or a `docker` CLI newer than the engine (Debian's 20.10 speaks API 1.41) still works. Every
container, network and volume a run creates carries `invoice-chaos.run=<run-id>` and an
owner label (host, pid and creation time of the orchestrator), so a later run can tell the
leftovers of a crashed run from the resources of a run that is still going.
"""
from __future__ import annotations

import os
import socket
from typing import Any


from ...errors import StackError
from ..leftovers import process_created

__all__ = ["EngineUnavailable", "connect", "RUN_LABEL", "OWNER_LABEL", "owner_label", "owner_alive",
           "ENGINE_HELP"]

RUN_LABEL = "invoice-chaos.run"
OWNER_LABEL = "invoice-chaos.owner"

ENGINE_HELP = """No Docker engine could be reached ({why}).
The docker backend needs a running engine:
  - Debian/Ubuntu: sudo apt-get install docker.io, then start it: sudo dockerd >/tmp/dockerd.log 2>&1 &
    (or: sudo systemctl start docker where systemd runs);
  - an engine elsewhere: set DOCKER_HOST (e.g. unix:///run/user/1000/docker.sock for rootless Docker).
Or run without Docker: --backend local (the default)."""


class EngineUnavailable(StackError):
    """No engine answered: exit 3 with how to start one."""


def connect(timeout_s: float = 120.0) -> Any:
    """A docker.DockerClient that has answered a ping, with the API version negotiated."""
    import docker
    from docker.errors import DockerException
    try:
        client = docker.from_env(version="auto", timeout=int(timeout_s))
        client.ping()
    except DockerException as e:
        why = str(e).split("\n")[0][:300]
        raise EngineUnavailable(ENGINE_HELP.format(why=why)) from None
    return client


def owner_label() -> str:
    """`host:pid:creation-time` of this orchestrator."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_created(pid) or 0:.2f}"


def owner_alive(label: str | None) -> bool:
    """True when the orchestrator that wrote `label` still runs (on this host). A label of
    another host is taken as alive: we cannot tell, so we leave its resources alone."""
    try:
        host, pid, created = (label or "").rsplit(":", 2)
        pid_i, created_f = int(pid), float(created)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    now = process_created(pid_i)
    return now is not None and abs(now - created_f) < 0.02
