"""A do-nothing HTTP endpoint for the harness ceiling (sweep) and the load-path benchmarks:
a raw ASGI app (no framework) under uvicorn with httptools and uvloop, so the server is not
what limits the figure.

Every POST answers 201 with an issued invoice, every GET 200 with an issued status (the
merchant's and the platform's read shapes at once), `/v1/auth/token` a token. The body of
a request is read and ignored. Loopback only. The harness starts it on a socket it has
already bound to port 0 (`--fd`), so no other process can take the port meanwhile.

    python -m harness.sweep.null_endpoint --port 8099
"""
from __future__ import annotations

import argparse
import socket
from typing import Any

_ISSUED = (b'{"order_id":"x","status":"issued","invoice_no":"26117000000000000001"}')
_TOKEN = b'{"token":"t","expires_in":600}'
_HEAD_JSON = [(b"content-type", b"application/json")]


async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:                                  # drain the request body
        msg = await receive()
        more = msg.get("more_body", False)
    if scope["method"] == "POST":
        body, status = (_TOKEN, 200) if scope["path"] == "/v1/auth/token" else (_ISSUED, 201)
    else:
        body, status = _ISSUED, 200
    await send({"type": "http.response.start", "status": status,
                "headers": [*_HEAD_JSON, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT")
    where.add_argument("--fd", type=int,
                       help="serve on this inherited listening socket (the parent bound it)")
    a = ap.parse_args()
    opts: dict[str, Any] = {"http": "httptools", "loop": "uvloop", "log_level": "warning",
                            "access_log": False, "lifespan": "on"}
    if a.fd is None:
        uvicorn.run(app, host="127.0.0.1", port=a.port, **opts)
        return
    # The socket is adopted as what it is (a TCP socket: socket() reads its family from the
    # descriptor). uvicorn's own `fd` option assumes a Unix socket, and the event loop then
    # leaves Nagle's algorithm on: every answer waits for a delayed ACK (about 40 ms), and
    # the ceiling measured against this endpoint drops five-fold.
    sock = socket.socket(fileno=a.fd)
    uvicorn.Server(uvicorn.Config(app, **opts)).run(sockets=[sock])


if __name__ == "__main__":
    main()
