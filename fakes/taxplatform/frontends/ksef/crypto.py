"""The KSeF fake's own keys: RSA pairs and self-signed certificates, and the decryptions.

Real KSeF publishes two RSA certificates (`GET /security/public-key-certificates`): one
for `KsefTokenEncryption` (the client encrypts `token|timestampMs` with RSA-OAEP SHA-256)
and one for `SymmetricKeyEncryption` (the client encrypts each session's AES-256 key the
same way; invoices are AES-256-CBC with PKCS#7, the IV sent beside, not prefixed). Clients
check neither chain nor issuer, only that the key is RSA and the certificate valid now
(ksef.md s.2), so the fake makes its own pair per usage when it starts; nothing about them
needs to survive a restart except that a session opened before a restart can still be
decrypted, hence `KeyRing.load_or_create` keeps them in the data directory.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as apadding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

__all__ = ["KeyPair", "KeyRing", "USAGES", "sha256_b64", "aes_cbc_decrypt", "CryptoError"]

USAGES = ("KsefTokenEncryption", "SymmetricKeyEncryption")
_OAEP = apadding.OAEP(mgf=apadding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(),
                      label=None)


class CryptoError(ValueError):
    """A ciphertext that does not decrypt (bad key, padding or length)."""


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def aes_cbc_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-256-CBC with PKCS#7 padding; CryptoError when it does not decrypt."""
    if len(key) != 32 or len(iv) != 16 or not data or len(data) % 16:
        raise CryptoError("AES-256-CBC needs a 32-byte key, a 16-byte IV and whole blocks")
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = d.update(data) + d.finalize()
    try:
        u = padding.PKCS7(128).unpadder()
        return u.update(padded) + u.finalize()
    except ValueError:
        raise CryptoError("bad PKCS#7 padding (wrong key or IV)") from None


@dataclass(frozen=True, slots=True)
class KeyPair:
    usage: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def public_key_id(self) -> str:
        """b64(sha256(SubjectPublicKeyInfo DER)), as KSeF names its keys."""
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return sha256_b64(spki)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self.key.decrypt(ciphertext, _OAEP)
        except ValueError:
            raise CryptoError(f"RSA-OAEP-SHA256 decryption with the {self.usage} key "
                              "failed") from None

    def to_json(self) -> dict[str, object]:
        """One entry of `GET /security/public-key-certificates`."""
        return {"certificate": base64.b64encode(self.cert_der).decode("ascii"),
                "certificateId": sha256_b64(self.cert_der),
                "publicKeyId": self.public_key_id,
                "validFrom": _iso(self.cert.not_valid_before_utc),
                "validTo": _iso(self.cert.not_valid_after_utc),
                "usage": [self.usage]}


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _make(usage: str, bits: int) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "invoice-chaos fake KSeF"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"fake KSeF {usage}")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return KeyPair(usage, key, cert)


class KeyRing:
    """The two key pairs, by usage and by publicKeyId."""

    def __init__(self, pairs: list[KeyPair]) -> None:
        self.pairs = pairs
        self.by_usage = {p.usage: p for p in pairs}
        self.by_id = {p.public_key_id: p for p in pairs}

    @classmethod
    def create(cls, bits: int = 2048) -> KeyRing:
        return cls([_make(u, bits) for u in USAGES])

    @classmethod
    def load_or_create(cls, directory: Path, bits: int = 2048) -> KeyRing:
        """The pairs kept in `directory` (ksef-<usage>.pem: key then certificate), made on
        first use, so sessions and auth operations survive a restart of the fake."""
        pairs = []
        for usage in USAGES:
            path = directory / f"ksef-{usage}.pem"
            if path.exists():
                data = path.read_bytes()
                key = serialization.load_pem_private_key(data, password=None)
                cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERT"):])
                assert isinstance(key, rsa.RSAPrivateKey)
                pairs.append(KeyPair(usage, key, cert))
                continue
            pair = _make(usage, bits)
            directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pair.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()) + pair.cert.public_bytes(serialization.Encoding.PEM))
            tmp.chmod(0o600)
            tmp.replace(path)
            pairs.append(pair)
        return cls(pairs)

    def for_usage(self, usage: str, public_key_id: str | None) -> KeyPair | None:
        """The pair to decrypt with: the named one (None when unknown or of another usage),
        else the usage's own."""
        if public_key_id:
            p = self.by_id.get(public_key_id)
            return p if p is not None and p.usage == usage else None
        return self.by_usage[usage]

    def to_json(self) -> list[dict[str, object]]:
        return [p.to_json() for p in self.pairs]
