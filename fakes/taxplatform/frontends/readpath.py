"""The s.5 read path every profile serves: login, read by number, search, quota.

Whatever channel issued an invoice, a shopper checks its number on the tax authority's own
verification service, and the harness's drain and final read do the same
(harness/platform_client.py). So these routes (design.md s.5) sit beside every protocol's
own calls, on the one ledger, through the lagging replica.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from .. import schemas as S
from ..core import Outcome
from ..errors import ApiError, invalid
from ..validation import validate_login
from ..httpio import header, out, read_json

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..core import Ledger

__all__ = ["ReadPath", "AUTH"]

AUTH: list[dict[str, list[str]]] = [{"bearer": []}]


class ReadPath:
    """The read calls of s.5 over one ledger (no writes)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def seller(self, authorization: str | None) -> str:
        return self.ledger.tokens.seller_of(authorization)

    def login(self, seller: str, secret: str) -> Outcome:
        token, ttl = self.ledger.tokens.login(seller, secret)
        return Outcome(200, {"token": token, "expires_in": ttl, "token_type": "Bearer"})

    def quota(self, seller: str) -> Outcome:
        self.ledger.throttle()
        return Outcome(200, self.ledger.quota_json(seller))

    def read(self, invoice_no: str) -> Outcome:
        lg = self.ledger
        lg.throttle()
        row = lg.visible(invoice_no)
        if row is None:
            lg.stats["read_not_found"] += 1
            raise ApiError(404, "not_found", "未找到相关记录")
        return Outcome(200, row.to_json())

    def search(self, seller: str, request_id: str | None, order_ref: str | None) -> Outcome:
        self.ledger.throttle()
        if (request_id is None) == (order_ref is None):
            raise invalid("request_id", "give exactly one of request_id or order_ref",
                          "missing_field")
        column, value = ("request_id", request_id) if request_id is not None else (
            "order_ref", order_ref)
        rows = self.ledger.visible_search(seller, column, value or "")
        return Outcome(200, {"items": [r.to_json() for r in rows]})

    def mount(self, app: FastAPI) -> None:
        rp = self

        def seller(request: Request) -> str:
            return rp.seller(request.headers.get("authorization"))

        @app.post("/v1/auth/token", tags=["auth"], openapi_extra={
            **S.body("LoginRequest"), **S.responses({200: "Token"}, (400, 401, 422))})
        async def login(request: Request) -> Response:
            s, secret = validate_login(await read_json(request))
            return out(rp.login(s, secret))

        @app.get("/v1/invoices", tags=["invoices"], openapi_extra={
            "security": AUTH, "parameters": [
                {"name": "request_id", "in": "query", "required": False, "schema": S.ID},
                {"name": "order_ref", "in": "query", "required": False, "schema": S.ID}],
            **S.responses({200: "SearchResult"}, (401, 422, 429))})
        async def search(request: Request) -> Response:
            who = seller(request)
            q = request.query_params
            return out(rp.search(who, q.get("request_id"), q.get("order_ref")))

        @app.get("/v1/invoices/{invoice_no}", tags=["invoices"], openapi_extra={
            "security": AUTH, **S.responses({200: "Invoice"}, (401, 404, 429))})
        async def read(invoice_no: str, request: Request) -> Response:
            seller(request)
            return out(rp.read(invoice_no))

        @app.get("/v1/quota", tags=["quota"], openapi_extra={
            "security": AUTH, **S.responses({200: "Quota"}, (401, 429))})
        async def quota(request: Request) -> Response:
            return out(rp.quota(seller(request)))

    def fast_read(self) -> Any:
        """The hot GET /v1/invoices/{no} for `Frontend.fast_route`."""
        async def handler(scope: dict[str, Any], raw: bytes) -> Outcome:
            self.seller(header(scope, b"authorization"))
            return self.read(scope["path"][13:])
        return handler

