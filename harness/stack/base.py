"""What every stack backend is: the `Stack` protocol the run, the faults and the drain use,
and `StackBase`, the part both backends share (addresses, the contract probe, heal).

    Stack (protocol) ◁── StackBase ◁── LocalStack   (processes on loopback; harness/stack/local.py)
                                   ◁── DockerStack  (containers on a run network; harness/stack/docker/)

A backend knows where a named endpoint listens (`url`), how to start, signal and stop its
services, and what it can do beyond that (`capabilities`, e.g. `partition`); everything
that follows from those, the probe of the merchant's contract and the heal after the last
fault, is written here once.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol

import httpx

from ..errors import StackError
from ..links import LINKS, upstream_of
from .config import SERVICES, StackConfig
from .leftovers import Registry
from .tls import RunTls
from .toxiproxy_api import ToxiproxyClient

__all__ = ["Stack", "StackBase", "PARTITION"]

#: The stack can cut a service off from every link (`partition`/`unpartition`); a stack without
#: it leaves the fault to Toxiproxy (harness/faults/partition.py).
PARTITION = "partition"


class Stack(Protocol):
    """The interface of a running system under test, whichever backend runs it."""

    backend: ClassVar[str]                  # "local" or "docker" (run.json, messages)
    capabilities: ClassVar[frozenset[str]]  # what it does beyond the common interface
    cfg: StackConfig
    registry: Registry                      # the run's process groups (teardown, CPU meter)
    toxiproxy: ToxiproxyClient | None       # set by up()
    ports: dict[str, int]                   # endpoint -> port on the host
    stack_info: dict[str, Any]              # what run.json records of the stack
    tls: RunTls | None                      # the run's CA when the platform serves HTTPS

    def url(self, name: str) -> str: ...
    @property
    def merchant_url(self) -> str: ...
    @property
    def platform_url(self) -> str: ...
    @property
    def merchant_direct(self) -> str: ...
    @property
    def platform_direct(self) -> str: ...

    def up(self) -> None: ...
    def down(self) -> None: ...
    def heal(self) -> list[str]: ...
    def probe_merchant(self) -> None: ...

    def kill(self, target: str) -> None: ...
    def terminate(self, target: str) -> None: ...
    def pause(self, target: str) -> None: ...
    def resume(self, target: str) -> None: ...
    def ensure_running(self, target: str) -> None: ...
    def partition(self, target: str) -> None: ...
    def unpartition(self, target: str) -> None: ...
    def supports(self, capability: str) -> bool: ...


class StackBase:
    """The shared half of both backends. A subclass defines `url`, the lifecycle, the process
    faults, `_started` and `_merchant_log`; `partition` only where `capabilities` says so."""

    backend: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    cfg: StackConfig
    toxiproxy: ToxiproxyClient | None
    partitioned: set[str]
    tls: RunTls | None = None

    ports: dict[str, int]

    def url(self, name: str) -> str:          # pragma: no cover - each backend defines it
        raise NotImplementedError

    def _scheme(self, name: str) -> str:
        """https for the platform and every link that leads to it when the run has TLS."""
        to_platform = name == "taxplatform" or ("->" in name and upstream_of(name) == "taxplatform")
        return "https" if self.tls is not None and to_platform else "http"

    def _platform_urls(self) -> list[str]:
        return [self.url(n) for n in ("taxplatform", *LINKS) if n in self.ports]

    # --- addresses: the customer-facing URLs go through Toxiproxy, the direct ones do not ---
    @property
    def merchant_url(self) -> str:            # through client->merchant
        return self.url("client->merchant")

    @property
    def platform_url(self) -> str:            # through client->taxplatform
        return self.url("client->taxplatform")

    @property
    def merchant_direct(self) -> str:         # the drain and the harness's own checks
        return self.url("merchant")

    @property
    def platform_direct(self) -> str:         # the ledger and the admin faults
        return self.url("taxplatform")

    # --- capabilities ------------------------------------------------------------------
    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def partition(self, target: str) -> None:
        raise StackError(f"the {self.backend} backend cannot partition {target!r}")

    def unpartition(self, target: str) -> None:
        raise StackError(f"the {self.backend} backend cannot partition {target!r}")

    # --- what each backend tells the shared code ----------------------------------------
    def _started(self, service: str) -> bool:   # pragma: no cover - each backend defines it
        """True once up() started `service` (heal restarts only what the run had)."""
        raise NotImplementedError

    def _merchant_log(self) -> str:             # pragma: no cover - each backend defines it
        """The merchant's last log lines, introduced, for an error message."""
        raise NotImplementedError

    def ensure_running(self, target: str) -> None:   # pragma: no cover - each backend defines it
        raise NotImplementedError

    # --- written once --------------------------------------------------------------------
    def probe_merchant(self) -> None:
        """A healthy port is not yet a merchant: ask for an order it cannot know (design.md s.6
        says 404) so a system that answers garbage fails now, with exit 3, not as a run of
        meaningless anomalies. Through a client adapter: its `query` (harness/client/probe.py)."""
        if self.cfg.sut_probe is not None:
            try:
                return self.cfg.sut_probe(self)
            except StackError as e:
                raise StackError(f"{e}.\n  {self._merchant_log()}") from None
        url = f"{self.merchant_direct}/v1/invoices/invoice-chaos-probe-{self.cfg.run_id}"
        try:
            r = httpx.get(url, timeout=5.0)
        except httpx.HTTPError as e:
            raise StackError(f"the merchant is healthy but GET /v1/invoices/{{order_id}} failed: "
                             f"{type(e).__name__}: {e}.\n  {self._merchant_log()}") from None
        if r.status_code != 404:
            raise StackError(
                f"the merchant does not follow the contract (docs/sut-contract.md): GET /v1/invoices/"
                f"<an order it never saw> answered {r.status_code} {r.text[:200]!r}, expected 404.\n"
                f"  {self._merchant_log()}")

    def heal(self) -> list[str]:
        """Undo everything: partitions mended, Toxiproxy reset, paused services continued,
        dead ones restarted. What could not be undone is returned, not raised."""
        problems = []
        for name in sorted(self.partitioned):
            try:
                self.unpartition(name)
            except StackError as e:
                problems.append(str(e))
        if self.toxiproxy is not None:
            try:
                self.toxiproxy.reset()
            except StackError as e:
                problems.append(str(e))
        for name in SERVICES:
            if self._started(name):
                try:
                    self.ensure_running(name)
                except StackError as e:
                    problems.append(str(e))
        return problems
