"""The Locust file: a thin adapter from Locust to the open-model driver.

Started by runner.py as `python -m locust -f harness/load/locustfile.py ...`, in
its own process (Locust monkey-patches with gevent on import). One
`ArrivalDriver` user per worker process plays that worker's share of the arrival
schedule (driver.py); Locust contributes the process model (local, or master and
workers across machines) and its request statistics, fed through
`events.request` by every request the customers make.

In a distributed run (design.md s.10, `INVOICE_CHAOS_REMOTE=1`) the `init` hook installs
the master's hub (remote_master.py) or the worker's side (remote_worker.py): the driver is
then started by the master's assignment message, not by the user below, and its history
travels over Locust's connection instead of into a shared directory.
"""
from __future__ import annotations

import os
import traceback
from pathlib import Path

import gevent
from locust import User, constant, events, task
from locust.exception import StopUser

from harness.load.driver import Driver
from harness.load.master_port import (ENV_READ_MASTER_PORT, ENV_WRITE_MASTER_PORT,
                                      await_master_port, write_master_port)
from harness.load.remote import ENV_REMOTE

_remote = os.environ.get(ENV_REMOTE) == "1"

if os.environ.get(ENV_READ_MASTER_PORT):
    # A local worker whose master binds a port of its own (master_port.py): Locust parses
    # the options after importing this file, and `--master-port` falls back to this variable.
    os.environ["LOCUST_MASTER_NODE_PORT"] = str(
        await_master_port(Path(os.environ[ENV_READ_MASTER_PORT])))


@events.init.add_listener
def _report_master_port(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get(ENV_WRITE_MASTER_PORT):
        write_master_port(Path(os.environ[ENV_WRITE_MASTER_PORT]), environment.runner.server.port)

_claimed = False        # one schedule per process, even if Locust hands out two users


@events.init.add_listener
def _distributed(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if not _remote:
        return
    from locust.runners import MasterRunner, WorkerRunner
    if isinstance(environment.runner, MasterRunner):
        from harness.load.remote_master import MasterHub
        MasterHub(environment.runner, Path(os.environ["INVOICE_CHAOS_LOAD_DIR"]),
                  int(os.environ["INVOICE_CHAOS_EXPECT"]))
    elif isinstance(environment.runner, WorkerRunner):
        from harness.load.remote_worker import install_worker
        install_worker(environment)


class ArrivalDriver(User):
    """Plays the arrival schedule; `-u` must equal the number of worker processes."""

    wait_time = constant(1)

    @task
    def play(self) -> None:
        global _claimed
        if not _claimed and not _remote:        # remote: the assignment starts the driver
            _claimed = True
            try:
                events = self.environment.events
                driver = Driver.from_env(fire=events.request.fire)
                events.cpu_warning.add_listener(
                    lambda cpu_usage=0.0, **_: driver.note_cpu_warning(cpu_usage))
                driver.run()
            except Exception:
                # Tell the runner, which would otherwise wait for a `done` that never comes.
                load_dir = Path(os.environ.get("INVOICE_CHAOS_LOAD_DIR", "."))
                worker = os.environ.get("INVOICE_CHAOS_WORKER", "0")
                (load_dir / f"error-w{worker}.txt").write_text(traceback.format_exc())
                raise
        # The schedule is over: idle (bounded) until the runner ends the processes.
        for _ in range(600):
            gevent.sleep(1)
        raise StopUser()
