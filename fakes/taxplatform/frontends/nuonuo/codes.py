"""The codes the nuonuo profile answers with (protocols/nuonuo.md), in one place.

Envelope answers are HTTP 200 `{"code", "describe", "result"}`; the token endpoint's
refusals are `{"error", "error_description"}`. What a gateway in front of the real platform
would do instead of answering (an injected 5xx, the throttle's 429) keeps its HTTP status,
with an envelope naming it, so a client sees what it would see from a real gateway: an
outcome it cannot know.
"""
from __future__ import annotations

from typing import Any

__all__ = ["OK", "SIGN_MISSING", "BAD_PARAM", "QUOTA", "TOKEN", "TAX_TOKEN", "NO_METHOD",
           "SIGN_MISMATCH", "BAD_FIELD", "AMOUNT", "TAX", "DUPLICATE", "SELLER_MISMATCH",
           "NOT_FOUND", "EMPTY_QUERY", "ALREADY_RED", "TOKEN_BAD_CLIENT", "TOKEN_BAD_SECRET",
           "TOKEN_APP_TYPE", "TOKEN_CONTENT_TYPE", "NuonuoError", "envelope", "STATUS_MSG"]

OK = "E0000"
SIGN_MISSING = "0200"       # signature error (no X-Nuonuo-Sign)
BAD_PARAM = "0201"          # a query parameter of the envelope missing or malformed
QUOTA = "070201"            # quota exceeded
TOKEN = "070301"            # accessToken / appKey mismatch (unknown, expired, revoked)
TAX_TOKEN = "070401"        # userTax does not belong to the token's app
NO_METHOD = "070501"        # no such API
SIGN_MISMATCH = "070601"    # 验签失败, or the timestamp too far from the server's clock
BAD_FIELD = "E4000"
AMOUNT = "E9130"            # an amount that does not add up
TAX = "E9131"               # a tax that does not match amount x rate
DUPLICATE = "E9106"         # 订单编号或流水号不能重复
SELLER_MISMATCH = "E9302"   # salerTaxNum is not the app's seller
NOT_FOUND = "E9500"         # 未找到相关记录
EMPTY_QUERY = "E9611"       # neither serialNos nor orderNos
ALREADY_RED = BAD_FIELD     # the blue invoice is already reversed (the docs name no code)

TOKEN_BAD_CLIENT = "070304"
TOKEN_BAD_SECRET = "070305"
TOKEN_APP_TYPE = "070307"
TOKEN_CONTENT_TYPE = "070315"

STATUS_MSG = {"20": "开票中", "2": "开票完成（最终状态）", "22": "开票失败",
              "24": "开票成功签章失败"}


class NuonuoError(Exception):
    """A refusal in the envelope's terms; `http` is 200 unless a gateway answered."""

    def __init__(self, code: str, describe: str, http: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code} {describe}")
        self.code = code
        self.describe = describe
        self.http = http
        self.headers = headers or {}


def envelope(code: str, describe: str, result: Any = None) -> dict[str, Any]:
    return {"code": code, "describe": describe, "result": result}
