"""Bearer tokens (login): random, per seller, with an expiry; kept in memory only.

Tokens do not survive a restart of the platform, like a real session store flushed by an
outage: a merchant must log in again after a 401.
"""
from __future__ import annotations

import hmac
import secrets
import time

from .errors import ApiError

__all__ = ["TokenBook"]


class TokenBook:
    def __init__(self, sellers: dict[str, str], ttl_s: float) -> None:
        self._secrets = sellers            # seller_tax_id -> secret
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[str, float]] = {}
        self.logins = 0

    def login(self, seller: str, secret: str) -> tuple[str, int]:
        expected = self._secrets.get(seller)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            raise ApiError(401, "bad_credentials", "seller_tax_id or secret is wrong (登录失败)")
        if len(self._tokens) > 10000:
            self._purge()
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (seller, time.monotonic() + self.ttl_s)
        self.logins += 1
        return token, int(self.ttl_s)

    def issue(self, seller: str) -> tuple[str, int]:
        """A token for a seller whose credentials a front-end checked itself (an app key and
        secret); the same book, expiry and revocation as `login`."""
        if len(self._tokens) > 10000:
            self._purge()
        token = secrets.token_hex(16)
        self._tokens[token] = (seller, time.monotonic() + self.ttl_s)
        self.logins += 1
        return token, int(self.ttl_s)

    def holder(self, token: str) -> str | None:
        """The seller of a bare token, None when it is unknown, revoked or expired."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        if time.monotonic() >= entry[1]:
            self._tokens.pop(token, None)
            return None
        return entry[0]

    def seller_of(self, authorization: str | None) -> str:
        """The seller a request acts for; 401 for a missing, unknown or expired token."""
        if not authorization:
            raise self._401("missing_token", "Authorization: Bearer <token> is required; "
                            "log in at POST /v1/auth/token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise self._401("invalid_token", "the Authorization header must be 'Bearer <token>'")
        entry = self._tokens.get(token.strip())
        if entry is None:
            raise self._401("invalid_token", "unknown or revoked token; log in again")
        seller, expires = entry
        if time.monotonic() >= expires:
            self._tokens.pop(token.strip(), None)
            raise self._401("token_expired", "access_token 过期: log in again")
        return seller

    def revoke_all(self) -> int:
        n = len(self._tokens)
        self._tokens.clear()
        return n

    def _purge(self) -> None:
        now = time.monotonic()
        for tok in [t for t, (_, exp) in self._tokens.items() if exp <= now]:
            del self._tokens[tok]

    @staticmethod
    def _401(code: str, message: str) -> ApiError:
        return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})
