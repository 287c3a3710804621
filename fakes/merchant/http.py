"""The merchant's HTTP/1.1 client for the platform: asyncio streams, keep-alive connections
reused from a pool, responses parsed by httptools (uvicorn's parser).

Why not httpx here: under load httpx (with httpcore and anyio) was over half of the
merchant's CPU, a good part of it asking which async library runs on every request
(docs/performance.md, "Capacity"). The merchant needs little: one base URL, JSON bodies,
`Content-Length` answers (the platform never streams), a per-call timeout. Anything that
is not a complete answer raises `TransportError` (the caller reads it as "unknown").

An `https://` base URL is served over TLS, trusting the system's CAs plus the run's CA
(design.md s.13: `TAX_PLATFORM_CA`, or `SSL_CERT_FILE`, which OpenSSL reads itself).
"""
from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any
from urllib.parse import urlencode, urlsplit

import httptools
import orjson

__all__ = ["AsyncHttp", "Response", "TransportError"]


class TransportError(Exception):
    """No complete answer: refused, reset, timed out or malformed."""


class Response:
    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status: int, headers: dict[str, str], content: bytes):
        self.status_code = status
        self.headers = headers            # lower-case names
        self.content = content

    def json(self) -> Any:
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError as e:
            raise ValueError(str(e)) from None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Parsed:
    """httptools callbacks for one response.

    `keep_alive` is read in `on_headers_complete`: once the message is complete httptools
    (llhttp) has reset its state and `should_keep_alive()` says False for every answer, which
    made the pool open a new connection to the platform for every call."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.done = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


def _tls_context() -> ssl.SSLContext:
    """The system's trust (SSL_CERT_FILE honoured) plus the run's CA, if it names one."""
    ctx = ssl.create_default_context()
    ca = os.environ.get("TAX_PLATFORM_CA")
    if ca:
        ctx.load_verify_locations(cafile=ca)
    return ctx


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:       # noqa: BLE001 - already gone
            pass


class AsyncHttp:
    """A keep-alive pool to one `http(s)://host:port` base URL; at most `max_connections`."""

    def __init__(self, base_url: str, max_connections: int = 64):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"AsyncHttp needs an http(s)://host:port URL, got {base_url!r}")
        self.tls = _tls_context() if parts.scheme == "https" else None
        self.host, self.port = parts.hostname, parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        self._host_header = f"{self.host}:{self.port}"
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                      timeout: float = 5.0, content: bytes | None = None,
                      content_type: str | None = None) -> Response:
        """One request, answered in full within `timeout` seconds, or TransportError.
        `json` is sent as application/json; `content` as the bytes given, of `content_type`."""
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        body = orjson.dumps(json) if json is not None else (content or b"")
        head = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}",
                f"Content-Length: {len(body)}"]
        if json is not None:
            head.append("Content-Type: application/json")
        elif content_type:
            head.append(f"Content-Type: {content_type}")
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(timeout):
                async with self._slots:
                    return await self._exchange(data, method)
        except TimeoutError:
            raise TransportError("timeout") from None

    async def _exchange(self, data: bytes, method: str) -> Response:
        while self._idle and self._idle[-1].reader.at_eof():
            self._idle.pop().close()          # the platform closed it while it was idle
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else await self._connect()
        try:
            resp, keep = await self._send(conn, data, method)
        except TransportError:
            conn.close()
            if not reused:
                raise
            # A kept-alive connection the platform had closed meanwhile: nothing was read,
            # so the request may never have arrived; resend only where that is harmless.
            if method not in ("GET", "HEAD"):
                raise
            conn = await self._connect()
            try:
                resp, keep = await self._send(conn, data, method)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()              # cancelled or timed out mid-answer: never reuse it
            raise
        if keep and not self._closed:
            self._idle.append(conn)
        else:
            conn.close()
        return resp

    async def _connect(self) -> _Conn:
        try:
            if self.tls is not None:
                reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls,
                                                               server_hostname=self.host)
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, ssl.SSLError) as e:
            raise TransportError(f"connect: {type(e).__name__}: {e}") from None
        return _Conn(reader, writer)

    async def _send(self, conn: _Conn, data: bytes, method: str) -> tuple[Response, bool]:
        p = _Parsed()
        parser = p.parser = httptools.HttpResponseParser(p)
        try:
            conn.writer.write(data)
            await conn.writer.drain()
            while not p.done:
                chunk = await conn.reader.read(65536)
                if not chunk:
                    raise TransportError("connection closed before a complete answer")
                parser.feed_data(chunk)
        except (OSError, ssl.SSLError, httptools.HttpParserError) as e:
            raise TransportError(f"{type(e).__name__}: {e}") from None
        return (Response(parser.get_status_code(), p.headers, b"".join(p.body)), p.keep_alive)
