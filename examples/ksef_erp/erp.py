"""A small Polish ERP that clears its invoices through KSeF 2.0 with the open-source client
`ksef-client` (PyPI, MIT), and serves the customer contract of docs/sut-contract.md s.2.

It knows nothing of invoice-chaos: pointed at real KSeF (`KSEF_URL`, a real token) it would
send the same requests. Under the harness it reads the environment of sut-contract.md s.1
(`PORT`, `TAX_PLATFORM_URL`, `SELLERS_FILE` with each seller's NIP and `ksef_token`,
`DATA_DIR`) and talks to the fake's `ksef` profile.

The rules (docs/sut-contract.md s.11): an order is written to SQLite with its own invoice
number P_2 before the customer hears 202 "pending"; one worker thread sends each pending
order into the seller's online session and polls its status; a send with an unknown outcome
is sent again with the same P_2 (as an offline invoice when KSeF was unreachable); 440 means
"already there" (the original KSeF number is the invoice's); 429 waits for Retry-After;
401 authenticates again; a session KSeF no longer takes is replaced.

    PORT=8080 TAX_PLATFORM_URL=http://127.0.0.1:9000 SELLERS_FILE=sellers.json \
        DATA_DIR=/tmp/erp python examples/ksef_erp/erp.py
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from ksef_client import KsefClient, KsefClientOptions
from ksef_client.exceptions import KsefHttpError, KsefRateLimitError
from ksef_client.models import FormCode
from ksef_client.services.workflows import AuthCoordinator, OnlineSessionWorkflow

CENT = Decimal("0.01")
FORM = FormCode(system_code="FA (3)", schema_version="1-0E", value="FA")
# Polish VAT rate -> (P_12, the P_13_x/P_14_x suffix, has a VAT field)
RATES = {Decimal("0.23"): ("23", "1", True), Decimal("0.08"): ("8", "2", True),
         Decimal("0.05"): ("5", "3", True), Decimal("0"): ("0 KR", "6_1", False)}


def fa3(order: dict, p2: str, seller_name: str) -> bytes:
    """The FA(3) invoice of a customer order (amounts half-up per line, to the grosz)."""
    net: dict[str, Decimal] = {}
    vat: dict[str, Decimal] = {}
    rows = []
    for i, ln in enumerate(order["lines"], 1):
        code, sfx, has_vat = RATES[Decimal(ln["tax_rate"])]
        amount = (Decimal(ln["quantity"]) * Decimal(ln["unit_price"])).quantize(CENT, ROUND_HALF_UP)
        net[sfx] = net.get(sfx, Decimal(0)) + amount
        if has_vat:
            tax = (amount * Decimal(ln["tax_rate"])).quantize(CENT, ROUND_HALF_UP)
            vat[sfx] = vat.get(sfx, Decimal(0)) + tax
        rows.append(f"<FaWiersz><NrWierszaFa>{i}</NrWierszaFa><P_7>{escape(ln['name'])}</P_7>"
                    f"<P_8A>szt.</P_8A><P_8B>{ln['quantity']}</P_8B><P_9A>{ln['unit_price']}</P_9A>"
                    f"<P_11>{amount}</P_11><P_12>{code}</P_12></FaWiersz>")
    sums = "".join(f"<P_13_{s}>{net[s]}</P_13_{s}>" + (f"<P_14_{s}>{vat[s]}</P_14_{s}>" if s in vat else "")
                   for s in ("1", "2", "3", "6_1") if s in net)
    buyer = order["buyer"]
    bid = f"<NIP>{buyer['tax_id']}</NIP>" if buyer.get("tax_id") else "<BrakID>1</BrakID>"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/"><Naglowek>'
            '<KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>'
            f"<WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{today}T00:00:00Z"
            f"</DataWytworzeniaFa></Naglowek><Podmiot1><DaneIdentyfikacyjne><NIP>"
            f"{order['seller_tax_id']}</NIP><Nazwa>{escape(seller_name)}</Nazwa>"
            "</DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Prosta 1, Warszawa"
            f"</AdresL1></Adres></Podmiot1><Podmiot2><DaneIdentyfikacyjne>{bid}<Nazwa>"
            f"{escape(buyer['name'])}</Nazwa></DaneIdentyfikacyjne><JST>2</JST><GV>2</GV>"
            f"</Podmiot2><Fa><KodWaluty>PLN</KodWaluty><P_1>{today}</P_1><P_2>{escape(p2)}</P_2>"
            f"{sums}<P_15>{sum(net.values()) + sum(vat.values())}</P_15><Adnotacje><P_16>2</P_16>"
            "<P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie>"
            "<NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy>"
            "<P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje><RodzajFaktury>VAT</RodzajFaktury>"
            + "".join(rows) + "<WarunkiTransakcji><Zamowienia><NrZamowienia>"
            f"{escape(order['order_id'])}</NrZamowienia></Zamowienia></WarunkiTransakcji>"
            "</Fa></Faktura>").encode("utf-8")


class Ledger:
    """The ERP's own orders, in SQLite (survives a restart)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, "
                        "body TEXT, status TEXT, invoice_no TEXT, sref TEXT, iref TEXT, "
                        "offline INTEGER DEFAULT 0, sent_at REAL DEFAULT 0)")
        self.lock = threading.Lock()

    def get(self, order_id: str) -> tuple | None:
        with self.lock:
            return self.db.execute("SELECT status, invoice_no FROM orders WHERE order_id=?",
                                   (order_id,)).fetchone()

    def add(self, order: dict) -> tuple:
        with self.lock:
            self.db.execute("INSERT OR IGNORE INTO orders (order_id, body, status) VALUES (?, ?, "
                            "'pending')", (order["order_id"], json.dumps(order)))
            return self.db.execute("SELECT status, invoice_no FROM orders WHERE order_id=?",
                                   (order["order_id"],)).fetchone()

    def pending(self) -> list[tuple]:
        with self.lock:
            return self.db.execute("SELECT order_id, body, sref, iref, offline, sent_at FROM orders "
                                   "WHERE status='pending' ORDER BY rowid LIMIT 200").fetchall()

    def set(self, order_id: str, **cols: object) -> None:
        with self.lock:
            self.db.execute(f"UPDATE orders SET {', '.join(f'{k}=?' for k in cols)} WHERE order_id=?",
                            (*cols.values(), order_id))


