"""The ASGI app of the fake tax platform (design.md s.5).

Handlers take the raw request and parse JSON with orjson: validation is `validation.py`'s
job (so refusals have the platform's own shape) and the hot path avoids pydantic. The
OpenAPI document still describes every body (`schemas.py`).
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import schemas as S
from .errors import ApiError
from .service import Outcome, Platform
from .validation import validate_login

__all__ = ["create_app", "MAX_BODY"]

MAX_BODY = 4 * 1024 * 1024
_JSON = "application/json"
_AUTH = [{"bearer": []}]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON, headers=headers)


def _out(o: Outcome) -> Response:
    return _json(o.status, o.body, o.headers or None)


async def _body(request: Request) -> Any:
    return _parse(await request.body())


def _parse(raw: bytes) -> Any:
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"body: at most {MAX_BODY} bytes")
    if not raw:
        raise ApiError(400, "bad_json", "body: a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"body: not valid JSON ({exc})") from None


# -- the hot routes without FastAPI's layers -------------------------------------------------
# POST /v1/invoices and GET /v1/invoices/{invoice_no} are nearly every request under load;
# FastAPI's middleware stack, routing and dependency solving cost more CPU per request than
# the platform's own rules. These answer them straight from the ASGI scope with the same
# rules, the same error bodies and headers (ApiError -> its status and body, anything else ->
# 500 internal); every other route, and the OpenAPI document, stays FastAPI's.
async def _read_body(receive: Any) -> bytes | None:
    chunks = []
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return b"".join(chunks)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


async def _send(send: Any, status: int, body: Any, headers: dict[str, str] | None) -> None:
    data = orjson.dumps(body)
    hs = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
    hs += [(b"content-length", str(len(data)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": hs})
    await send({"type": "http.response.body", "body": data})


class _PlatformApp(FastAPI):
    platform: Platform

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST" and path == "/v1/invoices":
                return await self._fast(scope, receive, send, None)
            if method == "GET" and path.startswith("/v1/invoices/") and "/" not in path[13:] \
                    and len(path) > 13:
                return await self._fast(scope, receive, send, path[13:])
        await super().__call__(scope, receive, send)

    async def _fast(self, scope: Any, receive: Any, send: Any, invoice_no: str | None) -> None:
        p = self.platform
        raw = await _read_body(receive)
        if raw is None:
            return                                  # the client went away
        try:
            who = p.tokens.seller_of(_header(scope, b"authorization"))
            if invoice_no is None:
                o = await p.issue(who, _parse(raw))
            else:
                o = p.read(invoice_no)
            status, body, headers = o.status, o.body, o.headers or None
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers or None
        except Exception as exc:     # noqa: BLE001 - a bug, still JSON (as _crash)
            status, body, headers = 500, {"error": "internal",
                                          "message": f"{type(exc).__name__}: {exc}"}, None
        await _send(send, status, body, headers)


def create_app(platform: Platform) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if platform.direct is not None:
            platform.direct.start()
        yield
        if platform.direct is not None:
            await platform.direct.stop()
        platform.committer.close()
        platform.store.close()

    app = _PlatformApp(title="invoice-chaos fake tax platform (数电票)", version="1.0",
                       description="See docs/platform-api.md", lifespan=lifespan)
    app.platform = platform
    app.state.platform = platform
    p = platform

    def seller(request: Request) -> str:
        return p.tokens.seller_of(request.headers.get("authorization"))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _json(exc.status, exc.body(), exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        first = errs[0] if errs else {}
        field = ".".join(str(x) for x in first.get("loc", ())[1:]) or "request"
        return _json(422, {"error": "invalid_field", "field": field,
                           "message": f"{field}: {first.get('msg', 'invalid')}"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, {"error": code, "message": str(exc.detail)},
                     getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:   # a bug, still JSON
        return _json(500, {"error": "internal", "message": f"{type(exc).__name__}: {exc}"})

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.post("/v1/auth/token", tags=["auth"], openapi_extra={
        **S.body("LoginRequest"), **S.responses({200: "Token"}, (400, 401, 422))})
    async def login(request: Request) -> Response:
        s, secret = validate_login(await _body(request))
        return _out(p.login(s, secret))

    @app.post("/v1/invoices", tags=["invoices"], openapi_extra={
        **S.body("IssueRequest"), "security": _AUTH,
        **S.responses({201: "Invoice", 200: "Invoice"},
                      (400, 401, 403, 409, 413, 422, 429, 500, 502, 503, 504))})
    async def issue(request: Request) -> Response:
        who = seller(request)
        return _out(await p.issue(who, await _body(request)))

    @app.get("/v1/invoices", tags=["invoices"], openapi_extra={
        "security": _AUTH, "parameters": [
            {"name": "request_id", "in": "query", "required": False, "schema": S.ID},
            {"name": "order_ref", "in": "query", "required": False, "schema": S.ID}],
        **S.responses({200: "SearchResult"}, (401, 422, 429))})
    async def search(request: Request) -> Response:
        who = seller(request)
        q = request.query_params
        return _out(p.search(who, q.get("request_id"), q.get("order_ref")))

    @app.get("/v1/invoices/{invoice_no}", tags=["invoices"], openapi_extra={
        "security": _AUTH, **S.responses({200: "Invoice"}, (401, 404, 429))})
    async def read(invoice_no: str, request: Request) -> Response:
        seller(request)
        return _out(p.read(invoice_no))

    @app.post("/v1/invoices/{invoice_no}/red", tags=["invoices"], openapi_extra={
        **S.body("RedRequest"), "security": _AUTH,
        **S.responses({201: "Invoice", 200: "Invoice"},
                      (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504))})
    async def red(invoice_no: str, request: Request) -> Response:
        who = seller(request)
        return _out(await p.red(who, invoice_no, await _body(request)))

    @app.post("/v1/invoice-numbers/ranges", tags=["invoices"], openapi_extra={
        **S.body("RangeRequest"), "security": _AUTH,
        **S.responses({201: "Range"}, (400, 401, 403, 409, 422, 429))})
    async def ranges(request: Request) -> Response:
        who = seller(request)
        return _out(await p.grant_range(who, await _body(request)))

    def direct() -> Any:
        if p.direct is None:
            raise ApiError(409, "direct_profile_only",
                           "number ranges and uploads exist only in the direct profile "
                           "(--profile direct, design.md s.12); this platform runs the "
                           f"{p.config.profile} profile")
        return p.direct

    _write_errors = (400, 401, 403, 409, 413, 422, 429, 500, 502, 503, 504)

    @app.post("/v1/number-ranges", tags=["direct"], openapi_extra={
        **S.body("NumberRangeRequest"), "security": _AUTH,
        **S.responses({201: "NumberRange", 200: "NumberRange"}, _write_errors)})
    async def number_ranges(request: Request) -> Response:
        who = seller(request)
        return _out(await direct().number_range(who, await _body(request)))

    @app.post("/v1/uploads", tags=["direct"], openapi_extra={
        **S.body("UploadRequest"), "security": _AUTH,
        **S.responses({202: "UploadReceipt", 200: "UploadReceipt"}, _write_errors)})
    async def uploads(request: Request) -> Response:
        who = seller(request)
        return _out(await direct().upload(who, await _body(request)))

    @app.get("/v1/uploads/{upload_id}", tags=["direct"], openapi_extra={
        "security": _AUTH, **S.responses({200: "UploadResult"}, (401, 404, 409, 429))})
    async def upload_result(upload_id: str, request: Request) -> Response:
        who = seller(request)
        return _out(direct().upload_status(who, upload_id))

    @app.get("/_admin/uploads", tags=["admin"], openapi_extra={"responses": {"200": {
        "description": "NDJSON, one line per received upload (direct profile; empty otherwise)",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}})
    async def admin_uploads() -> Response:
        if p.direct is None:
            return Response(b"", media_type="application/x-ndjson")
        return StreamingResponse(p.direct.iter_uploads(), media_type="application/x-ndjson")

    @app.get("/v1/quota", tags=["quota"], openapi_extra={
        "security": _AUTH, **S.responses({200: "Quota"}, (401, 429))})
    async def quota(request: Request) -> Response:
        return _out(p.quota(seller(request)))

    @app.get("/_admin/ledger", tags=["admin"], openapi_extra={"responses": {"200": {
        "description": "NDJSON, one ledger line per stored invoice",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}})
    async def ledger() -> Response:
        return StreamingResponse(p.store.iter_ledger(), media_type="application/x-ndjson")

    @app.get("/_admin/stats", tags=["admin"])
    async def stats() -> Response:
        return _json(200, p.stats_json())

    @app.get("/_admin/faults", tags=["admin"], openapi_extra=S.responses({200: "Faults"}, ()))
    async def get_faults() -> Response:
        return _json(200, p.faults.to_json())

    @app.post("/_admin/faults", tags=["admin"], openapi_extra={
        **S.body("Faults"), **S.responses({200: "Faults"}, (400, 422))})
    async def post_faults(request: Request) -> Response:
        return _json(200, p.set_faults(await _body(request)))

    @app.delete("/_admin/faults", tags=["admin"], openapi_extra=S.responses({200: "Faults"}, ()))
    async def delete_faults() -> Response:
        p.faults.reset()
        return _json(200, p.faults.to_json())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
            comps = spec.setdefault("components", {})
            comps.setdefault("schemas", {}).update(S.COMPONENTS)
            comps["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
