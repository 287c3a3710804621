"""JSON Schemas of the wire format, for `/openapi.json` (handlers parse bodies themselves,
with `validation.py`, so every refusal has the `{error, message}` shape and the hot path
skips pydantic)."""
from __future__ import annotations

from typing import Any

__all__ = ["COMPONENTS", "ref", "body", "responses"]

MONEY = {"type": "string", "pattern": r"^-?\d+(\.\d{1,2})?$", "examples": ["123.45"]}
DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$", "examples": ["2", "9.99"]}
NUMBER = {"type": "string", "pattern": r"^\d{20}$", "examples": ["26112000000000000001"]}
USCC = {"type": "string", "minLength": 18, "maxLength": 18,
        "examples": ["91110000600001760P"]}
ID = {"type": "string", "minLength": 1, "maxLength": 64}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


COMPONENTS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string", "description": "stable code"},
        "message": {"type": "string", "description": "for people; names the field"},
        "field": {"type": "string"}, "invoice_no": {"type": "string"}}},
    "LoginRequest": {"type": "object", "required": ["seller_tax_id", "secret"], "properties": {
        "seller_tax_id": USCC, "secret": {"type": "string", "minLength": 1}}},
    "Token": {"type": "object", "required": ["token", "expires_in"], "properties": {
        "token": {"type": "string"}, "expires_in": {"type": "integer"},
        "token_type": {"type": "string"}}},
    "Buyer": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "tax_id": USCC}},
    "Line": {"type": "object", "required": ["name", "quantity", "unit_price", "tax_rate"],
             "properties": {
                 "name": {"type": "string", "minLength": 1, "maxLength": 200},
                 "quantity": DECIMAL, "unit_price": DECIMAL,
                 "tax_rate": {"type": "string",
                              "enum": ["0.13", "0.09", "0.06", "0.05", "0.03", "0.01", "0"]},
                 "amount": MONEY, "tax": MONEY}},
    "IssueRequest": {"type": "object",
                     "required": ["request_id", "order_ref", "seller_tax_id", "buyer", "lines",
                                  "kind"],
                     "properties": {
                         "request_id": ID, "order_ref": ID, "seller_tax_id": USCC,
                         "buyer": ref("Buyer"),
                         "lines": {"type": "array", "minItems": 1, "maxItems": 5000,
                                   "items": ref("Line")},
                         "kind": {"type": "string", "enum": ["normal", "special"]},
                         "invoice_no": {**NUMBER, "description":
                                        "only under dedup=invoice_number: a number from a "
                                        "downloaded range"}}},
    "StoredLine": {"type": "object", "properties": {
        "name": {"type": "string"}, "quantity": {"type": "string"},
        "unit_price": {"type": "string"}, "tax_rate": {"type": "string"},
        "amount": MONEY, "tax": MONEY}},
    "Invoice": {"type": "object",
                "required": ["invoice_no", "kind", "request_id", "order_ref", "seller_tax_id",
                             "buyer_tax_id", "amount", "tax", "total", "issued_at",
                             "original_invoice_no", "lines"],
                "properties": {
                    "invoice_no": NUMBER, "kind": {"type": "string", "enum": ["blue", "red"]},
                    "request_id": {"type": "string"}, "order_ref": {"type": "string"},
                    "seller_tax_id": {"type": "string"},
                    "buyer_tax_id": {"type": ["string", "null"]},
                    "amount": MONEY, "tax": MONEY, "total": MONEY,
                    "issued_at": {"type": "number", "description": "Unix epoch seconds"},
                    "original_invoice_no": {"type": ["string", "null"]},
                    "buyer_name": {"type": "string"},
                    "invoice_type": {"type": "string", "enum": ["normal", "special"]},
                    "reason": {"type": ["string", "null"]},
                    "lines": {"type": "array", "items": ref("StoredLine")}}},
    "SearchResult": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": ref("Invoice")}}},
    "RedRequest": {"type": "object", "required": ["request_id", "reason"], "properties": {
        "request_id": ID, "reason": {"type": "string", "enum": ["01", "02", "03", "04"]}}},
    "RangeRequest": {"type": "object", "required": ["seller_tax_id", "count"], "properties": {
        "seller_tax_id": USCC, "count": {"type": "integer", "minimum": 1, "maximum": 5000}}},
    "Range": {"type": "object", "required": ["seller_tax_id", "start", "end", "count"],
              "properties": {"seller_tax_id": {"type": "string"}, "start": NUMBER,
                             "end": NUMBER, "count": {"type": "integer"}}},
    "Quota": {"type": "object", "required": ["seller_tax_id", "limit", "used", "remaining"],
              "properties": {"seller_tax_id": {"type": "string"}, "month": {"type": "string"},
                             "limit": MONEY, "used": MONEY, "remaining": MONEY}},
    "Faults": {"type": "object", "properties": {
        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "error_status": {"type": "integer", "enum": [500, 502, 503, 504]},
        "error_after_commit": {"type": "number", "minimum": 0, "maximum": 1},
        "throttle_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "retry_after_s": {"type": "number", "minimum": 0},
        "slow_commit_ms": {"type": "number", "minimum": 0},
        "replica_lag_ms": {"type": ["number", "null"], "minimum": 0},
        "quota_per_seller": {"type": ["string", "null"]},
        "ack_without_commit": {"type": "number", "minimum": 0, "maximum": 1},
        "upload_loss": {"type": "number", "minimum": 0, "maximum": 1},
        "upload_stall": {"type": "boolean"},
        "processing_delay_ms": {"type": ["number", "null"], "minimum": 0},
        "signing_failure": {"type": "number", "minimum": 0, "maximum": 1},
        "revoke_tokens": {"type": "boolean"}}},
    "NumberRangeRequest": {"type": "object", "required": ["request_id", "seller_tax_id", "count"],
                           "properties": {"request_id": ID, "seller_tax_id": USCC,
                                          "count": {"type": "integer", "minimum": 1,
                                                    "maximum": 5000}}},
    "NumberRange": {"type": "object",
                    "required": ["range_id", "seller_tax_id", "first", "last", "count"],
                    "properties": {"range_id": {"type": "string"},
                                   "seller_tax_id": {"type": "string"}, "first": NUMBER,
                                   "last": NUMBER, "count": {"type": "integer"}}},
    "UploadInvoice": {"type": "object",
                      "required": ["invoice_no", "order_ref", "buyer", "lines", "kind",
                                   "issued_at"],
                      "properties": {"invoice_no": NUMBER, "order_ref": ID,
                                     "buyer": ref("Buyer"),
                                     "lines": {"type": "array", "items": ref("Line")},
                                     "kind": {"type": "string", "enum": ["normal", "special"]},
                                     "issued_at": {"type": "number",
                                                   "description": "Unix epoch seconds"}}},
    "UploadRequest": {"type": "object", "required": ["request_id", "seller_tax_id", "invoices"],
                      "properties": {"request_id": ID, "seller_tax_id": USCC,
                                     "invoices": {"type": "array", "minItems": 1,
                                                  "maxItems": 100,
                                                  "items": ref("UploadInvoice")}}},
    "UploadReceipt": {"type": "object", "required": ["upload_id"],
                      "properties": {"upload_id": {"type": "string"}}},
    "UploadResult": {"type": "object", "required": ["upload_id", "status", "results"],
                     "properties": {
                         "upload_id": {"type": "string"},
                         "status": {"type": "string", "enum": ["processing", "done"]},
                         "results": {"type": "array", "items": {
                             "type": "object", "required": ["invoice_no", "result"],
                             "properties": {
                                 "invoice_no": {"type": "string"},
                                 "result": {"type": "string", "enum": ["accepted", "rejected"]},
                                 "error": {"type": "string", "enum": [
                                     "number_not_allocated", "duplicate_number",
                                     "upload_overdue", "quota_exceeded", "invalid_invoice"]},
                                 "message": {"type": "string"}}}}}},
}


def body(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref(name)}}}}


def responses(ok: dict[int, str], errors: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, name in ok.items():
        out[str(status)] = {"description": "OK",
                            "content": {"application/json": {"schema": ref(name)}}}
    for status in errors:
        out[str(status)] = {"description": "error",
                            "content": {"application/json": {"schema": ref("Error")}}}
    return {"responses": out}