class Ksef:
    """ksef-client, one access token and one open online session per seller."""

    def __init__(self, base_url: str, sellers: list[dict]) -> None:
        self.client = KsefClient(KsefClientOptions(base_url=base_url))
        self.sellers = {s["seller_tax_id"]: s for s in sellers}
        self.access: dict[str, str] = {}
        self.sessions: dict[str, object] = {}
        self.certs: dict[str, str] = {}

    def cert(self, usage: str) -> str:
        if usage not in self.certs:
            for c in self.client.security.get_public_key_certificates():
                for u in c.usage:
                    self.certs[getattr(u, "value", u)] = c.certificate
        return self.certs[usage]

    def token(self, nip: str) -> str:
        if nip not in self.access:
            s = self.sellers[nip]
            self.access[nip] = AuthCoordinator(self.client.auth).authenticate_with_ksef_token(
                token=s.get("ksef_token") or s["secret"], public_certificate=self.cert(
                    "KsefTokenEncryption"), context_identifier_type="Nip",
                context_identifier_value=nip, poll_interval_seconds=0.2).access_token
        return self.access[nip]

    def session(self, nip: str):  # type: ignore[no-untyped-def]
        if nip not in self.sessions:
            self.sessions[nip] = OnlineSessionWorkflow(self.client.sessions).open_session(
                form_code=FORM, public_certificate=self.cert("SymmetricKeyEncryption"),
                access_token=self.token(nip))
        return self.sessions[nip]

    def forget(self, nip: str, status: int) -> None:
        if status == 401:
            self.access.pop(nip, None)
        self.sessions.pop(nip, None)


