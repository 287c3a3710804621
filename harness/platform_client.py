"""The orchestrator's one client of the tax platform (design.md s.5): the drain's and the
final read's verifies and red-invoice searches, and the ledger download.

A seller's login, the 401 -> log in again rule and the read-path calls are written once
here. It takes the caller's `httpx.Client` (the drain shares one pool across its lanes) and
keeps each seller's token. (The customers in the Locust processes speak through the load
path's own gevent-native client, harness/load/journeys.py, for speed.)
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = ["PlatformClient", "login"]


def login(http: httpx.Client, base_url: str, seller_tax_id: str, secret: str,
          timeout: float | None = None) -> str | None:
    """`POST /v1/auth/token`; the token, or None when the platform refused the login.
    Transport errors propagate: the caller decides what an unanswered login means."""
    kw: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    r = http.post(f"{base_url}/v1/auth/token",
                  json={"seller_tax_id": seller_tax_id, "secret": secret}, **kw)
    if r.status_code != 200:
        return None
    try:
        token = r.json().get("token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


class PlatformClient:
    """Reads on the platform as the order's seller: one token per seller, renewed on 401."""

    def __init__(self, http: httpx.Client, base_url: str, secrets: dict[str, str]):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.secrets = secrets                      # seller_tax_id -> secret
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def token(self, seller: str, fresh: bool = False, timeout: float | None = None) -> str | None:
        """The seller's token (logging in when there is none yet or `fresh`)."""
        with self._lock:
            have = self._tokens.get(seller)
        if have is not None and not fresh:
            return have
        if seller not in self.secrets:
            return None
        token = login(self.http, self.base_url, seller, self.secrets[seller], timeout)
        if token is not None:
            with self._lock:
                self._tokens[seller] = token
        return token

    def get(self, path: str, seller: str | None, params: dict[str, Any] | None = None,
            timeout: float | None = None) -> httpx.Response:
        """GET as `seller`; a 401 logs in again once. Transport errors propagate."""
        kw: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        token = self.token(seller, timeout=timeout) if seller else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.get(f"{self.base_url}{path}", params=params, headers=headers, **kw)
        if r.status_code == 401 and seller:
            token = self.token(seller, fresh=True, timeout=timeout)
            if token:
                r = self.http.get(f"{self.base_url}{path}", params=params,
                                  headers={"Authorization": f"Bearer {token}"}, **kw)
        return r

    def invoice(self, invoice_no: str, seller: str | None,
                timeout: float | None = None) -> httpx.Response:
        """`GET /v1/invoices/{no}`: the read path a shopper verifies a number on."""
        return self.get(f"/v1/invoices/{invoice_no}", seller, timeout=timeout)

    def search(self, seller: str | None, timeout: float | None = None,
               **params: str) -> list[dict[str, Any]]:
        """`GET /v1/invoices?order_ref=…` (or `request_id=`): the items, [] when the answer
        is not a 200 list. Transport errors propagate."""
        r = self.get("/v1/invoices", seller, params=params, timeout=timeout)
        if r.status_code != 200:
            return []
        try:
            items = r.json().get("items", [])
        except (ValueError, AttributeError):
            return []
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def ledger_lines(self, timeout: float = 60.0) -> Iterator[str]:
        """The primary's whole ledger (`GET /_admin/ledger`), one JSON text per invoice.
        Raises httpx.HTTPStatusError when it does not answer 200."""
        with self.http.stream("GET", f"{self.base_url}/_admin/ledger", timeout=timeout) as r:
            if r.status_code != 200:
                raise httpx.HTTPStatusError(f"GET /_admin/ledger answered {r.status_code}",
                                            request=r.request, response=r)
            for line in r.iter_lines():
                if line.strip():
                    yield line
