"""The customers' HTTP client: keep-alive HTTP/1.1 on gevent sockets (geventhttpclient).

Why not httpx: under gevent httpx spends most of a request in its own layers (about a
millisecond of CPU per call here), which capped one Locust process at roughly 300-350
journeys/s, below the rates where real systems break. geventhttpclient (what Locust's
FastHttpUser uses) parses with a C parser and keeps a plain socket pool: about a tenth of
the CPU per request (docs/performance.md "Load path").

Only what the journeys need: `request(method, path, body, headers) -> (status, bytes)`.
Bodies go out as JSON bytes encoded by the caller (orjson). A connection that could not
be made at all raises `NotConnected`, so classify.py can still tell "never sent" (a
definite `fail` for an issue) from "sent, no answer" (`info`); every other transport
error is raised as it comes (timeouts, resets, a broken response).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from geventhttpclient import HTTPClient
from geventhttpclient.connectionpool import ConnectionPool

__all__ = ["FastClient", "NotConnected"]


class NotConnected(ConnectionError):
    """No TCP connection could be made (refused, unreachable, connect timeout): the request
    provably never left this machine."""


class _Pool(ConnectionPool):
    """geventhttpclient's pool, with connect failures marked as such and the address
    resolved once (a lookup per new connection goes through gevent's thread pool, which
    made every connection wait for a thread when many opened at once)."""

    _addrinfo: Any = None

    def _resolve(self) -> Any:
        if self._addrinfo is None:
            self._addrinfo = super()._resolve()
        return self._addrinfo

    def _create_socket(self) -> Any:
        try:
            return super()._create_socket()
        except OSError as e:
            raise NotConnected(f"{type(e).__name__}: {e}") from e


class FastClient:
    """One keep-alive pool to one base URL (`http://host:port[/prefix]`)."""

    def __init__(self, base_url: str, timeout_s: float, concurrency: int):
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"FastClient needs an http://host:port URL, got {base_url!r}")
        self.prefix = parts.path.rstrip("/")
        port = parts.port or 80
        self._http = HTTPClient(parts.hostname, port, concurrency=concurrency,
                                connection_timeout=timeout_s, network_timeout=timeout_s,
                                headers={"Accept": "application/json"})
        # Same pool, but connect failures become NotConnected (see classify.py).
        self._http._connection_pool.close()
        self._http._connection_pool = _Pool(parts.hostname, port, parts.hostname, port,
                                            size=concurrency, network_timeout=timeout_s,
                                            connection_timeout=timeout_s)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send one request and read the whole answer: `(status, body bytes)`."""
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"} if headers else \
                {"Content-Type": "application/json"}
        r = self._http.request(method, self.prefix + path, body=body or b"", headers=headers)
        try:
            return r.status_code, r.read()
        finally:
            r.release()

    def close(self) -> None:
        self._http.close()
