"""The `ksef` profile's HTTP front-end: the routes of KSeF API 2.0 that an ERP uses.

Served under both `/v2` (the spec's server) and `/api/v2` (what some clients call), as one
Starlette app mounted twice. Every request passes one gate before its handler, in this
order: the injected error of the fault knobs (an outage when `error_rate` is 1), the
per-endpoint rate limits of the docs (429 + Retry-After), the injected throttling; then
the handler's own refusals. Errors come in the format the request asked for
(`errors.render`).
"""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from .desk import KsefDesk
from .errors import KsefError, bad_request, render, wants_problem
from .limits import RateLimiter, group_of
from .upo import invoice_upo, session_upo

__all__ = ["create_ksef_app", "PREFIXES", "mounts"]

PREFIXES = ("/v2", "/api/v2")
MAX_BODY = 4 * 1024 * 1024

Handler = Callable[[Request], Awaitable[Response]]


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _xml(data: bytes) -> Response:
    h = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    return Response(data, media_type="application/xml", headers={"x-ms-meta-hash": h})


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                          f"body: at most {MAX_BODY} bytes")
    if not raw:
        raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                          "body: a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                          f"body: not valid JSON ({exc})") from None


def create_ksef_app(desk: KsefDesk, limiter: RateLimiter) -> Starlette:
    core = desk.core

    def gate(template: str, write: bool = False) -> Callable[[Handler], Handler]:
        group = group_of("", template)

        def wrap(fn: Handler) -> Handler:
            async def handler(request: Request) -> Response:
                problem = wants_problem(request.headers)
                try:
                    after = False
                    f = core.faults
                    if core.dice.hit(f.error_rate):
                        if write and core.dice.hit(f.error_after_commit):
                            after = True
                        else:
                            core.stats["injected_error_before_commit"] += 1
                            raise KsefError(f.error_status, "KSeF is unavailable (injected "
                                            "fault: awaria)",
                                            retry_after=max(1, round(f.retry_after_s)))
                    who = _who(desk, request)
                    wait = limiter.check(who, group)
                    if wait is not None:
                        core.stats["ksef_429_limit"] += 1
                        raise KsefError(429, "Przekroczono limit żądań.",
                                        details=[f"limit of {group} for this context and IP; "
                                                 f"retry after {wait} s"], retry_after=wait)
                    if core.dice.hit(f.throttle_rate):
                        core.stats["injected_429"] += 1
                        raise KsefError(429, "Przekroczono limit żądań (injected).",
                                        retry_after=max(1, round(f.retry_after_s)))
                    request.state.after_commit = after
                    return await fn(request)
                except KsefError as exc:
                    return render(exc, request.url.path, problem)
                except Exception as exc:  # noqa: BLE001 - a bug: still an answer, logged in stats
                    core.stats["ksef_internal_error"] += 1
                    return render(KsefError(500, f"{type(exc).__name__}: {exc}"),
                                  request.url.path, True)
            return handler
        return wrap

    def base(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"

    def nip(request: Request) -> str:
        return desk.access_nip(request.headers.get("authorization"))

    @gate("/auth/challenge")
    async def challenge(request: Request) -> Response:
        return _json(200, desk.challenge(request.client.host if request.client else ""))

    @gate("/auth/ksef-token")
    async def ksef_token(request: Request) -> Response:
        return _json(202, desk.ksef_token(await _body(request)))

    @gate("/auth/{ref}")
    async def auth_status(request: Request) -> Response:
        return _json(200, desk.auth_status(request.path_params["ref"],
                                           request.headers.get("authorization")))

    @gate("/auth/token/redeem")
    async def redeem(request: Request) -> Response:
        return _json(200, desk.redeem(request.headers.get("authorization")))

    @gate("/auth/token/refresh")
    async def refresh(request: Request) -> Response:
        return _json(200, desk.refresh(request.headers.get("authorization")))

    @gate("/security/public-key-certificates")
    async def certificates(request: Request) -> Response:
        return _json(200, desk.keys.to_json())

    @gate("/sessions/online", write=True)
    async def open_session(request: Request) -> Response:
        who = nip(request)
        out = await desk.open_session(who, await _body(request))
        return _json(201, out)

    @gate("/sessions/online/{ref}/invoices", write=True)
    async def send(request: Request) -> Response:
        who = nip(request)
        out = await desk.send(who, request.path_params["ref"], await _body(request),
                              request.state.after_commit)
        return _json(202, out)

    @gate("/sessions/online/{ref}/close", write=True)
    async def close(request: Request) -> Response:
        who = nip(request)
        await desk.close(who, request.path_params["ref"])
        return Response(status_code=204)

    @gate("/sessions/{ref}")
    async def session_status(request: Request) -> Response:
        return _json(200, desk.session_status(nip(request), request.path_params["ref"],
                                              base(request)))

    def _page(request: Request) -> int:
        raw = request.query_params.get("pageSize", "10")
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if not 10 <= n <= 1000:
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              "pageSize: an integer from 10 to 1000")
        return n

    @gate("/sessions/{ref}/invoices")
    async def session_invoices(request: Request) -> Response:
        who = nip(request)
        return _json(200, desk.session_invoices(
            who, request.path_params["ref"], base(request), False, _page(request),
            request.headers.get("x-continuation-token")))

    @gate("/sessions/{ref}/invoices/failed")
    async def failed_invoices(request: Request) -> Response:
        who = nip(request)
        return _json(200, desk.session_invoices(
            who, request.path_params["ref"], base(request), True, _page(request),
            request.headers.get("x-continuation-token")))

    @gate("/sessions/{ref}/invoices/{inv}")
    async def invoice_status(request: Request) -> Response:
        return _json(200, desk.invoice_status(nip(request), request.path_params["ref"],
                                              request.path_params["inv"], base(request)))

    @gate("/sessions/{ref}/invoices/{inv}/upo")
    async def invoice_upo_by_ref(request: Request) -> Response:
        ref = request.path_params["ref"]
        doc = desk.invoice_upo(nip(request), ref, request.path_params["inv"], None)
        return _xml(invoice_upo(ref, doc))

    @gate("/sessions/{ref}/invoices/ksef/{ksef}/upo")
    async def invoice_upo_by_ksef(request: Request) -> Response:
        ref = request.path_params["ref"]
        doc = desk.invoice_upo(nip(request), ref, None, request.path_params["ksef"])
        return _xml(invoice_upo(ref, doc))

    @gate("/sessions/{ref}/upo/{upo}")
    async def session_upo_page(request: Request) -> Response:
        ref = request.path_params["ref"]
        who = nip(request)
        return _xml(session_upo(ref, who, desk.session_upo(who, ref, request.path_params["upo"])))

    @gate("/invoices/ksef/{ksef}")
    async def download(request: Request) -> Response:
        return _xml(desk.download(nip(request), request.path_params["ksef"], core.lag_s()))

    @gate("/unmatched")
    async def unmatched(request: Request) -> Response:
        # a path of a served call whose parameter does not fit the route (an empty or
        # slash-bearing reference number): KSeF refuses it as input, not as an unknown path
        path = request.path_params.get("rest", "")
        if path.startswith(_SERVED_ROOTS):
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              f"/{path}: not a valid reference or KSeF number in the path")
        return render(KsefError(404, f"/{path}: no such operation in this fake "
                                "(docs/platform-api.md lists the served ones)"),
                      request.url.path, True)

    routes = [
        Route("/auth/challenge", challenge, methods=["POST"]),
        Route("/auth/ksef-token", ksef_token, methods=["POST"]),
        Route("/auth/token/redeem", redeem, methods=["POST"]),
        Route("/auth/token/refresh", refresh, methods=["POST"]),
        Route("/auth/{ref}", auth_status, methods=["GET"]),
        Route("/security/public-key-certificates", certificates, methods=["GET"]),
        Route("/sessions/online", open_session, methods=["POST"]),
        Route("/sessions/online/{ref}/invoices", send, methods=["POST"]),
        Route("/sessions/online/{ref}/close", close, methods=["POST"]),
        Route("/sessions/{ref}/invoices/failed", failed_invoices, methods=["GET"]),
        Route("/sessions/{ref}/invoices/ksef/{ksef}/upo", invoice_upo_by_ksef, methods=["GET"]),
        Route("/sessions/{ref}/invoices/{inv}/upo", invoice_upo_by_ref, methods=["GET"]),
        Route("/sessions/{ref}/invoices/{inv}", invoice_status, methods=["GET"]),
        Route("/sessions/{ref}/invoices", session_invoices, methods=["GET"]),
        Route("/sessions/{ref}/upo/{upo}", session_upo_page, methods=["GET"]),
        Route("/sessions/{ref}", session_status, methods=["GET"]),
        Route("/invoices/ksef/{ksef}", download, methods=["GET"]),
        _dotall(Route("/{rest:path}", unmatched,
                      methods=["GET", "POST", "PUT", "DELETE", "PATCH"])),
    ]
    return Starlette(routes=routes)


def _dotall(route: Route | Mount) -> Route | Mount:
    """Starlette's `path` convertor is `.*`, which stops at a newline; a reference number
    with an encoded newline in it must still reach the KSeF routes (and get KSeF's 400)."""
    route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    return route


def mounts(app: Starlette) -> list[Mount]:
    """The KSeF app mounted under each prefix, for the platform's app."""
    return [_dotall(Mount(p, app)) for p in PREFIXES]  # type: ignore[misc]


_SERVED_ROOTS = ("auth/", "sessions/", "invoices/ksef/", "security/")


def _who(desk: KsefDesk, request: Request) -> str:
    """The rate-limit key: (context, IP); the context is the access token's NIP if any."""
    ip = request.client.host if request.client else ""
    auth = request.headers.get("authorization") or ""
    hit = desk._access.get(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    return f"{hit[0] if hit else '-'}|{ip}"
