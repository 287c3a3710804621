"""Small HTTP functions shared by the app and every front-end: JSON answers, bounded bodies,
headers straight from an ASGI scope."""
from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from .errors import ApiError

__all__ = ["MAX_BODY", "json_response", "out", "parse_json", "read_json", "header",
           "read_body"]

MAX_BODY = 4 * 1024 * 1024
_JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON, headers=headers)


def out(o: Any) -> Response:
    """An `Outcome` as a response."""
    return json_response(o.status, o.body, o.headers or None)


def parse_json(raw: bytes) -> Any:
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"body: at most {MAX_BODY} bytes")
    if not raw:
        raise ApiError(400, "bad_json", "body: a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"body: not valid JSON ({exc})") from None


async def read_json(request: Request) -> Any:
    return parse_json(await request.body())


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


async def read_body(receive: Any) -> bytes | None:
    """The whole request body from ASGI `receive`; None when the client went away."""
    chunks = []
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return b"".join(chunks)
