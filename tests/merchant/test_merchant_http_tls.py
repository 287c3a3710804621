"""The merchant's platform client over HTTPS (design.md s.13): it trusts the run's CA named by
TAX_PLATFORM_CA, and a certificate nobody vouched for is a transport error ("unknown"), never
an answer. A real TLS server on 127.0.0.1 with a certificate made here."""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fakes.merchant.http import AsyncHttp, TransportError


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _certs(tmp: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) for 127.0.0.1."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test run CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(_pem(ca))
    paths[1].write_bytes(_pem(cert))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


async def _serve(cert: Path, key: Path) -> asyncio.Server:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"code":"E0000"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0, ssl=ctx)


@pytest.mark.parametrize("trusted", [True, False])
def test_https_with_the_runs_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: bool) -> None:
    ca, cert, key = _certs(tmp_path)
    if trusted:
        monkeypatch.setenv("TAX_PLATFORM_CA", str(ca))
    else:
        monkeypatch.delenv("TAX_PLATFORM_CA", raising=False)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)

    async def go() -> bytes | str:
        server = await _serve(cert, key)
        port = server.sockets[0].getsockname()[1]
        http = AsyncHttp(f"https://127.0.0.1:{port}")
        try:
            return (await http.request("POST", "/open/v1/services", content=b"{}",
                                       content_type="application/json", timeout=5)).content
        except TransportError as e:
            return str(e)
        finally:
            await http.aclose()
            server.close()
            await server.wait_closed()

    got = asyncio.run(go())
    if trusted:
        assert got == b'{"code":"E0000"}'
    else:
        assert isinstance(got, str) and "CERTIFICATE_VERIFY_FAILED" in got
