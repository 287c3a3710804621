"""A user's system that cannot be tested fails fast with exit 3 and says why — never a hang."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from support.processes import invoice_chaos, lingering

pytestmark = pytest.mark.integration

SUT_SECTION = "  sut: {command: unused, startup_timeout: 4s}\n"


def _scenario(tiny_scenario) -> Path:
    path = tiny_scenario()
    path.write_text(path.read_text().replace("merchant:\n  sellers: 3\n", "merchant:\n  sellers: 3\n" + SUT_SECTION))
    return path


@pytest.mark.parametrize("command,expect", [
    (f"{sys.executable} -c 'import sys; print(\"bye\"); sys.exit(4)'", "exited with code 4"),
    (f"{sys.executable} -c \"import http.server, os; http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT']) + 1), "
     "http.server.BaseHTTPRequestHandler).serve_forever()\"", "did not become healthy within 4s"),
    (f"{sys.executable} -c \"import socketserver, os\n"
     "class H(socketserver.BaseRequestHandler):\n"
     "    def handle(self): self.request.sendall(b'garbage, not HTTP\\\\n')\n"
     "socketserver.TCPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\"",
     "did not become healthy within 4s"),
    (f"{sys.executable} -c \"import http.server, os\n"
     "class H(http.server.BaseHTTPRequestHandler):\n"
     "    def do_GET(self): self.send_response(200); self.end_headers(); self.wfile.write(b'hello')\n"
     "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\"",
     "does not follow the contract"),
], ids=["exits-at-once", "wrong-port", "not-http", "answers-200-to-everything"])
def test_a_broken_sut_is_exit_3_with_a_reason(tiny_scenario, tmp_path: Path, command: str, expect: str):
    out_dir = tmp_path / "run"
    started = time.monotonic()
    out = invoice_chaos("run", str(_scenario(tiny_scenario)), "--sut-cmd", command, "--out", str(out_dir), timeout=120)
    assert out.returncode == 3, out.stdout + out.stderr
    assert expect in out.stdout + out.stderr
    assert time.monotonic() - started < 60
    assert lingering(str(out_dir)) == []
    assert (out_dir / "logs" / "merchant.log").is_file()


def test_the_exit_message_shows_the_sut_log_tail(tiny_scenario, tmp_path: Path):
    cmd = f"{sys.executable} -c 'import sys; print(\"config error: TAX_PLATFORM_URL unset?\"); sys.exit(2)'"
    out = invoice_chaos("run", str(_scenario(tiny_scenario)), "--sut-cmd", cmd, "--out", str(tmp_path / "r"), timeout=120)
    assert out.returncode == 3
    assert "config error: TAX_PLATFORM_URL unset?" in out.stdout + out.stderr
