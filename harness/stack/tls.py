"""TLS for the platform (design.md s.13): a CA and a server certificate made per run.

Real clients call https URLs, and many refuse plain http. A run with `platform: {tls: true}`
makes, in `<run dir>/tls/`: `ca.pem` (a CA that exists for this run only), `server.pem` +
`server.key` (for 127.0.0.1, ::1, localhost and the docker backend's service names, signed
by that CA) and `truststore.p12` (the CA as a Java PKCS12 trust store). The platform serves
HTTPS with the server pair; Toxiproxy forwards the bytes (TCP) untouched, so every toxic
still works; the system under test trusts the CA through the environment of `sut_env`
(Python, Node, Java and curl, without a code change); the harness's own calls trust it
through `client_context`. The CA's key is thrown away once the certificate is signed.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["RunTls", "make_run_tls", "sut_env", "client_context", "trust", "forget", "verify",
           "TLS_DIR", "TRUSTSTORE_PASSWORD"]

TLS_DIR = "tls"
#: the trust store holds only the run's public CA certificate; Java wants a password anyway
TRUSTSTORE_PASSWORD = "invoice-chaos"
#: names the server certificate covers: loopback, and the docker backend's network aliases
HOSTS = ("localhost", "taxplatform", "toxiproxy")
ADDRESSES = ("127.0.0.1", "::1")


class _File:
    """A file of a run's TLS folder, by its fixed name (read as a path under `dir`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, tls: RunTls | None, owner: type) -> Path:
        if tls is None:
            raise AttributeError(self.name)
        return tls.dir / self.name


@dataclass(frozen=True, slots=True)
class RunTls:
    """The files of one run's TLS: fixed names under `dir`, so the folder is all a run
    keeps (and all a test names) to find them again."""
    dir: Path

    ca_pem = _File("ca.pem")
    cert_pem = _File("server.pem")          # the server certificate, then the CA's
    key_pem = _File("server.key")
    truststore = _File("truststore.p12")    # the CA as a Java PKCS12 trust store


def make_run_tls(run_dir: Path, hosts: tuple[str, ...] = HOSTS, dirname: str = TLS_DIR) -> RunTls:
    """Make the run's CA, server certificate and Java trust store (EC P-256, valid for a day
    either side of now, so a clock-skewed service still accepts them)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d = run_dir / dirname
    d.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc)
    start, end = now - _dt.timedelta(days=1), now + _dt.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "invoice-chaos"),
                         x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"invoice-chaos run CA {run_dir.name}"[:64])])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    tls = RunTls(d)
    tls.ca_pem.write_bytes(ca.public_bytes(pem))
    tls.cert_pem.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    tls.key_pem.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    tls.key_pem.chmod(0o600)
    tls.truststore.write_bytes(pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(ca, b"invoice-chaos-run-ca")],
        serialization.BestAvailableEncryption(TRUSTSTORE_PASSWORD.encode())))
    return tls


def sut_env(tls: RunTls) -> dict[str, str]:
    """What the system under test gets so that it trusts the run's CA with no code change:
    OpenSSL (Python's ssl) and requests, curl (which reads CURL_CA_BUNDLE, not
    SSL_CERT_FILE), Node, Java, and the PEM path by name."""
    ca = str(tls.ca_pem.resolve())
    store = str(tls.truststore.resolve())
    return {"SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca, "CURL_CA_BUNDLE": ca,
            "NODE_EXTRA_CA_CERTS": ca,
            "TAX_PLATFORM_CA": ca,
            "JAVA_TOOL_OPTIONS": (f"-Djavax.net.ssl.trustStore={store} "
                                  "-Djavax.net.ssl.trustStoreType=PKCS12 "
                                  f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}")}


def client_context(ca_pem: Path | str) -> ssl.SSLContext:
    """A client context that trusts the run's CA (and checks the host name)."""
    return ssl.create_default_context(cafile=str(ca_pem))


# The harness's own calls to the platform (the drain, the ledger, the admin faults, the
# uploads) are made by several modules that each hold only a URL. The stack that serves an
# https origin registers the run's CA for it here while the run lasts; `verify(url)` is what
# those modules hand httpx, so they trust exactly that CA for exactly those origins.
_TRUST: dict[str, ssl.SSLContext] = {}
_LOCK = threading.Lock()


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}:{p.port}"


def trust(urls: list[str], ca_pem: Path) -> None:
    ctx = client_context(ca_pem)
    with _LOCK:
        for u in urls:
            _TRUST[_origin(u)] = ctx


def forget(urls: list[str]) -> None:
    with _LOCK:
        for u in urls:
            _TRUST.pop(_origin(u), None)


def verify(url: str) -> ssl.SSLContext | bool:
    """httpx's `verify` for a call to `url`: the run's CA where a stack registered one, else
    the default (True)."""
    if not url.startswith("https:"):
        return True
    with _LOCK:
        return _TRUST.get(_origin(url), True)
