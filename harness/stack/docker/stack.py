"""The docker backend (design.md s.11): the same three services as the local stack, as
containers on one bridge network per run.

    host: load ──127.0.0.1:P──▶ toxiproxy:18080 ──client->merchant──────▶ merchant:PORT
    host: load ──127.0.0.1:P──▶ toxiproxy:18081 ──client->taxplatform───▶ taxplatform:8000
    merchant ──http://toxiproxy:18082── merchant->taxplatform ──────────▶ taxplatform:8000
    taxplatform ──http://toxiproxy:18083── taxplatform->merchant ───────▶ merchant:PORT (callbacks)

The load runs on the host through Toxiproxy's published listeners; the merchant reaches the
platform through Toxiproxy inside the network, by the containers' network aliases. Every
port is published on 127.0.0.1 only, at a port chosen here (so a container that is stopped
and started again, or taken off the network and put back, keeps it); when another process
takes one before the engine binds it, the engine refuses to start the container and `up()`
starts again on new ports (up to PORT_ATTEMPTS times). The harness's own calls (drain, final read, ledger, admin) go
direct to the published service ports. Each service's data is a named volume, which
survives a kill and a restart of its container. Everything carries the run's labels and
`down()` removes it whatever the exit; `up()` first removes what crashed runs left.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from ...errors import HealthTimeout, StackError
from .engine import OWNER_LABEL, RUN_LABEL, owner_alive, owner_label
from .images import APP_IMAGE, TOXIPROXY_IMAGE, TOXIPROXY_VERSION
from ...links import LINKS, PLATFORM_MERCHANT, upstream_of
from ..tls import forget, make_run_tls, sut_env, trust, verify
from ..base import PARTITION, StackBase
from ..config import SERVICES, StackConfig, expand_placeholders
from ..leftovers import Registry, clear_leftovers
from ..ports import LOOPBACK, PORT_ATTEMPTS, free_ports, says_port_taken
from ..toxiproxy_api import ToxiproxyClient

__all__ = ["DockerStack", "DockerOptions", "clear_docker_leftovers", "resources_of_run"]

SERVICE_PORT = 8000                        # the bundled fakes' port inside their containers
LISTEN = {"client->merchant": 18080, "client->taxplatform": 18081, "merchant->taxplatform": 18082,
          "taxplatform->merchant": 18083}
SELLERS_IN = "/run-config/sellers.json"
TLS_IN = "/run-tls"                      # the run's tls/ directory, read-only
DATA_IN = "/data"
PROJECT_IN = "/project"


@dataclass(slots=True)
class DockerOptions:
    """What only the docker backend needs: the user's image and its port, the project dir
    mounted for a `--sut-cmd`."""
    sut_image: str | None = None
    sut_port: int = 8080
    project_dir: Path = Path(".")


def _name(run_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in run_id).strip("-._") or "run"
    return f"ic-{safe}"[:60]


def resources_of_run(client: Any, run_id: str) -> dict[str, list[str]]:
    """Containers, networks and volumes labelled for `run_id` (what a test asserts is gone)."""
    f = {"label": f"{RUN_LABEL}={run_id}"}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=f)],
            "networks": [n.name for n in client.networks.list(filters=f)],
            "volumes": [v.name for v in client.volumes.list(filters=f)]}


def _remove_labelled(client: Any, label: str, whose: Callable[[dict], bool]) -> list[str]:
    """Remove the containers, networks and volumes carrying `label` (in that order: a network
    goes once its containers are gone) whose labels `whose` accepts; say what went."""
    from docker.errors import APIError, NotFound
    f = {"label": label}
    kinds: tuple[tuple[str, Callable[[], list], dict[str, bool]], ...] = (
        ("container", lambda: client.containers.list(all=True, filters=f), {"force": True, "v": True}),
        ("network", lambda: client.networks.list(filters=f), {}),
        ("volume", lambda: client.volumes.list(filters=f), {"force": True}))
    removed: list[str] = []
    for kind, listed, how in kinds:
        for r in listed():
            labels = r.labels if kind == "container" else r.attrs.get("Labels")
            if whose(labels or {}):
                try:
                    r.remove(**how)
                    removed.append(f"{kind} {r.name}")
                except (APIError, NotFound):
                    pass
    return removed


def clear_docker_leftovers(client: Any) -> list[str]:
    """Remove everything labelled by a run whose orchestrator is gone; say what went."""
    return _remove_labelled(client, RUN_LABEL, lambda labels: not owner_alive(labels.get(OWNER_LABEL)))


class DockerStack(StackBase):
    """The system as containers (the `Stack` protocol, harness/stack/base.py), plus `partition`."""

    backend = "docker"
    capabilities = frozenset({PARTITION})

    def __init__(self, cfg: StackConfig, client: Any, opts: DockerOptions | None = None,
                 say: Callable[[str], None] = print):
        self.cfg = cfg
        self.client = client
        self.opts = opts or DockerOptions()
        self.say = say
        self.logs = cfg.run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.prefix = _name(cfg.run_id)
        self.labels = {RUN_LABEL: cfg.run_id, OWNER_LABEL: owner_label()}
        self.registry = Registry(cfg.run_id)         # the load generator's processes (host side)
        self.toxiproxy: ToxiproxyClient | None = None
        self.ports: dict[str, int] = {}
        self.containers: dict[str, Any] = {}
        self.holders: dict[str, Any] = {}            # service -> the container owning its network
        self.network: Any = None
        self.volumes: list[Any] = []
        self.partitioned: set[str] = set()
        self.stack_info: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._merchant_port = self.opts.sut_port if self.opts.sut_image else SERVICE_PORT

    # --- addresses ---------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"{self._scheme(name)}://{LOOPBACK}:{self.ports[name]}"

    # --- up ----------------------------------------------------------------------------
    def up(self) -> None:
        from docker.errors import APIError, NotFound
        cleared = clear_leftovers() + clear_docker_leftovers(self.client)
        if cleared:
            self.say(f"removed leftovers of a crashed earlier run: {', '.join(cleared)}")
        try:
            self.client.networks.get(self.prefix)
            raise StackError(f"a Docker network {self.prefix} already exists and belongs to a run that is "
                             "still going; give this run another --out directory")
        except NotFound:
            pass
        if self.cfg.platform_tls:            # design.md s.13: the files go in read-only
            self.tls = make_run_tls(self.cfg.run_dir)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._up()
                break
            except APIError as e:
                if attempt == PORT_ATTEMPTS or not says_port_taken(str(e)):
                    raise StackError(_explain(e)) from None
                self.say(f"another process took a port of this run ({_explain(e)[:300]}); "
                         "starting again on new ports")
                self._remove_started()
        self.stack_info = {"backend": "docker", "network": self.prefix,
                           "toxiproxy": {"image": TOXIPROXY_IMAGE, "version": TOXIPROXY_VERSION},
                           "images": {n: c.image.tags[0] if c.image.tags else c.image.id
                                      for n, c in self.containers.items()}}
        self.probe_merchant()

    def _up(self) -> None:
        """The network and the three services, on ports picked now."""
        names = ["toxiproxy", "taxplatform", "merchant", "client->merchant", "client->taxplatform"]
        self.ports = dict(zip(names, free_ports(len(names))))
        if self.tls is not None:
            trust(self._platform_urls(), self.tls.ca_pem)
        self.network = self.client.networks.create(self.prefix, driver="bridge", labels=self.labels)
        self._up_toxiproxy()
        self._up_platform()
        self._up_merchant()

    def _remove_started(self) -> None:
        """What `_up` created, removed (nothing has been asked of it yet), to start again."""
        if self.tls is not None:
            forget(self._platform_urls())
        self._remove_own()
        self.containers, self.holders, self.volumes = {}, {}, []
        self.network, self.toxiproxy = None, None

    def _volume(self, service: str) -> str:
        v = self.client.volumes.create(f"{self.prefix}-{service}-data", labels=self.labels)
        self.volumes.append(v)
        return v.name

    def _run(self, service: str, image: str, command: Any = None, *, ports: dict[int, int],
             env: dict[str, str] | None = None, volumes: dict[str, dict] | None = None,
             working_dir: str | None = None, entrypoint: Any = None) -> Any:
        """Create and start one container on the run's network, reachable by its service name.

        A service the faults kill and restart (the platform, the merchant) runs in the network
        namespace of a small holder container (`<name>-net`) that owns its address, its alias
        and its published ports. The namespace outlives the process, as a port on loopback
        outlives a local process: while the service is down a connection to it is refused at
        once, and it comes back at the same address. Without the holder a killed container's
        address stops answering at all, and Toxiproxy, which dials its upstream inside its one
        accept loop, stalls every new connection of the link on that dial until one of its
        SYN retries reaches the restarted service (measured: 12-16 s after the restart) or,
        when nothing answers at that address any more, until the kernel gives up on it
        (docs/performance.md, "Docker path")."""
        name = f"{self.prefix}-{service}"
        labels = {**self.labels, "invoice-chaos.service": service}
        published = {f"{inner}/tcp": (LOOPBACK, outer) for inner, outer in ports.items()}
        alias = {self.network.name: self.client.api.create_endpoint_config(aliases=[service])}
        if service in SERVICES:
            holder = self.client.containers.create(
                APP_IMAGE, ["sleep", "infinity"], name=f"{name}-net", labels=labels, ports=published,
                network=self.network.name, detach=True, init=True, networking_config=alias)
            self.holders[service] = holder
            holder.start()
            net: dict[str, Any] = {"network_mode": f"container:{holder.id}"}
        else:
            net = {"ports": published, "network": self.network.name, "networking_config": alias}
        container = self.client.containers.create(
            image, command, name=name, labels=labels, environment=env or {}, volumes=volumes or {},
            working_dir=working_dir, entrypoint=entrypoint, detach=True, init=True, **net)
        self.containers[service] = container
        container.start()
        return container

    def _up_toxiproxy(self) -> None:
        self._run("toxiproxy", TOXIPROXY_IMAGE,
                  ports={8474: self.ports["toxiproxy"], LISTEN["client->merchant"]: self.ports["client->merchant"],
                         LISTEN["client->taxplatform"]: self.ports["client->taxplatform"]})
        self._wait_healthy("toxiproxy", self.ports["toxiproxy"], "/version", 30.0)
        self.toxiproxy = ToxiproxyClient(self.ports["toxiproxy"])
        port = {"merchant": self._merchant_port, "taxplatform": SERVICE_PORT}
        for link in LINKS:
            to = upstream_of(link)
            self.toxiproxy.create_proxy_at(link, f"0.0.0.0:{LISTEN[link]}", f"{to}:{port[to]}")

    def _run_config(self) -> dict[str, dict]:
        mounts = {str(self.cfg.sellers_file.resolve()): {"bind": SELLERS_IN, "mode": "ro"}}
        if self.tls is not None:
            mounts[str(self.tls.dir.resolve())] = {"bind": TLS_IN, "mode": "ro"}
        return mounts

    def _up_platform(self) -> None:
        vol = self._volume("taxplatform")
        self._run("taxplatform", APP_IMAGE,
                  ["python", "-m", "fakes.taxplatform", "--host", "0.0.0.0", "--port", str(SERVICE_PORT),
                   "--data", DATA_IN, "--sellers", SELLERS_IN, "--config", json.dumps(self.cfg.platform_config),
                   *(["--tls-cert", f"{TLS_IN}/server.pem", "--tls-key", f"{TLS_IN}/server.key"]
                     if self.tls is not None else [])],
                  ports={SERVICE_PORT: self.ports["taxplatform"]},
                  volumes={**self._run_config(), vol: {"bind": DATA_IN, "mode": "rw"}})
        self._wait_healthy("taxplatform", self.ports["taxplatform"], "/healthz", self.cfg.startup_timeout_s)

    def _up_merchant(self) -> None:
        vol = self._volume("merchant")
        port = self._merchant_port
        env = {"PORT": str(port), "HOST": "0.0.0.0",
               "TAX_PLATFORM_URL": f"{'https' if self.tls else 'http'}://toxiproxy:"
                                   f"{LISTEN['merchant->taxplatform']}",
               "MERCHANT_CALLBACK_URL": f"http://toxiproxy:{LISTEN[PLATFORM_MERCHANT]}",
               **(self._tls_env() if self.tls is not None else {}),
               "SELLERS_FILE": SELLERS_IN, "DATA_DIR": DATA_IN, **self.cfg.merchant_env}
        volumes = {**self._run_config(), vol: {"bind": DATA_IN, "mode": "rw"}}
        health, timeout = "/healthz", self.cfg.startup_timeout_s
        if self.opts.sut_image:
            image, command, entrypoint, workdir = self.opts.sut_image, None, None, None
            health, timeout = self.cfg.sut_health, self.cfg.sut_startup_timeout_s
        elif self.cfg.sut_command:
            placeholders = {"port": str(port), "tax_platform_url": env["TAX_PLATFORM_URL"],
                            "sellers_file": SELLERS_IN, "data_dir": DATA_IN}
            image, entrypoint, workdir = APP_IMAGE, ["/bin/sh", "-c"], PROJECT_IN
            command = [expand_placeholders(self.cfg.sut_command, placeholders)]
            volumes[str(self.opts.project_dir.resolve())] = {"bind": PROJECT_IN, "mode": "ro"}
            health, timeout = self.cfg.sut_health, self.cfg.sut_startup_timeout_s
        else:
            env["MERCHANT_MODE"] = self.cfg.merchant_mode
            image, command, entrypoint, workdir = APP_IMAGE, ["python", "-m", "fakes.merchant"], None, None
        self.merchant_health = health
        self._run("merchant", image, command, ports={port: self.ports["merchant"]}, env=env, volumes=volumes,
                  working_dir=workdir, entrypoint=entrypoint)
        self._wait_healthy("merchant", self.ports["merchant"], health, timeout)

    # --- health ------------------------------------------------------------------------
    def _logs(self, service: str, lines: int = 20) -> str:
        c = self.containers.get(service)
        if c is None:
            return "    (no container)"
        try:
            text = c.logs(tail=lines).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - the container may be gone already
            return "    (no log)"
        rows = text.splitlines()
        return "\n".join("    " + r for r in rows) if rows else "    (empty log)"

    def _status(self, service: str) -> tuple[str, int | None]:
        c = self.containers[service]
        c.reload()
        state = c.attrs.get("State") or {}
        return c.status, state.get("ExitCode")

    def _wait_healthy(self, service: str, port: int, path: str, timeout_s: float) -> None:
        """Poll the published port until 200; a container that exits stops the wait at once."""
        end = time.monotonic() + timeout_s
        last = "no answer yet"
        scheme = "https" if self.tls is not None and service == "taxplatform" else "http"
        url = f"{scheme}://{LOOPBACK}:{port}{path}"
        with httpx.Client(timeout=1.0, verify=verify(url)) as http:
            while time.monotonic() < end:
                status, code = self._status(service)
                if status in ("exited", "dead"):
                    raise HealthTimeout(
                        f"the {service} container ({self.containers[service].name}) exited with code {code} "
                        f"before it became healthy.\n  its last log lines:\n{self._logs(service)}")
                try:
                    r = http.get(url)
                    if r.status_code == 200:
                        return
                    last = f"GET {path} answered {r.status_code}: {r.text[:200]!r}"
                except httpx.HTTPError as e:
                    last = f"{type(e).__name__}: {e}"
                time.sleep(0.2)
        hint = ""
        if service == "merchant":
            hint = (f"\n  It must listen on 0.0.0.0:{self._merchant_port} inside the container (it is given "
                    f"PORT={self._merchant_port} and HOST=0.0.0.0) and answer 200 on {path}.")
        raise HealthTimeout(f"the {service} container did not become healthy within {timeout_s:g}s: {last}.{hint}\n"
                            f"  its last log lines:\n{self._logs(service)}")

    def _merchant_log(self) -> str:
        return f"its last log lines:\n{self._logs('merchant')}"

    def _started(self, service: str) -> bool:
        return service in self.containers

    # --- process faults on containers (called from the fault timeline's threads) -------------
    def _container(self, target: str) -> Any:
        if target not in SERVICES or target not in self.containers:
            raise StackError(f"no service named {target!r}; services: {', '.join(SERVICES)}")
        return self.containers[target]

    def kill(self, target: str) -> None:
        with self._lock:
            c = self._container(target)
            if self._status(target)[0] == "paused":
                c.unpause()
            c.kill()                                   # SIGKILL
            c.wait(timeout=15)

    def terminate(self, target: str) -> None:
        with self._lock:
            c = self._container(target)
            if self._status(target)[0] == "paused":
                c.unpause()
            c.stop(timeout=5)                          # SIGTERM, SIGKILL after 5 s

    def pause(self, target: str) -> None:
        with self._lock:
            self._container(target).pause()            # the engine's cgroup freezer

    def resume(self, target: str) -> None:
        with self._lock:
            if self._status(target)[0] == "paused":
                self._container(target).unpause()

    def partition(self, target: str) -> None:
        """Cut the service off from every link: its network holder out of the run's network for
        the window."""
        with self._lock:
            self._container(target)
            self.network.disconnect(self.holders[target], force=True)
            self.partitioned.add(target)

    def unpartition(self, target: str) -> None:
        from docker.errors import APIError
        with self._lock:
            if target in self.partitioned:
                try:
                    self.network.connect(self.holders[target], aliases=[target])
                except APIError as e:
                    raise StackError(f"reconnect {target}: {e.explanation or e}") from None
                self.partitioned.discard(target)

    def ensure_running(self, target: str) -> None:
        """Start the container again (same command, same volume, same port) if it is not running."""
        from docker.errors import APIError
        try:
            with self._lock:
                c = self._container(target)
                status = self._status(target)[0]
                if status == "paused":
                    c.unpause()
                elif status != "running":
                    c.start()
            port = self.ports[target]
            path = self.merchant_health if target == "merchant" else "/healthz"
            self._wait_healthy(target, port, path, self.cfg.startup_timeout_s if target == "taxplatform"
                               else max(self.cfg.startup_timeout_s, self.cfg.sut_startup_timeout_s))
        except APIError as e:
            raise StackError(_explain(e)) from None

    # --- down ----------------------------------------------------------------------------
    def _save_logs(self) -> None:
        for name, c in self.containers.items():
            try:
                (self.logs / f"{name}.log").write_bytes(c.logs())
            except Exception:  # noqa: BLE001 - a log we cannot read is no reason to keep a container
                pass

    def down(self) -> None:
        """Remove every container, the network and the volumes of this run (idempotent). An
        engine that stopped answering is said, not raised: the next run removes what is left."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException
        self._save_logs()
        try:
            self._remove_own()
        except (DockerException, RequestException) as e:
            self.say(f"warning: could not remove this run's containers ({e}); the next docker run "
                     "removes them as leftovers")
        self.registry.kill_groups()
        self.registry.remove()
        if self.tls is not None:
            forget(self._platform_urls())

    def _tls_env(self) -> dict[str, str]:
        """`tls.sut_env` with the paths as the merchant's container sees them."""
        assert self.tls is not None
        inside = {str(self.tls.dir.resolve()): TLS_IN}
        out = {}
        for k, v in sut_env(self.tls).items():
            for host, cont in inside.items():
                v = v.replace(host, cont)
            out[k] = v
        return out

    def _remove_own(self) -> None:
        mine = self.labels[OWNER_LABEL]
        _remove_labelled(self.client, f"{RUN_LABEL}={self.cfg.run_id}", lambda labels: labels.get(OWNER_LABEL) == mine)


def _explain(e: Any) -> str:
    """The engine's error in a user's words: a clash on a published port is the common one."""
    text = str(getattr(e, "explanation", None) or e)
    if "port is already allocated" in text or "address already in use" in text:
        return f"a published port is in use (another program or container holds it): {text}"
    if "No such image" in text or "not found" in text.lower():
        return f"{text}\n  Build the images with 'invoice-chaos images' (nothing is pulled from a registry)."
    return f"the Docker engine refused: {text}"
