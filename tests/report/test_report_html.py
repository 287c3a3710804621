"""report.html: verdict, gates, anomalies with timelines, embedded plots, escaping."""
from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from harness.errors import InputError
from harness.report import write_report
from report_runs import EVIL_ORDER, summary, write_run


class _Collect(HTMLParser):
    """Collects tags, text and <img> sources: checks the page parses as the browser sees it."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("r") / "smoke-run")
    path = write_report(run)
    html = path.read_text("utf-8")
    parser = _Collect()
    parser.feed(html)
    return run, path, html, parser


def test_writes_every_file(page):
    run, path, _, _ = page
    assert path == run / "report.html"
    for name in ("junit.xml", "timeseries.json", "latency.csv", "plots/throughput.png",
                 "plots/latency.png", "plots/outcomes.png"):
        assert (run / name).stat().st_size > 0, name
    assert json.loads((run / "timeseries.json").read_text())["completions"] == 5


def test_header_verdict_and_gates(page):
    _, _, html, parser = page
    text = " ".join(parser.text)
    assert '<meta charset="utf-8">' in html
    assert re.search(r'class="badge fail">FAIL<', html)
    assert "smoke-20261123T101500Z" in text and "robust" in text and "42.1 s" in text
    assert "双十一 零点 smoke test" in text           # Chinese kept as is
    for gate in ("lost", "duplicated", "mismatched", "p95_ms"):
        assert re.search(rf"<td>{gate}</td>", html), gate
    assert html.count('<td class="res">FAIL</td>') == 2
    assert html.count('<td class="res">pass</td>') == 2
    assert "2 of 4 passed" in text


def test_anomalies_timelines_and_more_not_shown(page):
    _, _, html, parser = page
    text = "".join(parser.text)
    assert parser.tags.count("details") == 3
    assert "O7-1" in text and "O7-9" in text and EVIL_ORDER in text
    # the timeline rows of O7-1: its invoke, the issued answer and the 404 query
    assert "26110000000000000001" in text and "not_found" in text and "w0.4" in text
    assert "ReadTimeout: 读取超时" not in text     # O7-3 is not an anomaly
    assert "北京某某科技有限公司" in text            # the order as sent
    assert "26110000000000000002" in text and "28.30" in text   # the platform's invoice
    assert "2026-11-18 11:06:43.000Z (t 3)" in text              # issued_at: UTC and run t
    assert "latency merchant-&gt;taxplatform" in html            # fault active at t=3.4
    assert "1 more not shown" in text
    assert "How to read this report" in text and "phantom" in text


def test_escapes_script_in_order_id(page):
    _, _, html, parser = page
    assert "<script>" not in html and "<script" not in html.lower()
    assert "script" not in parser.tags
    assert "O7-&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "number differs &lt;b&gt;" in html


def test_plots_embedded_as_data_uris(page):
    run, _, html, parser = page
    assert len(parser.imgs) == 3
    for src in parser.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', html)    # no external assets


def test_fault_schedule_planned_and_actual(page):
    _, _, html, parser = page
    text = " ".join(parser.text)
    assert "Fault schedule" in text
    assert "instant" in text                              # the kill has no end
    assert "error: admin call refused" in text
    assert "1.02" in text and '"latency": 1500' in text.replace("&quot;", '"')


def test_missing_optional_files_and_empty_history(tmp_path):
    run = write_run(tmp_path / "bare", summary(verdict="pass", anomalies={}, anomaly_totals={},
                                               gates=[], faults=[]),
                    history=[], faults=None, load_stats=False, run_json=False)
    html = write_report(run).read_text("utf-8")
    assert 'class="badge pass">PASS<' in html
    assert "No faults were applied" in html and "listed no anomalies" in html
    assert html.count("data:image/png;base64,") == 3


def test_summary_passed_in_and_no_history_file(tmp_path):
    run = tmp_path / "only-summary"
    run.mkdir()
    html = write_report(run, summary(verdict="interrupted", interrupted=True)).read_text()
    assert 'class="badge interrupted">INTERRUPTED<' in html
    assert (run / "junit.xml").exists() and not (run / "summary.json").exists()


def test_no_summary_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="summary.json"):
        write_report(tmp_path)


def test_duration_falls_back_to_run_json(tmp_path):
    s = summary(duration_s=None)
    html = write_report(write_run(tmp_path / "r", s, history=None)).read_text("utf-8")
    assert "duration <b>20 s</b>" in html          # run.json: drain_end_t 20.0


def test_nonzero_anomaly_counts_are_highlighted(page):
    _, _, html, _ = page
    assert '<tr class="failed"><th>lost</th><td class="num">3</td></tr>' in html
    assert '<tr><th>duplicated</th><td class="num">0</td></tr>' in html
    assert '<tr><th>recovered</th><td class="num">1</td></tr>' in html   # fine, not red


def test_a_long_timeline_shows_its_start_and_its_end():
    """An order retried thousands of times stays a page: its first and last events."""
    from harness.report import page
    events = [{"t": float(i), "proc": "w0", "op": "query", "type": "invoke" if i % 2 == 0
               else "ok", "order_id": "A"} for i in range(500)]
    html = page._anomaly({"order_id": "A", "reason": "r", "events": events}, [])
    assert f"{500 - 2 * page.TIMELINE_ENDS} events not shown" in html
    assert html.count("<tr") == 2 * page.TIMELINE_ENDS + 2       # header and the gap
    assert ">499<" in html and ">0<" in html and ">250<" not in html
