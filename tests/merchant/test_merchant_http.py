"""The merchant's HTTP client to the platform (fakes/merchant/http.py): kept-alive connections
are reused, `Connection: close` answers are not. In-process asyncio server on 127.0.0.1."""
from __future__ import annotations

import asyncio

import pytest

from fakes.merchant.http import AsyncHttp


async def _server(close: bool) -> tuple[asyncio.base_events.Server, list[int]]:
    accepted = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                if n:
                    await reader.readexactly(n)
                extra = b"Connection: close\r\n" if close else b""
                body = b'{"ok": true}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, accepted


@pytest.mark.parametrize("close", [False, True])
def test_keep_alive_connections_are_reused(close: bool) -> None:
    async def main() -> tuple[int, int]:
        server, accepted = await _server(close)
        port = server.sockets[0].getsockname()[1]
        http = AsyncHttp(f"http://127.0.0.1:{port}", max_connections=4)
        answers = 0

        async def client() -> None:
            nonlocal answers
            for i in range(25):
                r = await http.request("POST" if i % 2 else "GET", "/x", json={"i": i},
                                       timeout=5)
                assert r.status_code == 200 and r.json() == {"ok": True}
                answers += 1

        try:
            await asyncio.wait_for(asyncio.gather(*(client() for _ in range(4))), 30)
        finally:
            await http.aclose()
            server.close()
            await server.wait_closed()
        return answers, accepted[0]

    answers, accepted = asyncio.run(main())
    assert answers == 100
    if close:
        assert accepted == 100          # every answer said close: a new connection each
    else:
        assert accepted <= 4            # at most one per slot, then reused
