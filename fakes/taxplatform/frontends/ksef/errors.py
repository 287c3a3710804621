"""KSeF's two error formats (ksef.md s.1 "Error bodies").

400 and 429 come in the legacy shape (`{"exception": {...}}`, `{"status": {...}}`) unless
the request asks for `X-Error-Format: problem-details`, then as `application/problem+json`;
401, 403 and 410 are always problem+json. The 5xx of an outage is not documented by KSeF:
the fake answers problem+json there too.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["KsefError", "bad_request", "render", "wants_problem"]

_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 410: "Gone",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class KsefError(Exception):
    """A refusal: HTTP `status`, KSeF `code` (400s), description and details."""

    def __init__(self, status: int, description: str, code: int | None = None,
                 details: list[str] | None = None, retry_after: int | None = None,
                 reason_code: str = "") -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.details = details or []
        self.retry_after = retry_after
        self.reason_code = reason_code


def bad_request(code: int, description: str, *details: str) -> KsefError:
    return KsefError(400, description, code, list(details))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def wants_problem(headers: Any) -> bool:
    return (headers.get("x-error-format") or "").strip().lower() == "problem-details"


def render(exc: KsefError, path: str, problem: bool) -> Response:
    """The response of `exc` for a request to `path` (problem: X-Error-Format asked)."""
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    s = exc.status
    title = _TITLES.get(s, "Error")
    trace = uuid.uuid4().hex
    if s == 400 and not problem:
        body: dict[str, Any] = {"exception": {
            "exceptionDetailList": [{"exceptionCode": exc.code or 21405,
                                     "exceptionDescription": exc.description,
                                     "details": exc.details or None}],
            "referenceNumber": None, "serviceCode": trace, "serviceCtx": "srvFAKE",
            "serviceName": "invoice-chaos fake KSeF", "timestamp": _now()}}
        media = "application/json"
    elif s == 429 and not problem:
        body = {"status": {"code": 429, "description": title,
                           "details": [exc.description, *exc.details]}}
        media = "application/json"
    else:
        body = {"title": title, "status": s, "instance": path, "detail": exc.description,
                "timestamp": _now(), "traceId": trace}
        if s == 400:
            body["errors"] = [{"code": exc.code or 21405, "description": exc.description,
                               "details": exc.details or None}]
        if s == 403:
            body["reasonCode"] = exc.reason_code or "forbidden"
        media = "application/problem+json"
    return Response(orjson.dumps(body), status_code=s, media_type=media, headers=headers)
