"""The clearance profile (design.md s.5): the platform numbers and stores each invoice as the
merchant asks, answering 201 with the number once it is committed.

Wire format -> core: `POST /v1/invoices` (validate, quota, number, commit; idempotent by
`request_id` under `dedup: request_id`, by the merchant's own number under
`dedup: invoice_number`), `POST /v1/invoices/{no}/red`, `POST /v1/invoice-numbers/ranges`,
plus the read path every profile has (`readpath.py`). The direct profile's calls answer 409
here, naming the profile that has them.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from fakes.common.money import money_str

from .. import numbering
from .. import schemas as S
from ..core import Outcome, body_hash, china_month
from ..errors import ApiError, invalid
from ..httpio import header, out, parse_json, read_json
from ..store import InvoiceRow, RangeGrant
from ..validation import IssueOrder, validate_issue, validate_range, validate_red
from .base import FastHandler, Frontend, register
from .readpath import AUTH, ReadPath

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..core import Ledger

__all__ = ["ClearanceFrontend", "neg_money", "neg_line"]

WRITE_ERRORS = (400, 401, 403, 409, 413, 422, 429, 500, 502, 503, 504)


@register
class ClearanceFrontend(Frontend):
    name = "clearance"

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self.reads = ReadPath(ledger)

    # --- issuance ------------------------------------------------------------------------
    async def issue(self, seller: str, body: Any) -> Outcome:
        lg = self.ledger
        after = lg.write_fault()
        dedup = lg.config.dedup
        h = body_hash(body)
        if dedup == "request_id" and isinstance(body, dict) and isinstance(
                body.get("request_id"), str):
            replay = await lg.replayed((seller, body["request_id"].strip()), h, after)
            if replay is not None:
                return Outcome(200, replay.to_json(), {"Idempotent-Replayed": "true"})
        order = validate_issue(body, require_invoice_no=dedup == "invoice_number")
        if order.seller_tax_id != seller:
            raise ApiError(403, "seller_mismatch", f"seller_tax_id: this token acts for seller "
                           f"{seller}, not {order.seller_tax_id}", field="seller_tax_id")
        now = lg.clock()
        number = self._check_own_number(seller, order) if dedup == "invoice_number" else ""
        seq_next = 0
        month = china_month(now)
        lg.check_quota(seller, order.amount, month)
        if not number:                 # assigned after the quota check: refusals burn none
            number, seq_next = lg.new_number(now)
        row = self._row(order, number, h, month, seq_next)
        if lg.ack_without_commit_drawn():
            # the seeds' storage defect: a 201 with a number for an invoice never stored
            await lg.burn(row)
            return Outcome(201, row.to_json())
        await lg.commit(row, seller, order.amount, month,
                        (seller, order.request_id) if dedup == "request_id" else None)
        lg.after_commit(after)
        return Outcome(201, row.to_json())

    def _check_own_number(self, seller: str, order: IssueOrder) -> str:
        lg = self.ledger
        number = order.invoice_no or ""
        if not lg.in_range(seller, number):
            raise invalid("invoice_no", f"{number} is not in a range downloaded by seller "
                          f"{seller} (POST /v1/invoice-numbers/ranges)", "invoice_no_not_allocated")
        if number in lg.numbers_in_flight or lg.store.exists(number):
            lg.stats["refused_invoice_exists"] += 1
            raise ApiError(409, "invoice_exists", f"发票号码{number}在数据库中已存在",
                           invoice_no=number)
        return number

    @staticmethod
    def _row(order: IssueOrder, number: str, h: str, month: str, seq_next: int) -> InvoiceRow:
        return InvoiceRow(
            invoice_no=number, kind="blue", request_id=order.request_id,
            order_ref=order.order_ref, seller_tax_id=order.seller_tax_id,
            buyer_name=order.buyer_name, buyer_tax_id=order.buyer_tax_id,
            invoice_type=order.invoice_type, amount=str(order.amount), tax=str(order.tax),
            total=str(order.total), issued_at=0.0, original_invoice_no=None, reason=None,
            quota_month=month, body_hash=h, lines=[ln.to_json() for ln in order.lines],
            seq_next=seq_next)

    # --- red-letter --------------------------------------------------------------------
    async def red(self, seller: str, blue_no: str, body: Any) -> Outcome:
        lg = self.ledger
        after = lg.write_fault()
        h = body_hash({"red_of": blue_no, "body": body})
        key = None
        if isinstance(body, dict) and isinstance(body.get("request_id"), str):
            key = (seller, body["request_id"].strip())
            replay = await lg.replayed(key, h, after)
            if replay is not None:
                return Outcome(200, replay.to_json(), {"Idempotent-Replayed": "true"})
        red = validate_red(body)
        blue = lg.store.get(blue_no)
        if blue is None:
            raise ApiError(404, "not_found", f"红冲失败，查无此票: no invoice {blue_no}")
        if blue.seller_tax_id != seller:
            raise ApiError(403, "not_your_invoice",
                           f"invoice {blue_no} belongs to another seller; this token acts for {seller}")
        if blue.kind != "blue":
            raise invalid("invoice_no", f"{blue_no} is a red-letter invoice; only a blue invoice "
                          "can be reversed", "not_blue")
        if blue_no in lg.reversing or lg.store.red_of(blue_no) is not None:
            raise ApiError(409, "already_reversed", f"invoice {blue_no} is already fully "
                           "reversed; the reversed total cannot exceed the original",
                           invoice_no=blue_no, red_invoice_no=lg.store.red_of(blue_no))
        row = red_row(lg, blue, red.request_id, red.reason, h)
        await lg.commit(row, seller, Decimal(row.amount), row.quota_month, key,
                        reversing=blue_no)
        lg.after_commit(after)
        return Outcome(201, row.to_json())

    # --- number ranges (dedup=invoice_number) -------------------------------------------
    async def grant_range(self, seller: str, body: Any) -> Outcome:
        lg = self.ledger
        lg.throttle()
        if lg.config.dedup != "invoice_number":
            raise ApiError(409, "numbering_by_platform",
                           f"this platform numbers invoices itself (dedup={lg.config.dedup}); "
                           "number ranges exist only under dedup=invoice_number")
        who, count = validate_range(body)
        if who != seller:
            raise ApiError(403, "seller_mismatch", f"seller_tax_id: this token acts for seller "
                           f"{seller}, not {who}", field="seller_tax_id")
        start = lg.take_seq(count)
        first = numbering.format_number(start, numbering.CHANNEL_DIRECT)
        prefix = first[:5]
        grant = RangeGrant(seller, prefix, start, start + count - 1)
        await lg.committer.submit(grant)
        lg.add_range(seller, prefix, grant.start_seq, grant.end_seq)
        lg.stats["ranges_granted"] += 1
        return Outcome(201, {"seller_tax_id": seller, "start": first,
                             "end": numbering.format_number(grant.end_seq, numbering.CHANNEL_DIRECT),
                             "count": count})

    # --- the direct profile's calls ----------------------------------------------------
    async def number_range(self, seller: str, body: Any) -> Outcome:
        raise self._direct_only()

    async def upload(self, seller: str, body: Any) -> Outcome:
        raise self._direct_only()

    def upload_status(self, seller: str, upload_id: str) -> Outcome:
        raise self._direct_only()

    def _direct_only(self) -> ApiError:
        return ApiError(409, "direct_profile_only",
                        "number ranges and uploads exist only in the direct profile "
                        "(--profile direct, design.md s.12); this platform runs the "
                        f"{self.ledger.config.profile} profile")

    # --- HTTP ----------------------------------------------------------------------------
    def fast_route(self, method: str, path: str) -> FastHandler | None:
        # POST /v1/invoices and GET /v1/invoices/{no} are nearly every request under load
        if method == "POST" and path == "/v1/invoices":
            return self._fast_issue
        if method == "GET" and path.startswith("/v1/invoices/") and "/" not in path[13:] \
                and len(path) > 13:
            return self.reads.fast_read()
        return None

    async def _fast_issue(self, scope: dict[str, Any], raw: bytes) -> Outcome:
        who = self.reads.seller(header(scope, b"authorization"))
        return await self.issue(who, parse_json(raw))

    def mount(self, app: FastAPI) -> None:
        fe = self
        self.reads.mount(app)

        def seller(request: Request) -> str:
            return fe.reads.seller(request.headers.get("authorization"))

        @app.post("/v1/invoices", tags=["invoices"], openapi_extra={
            **S.body("IssueRequest"), "security": AUTH,
            **S.responses({201: "Invoice", 200: "Invoice"}, WRITE_ERRORS)})
        async def issue(request: Request) -> Response:
            who = seller(request)
            return out(await fe.issue(who, await read_json(request)))

        @app.post("/v1/invoices/{invoice_no}/red", tags=["invoices"], openapi_extra={
            **S.body("RedRequest"), "security": AUTH,
            **S.responses({201: "Invoice", 200: "Invoice"},
                          (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504))})
        async def red(invoice_no: str, request: Request) -> Response:
            who = seller(request)
            return out(await fe.red(who, invoice_no, await read_json(request)))

        @app.post("/v1/invoice-numbers/ranges", tags=["invoices"], openapi_extra={
            **S.body("RangeRequest"), "security": AUTH,
            **S.responses({201: "Range"}, (400, 401, 403, 409, 422, 429))})
        async def ranges(request: Request) -> Response:
            who = seller(request)
            return out(await fe.grant_range(who, await read_json(request)))

        @app.post("/v1/number-ranges", tags=["direct"], openapi_extra={
            **S.body("NumberRangeRequest"), "security": AUTH,
            **S.responses({201: "NumberRange", 200: "NumberRange"}, WRITE_ERRORS)})
        async def number_ranges(request: Request) -> Response:
            who = seller(request)
            return out(await fe.number_range(who, await read_json(request)))

        @app.post("/v1/uploads", tags=["direct"], openapi_extra={
            **S.body("UploadRequest"), "security": AUTH,
            **S.responses({202: "UploadReceipt", 200: "UploadReceipt"}, WRITE_ERRORS)})
        async def uploads(request: Request) -> Response:
            who = seller(request)
            return out(await fe.upload(who, await read_json(request)))

        @app.get("/v1/uploads/{upload_id}", tags=["direct"], openapi_extra={
            "security": AUTH, **S.responses({200: "UploadResult"}, (401, 404, 409, 429))})
        async def upload_result(upload_id: str, request: Request) -> Response:
            who = seller(request)
            return out(fe.upload_status(who, upload_id))


def red_row(lg: Ledger, blue: InvoiceRow, request_id: str, reason: str, h: str,
            extra: dict[str, Any] | None = None) -> InvoiceRow:
    """The full reversal of `blue`, numbered now; it gives the quota back when `blue` was
    charged to the current month (so that month must be loaded before the commit)."""
    now = lg.clock()
    month = china_month(now)
    gives_back = blue.quota_month == month
    number, seq_next = lg.new_number(now)
    if gives_back:
        lg.used_map(month)
    return InvoiceRow(
        invoice_no=number, kind="red", request_id=request_id, order_ref=blue.order_ref,
        seller_tax_id=blue.seller_tax_id, buyer_name=blue.buyer_name,
        buyer_tax_id=blue.buyer_tax_id, invoice_type=blue.invoice_type,
        amount=neg_money(blue.amount), tax=neg_money(blue.tax), total=neg_money(blue.total),
        issued_at=0.0, original_invoice_no=blue.invoice_no, reason=reason,
        quota_month=month if gives_back else None, body_hash=h,
        lines=[neg_line(ln) for ln in blue.lines], seq_next=seq_next, extra=extra)


def neg_money(s: str) -> str:
    return money_str(-Decimal(s))


def neg_line(line: dict[str, str]) -> dict[str, str]:
    out = dict(line)
    for k in ("amount", "tax"):
        out[k] = neg_money(line[k])
    out["quantity"] = format(-Decimal(line["quantity"]), "f")
    return out
