"""`self.http`: the HTTP client an adapter makes its calls with.

The load path's own client underneath (harness/wire/http.py: keep-alive, a C parser, about
35 µs of CPU a request) in a load process; an httpx client in the orchestrator, where the
drain and the final read ask on threads. Both bound every request by the time left of the
adapter call it belongs to (one request timeout, `load.timeout`), so an adapter that calls
twice cannot outlast the budget the drain keeps.

Each adapter call gets a `CallState`, kept in a `CallStates` map by the greenlet that runs
the call (a load process's journey, or a drain lane's thread: each thread is its own
greenlet): the last HTTP status (the history's
`status`), whether a request was sent, and the transport exception `self.http` raised, so
the harness can tell the system's failure to answer (a timeout, a reset: `info`) from an
exception of the adapter's own (an adapter error). Not a `threading.local`: under gevent
that is greenlet-local, and its first use in each new greenlet (every journey is one) cost
about 5 µs here, against about 1 µs for the map (docs/performance.md "Client adapters").
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
from greenlet import getcurrent

from ..wire.classify import RequestDeadline
from ..wire.http import NotConnected

__all__ = ["Response", "AdapterHttp", "CallState", "CallStates", "FastBackend", "HttpxBackend",
           "transport_error"]

_monotonic = time.monotonic


class Response:
    """One answer: `status`, `content` (bytes), `json()`, `text`."""

    __slots__ = ("status", "content")

    def __init__(self, status: int, content: bytes):
        self.status = status
        self.content = content

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON."""
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.content[:80]!r}>"


@dataclass(slots=True)
class CallState:
    """What `self.http` recorded during the adapter call running in this greenlet/thread."""

    deadline: float = 0.0                  # monotonic; 0 = none
    status: int | None = None              # the last answer's HTTP status
    sent: int = 0                          # requests that left this machine (or may have)
    transport: BaseException | None = None  # the last transport error self.http raised

    def reset(self, timeout_s: float | None) -> None:
        self.deadline = _monotonic() + timeout_s if timeout_s else 0.0
        self.status = None
        self.sent = 0
        self.transport = None

    def time_left(self) -> float | None:
        return None if not self.deadline else self.deadline - _monotonic()


class CallStates:
    """The `CallState` of each call in progress, by the greenlet running it."""

    def __init__(self) -> None:
        self._by: dict[Any, CallState] = {}

    def begin(self, timeout_s: float | None) -> CallState:
        st = CallState()
        st.reset(timeout_s)
        self._by[getcurrent()] = st
        return st

    def end(self) -> None:
        self._by.pop(getcurrent(), None)

    def current(self) -> CallState:
        """This greenlet's call; outside a call (an adapter tried by hand), a fresh one."""
        st = self._by.get(getcurrent())
        return st if st is not None else CallState()


class Backend(Protocol):
    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None,
                content_type: str, timeout_s: float | None) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


class FastBackend:
    """The load path's FastClient (gevent; its own connect and read timeouts; the whole call
    is bounded by the journey's gevent.Timeout)."""

    def __init__(self, client: Any):
        self.client = client

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None,
                content_type: str, timeout_s: float | None) -> tuple[int, bytes]:
        return self.client.request(method, path, body, headers, content_type)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.client.close()


def transport_error(exc: BaseException) -> BaseException:
    """httpx's exceptions as the load path's client raises them (harness/wire/http.py), so
    classify.py's one table reads both alike."""
    import httpx
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return NotConnected(str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        return ConnectionResetError(f"{type(exc).__name__}: {exc}")
    return exc


class HttpxBackend:
    """httpx for the orchestrator's threads (drain, final read, the start-up probe)."""

    def __init__(self, base_url: str, timeout_s: float, connections: int = 20):
        import httpx
        self.base = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.client = httpx.Client(timeout=timeout_s, limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections,
            keepalive_expiry=2.0))        # below a server's usual idle close (5 s)

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None,
                content_type: str, timeout_s: float | None) -> tuple[int, bytes]:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            hdrs.setdefault("Content-Type", content_type)
        try:
            r = self.client.request(method, self.base + path, content=body, headers=hdrs,
                                    timeout=min(self.timeout_s, timeout_s) if timeout_s else None)
        except Exception as e:  # noqa: BLE001 - re-raised as the load path's kinds
            raise transport_error(e) from e
        return r.status_code, r.content

    def close(self) -> None:
        self.client.close()


class AdapterHttp:
    """The client an adapter is handed as `self.http` (the system) and `self.platform` (the
    tax platform's read path, for `verify`). Paths are relative to the system's base URL."""

    def __init__(self, backend: Backend, states: CallStates):
        self._backend = backend
        self._states = states

    @property
    def state(self) -> CallState:
        return self._states.current()

    def request(self, method: str, path: str, *, json: Any = None, body: bytes | None = None,
                form: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request and read the whole answer. `json`: a value to send as JSON;
        `form`: fields to send form-encoded; `body`: bytes as they are. A transport failure
        (timeout, reset, refused) is raised as it comes: let it through, the harness reads it."""
        st = self.state
        content_type = "application/json"
        if json is not None:
            body = orjson.dumps(json)
        elif form is not None:
            body = urlencode(form).encode()
            content_type = "application/x-www-form-urlencoded"
        if params:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params)}"
        left = None
        if st.deadline:
            left = st.deadline - _monotonic()
            if left <= 0:
                st.transport = RequestDeadline("the adapter call's time was up before this request")
                raise st.transport
        try:
            status, content = self._backend.request(method, path, body, headers, content_type, left)
        except NotConnected as e:
            st.transport = e
            raise
        except Exception as e:
            st.sent += 1
            st.transport = e
            raise
        st.sent += 1
        st.status = status
        return Response(status, content)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)

    def close(self) -> None:
        self._backend.close()
