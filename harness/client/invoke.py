"""`Invoker`: one adapter instance and the one rule that turns its calls into the history's
outcomes (design.md s.14 over s.6/s.7).

    an Answer                                  -> answer.py's table (ok / fail / info)
    a transport error of self.http let through  -> classify.py, as the built-in client's
      (a refused connection is `fail` only when nothing else of the call was sent)
    Unavailable                                 -> info: the system could not answer now
    any other exception, a non-Answer return    -> info, error "adapter_error: Type: message
                                                   (file:line)": the harness failed to ask
"""
from __future__ import annotations

import traceback
from typing import Any

from ..wire.classify import NOT_SENT_EXCEPTIONS, Outcome, RequestDeadline, classify_exception
from .adapter import Adapter, Unavailable, defines
from .answer import ADAPTER_ERROR, UNAVAILABLE, to_outcome
from .http import AdapterHttp, Backend, CallStates
from .loader import ClientSpec, load_class

__all__ = ["Invoker"]


class Invoker:
    """Builds the adapter of `spec` over two backends and runs its operations."""

    def __init__(self, spec: ClientSpec, merchant: Backend, platform: Backend,
                 sellers: Any, request_timeout_s: float):
        """`sellers`: the run's sellers (a list of {seller_tax_id, name, secret}, or a dict by
        seller_tax_id), handed to the adapter as `self.sellers`."""
        cls = load_class(spec)
        self.spec = spec
        self.states = CallStates()
        self.timeout_s = request_timeout_s
        if not isinstance(sellers, dict):
            sellers = {s["seller_tax_id"]: dict(s) for s in sellers}
        self.adapter: Adapter = cls()
        self.adapter._bind(AdapterHttp(merchant, self.states), AdapterHttp(platform, self.states),
                           sellers, {"request_timeout_s": request_timeout_s})
        self.has_refund = defines(cls, "refund")
        self.has_verify = defines(cls, "verify")

    def close(self) -> None:
        self.adapter.http.close()
        self.adapter.platform.close()

    def run(self, op: str, *args: Any, timeout_s: float | None = None) -> tuple[Outcome, int | None]:
        """Call the adapter's `op(*args)`: (the outcome, the last HTTP status it saw)."""
        adapter = self.adapter
        st = self.states.begin(timeout_s or self.timeout_s)
        try:
            adapter._ensure_started()
            answer = getattr(adapter, op)(*args)
        except Unavailable as e:
            return Outcome("info", None, None, f"{UNAVAILABLE}{e}"[:200]), st.status
        except Exception as e:  # noqa: BLE001 - every exception is read, none escapes
            return self._exception(op, e, st.transport, st.sent), st.status
        finally:
            self.states.end()
        return to_outcome(op, answer), st.status

    def _exception(self, op: str, exc: BaseException, transport: BaseException | None,
                   sent: int) -> Outcome:
        if transport is not None and _caused_by(exc, transport):
            if isinstance(transport, NOT_SENT_EXCEPTIONS) and sent:
                # an earlier request of this call did leave: the outcome is unknown
                return Outcome("info", None, None, f"not_sent after {sent} sent: "
                                                   f"{type(transport).__name__}")
            return classify_exception(op, transport)  # type: ignore[arg-type]
        if isinstance(exc, RequestDeadline):         # the call's deadline, in the adapter's code
            return classify_exception(op, exc)  # type: ignore[arg-type]
        where = _where(exc, self.spec.path)
        text = f"{ADAPTER_ERROR}{type(exc).__name__}: {exc}"[:200]
        return Outcome("info", None, None, text + (f" ({where})" if where else ""))


def _caused_by(exc: BaseException, cause: BaseException) -> bool:
    """Is `exc` the transport error itself, or raised while handling it?"""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 10:
        if e is cause:
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def _where(exc: BaseException, path: str) -> str | None:
    """`file.py:line` of the adapter's last frame in the traceback."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == path:
            return f"{path.rsplit('/', 1)[-1]}:{frame.lineno}"
    return None
