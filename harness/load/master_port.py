"""The Locust master port of a local multi-worker load, chosen by the master itself.

A port picked free by the orchestrator and handed to the master is free only until someone
else binds it: another run, or another test session on the machine, may take it in the
second Locust needs to start, and then the master fails to bind, or worse, our workers join
the other run's master. So the master binds port 0 (Locust asks ZeroMQ for a free port and
binds it in one step), writes the port it got to `<run_dir>/load/master-port.json` from its
`init` hook, and the local workers, started at the same time, read it there before Locust
parses their options (`LOCUST_MASTER_NODE_PORT`, which `--master-port` falls back to).

This module imports neither Locust nor gevent: the orchestrator's runner uses it too.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["MASTER_PORT_FILE", "ENV_WRITE_MASTER_PORT", "ENV_READ_MASTER_PORT",
           "write_master_port", "await_master_port"]

#: In `<run_dir>/load/`: `{"port": N}`, the port the master bound.
MASTER_PORT_FILE = "master-port.json"
#: Set for the master: the file to write the port it bound to.
ENV_WRITE_MASTER_PORT = "INVOICE_CHAOS_WRITE_MASTER_PORT"
#: Set for the local workers: the file to read the master's port from.
ENV_READ_MASTER_PORT = "INVOICE_CHAOS_READ_MASTER_PORT"
#: How long a worker waits for the master's port: far more than Locust's start on a busy
#: machine; the orchestrator gives up (and ends the processes) long before on its own bound.
AWAIT_S = 300.0


def write_master_port(path: Path, port: int) -> None:
    """Write the port whole (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"port": port}), encoding="utf-8")
    os.replace(tmp, path)


def await_master_port(path: Path, timeout_s: float = AWAIT_S, poll_s: float = 0.02) -> int:
    """The port in `path` once the master has written it; TimeoutError after `timeout_s`."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["port"])
        except (OSError, ValueError, KeyError):
            if time.monotonic() > end:
                raise TimeoutError(f"the Locust master did not write its port to {path} "
                                   f"within {timeout_s:g} s") from None
            time.sleep(poll_s)
