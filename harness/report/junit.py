"""`junit.xml`: one testcase per gate, so a CI server shows which threshold broke.

A failed gate's `<failure>` carries the first anomalies of its class (order id
and reason), which is what a developer needs to start looking. A checker that
crashed (`valid == "unknown"`) is an `<error>`, not a pass: a run whose
correctness could not be decided must not look green. `valid == false` alone
is not a failure: the gates decide which anomalies a scenario tolerates.

ElementTree escapes markup; characters that XML 1.0 cannot hold at all (NUL and
other control characters from a server's error text) are removed first.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.rundir import JUNIT
from harness.summary import Summary

__all__ = ["write_junit", "junit_xml", "MAX_LISTED"]

MAX_LISTED = 10     # anomalies quoted in a failure's text
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _gate_failure_text(gate: dict[str, Any], summary: Summary) -> str:
    name = str(gate.get("name"))
    listed = summary.anomalies.get(name) or []
    total = summary.anomaly_totals.get(name, len(listed))
    lines = [f"gate {name}: value {gate.get('value')}, limit {gate.get('limit')}"]
    if listed:
        lines.append(f"{total} {name} anomal{'y' if total == 1 else 'ies'}; first:")
        for anomaly in listed[:MAX_LISTED]:
            if isinstance(anomaly, dict):
                lines.append(f"  {anomaly.get('order_id')}: {anomaly.get('reason')}")
        if isinstance(total, int) and total > min(len(listed), MAX_LISTED):
            lines.append(f"  ... {total - min(len(listed), MAX_LISTED)} more "
                         "(see report.html)")
    return "\n".join(lines)


def junit_xml(summary: Summary | dict[str, Any]) -> ET.Element:
    """The `<testsuite>` element for a summary (pure; `write_junit` writes it)."""
    summary = Summary.coerce(summary)
    scenario = str(summary.scenario or "unnamed")
    suite_name = f"invoice-chaos.{scenario}"
    suite = ET.Element("testsuite", name=_text(suite_name))
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "seed", "verdict", "started_at"):
        if getattr(summary, key) is not None:
            ET.SubElement(props, "property", name=key, value=_text(getattr(summary, key)))
    tests = failures = errors = 0

    def case(name: str) -> ET.Element:
        nonlocal tests
        tests += 1
        return ET.SubElement(suite, "testcase", classname=_text(suite_name),
                             name=_text(name), time="0")

    for gate in summary.gates:
        tc = case(f"gate: {gate.get('name')}")
        if not gate.get("passed"):
            failures += 1
            fail = ET.SubElement(tc, "failure", type="GateFailed", message=_text(
                f"{gate.get('name')} = {gate.get('value')}, limit {gate.get('limit')}"))
            fail.text = _text(_gate_failure_text(gate, summary))

    checker = summary.checker
    tc = case("checker")
    valid = "unknown" if checker.valid is None else checker.valid
    problems = "\n".join(_text(e) for e in checker.errors)
    if valid == "unknown":
        errors += 1
        err = ET.SubElement(tc, "error", type="CheckerUnknown",
                            message="the checker could not decide (valid = unknown)")
        err.text = problems or "no checker result in summary.json"
    elif valid is not True:
        # anomalies are judged by the gates (a scenario may allow some); say so, don't fail
        out = ET.SubElement(tc, "system-out")
        out.text = _text("the checker found anomalies; the gates above decide the verdict"
                         + (f"\n{problems}" if problems else ""))

    verdict = summary.verdict
    if verdict in ("interrupted", "error") or summary.interrupted:
        tc = case("run")
        errors += 1
        err = ET.SubElement(tc, "error", type="RunIncomplete",
                            message=_text(f"the run ended with verdict {verdict}"))
        err.text = _text("\n".join(str(n) for n in summary.notes))

    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    duration = summary.duration_s
    suite.set("time", f"{float(duration):.3f}" if isinstance(duration, (int, float)) else "0")
    if summary.started_at:
        suite.set("timestamp", _text(summary.started_at))
    return suite


def write_junit(run_dir: Path, summary: Summary | dict[str, Any]) -> Path:
    """Write `run_dir/junit.xml` (UTF-8, one `<testsuite>`) and return its path."""
    path = Path(run_dir) / JUNIT
    root = junit_xml(summary)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
