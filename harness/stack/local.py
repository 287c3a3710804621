"""The embedded default stack: Toxiproxy, the platform and the merchant (or the user's SUT)
as local processes on free 127.0.0.1 ports.

    client ──client->merchant──▶ merchant ──merchant->taxplatform──▶ taxplatform
    client ──client->taxplatform──────────────────────────────────▶ taxplatform

Every hop the faults can touch goes through Toxiproxy; the harness's own calls (drain,
final read, ledger, admin) go direct. `down()` always runs (finally), so no process or
port is left behind.
"""
from __future__ import annotations

import json
import shlex
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import StackError
from ..links import LINKS
from .leftovers import Registry, clear_leftovers
from .addresses import ServiceAddresses
from .ports import LOOPBACK, free_ports
import httpx

from .process import Service, ServiceSpec, log_tail
from .toxiproxy_api import ToxiproxyClient, find_toxiproxy_server, toxiproxy_version

__all__ = ["StackConfig", "LocalStack", "LINKS", "SERVICES"]

SERVICES = ("taxplatform", "merchant")
#: The links customers use: with `run --bind ADDR` they listen on ADDR, so remote load machines
#: reach the system through the fault proxies (design.md s.10); everything else stays on loopback.
CLIENT_LINKS = ("client->merchant", "client->taxplatform")


@dataclass(slots=True)
class StackConfig:
    run_id: str
    run_dir: Path
    sellers_file: Path
    platform_config: dict
    merchant_mode: str = "robust"
    merchant_env: dict[str, str] = field(default_factory=dict)
    platform_env: dict[str, str] = field(default_factory=dict)
    sut_command: str | None = None
    sut_health: str = "/healthz"
    sut_startup_timeout_s: float = 30.0
    startup_timeout_s: float = 30.0
    client_host: str = LOOPBACK             # where client->* proxies listen (`run --bind`)


def expand_placeholders(command: str, values: dict[str, str]) -> str:
    """Replace only {port}, {tax_platform_url}, {sellers_file}, {data_dir}: other braces stay."""
    for key, value in values.items():
        command = command.replace("{" + key + "}", shlex.quote(value) if " " in value else value)
    return command


