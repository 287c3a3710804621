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

The request head is built here, once per request, as one string (the fixed headers
precomputed per client), instead of geventhttpclient's `HTTPClient.request`, which merges
three header objects and validates them on every call; the socket, the response parser
(its C parser) and the retry rules are geventhttpclient's own, as HTTPClient.request applies
them to a non-chunked body. A pooled keep-alive socket is checked with one non-blocking
MSG_PEEK instead of a `select()` (both ask: has the idle socket turned readable, i.e. closed
or dirty?). Together about 35 µs of CPU per journey (docs/performance.md "Load path").
"""
from __future__ import annotations

import errno
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import gevent.socket
from geventhttpclient import __version__ as _GHC_VERSION
from geventhttpclient import HTTPParseError
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketPoolResponse

__all__ = ["FastClient", "NotConnected"]

# The checks geventhttpclient's _build_request makes on what varies per request.
_TARGET_RE = re.compile(r"\A[^\x00-\x20\x7f]*\Z")
_TOKEN_RE = re.compile(r"\A[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_FIELD_VALUE_RE = re.compile(r"\A[\t\x20-\x7e\x80-\xff]*\Z")
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_BLOCK_SIZE = 4096
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


class NotConnected(ConnectionError):
    """No TCP connection could be made (refused, unreachable, connect timeout): the request
    provably never left this machine."""


class _Resolved:
    """Connect failures marked as such, and the address resolved once (a lookup per new
    connection goes through gevent's thread pool, which made every connection wait for a
    thread when many opened at once)."""

    _addrinfo: Any = None

    def _resolve(self) -> Any:
        if self._addrinfo is None:
            self._addrinfo = super()._resolve()  # type: ignore[misc]
        return self._addrinfo

    def _create_socket(self) -> Any:
        try:
            return super()._create_socket()  # type: ignore[misc]
        except OSError as e:
            raise NotConnected(f"{type(e).__name__}: {e}") from e


class _TlsPool(_Resolved, SSLConnectionPool):
    """The same over TLS (an https platform, design.md s.13), trusting the given CA."""


class _Pool(_Resolved, ConnectionPool):
    """geventhttpclient's pool (see `_Resolved`), with an idle socket checked with one
    non-blocking peek."""

    def _is_socket_alive(self, sock: Any) -> bool:
        """An idle keep-alive socket must not be readable: b"" is the peer's FIN, bytes
        are a stray answer; only "would block" means alive (as the select() it replaces)."""
        if sock is None:
            return False
        try:
            if sock.fileno() < 0:
                return False
            sock._sock.recv(1, _PEEK)
            return False
        except BlockingIOError:
            return True
        except (OSError, ValueError, AttributeError):
            return False


class _Response(HTTPSocketPoolResponse):
    """geventhttpclient's pooled response, parsed by the same C parser, without keeping the
    headers: the journeys read only the status and the body, and the framing and keep-alive
    decisions (Content-Length, chunked, Connection) are the parser's own, not the header
    table's. Saves a Python call and a dict insert per header line of every answer."""

    def _on_header_field(self, string: str) -> None:
        pass

    def _on_header_value(self, string: str) -> None:
        pass

    def _flush_header(self) -> None:
        pass


class FastClient:
    """One keep-alive pool to one base URL (`http://host:port[/prefix]`)."""

    def __init__(self, base_url: str, timeout_s: float, concurrency: int, ca_pem: str = ""):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FastClient needs an http(s)://host:port URL, got {base_url!r}")
        self.prefix = parts.path.rstrip("/")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._pool: ConnectionPool
        if parts.scheme == "https":
            import gevent.ssl

            def context(*_a: Any, **_kw: Any) -> Any:
                return gevent.ssl.create_default_context(cadata=ca_pem or None)
            self._pool = _TlsPool(host, port, host, port, size=concurrency,
                                  network_timeout=timeout_s, connection_timeout=timeout_s,
                                  ssl_context_factory=context)
        else:
            self._pool = _Pool(host, port, host, port, size=concurrency,
                               network_timeout=timeout_s, connection_timeout=timeout_s)
        host_port = f"[{host}]" if ":" in host else host
        if port not in (80, 443):
            host_port += f":{port}"
        # the headers geventhttpclient's HTTPClient sent for us: its User-Agent, our Accept
        self._fixed = (f"User-Agent: python/gevent-http-client-{_GHC_VERSION}\r\n"
                       f"Accept: application/json\r\nHost: {host_port}\r\n")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request and read the whole answer: `(status, body bytes)`."""
        target = self.prefix + path
        if not _TARGET_RE.fullmatch(target) or target.startswith("//"):
            raise ValueError(f"invalid request URI {target!r}")
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if headers:
            for k, v in headers.items():
                if not _TOKEN_RE.fullmatch(k) or not _FIELD_VALUE_RE.fullmatch(v):
                    raise ValueError(f"invalid header field {k!r}: {v!r}")
                head += f"{k}: {v}\r\n"
        if body:
            data = (f"{head}Content-Type: {content_type}\r\nContent-Length: {len(body)}"
                    "\r\n\r\n").encode("latin-1") + body
        elif method in _BODY_METHODS:
            data = f"{head}Content-Length: 0\r\n\r\n".encode("latin-1")
        else:
            data = f"{head}\r\n".encode("latin-1")
        r = self._send(method, data)
        try:
            return r.status_code, r.read()
        finally:
            r.release()

    def _send(self, method: str, data: bytes) -> _Response:
        """HTTPClient.request's send-and-read for a body of known length, with its rules:
        a broken send still reads an answer the server may have sent before closing, and
        only idempotent methods are retried once the request may have reached the server
        (RFC 9110 s.9.2.2)."""
        pool = self._pool
        attempts_left = pool.size + 1
        while True:
            sock = pool.get_socket()
            try:
                sock.sendall(data)
            except gevent.socket.error as e:
                if e.errno not in (errno.ECONNRESET, errno.EPIPE):
                    pool.release_socket(sock)
                    raise
                try:
                    return _Response(sock, pool, block_size=_BLOCK_SIZE, method=method,
                                     headers_type=dict)
                except (gevent.socket.error, HTTPParseError):
                    if attempts_left > 0 and method in _IDEMPOTENT:
                        attempts_left -= 1
                        continue
                    raise
            try:
                return _Response(sock, pool, block_size=_BLOCK_SIZE, method=method,
                                 headers_type=dict)
            except HTTPConnectionClosed:
                if attempts_left > 0 and method in _IDEMPOTENT:
                    attempts_left -= 1
                    continue
                raise

    def close(self) -> None:
        self._pool.close()
