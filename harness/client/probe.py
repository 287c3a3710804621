"""The start-up check of a system driven through a client adapter: once it is healthy, the
adapter's `query` of an order the system never saw must answer `not_found` (the adapter
form of design.md s.6's 404 probe), so an adapter and a system that do not understand each
other stop the run at once (exit 3), not after a run of meaningless anomalies."""
from __future__ import annotations

from typing import Any

from ..errors import StackError
from .http import HttpxBackend
from .invoke import Invoker
from .loader import ClientSpec

__all__ = ["probe_through_adapter"]


def probe_through_adapter(spec: ClientSpec, merchant_url: str, platform_url: str,
                          sellers: Any, order_id: str, timeout_s: float = 5.0) -> None:
    inv = Invoker(spec, HttpxBackend(merchant_url, timeout_s, 2), HttpxBackend(platform_url, timeout_s, 2),
                  sellers, timeout_s)
    try:
        out, status = inv.run("query", order_id)
    finally:
        inv.close()
    if out.type == "ok" and out.result == "not_found":
        return
    said = (f"{out.type} {out.result}" if out.result else out.type) + (
        f" ({out.error})" if out.error else "") + (f", last http status {status}" if status else "")
    raise StackError(f"the system is healthy, but the client adapter {spec.label} asked about "
                     f"an order it never saw ({order_id}) and got: {said}; expected not_found "
                     "(docs/sut-contract.md \"Your system has its own API\")")