class LocalStack(ServiceAddresses):
    def __init__(self, cfg: StackConfig, say: Callable[[str], None] = print):
        self.cfg = cfg
        self.say = say
        self.logs = cfg.run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.services: dict[str, Service] = {}
        self.toxiproxy: ToxiproxyClient | None = None
        self.ports: dict[str, int] = {}
        self.registry = Registry(cfg.run_id)
        self._lock = threading.RLock()

    # --- addresses ---------------------------------------------------------------------
    def url(self, name: str) -> str:
        host = self.cfg.client_host if name in CLIENT_LINKS else LOOPBACK
        return f"http://{host}:{self.ports[name]}"

    # --- up ----------------------------------------------------------------------------
    def up(self) -> None:
        binary = find_toxiproxy_server()
        version = toxiproxy_version(binary)
        cleared = clear_leftovers()
        if cleared:
            self.say(f"cleared leftovers of a crashed earlier run: {', '.join(cleared)}")
        names = ["toxiproxy", "taxplatform", "merchant", *LINKS]
        self.ports = dict(zip(names, free_ports(len(names))))
        if self.cfg.client_host != LOOPBACK:
            self.ports.update(zip(CLIENT_LINKS, free_ports(len(CLIENT_LINKS), self.cfg.client_host)))
        data = self.cfg.run_dir / "data"
        (data / "taxplatform").mkdir(parents=True, exist_ok=True)
        (data / "merchant").mkdir(parents=True, exist_ok=True)

        # Toxiproxy, the platform and the bundled merchant start together (none of them
        # calls another while it starts); a user's merchant (--sut-cmd) may reach for the
        # platform at once, so it starts only once the platform answers through its proxy.
        toxiproxy = self._spawn(ServiceSpec("toxiproxy", [binary, "-host", LOOPBACK, "-port",
                                                          str(self.ports["toxiproxy"])],
                                            self.ports["toxiproxy"], health_path="/version",
                                            startup_timeout_s=15))
        platform = self._spawn(ServiceSpec(
            "taxplatform",
            [sys.executable, "-m", "fakes.taxplatform", "--port", str(self.ports["taxplatform"]),
             "--data", str(data / "taxplatform"), "--sellers", str(self.cfg.sellers_file),
             "--config", json.dumps(self.cfg.platform_config)],
            self.ports["taxplatform"], env=dict(self.cfg.platform_env),
            startup_timeout_s=self.cfg.startup_timeout_s))

        env = {"PORT": str(self.ports["merchant"]),
               "TAX_PLATFORM_URL": self.url("merchant->taxplatform"),
               "SELLERS_FILE": str(self.cfg.sellers_file.resolve()),
               "DATA_DIR": str((data / "merchant").resolve()),
               **self.cfg.merchant_env}
        if self.cfg.sut_command:
            placeholders = {"port": env["PORT"], "tax_platform_url": env["TAX_PLATFORM_URL"],
                            "sellers_file": env["SELLERS_FILE"], "data_dir": env["DATA_DIR"]}
            argv: list[str] | str = expand_placeholders(self.cfg.sut_command, placeholders)
            spec = ServiceSpec("merchant", argv, self.ports["merchant"], env=env,
                               health_path=self.cfg.sut_health,
                               startup_timeout_s=self.cfg.sut_startup_timeout_s)
        else:
            env["MERCHANT_MODE"] = self.cfg.merchant_mode
            spec = ServiceSpec("merchant", [sys.executable, "-m", "fakes.merchant"], self.ports["merchant"],
                               env=env, startup_timeout_s=self.cfg.startup_timeout_s)
        merchant = None if self.cfg.sut_command else self._spawn(spec)

        toxiproxy.wait_healthy()
        self.toxiproxy = ToxiproxyClient(self.ports["toxiproxy"])
        self.stack_info = {"toxiproxy": {"binary": binary, "version": version}}
        upstream = {"client->merchant": "merchant", "merchant->taxplatform": "taxplatform",
                    "client->taxplatform": "taxplatform"}
        for link in LINKS:
            self.toxiproxy.create_proxy(link, self.ports[link], self.ports[upstream[link]],
                                        self.cfg.client_host if link in CLIENT_LINKS else LOOPBACK)
        platform.wait_healthy()
        if merchant is None:
            merchant = self._spawn(spec)
        merchant.wait_healthy()
        self.probe_merchant()

    def probe_merchant(self) -> None:
        """A healthy port is not yet a merchant: ask for an order it cannot know (design.md s.6
        says 404) so a system that answers garbage fails now, with exit 3, not as a run of
        meaningless anomalies."""
        url = f"{self.merchant_direct}/v1/invoices/invoice-chaos-probe-{self.cfg.run_id}"
        try:
            r = httpx.get(url, timeout=5.0)
        except httpx.HTTPError as e:
            raise StackError(f"the merchant is healthy but GET /v1/invoices/{{order_id}} failed: "
                             f"{type(e).__name__}: {e}.\n  last lines of {self.services['merchant'].log_path}:\n"
                             f"{log_tail(self.services['merchant'].log_path)}") from None
        if r.status_code != 404:
            raise StackError(
                f"the merchant does not follow the contract (docs/sut-contract.md): GET /v1/invoices/"
                f"<an order it never saw> answered {r.status_code} {r.text[:200]!r}, expected 404.\n"
                f"  last lines of {self.services['merchant'].log_path}:\n{log_tail(self.services['merchant'].log_path)}")

    def _spawn(self, spec: ServiceSpec) -> Service:
        """Start a service (recorded for teardown and for leftovers); not yet healthy."""
        svc = Service(spec, self.logs)
        self.services[spec.name] = svc
        svc.start()
        self.registry.record(spec.name, svc.pid or 0)
        return svc

    # --- process faults (called from the fault timeline thread) ---------------------------
    def _svc(self, target: str) -> Service:
        if target not in self.services or target == "toxiproxy":
            raise StackError(f"no service named {target!r}; services: {', '.join(SERVICES)}")
        return self.services[target]

    def kill(self, target: str) -> None:
        with self._lock:
            self._svc(target).kill()

    def terminate(self, target: str) -> None:
        with self._lock:
            self._svc(target).terminate()

    def pause(self, target: str) -> None:
        with self._lock:
            self._svc(target).pause()

    def resume(self, target: str) -> None:
        with self._lock:
            self._svc(target).resume()

    def ensure_running(self, target: str) -> None:
        """Start the service again (same command, same data, same port) if it is not running."""
        with self._lock:
            svc = self._svc(target)
            if svc.paused:
                svc.resume()
            if not svc.running():
                svc.start()
                self.registry.record(target, svc.pid or 0)
        svc.wait_healthy()

    # --- heal and down -------------------------------------------------------------------
    def heal(self) -> list[str]:
        """Undo everything: Toxiproxy reset, paused services continued, dead ones restarted."""
        problems = []
        if self.toxiproxy is not None:
            try:
                self.toxiproxy.reset()
            except StackError as e:
                problems.append(str(e))
        for name in SERVICES:
            if name in self.services:
                try:
                    self.ensure_running(name)
                except StackError as e:
                    problems.append(str(e))
        return problems

    def down(self) -> None:
        for name in ("merchant", "taxplatform", "toxiproxy"):
            svc = self.services.get(name)
            if svc is not None:
                svc.terminate(grace_s=5.0)
        # anything else the run recorded (the load generator's processes) goes too
        self.registry.kill_groups(skip=set(self.services))
        self.registry.remove()
