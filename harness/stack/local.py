"""The embedded default stack: Toxiproxy, the platform and the merchant (or the user's SUT)
as local processes on free 127.0.0.1 ports. The client-facing links listen on ports
Toxiproxy picks; when another process takes a port picked for a service or an inner link
before it is bound (harness/stack/ports.py), the stack starts again on new ports.

    client ──client->merchant──▶ merchant ──merchant->taxplatform──▶ taxplatform
    client ──client->taxplatform──────────────────────────────────▶ taxplatform
                 merchant ◀──taxplatform->merchant── taxplatform      (callbacks)

Every hop the faults can touch goes through Toxiproxy; the harness's own calls (drain,
final read, ledger, admin) go direct. `down()` always runs (finally), so no process or
port is left behind.
"""
from __future__ import annotations

import json
import sys
import threading
from typing import Any, Callable

from ..errors import StackError
from ..links import LINKS, PLATFORM_MERCHANT, upstream_of
from .base import StackBase
from .config import CLIENT_LINKS, SERVICES, StackConfig, expand_placeholders
from .leftovers import Registry, clear_leftovers
from .ports import LOOPBACK, PORT_ATTEMPTS, PortTaken, free_ports
from .process import Service, ServiceSpec, log_tail
from .tls import RunTls, forget, make_run_tls, sut_env, trust
from .toxiproxy_api import ToxiproxyClient, find_toxiproxy_server, toxiproxy_version

__all__ = ["StackConfig", "LocalStack", "LINKS", "SERVICES", "PORT_ATTEMPTS"]


class LocalStack(StackBase):
    """The system as processes on loopback ports (the `Stack` protocol, harness/stack/base.py)."""

    backend = "local"

    def __init__(self, cfg: StackConfig, say: Callable[[str], None] = print):
        self.cfg = cfg
        self.say = say
        self.logs = cfg.run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.services: dict[str, Service] = {}
        self.toxiproxy: ToxiproxyClient | None = None
        self.ports: dict[str, int] = {}
        self.registry = Registry(cfg.run_id)
        self.stack_info: dict[str, Any] = {}
        self.partitioned: set[str] = set()       # never filled: no partition capability
        self.tls: RunTls | None = None
        self._lock = threading.RLock()

    # --- addresses ---------------------------------------------------------------------
    def url(self, name: str) -> str:
        host = self.cfg.client_host if name in CLIENT_LINKS else LOOPBACK
        return f"{self._scheme(name)}://{host}:{self.ports[name]}"

    # --- up ----------------------------------------------------------------------------
    def up(self) -> None:
        binary = find_toxiproxy_server()
        version = toxiproxy_version(binary)
        cleared = clear_leftovers()
        if cleared:
            self.say(f"cleared leftovers of a crashed earlier run: {', '.join(cleared)}")
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._up(binary, version)
                return
            except PortTaken as e:
                if attempt == PORT_ATTEMPTS:
                    raise
                self.say(f"another process took a port of this run ({str(e).splitlines()[0]}); "
                         "starting again on new ports")
                self._stop_services()

    def _stop_services(self) -> None:
        """What `_up` started, stopped (its data stays: nothing has been asked of it yet)."""
        for name in ("merchant", "taxplatform", "toxiproxy"):
            svc = self.services.pop(name, None)
            if svc is not None:
                svc.terminate(grace_s=2.0)
        self.toxiproxy = None

    def _up(self, binary: str, version: str) -> None:
        # the client-facing links get their ports from Toxiproxy (below): nothing needs
        # them before the load starts
        names = ["toxiproxy", "taxplatform", "merchant", *(n for n in LINKS if n not in CLIENT_LINKS)]
        self.ports = dict(zip(names, free_ports(len(names))))
        data = self.cfg.run_dir / "data"
        tls_args: list[str] = []
        if self.cfg.platform_tls:
            self.tls = make_run_tls(self.cfg.run_dir)
            tls_args = ["--tls-cert", str(self.tls.cert_pem), "--tls-key", str(self.tls.key_pem)]
            trust(self._platform_urls(), self.tls.ca_pem)
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
             "--config", json.dumps(self.cfg.platform_config), *tls_args],
            self.ports["taxplatform"], env=dict(self.cfg.platform_env),
            startup_timeout_s=self.cfg.startup_timeout_s,
            ca=str(self.tls.ca_pem) if self.tls else None))

        env = {"PORT": str(self.ports["merchant"]),
               "TAX_PLATFORM_URL": self.url("merchant->taxplatform"),
               "SELLERS_FILE": str(self.cfg.sellers_file.resolve()),
               "DATA_DIR": str((data / "merchant").resolve()),
               # where the platform reaches the merchant (callbacks), through its own link
               "MERCHANT_CALLBACK_URL": self.url(PLATFORM_MERCHANT),
               **(sut_env(self.tls) if self.tls else {}),
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
        for link in LINKS:
            host = self.cfg.client_host if link in CLIENT_LINKS else LOOPBACK
            self.ports[link] = self.toxiproxy.create_proxy(
                link, self.ports.get(link, 0), self.ports[upstream_of(link)], host)
        platform.wait_healthy()
        if merchant is None:
            merchant = self._spawn(spec)
        merchant.wait_healthy()
        self.probe_merchant()

    def _merchant_log(self) -> str:
        path = self.services["merchant"].log_path
        return f"last lines of {path}:\n{log_tail(path)}"

    def _started(self, service: str) -> bool:
        return service in self.services

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

    def _on(self, target: str, act: Callable[[Service], None]) -> None:
        with self._lock:
            act(self._svc(target))

    def kill(self, target: str) -> None:
        self._on(target, Service.kill)

    def terminate(self, target: str) -> None:
        self._on(target, Service.terminate)

    def pause(self, target: str) -> None:
        self._on(target, Service.pause)

    def resume(self, target: str) -> None:
        self._on(target, Service.resume)

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

    # --- down ----------------------------------------------------------------------------
    def down(self) -> None:
        for name in ("merchant", "taxplatform", "toxiproxy"):
            svc = self.services.get(name)
            if svc is not None:
                svc.terminate(grace_s=5.0)
        # anything else the run recorded (the load generator's processes) goes too
        self.registry.kill_groups(skip=set(self.services))
        self.registry.remove()
        if self.tls is not None:
            forget(self._platform_urls())