def work(ledger: Ledger, ksef: Ksef, stop: threading.Event) -> None:
    """Send every pending order, poll what was sent; never give an order up."""
    while not stop.is_set():
        for order_id, body, sref, iref, offline, sent_at in ledger.pending():
            order = json.loads(body)
            nip = order["seller_tax_id"]
            try:
                if iref and time.time() - sent_at > 15:      # still not decided: send again
                    ledger.set(order_id, sref=None, iref=None)
                    continue
                if iref:
                    st = ksef.client.sessions.get_session_invoice_status(
                        sref, iref, access_token=ksef.token(nip))
                    code = st.status.code
                    if code == 200:
                        ledger.set(order_id, status="issued", invoice_no=st.ksef_number)
                    elif code == 440:       # an earlier send of ours landed: that is the invoice
                        ext = st.status.extensions or {}
                        ledger.set(order_id, status="issued", invoice_no=ext.get("originalKsefNumber"))
                    elif code not in (100, 150):
                        ledger.set(order_id, sref=None, iref=None)   # 405/435/...: send again
                    continue
                session = ksef.session(nip)
                seller = ksef.sellers[nip]
                sent = session.send_invoice(fa3(order, f"FV/{order_id}", seller.get("name", nip)),
                                            offline_mode=bool(offline),
                                            access_token=ksef.token(nip))
                ledger.set(order_id, sref=session.reference_number, iref=sent.reference_number,
                           sent_at=time.time())
            except KsefRateLimitError as e:
                stop.wait(max(1, e.retry_after or 1))
            except KsefHttpError as e:
                if e.status_code in (0, 502, 503, 504) or e.status_code >= 500:
                    ledger.set(order_id, offline=1)           # KSeF unavailable: offline invoice
                    stop.wait(0.5)
                else:
                    ksef.forget(nip, e.status_code)           # 401, a closed session, ...
        stop.wait(0.2)


def main() -> None:
    port = int(os.environ["PORT"])
    base = os.environ.get("KSEF_URL") or os.environ["TAX_PLATFORM_URL"].rstrip("/")
    sellers = json.loads(Path(os.environ["SELLERS_FILE"]).read_text(encoding="utf-8"))
    data = Path(os.environ.get("DATA_DIR", "."))
    data.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(data / "erp.sqlite3")
    ksef = Ksef(base, sellers)
    stop = threading.Event()
    threading.Thread(target=work, args=(ledger, ksef, stop), daemon=True).start()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"        # keep-alive: the customers reuse connections

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def state(self, order_id: str, row: tuple) -> dict:
            out = {"order_id": order_id, "status": row[0]}
            if row[1]:
                out["invoice_no"] = row[1]
            return out

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/healthz":
                return self.answer(200, {"status": "ok"})
            order_id = self.path.rsplit("/", 1)[-1]
            row = ledger.get(order_id) if self.path.startswith("/v1/invoices/") else None
            if row is None:
                return self.answer(404, {"error": "not_found", "message": "no such order"})
            self.answer(200, self.state(order_id, row))

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/refund"):
                return self.answer(409, {"error": "not_supported", "message":
                                         "corrections (KOR) are not sent by this ERP"})
            try:
                order = json.loads(raw)
                assert isinstance(order["order_id"], str) and order["seller_tax_id"] in ksef.sellers
                assert all(Decimal(ln["tax_rate"]) in RATES for ln in order["lines"])
            except (ValueError, KeyError, TypeError, AssertionError, ArithmeticError):
                return self.answer(400, {"error": "invalid", "message": "not an order of this ERP"})
            row = ledger.add(order)
            self.answer(201 if row[0] == "issued" else 202, self.state(order["order_id"], row))

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    try:
        server.serve_forever()
    finally:
        stop.set()


if __name__ == "__main__":
    main()
