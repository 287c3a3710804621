"""The ASGI app of the fake tax platform: the core's routes plus one front-end's.

The core's routes are the same in every profile (design.md s.5/s.13): `/healthz`, the
ledger download, `/_admin/stats`, the fault knobs (`/_admin/faults`), `/_admin/uploads`.
The front-end (`ledger.frontend`, frontends/) adds its protocol's routes and may answer its
hottest requests before FastAPI's layers (`Frontend.fast_route`): its middleware stack,
routing and dependency solving cost more CPU per request than the platform's own rules.
A fast handler keeps the same rules, error bodies and headers (ApiError -> its status and
body, anything else -> 500 internal).
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
from .core import Ledger
from .errors import ApiError
from .frontends.base import FastHandler, Frontend
from .httpio import MAX_BODY, json_response, read_body, read_json

__all__ = ["create_app", "MAX_BODY"]


async def _send(send: Any, status: int, body: Any, headers: dict[str, str] | None) -> None:
    data = orjson.dumps(body)
    hs = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
    hs += [(b"content-length", str(len(data)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": hs})
    await send({"type": "http.response.body", "body": data})


class _PlatformApp(FastAPI):
    protocol: Frontend                 # (FastAPI has a method called `frontend`)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            handler = self.protocol.fast_route(scope["method"], scope["path"])
            if handler is not None:
                return await self._fast(scope, receive, send, handler)
        await super().__call__(scope, receive, send)

    async def _fast(self, scope: Any, receive: Any, send: Any, handler: FastHandler) -> None:
        raw = await read_body(receive)
        if raw is None:
            return                                  # the client went away
        try:
            o = await handler(scope, raw)
            status, body, headers = o.status, o.body, o.headers or None
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers or None
        except Exception as exc:     # noqa: BLE001 - a bug, still JSON (as _crash)
            status, body, headers = 500, {"error": "internal",
                                          "message": f"{type(exc).__name__}: {exc}"}, None
        await _send(send, status, body, headers)


def create_app(platform: Ledger) -> FastAPI:
    """The app of `platform` (a ledger core wrapped by its front-end)."""
    fe = platform.frontend
    if fe is None:
        raise ValueError("the ledger has no front-end (frontends.create(profile, ledger))")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fe.start()
        yield
        await fe.stop()
        platform.committer.close()
        platform.store.close()

    app = _PlatformApp(title="invoice-chaos fake tax platform (数电票)", version="1.0",
                       description="See docs/platform-api.md", lifespan=lifespan)
    app.protocol = fe
    app.state.platform = platform
    p = platform

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return json_response(exc.status, exc.body(), exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        first = errs[0] if errs else {}
        field = ".".join(str(x) for x in first.get("loc", ())[1:]) or "request"
        return json_response(422, {"error": "invalid_field", "field": field,
                                   "message": f"{field}: {first.get('msg', 'invalid')}"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return json_response(exc.status_code, {"error": code, "message": str(exc.detail)},
                             getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:   # a bug, still JSON
        return json_response(500, {"error": "internal",
                                   "message": f"{type(exc).__name__}: {exc}"})

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    fe.mount(app)

    @app.get("/_admin/uploads", tags=["admin"], openapi_extra={"responses": {"200": {
        "description": "NDJSON, one line per received upload (direct profile; empty otherwise)",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}})
    async def admin_uploads() -> Response:
        lines = fe.iter_uploads()
        if lines is None:
            return Response(b"", media_type="application/x-ndjson")
        return StreamingResponse(lines, media_type="application/x-ndjson")

    @app.get("/_admin/ledger", tags=["admin"], openapi_extra={"responses": {"200": {
        "description": "NDJSON, one ledger line per stored invoice",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}})
    async def ledger() -> Response:
        return StreamingResponse(p.store.iter_ledger(), media_type="application/x-ndjson")

    @app.get("/_admin/stats", tags=["admin"])
    async def stats() -> Response:
        return json_response(200, p.stats_json())

    @app.get("/_admin/faults", tags=["admin"], openapi_extra=S.responses({200: "Faults"}, ()))
    async def get_faults() -> Response:
        return json_response(200, p.faults.to_json())

    @app.post("/_admin/faults", tags=["admin"], openapi_extra={
        **S.body("Faults"), **S.responses({200: "Faults"}, (400, 422))})
    async def post_faults(request: Request) -> Response:
        return json_response(200, p.set_faults(await read_json(request)))

    @app.delete("/_admin/faults", tags=["admin"], openapi_extra=S.responses({200: "Faults"}, ()))
    async def delete_faults() -> Response:
        p.faults.reset()
        return json_response(200, p.faults.to_json())

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
