"""The merchant's HTTP face (design.md s.6) as a Starlette app: every answer is JSON, bad input
is a 4xx `{error, message}`, and nothing a customer sends can produce a 500."""
from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse as _StdJSONResponse
from starlette.routing import Route

from .amounts import OrderError, parse_order
from .config import MerchantConfig
from .contract import OPENAPI
from .service import Merchant

__all__ = ["create_app"]


class JSONResponse(_StdJSONResponse):
    """orjson: the same compact UTF-8 bytes as Starlette's json.dumps for these bodies
    (strings, integers, None), at a fraction of the CPU."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def _loads(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # what orjson refuses and json accepts (NaN, integers past 64 bits) keeps the answer
        # it always had; invalid JSON raises here as before
        return json.loads(raw)

log = logging.getLogger("fakes.merchant")


def _error_body(error: str, message: str, **extra: object) -> dict:
    return {**extra, "error": error, "message": message}


def _error(http_status: int, error: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse(_error_body(error, message, **extra), status_code=http_status)


class _MerchantApp(Starlette):
    """POST /v1/invoices (nearly every request under load) answered straight from the ASGI
    scope: Starlette's middleware and routing cost as much CPU per order as the merchant's
    own work. Same handler, same bodies; an unexpected error is logged and answered 500
    `internal` as the `crash` handler does. Every other route stays Starlette's."""

    issue_answer: Callable[[bytes], Awaitable[tuple[int, dict]]]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/invoices":
            chunks = []
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return                              # the customer went away
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    break
            try:
                status, body = await self.issue_answer(b"".join(chunks))
            except Exception as exc:
                log.exception("unhandled error on POST /v1/invoices")
                status, body = 500, _error_body("internal", f"{type(exc).__name__}: {exc}")
            data = orjson.dumps(body)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-length", str(len(data)).encode()),
                                    (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": data})
            return
        await super().__call__(scope, receive, send)


def create_app(cfg: MerchantConfig, secrets: dict[str, str],
               sellers: list[dict[str, Any]] | None = None) -> Starlette:
    merchant: Merchant | None = None

    def m() -> Merchant:
        assert merchant is not None, "lifespan not started"
        return merchant

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal merchant
        merchant = Merchant(cfg, secrets, sellers)
        app.state.merchant = merchant
        await merchant.start()
        try:
            yield
        finally:
            await merchant.stop()

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "mode": cfg.mode, "dedup": cfg.dedup,
                             "profile": cfg.profile})

    known = set(secrets)

    async def issue_answer(raw: bytes) -> tuple[int, dict]:
        try:
            body = _loads(raw)
        except (ValueError, UnicodeDecodeError):
            return 400, _error_body("invalid_json", "the body must be a JSON object")
        try:
            order = parse_order(body, known)
        except OrderError as e:
            extra = ({"order_id": body.get("order_id"), "status": "failed"}
                     if e.status == 422 and isinstance(body, dict) else {})
            return e.status, _error_body(e.error, e.message, **extra)
        ans = await m().submit(order)
        return ans.status, ans.body

    async def issue(request: Request) -> JSONResponse:
        status, body = await issue_answer(await request.body())
        return JSONResponse(body, status_code=status)

    async def get_invoice(request: Request) -> JSONResponse:
        order_id = request.path_params["order_id"]
        await m().store.settled(order_id)      # group commit: a row of this turn first
        if m().platform.decides_later:
            await m()._await_inflight(order_id)
        ans = m().query(order_id)
        if ans is None:
            return _error(404, "order_not_found", f"no order {order_id!r} was ever received")
        return JSONResponse(ans.body, status_code=ans.status)

    async def refund(request: Request) -> JSONResponse:
        ans = await m().refund(request.path_params["order_id"])
        return JSONResponse(ans.body, status_code=ans.status)

    async def callback(request: Request) -> JSONResponse:
        """Where a platform that pushes results (nuonuo's callBackUrl) sends them."""
        status, body = await m().platform.on_callback(await request.body(),
                                                      request.headers.get("content-type", ""))
        return JSONResponse(body, status_code=status)

    async def openapi(request: Request) -> _StdJSONResponse:
        return _StdJSONResponse(OPENAPI)

    async def admin_orders(request: Request) -> JSONResponse:
        """Debug view for tests and people: counts by status."""
        counts: dict = m().store.counts()
        pipeline = m().platform.counts()
        if pipeline is not None:
            counts[cfg.profile] = pipeline
        return JSONResponse(counts)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return _error(exc.status_code, code, str(exc.detail))

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal", f"{type(exc).__name__}: {exc}")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/invoices", issue, methods=["POST"]),
        Route("/v1/invoices/{order_id}", get_invoice, methods=["GET"]),
        Route("/v1/invoices/{order_id}/refund", refund, methods=["POST"]),
        Route("/_admin/orders", admin_orders, methods=["GET"]),
        Route("/callback", callback, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = _MerchantApp(routes=routes, lifespan=lifespan,
                       exception_handlers={HTTPException: http_error, Exception: crash})
    app.issue_answer = issue_answer
    return app
