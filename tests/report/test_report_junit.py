"""junit.xml: one testcase per gate, failures exactly where gates failed."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report import write_junit
from report_runs import EVIL_ORDER, summary


def _suite(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    return root


def _cases(root):
    return {tc.get("name"): tc for tc in root.iter("testcase")}


def test_one_testcase_per_gate_with_failures_where_gates_failed(tmp_path):
    root = _suite(write_junit(tmp_path, summary()))
    assert root.get("name") == "invoice-chaos.smoke"
    cases = _cases(root)
    gates = {n: tc for n, tc in cases.items() if n.startswith("gate: ")}
    assert sorted(gates) == ["gate: duplicated", "gate: lost", "gate: mismatched", "gate: p95_ms"]
    failed = {n for n, tc in gates.items() if tc.find("failure") is not None}
    assert failed == {"gate: lost", "gate: mismatched"}
    assert all(tc.get("classname") == "invoice-chaos.smoke" for tc in cases.values())
    lost = gates["gate: lost"].find("failure")
    assert lost.get("message") == "lost = 3, limit == 0"
    # the first anomalies, with order ids (markup survives as text) and reasons
    assert "O7-1: told issued" in lost.text
    assert EVIL_ORDER in lost.text and "number differs <b>" in lost.text
    assert "1 more" in lost.text
    assert root.get("tests") == "5" and root.get("failures") == "2"
    # valid = false is the gates' business: the checker case itself passes
    assert cases["checker"].find("failure") is None and cases["checker"].find("error") is None


def test_checker_unknown_is_an_error_and_chinese_survives(tmp_path):
    s = summary(checker={"valid": "unknown", "errors": ["classify 崩溃: KeyError \x00 'x'"]},
                gates=[{"name": "lost", "limit": "== 0", "value": 0, "passed": True}],
                scenario="春节-peak")
    root = _suite(write_junit(tmp_path, s))
    assert root.get("name") == "invoice-chaos.春节-peak"
    checker = _cases(root)["checker"]
    assert checker.find("error") is not None and checker.find("failure") is None
    assert "classify 崩溃" in checker.find("error").text
    assert root.get("errors") == "1" and root.get("failures") == "0"


def test_checker_valid_passes_and_interrupted_run_errors(tmp_path):
    s = summary(gates=[], checker={"valid": True, "errors": []}, verdict="interrupted",
                interrupted=True)
    cases = _cases(_suite(write_junit(tmp_path, s)))
    assert list(cases["checker"]) == []                  # no failure, no error
    assert cases["run"].find("error") is not None
