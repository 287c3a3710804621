"""A plain-httpx KSeF caller for the black-box tests: each step of the protocol, by hand."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from fakes.merchant.ksef_crypto import SessionKey, encrypt_token, pick_certificate


@dataclass
class Ksef:
    url: str                       # http://127.0.0.1:PORT/v2 (or /api/v2)
    nip: str
    token: str
    http: httpx.Client = field(init=False)
    access: str = ""
    refresh: str = ""

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.certs = self.http.get("/security/public-key-certificates").json()

    def cert(self, usage: str) -> dict[str, Any]:
        return pick_certificate(self.certs, usage)

    def start_auth(self, token: str | None = None, nip: str | None = None) -> dict[str, Any]:
        ch = self.http.post("/auth/challenge").json()
        r = self.http.post("/auth/ksef-token", json={
            "challenge": ch["challenge"],
            "contextIdentifier": {"type": "Nip", "value": nip or self.nip},
            "encryptedToken": encrypt_token(self.cert("KsefTokenEncryption")["certificate"],
                                            token or self.token, ch["timestampMs"])})
        assert r.status_code == 202, r.text
        return dict(r.json())

    def login(self) -> str:
        init = self.start_auth()
        auth = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
        st = self.http.get(f"/auth/{init['referenceNumber']}", headers=auth).json()
        assert st["status"]["code"] == 200, st
        red = self.http.post("/auth/token/redeem", headers=auth)
        assert red.status_code == 200, red.text
        self.access = red.json()["accessToken"]["token"]
        self.refresh = red.json()["refreshToken"]["token"]
        return self.access

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    def open(self, key: SessionKey | None = None) -> tuple[str, SessionKey]:
        key = key or SessionKey.new()
        r = self.http.post("/sessions/online", headers=self.h, json={
            "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
            "encryption": key.encryption(self.cert("SymmetricKeyEncryption"))})
        assert r.status_code == 201, r.text
        return str(r.json()["referenceNumber"]), key

    def send(self, ref: str, key: SessionKey, xml: bytes, offline: bool = False,
             **headers: str) -> httpx.Response:
        return self.http.post(f"/sessions/online/{ref}/invoices", headers={**self.h, **headers},
                              json=key.send_body(xml, offline))

    def status(self, ref: str, inv: str) -> dict[str, Any]:
        r = self.http.get(f"/sessions/{ref}/invoices/{inv}", headers=self.h)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def wait(self, ref: str, inv: str, limit_s: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + limit_s
        while True:
            st = self.status(ref, inv)
            if st["status"]["code"] not in (100, 150) or time.monotonic() > deadline:
                return st
            time.sleep(0.05)
