"""The client side of KSeF's encryption, as an ERP does it (ksef.md s.2 and s.3).

A session gets a fresh 32-byte AES key and 16-byte IV; the key goes to KSeF RSA-OAEP
(SHA-256, MGF1-SHA-256) encrypted under the `SymmetricKeyEncryption` certificate, the IV in
plain Base64; each invoice is AES-256-CBC with PKCS#7, sent without the IV in front, with
the SHA-256 (Base64) and byte size of both the plain XML and the ciphertext. The KSeF token
is sent as RSA-OAEP of `token|timestampMs` under the `KsefTokenEncryption` certificate.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as apadding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["SessionKey", "rsa_oaep", "encrypt_token", "pick_certificate", "sha256_b64"]


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def rsa_oaep(cert_b64: str, data: bytes) -> str:
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the KSeF certificate does not hold an RSA key")
    return base64.b64encode(key.encrypt(data, apadding.OAEP(
        mgf=apadding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(),
        label=None))).decode("ascii")


def encrypt_token(cert_b64: str, token: str, timestamp_ms: int) -> str:
    return rsa_oaep(cert_b64, f"{token}|{timestamp_ms}".encode())


def pick_certificate(certs: list[dict[str, Any]], usage: str) -> dict[str, Any]:
    """The first certificate served for `usage` (ValueError when there is none)."""
    for c in certs:
        if usage in (c.get("usage") or []):
            return c
    raise ValueError(f"KSeF serves no certificate for {usage}")


@dataclass(frozen=True, slots=True)
class SessionKey:
    key: bytes
    iv: bytes

    @classmethod
    def new(cls) -> SessionKey:
        return cls(os.urandom(32), os.urandom(16))

    def encryption(self, cert: dict[str, Any]) -> dict[str, str]:
        """The `encryption` object of `POST /sessions/online`."""
        return {"encryptedSymmetricKey": rsa_oaep(cert["certificate"], self.key),
                "initializationVector": base64.b64encode(self.iv).decode("ascii"),
                "publicKeyId": cert["publicKeyId"]}

    def send_body(self, xml: bytes, offline: bool = False) -> dict[str, Any]:
        """The body of `POST /sessions/online/{ref}/invoices` for one FA(3)."""
        p = padding.PKCS7(128).padder()
        padded = p.update(xml) + p.finalize()
        e = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        enc = e.update(padded) + e.finalize()
        return {"invoiceHash": sha256_b64(xml), "invoiceSize": len(xml),
                "encryptedInvoiceHash": sha256_b64(enc), "encryptedInvoiceSize": len(enc),
                "encryptedInvoiceContent": base64.b64encode(enc).decode("ascii"),
                "offlineMode": offline}
