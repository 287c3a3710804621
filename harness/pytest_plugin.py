"""pytest plugin: scenario files become tests, so a QA suite is `pytest scenarios/`.

Collected: `*.yaml` files in a directory named `scenarios` (curves and other files are not
scenarios) and files named `scenario_*.yaml` anywhere. Each becomes one test that runs the
scenario end to end through `invoice-chaos run` (a subprocess: Locust and the stack must
not share the pytest process) and fails with the gate table, not a traceback.

    pytest scenarios/smoke.yaml --ic-scale 0.5
    pytest scenarios/ --ic-sut-cmd "python my_merchant.py" --ic-out reports/suite
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import EXIT_STACK, EXIT_USAGE, InputError
from harness.rundir import REPORT, SUMMARY
from harness.summary import Summary

__all__ = ["ScenarioFile", "ScenarioItem", "ScenarioFailed"]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("invoice-chaos", "invoice-chaos scenario runs")
    g.addoption("--ic-scale", type=float, default=None, help="multiply every scenario's load (--scale)")
    g.addoption("--ic-merchant-mode", default=None, help="bundled merchant mode for every scenario")
    g.addoption("--ic-sut-cmd", default=None, help="your merchant system's start command (--sut-cmd)")
    g.addoption("--ic-client", default=None,
                help="FILE.py:Class, the client adapter of your system's own API (--client)")
    g.addoption("--ic-seed", type=int, default=None, help="override every scenario's seed")
    g.addoption("--ic-out", default=None, help="where run directories go (default: reports/)")


def _is_scenario(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml"):
        return False
    return path.parent.name == "scenarios" or path.name.startswith("scenario_")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _is_scenario(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    """The run finished and a gate failed (exit 1), or it could not run (exit 2/3)."""

    def __init__(self, code: int, summary: Summary | None, output: str, run_dir: Path):
        super().__init__(f"exit {code}")
        self.code, self.summary, self.output, self.run_dir = code, summary, output, run_dir


class ScenarioFile(pytest.File):
    def collect(self):  # type: ignore[override]
        from .errors import ScenarioError
        from .scenario import load_scenario
        try:
            scenario = load_scenario(self.path)
            name = scenario.name
        except ScenarioError:
            name = self.path.stem                # the item reports the errors when it runs
        yield ScenarioItem.from_parent(self, name=name)


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        cfg = self.config
        base = Path(cfg.getoption("--ic-out") or "reports")
        run_dir = base / f"{self.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-pytest"
        n = 2
        while run_dir.exists():
            run_dir = run_dir.with_name(f"{run_dir.name}-{n}")
            n += 1
        cmd = [sys.executable, "-m", "harness", "run", str(self.path), "--out", str(run_dir)]
        for opt, flag in (("--ic-scale", "--scale"), ("--ic-merchant-mode", "--merchant-mode"),
                          ("--ic-sut-cmd", "--sut-cmd"), ("--ic-client", "--client"),
                          ("--ic-seed", "--seed")):
            value = cfg.getoption(opt)
            if value is not None:
                cmd += [flag, str(value)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        summary = None
        if (run_dir / SUMMARY).is_file():
            try:
                summary = Summary.read(run_dir)
            except InputError:
                summary = None
        self.user_properties.append(("run_dir", str(run_dir)))
        if proc.returncode != 0:
            raise ScenarioFailed(proc.returncode, summary, proc.stdout + proc.stderr, run_dir)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, ScenarioFailed):
            return super().repr_failure(excinfo)
        e = excinfo.value
        if e.code in (EXIT_USAGE, EXIT_STACK) or e.summary is None:
            tail = "\n".join(e.output.strip().splitlines()[-25:])
            return f"scenario {self.path} could not run (exit {e.code}):\n{tail}"
        lines = [f"scenario {self.name}: verdict {(e.summary.verdict or 'unknown').upper()} "
                 f"(exit {e.code})", f"{'gate':<24}{'value':>12}  limit"]
        for g in e.summary.gates:
            mark = "" if g["passed"] else "   <-- FAILED"
            lines.append(f"{g['name']:<24}{str(g['value']):>12}  {g['limit']}{mark}")
        for cls, items in e.summary.anomalies.items():
            for a in items[:3]:
                lines.append(f"  {cls}: order {a.get('order_id')}: {a.get('reason')}")
        lines.append(f"report: {e.run_dir / REPORT}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"
