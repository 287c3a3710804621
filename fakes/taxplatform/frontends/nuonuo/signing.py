"""The request signature of 诺诺's open API (protocols/nuonuo.md, "Request envelope").

`X-Nuonuo-Sign` = Base64(HMAC-SHA1(appSecret, "a={p3}&l={p2}&p={p1}&k={appKey}&i={senid}
&n={nonce}&t={timestamp}&f={body}")) over UTF-8, where p1..p3 are the URL path's segments
(`/open/v1/services` -> a=services, l=v1, p=open). The body enters as the exact bytes sent,
so the check runs on the raw request body, before any JSON parsing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["sign", "verify", "sign_string"]


def sign_string(path: str, app_key: str, senid: str, nonce: str, timestamp: str,
                body: str) -> str:
    parts = path.split("/")
    seg = [parts[i] if len(parts) > i else "" for i in (3, 2, 1)]
    return (f"a={seg[0]}&l={seg[1]}&p={seg[2]}&k={app_key}&i={senid}&n={nonce}"
            f"&t={timestamp}&f={body}")


def sign(secret: str, path: str, app_key: str, senid: str, nonce: str, timestamp: str,
         body: str) -> str:
    msg = sign_string(path, app_key, senid, nonce, timestamp, body)
    mac = hmac.new(secret.encode("utf-8"), msg.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def verify(given: str, secret: str, path: str, app_key: str, senid: str, nonce: str,
           timestamp: str, body: str) -> bool:
    want = sign(secret, path, app_key, senid, nonce, timestamp, body)
    return hmac.compare_digest(want.encode("ascii"), given.strip().encode("ascii", "replace"))
