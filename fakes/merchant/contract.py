"""The merchant contract of design.md s.6 as an OpenAPI 3.1 document.

Served by the bundled merchant at `/openapi.json`, and the reference a user's own system can
be checked against (docs/sut-contract.md): the same paths, bodies and status codes the
harness's customers use and how it reads every answer.
"""
from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

_MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "a decimal string, never a float"}
_ERROR = {"type": "object", "required": ["error", "message"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
_STATUS = {"type": "object", "required": ["order_id", "status"],
           "properties": {"order_id": {"type": "string"},
                          "status": {"enum": ["issued", "pending", "failed"]},
                          "invoice_no": {"type": ["string", "null"], "pattern": r"^\d{20}$"}}}
_ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def _answers(codes: dict[str, tuple[str, dict]]) -> dict[str, Any]:
    return {code: {"description": text, "content": {"application/json": {"schema": schema}}}
            for code, (text, schema) in codes.items()}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "invoice-chaos merchant contract (design.md s.6)", "version": "1"},
    "paths": {
        "/healthz": {"get": {"summary": "ready", "responses": _answers({"200": ("ready", {"type": "object"})})}},
        "/v1/invoices": {"post": {
            "summary": "the customer asks for the invoice of an order; the same order_id again never yields a second invoice",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["order_id", "seller_tax_id", "buyer", "lines", "kind"],
                "properties": {
                    "order_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "seller_tax_id": {"type": "string", "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}$"},
                    "buyer": {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string"}, "tax_id": {"type": "string"}}},
                    "lines": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["name", "quantity", "unit_price", "tax_rate"],
                        "properties": {"name": {"type": "string"}, "quantity": _MONEY, "unit_price": _MONEY,
                                       "tax_rate": _MONEY}}},
                    "kind": {"enum": ["normal", "special"]}}}}}},
            "responses": _answers({
                "201": ("issued", _STATUS), "202": ("pending: the outcome follows", _STATUS),
                "422": ("failed: a definite refusal, no invoice may exist for the order", _STATUS),
                "400": ("a malformed request; nothing was issued", _ERROR)})}},
        "/v1/invoices/{order_id}": {"get": {
            "summary": "the order's status", "parameters": [_ORDER_ID],
            "responses": _answers({"200": ("the status decides", _STATUS),
                                   "404": ("an order it never saw", _ERROR)})}},
        "/v1/invoices/{order_id}/refund": {"post": {
            "summary": "full reversal through a red-letter invoice", "parameters": [_ORDER_ID],
            "responses": _answers({
                "201": ("reversed", {"type": "object", "required": ["order_id", "red_invoice_no"],
                                     "properties": {"order_id": {"type": "string"},
                                                    "red_invoice_no": {"type": "string", "pattern": r"^\d{20}$"}}}),
                "202": ("pending", {"type": "object"}),
                "409": ("cannot be refunded (never issued, failed, still pending)", _ERROR),
                "404": ("an order it never saw", _ERROR)})}},
    },
}
