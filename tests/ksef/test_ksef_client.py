"""The open-source `ksef-client` (PyPI, MIT), unchanged, against the real `ksef` platform:
the fidelity proof of the profile with a client nobody here wrote."""
from __future__ import annotations

import time

import pytest

ksef_client = pytest.importorskip("ksef_client")
from ksef_client import KsefClient, KsefClientOptions  # noqa: E402
from ksef_client.exceptions import KsefRateLimitError  # noqa: E402
from ksef_client.models import FormCode  # noqa: E402
from ksef_client.services.workflows import AuthCoordinator, OnlineSessionWorkflow  # noqa: E402

from fakes.taxplatform.frontends.ksef.ids import is_ksef_number  # noqa: E402

from .ksef_support import invoice  # noqa: E402

pytestmark = [pytest.mark.integration]


def _poll(session, ref: str, token: str):  # type: ignore[no-untyped-def]
    for _ in range(100):
        st = session.get_invoice_status(ref, access_token=token)
        if st.status.code not in (100, 150):
            return st
        time.sleep(0.05)
    raise AssertionError("the invoice stayed 100/150")


def test_ksef_client_full_flow(ksef_https, monkeypatch):
    run, tls = ksef_https
    # the run's CA reaches the client as it reaches a system under test: SSL_CERT_FILE
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
    assert run.url.startswith("https://")
    seller_nip, token = run.sellers[0]["seller_tax_id"], run.sellers[0]["secret"]
    client = KsefClient(KsefClientOptions(base_url=run.url))
    certs = client.security.get_public_key_certificates()
    usages = {u.value if hasattr(u, "value") else u for c in certs for u in c.usage}
    assert usages == {"KsefTokenEncryption", "SymmetricKeyEncryption"}
    tok_cert = next(c for c in certs if any(
        getattr(u, "value", u) == "KsefTokenEncryption" for u in c.usage))
    sym_cert = next(c for c in certs if any(
        getattr(u, "value", u) == "SymmetricKeyEncryption" for u in c.usage))
    auth = AuthCoordinator(client.auth).authenticate_with_ksef_token(
        token=token, public_certificate=tok_cert.certificate, context_identifier_type="Nip",
        context_identifier_value=seller_nip, poll_interval_seconds=0.05)
    access = auth.access_token
    session = OnlineSessionWorkflow(client.sessions).open_session(
        form_code=FormCode(system_code="FA (3)", schema_version="1-0E", value="FA"),
        public_certificate=sym_cert.certificate, access_token=access)
    sent = session.send_invoice(invoice("FV/1/2026", seller=seller_nip, order_ref="ord-1"),
                                access_token=access)
    st = _poll(session, sent.reference_number, access)
    assert st.status.code == 200, st
    assert is_ksef_number(st.ksef_number)
    upo = session.get_invoice_upo_by_ref(sent.reference_number, access_token=access)
    assert st.ksef_number.encode() in (upo if isinstance(upo, bytes) else upo.content)
    # the same seller NIP + RodzajFaktury + P_2 again: 440 with the original number
    dup = session.send_invoice(invoice("FV/1/2026", seller=seller_nip, amount="5.00"),
                               access_token=access)
    st2 = _poll(session, dup.reference_number, access)
    assert st2.status.code == 440
    assert st2.status.extensions["originalKsefNumber"] == st.ksef_number
    # an invoice that breaks the XSD (no JST/GV in Podmiot2): 450, validator in details
    bad = invoice("FV/2/2026", seller=seller_nip).replace(b"<JST>2</JST><GV>2</GV>", b"")
    st3 = _poll(session, session.send_invoice(bad, access_token=access).reference_number,
                access)
    assert st3.status.code == 450
    assert any("JST" in d for d in st3.status.details)
    session.close(access_token=access)
    # the documented send limit (10/s) : a burst meets 429 with Retry-After
    s2 = OnlineSessionWorkflow(client.sessions).open_session(
        form_code=FormCode(system_code="FA (3)", schema_version="1-0E", value="FA"),
        public_certificate=sym_cert.certificate, access_token=access)
    with pytest.raises(KsefRateLimitError) as exc:
        for i in range(25):
            s2.send_invoice(invoice(f"FV/B/{i}", seller=seller_nip), access_token=access)
    assert exc.value.retry_after is not None and exc.value.retry_after >= 1
