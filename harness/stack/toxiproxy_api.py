"""A small, checked wrapper around toxiproxy-python for one Toxiproxy server per run.

toxiproxy-python 0.1.1 keeps the API address in class attributes of `APIConsumer`, so two
clients in one process would re-point each other: every library call here runs with the
address bound under one lock. The library has no request timeouts and passes some server
errors (500) through silently, so after every change we read the state back (plain REST
calls with a timeout) and raise if the server did not do what we asked.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.server import Toxiproxy

from ..errors import MissingBinaryError, StackError
from .ports import LOOPBACK, PortTaken, says_port_taken

__all__ = ["ToxiproxyClient", "find_toxiproxy_server", "INSTALL_HELP"]

INSTALL_HELP = """toxiproxy-server was not found.
Install it with one of:
  - make setup            (builds Toxiproxy v2.12.0 with Go into .tools/bin/toxiproxy-server)
  - go install -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=2.12.0" \\
        github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0   (then rename 'server' to toxiproxy-server on PATH)
  - the release binary toxiproxy-server-linux-amd64 from
        https://github.com/Shopify/toxiproxy/releases/tag/v2.12.0, saved as toxiproxy-server on PATH
  - the Docker image ghcr.io/shopify/toxiproxy:2.12.0: copy its binary out with
        docker create --name tp ghcr.io/shopify/toxiproxy:2.12.0 && docker cp tp:/toxiproxy ./toxiproxy-server
or set INVOICE_CHAOS_TOXIPROXY=/path/to/toxiproxy-server."""


def find_toxiproxy_server() -> str:
    """The toxiproxy-server to use: $INVOICE_CHAOS_TOXIPROXY, PATH, then ./.tools/bin."""
    import os
    explicit = os.environ.get("INVOICE_CHAOS_TOXIPROXY")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise MissingBinaryError(f"INVOICE_CHAOS_TOXIPROXY={explicit} is not an executable file.\n" + INSTALL_HELP)
    found = shutil.which("toxiproxy-server")
    if found:
        return found
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / ".tools" / "bin" / "toxiproxy-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise MissingBinaryError(INSTALL_HELP)


def toxiproxy_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MissingBinaryError(f"{binary} cannot be run: {e}\n{INSTALL_HELP}") from None


_BIND = threading.Lock()


class ToxiproxyClient:
    """Proxies and toxics on one server; link names are proxy names (`merchant->taxplatform`)."""

    def __init__(self, port: int):
        self.port = port
        self._base = f"http://{LOOPBACK}:{port}"

    @contextmanager
    def _library(self) -> Iterator[Toxiproxy]:
        """toxiproxy-python pointed at this server for the duration of one call."""
        with _BIND:
            APIConsumer.host, APIConsumer.port = LOOPBACK, self.port
            try:
                yield Toxiproxy()
            except (InvalidToxic, NotFound, ProxyExists, requests.RequestException) as e:
                raise StackError(f"Toxiproxy on port {self.port}: {type(e).__name__}: {e}") from None

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = requests.request(method, self._base + path, timeout=5, **kw)
        except requests.RequestException as e:
            raise StackError(f"Toxiproxy API {method} {path} failed: {e}") from None
        if r.status_code >= 300:
            raise StackError(f"Toxiproxy API {method} {path} answered {r.status_code}: {r.text.strip()}")
        return r.json() if r.content else None

    def version(self) -> str:
        r = requests.get(self._base + "/version", timeout=2)
        return r.text.strip()

    def create_proxy(self, name: str, listen_port: int, upstream_port: int,
                     listen_host: str = LOOPBACK) -> int:
        """A proxy from `listen_host:listen_port` to a loopback port (one of that name is
        replaced). `listen_port` 0 lets Toxiproxy bind a free port; returns the port it
        listens on. PortTaken when another process holds `listen_port`."""
        if name in self.proxies():
            self._json("DELETE", f"/proxies/{name}")
        return self.create_proxy_at(name, f"{listen_host}:{listen_port}", f"{LOOPBACK}:{upstream_port}")

    def create_proxy_at(self, name: str, listen: str, upstream: str) -> int:
        """A proxy with any listen and upstream address (the docker backend: `0.0.0.0:18080`
        inside the Toxiproxy container, `merchant:8000` by network alias); the port it got."""
        try:
            made = self._json("POST", "/proxies", json={"name": name, "listen": listen,
                                                        "upstream": upstream, "enabled": True})
        except StackError as e:
            if says_port_taken(str(e)):
                raise PortTaken(f"Toxiproxy proxy {name!r} cannot listen on {listen}: another "
                                f"process holds that port ({e})") from None
            raise
        got = self.proxies().get(name)
        if not got or not got.get("enabled"):
            raise StackError(f"Toxiproxy did not create proxy {name!r} ({got})")
        return int(str((made or got).get("listen", listen)).rsplit(":", 1)[1])

    def proxies(self) -> dict[str, dict]:
        return self._json("GET", "/proxies") or {}

    def toxics(self, link: str) -> list[dict]:
        return self._json("GET", f"/proxies/{link}/toxics") or []

    def add_toxic(self, link: str, *, name: str, type: str, stream: str, toxicity: float,
                  attributes: dict[str, Any]) -> None:
        with self._library() as server:
            proxy = server.get_proxy(link)
            if proxy is None:
                raise StackError(f"no Toxiproxy proxy named {link!r}")
            proxy.add_toxic(name=name, type=type, stream=stream, toxicity=toxicity, attributes=attributes)
        if not any(t.get("name") == name for t in self.toxics(link)):
            raise StackError(f"Toxiproxy did not add toxic {name!r} ({type}) on {link}")

    def remove_toxic(self, link: str, name: str) -> None:
        """Idempotent: a toxic that is already gone is fine."""
        if any(t.get("name") == name for t in self.toxics(link)):
            self._json("DELETE", f"/proxies/{link}/toxics/{name}")

    def set_enabled(self, link: str, enabled: bool) -> None:
        self._json("POST", f"/proxies/{link}", json={"enabled": enabled})
        if self.proxies().get(link, {}).get("enabled") is not enabled:
            raise StackError(f"Toxiproxy did not {'enable' if enabled else 'disable'} {link}")

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed (Toxiproxy's POST /reset)."""
        self._json("POST", "/reset")
