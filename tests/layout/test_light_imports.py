"""The scenario parser and the checker's vocabulary load without the checker's heavy parts."""
from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_the_scenario_parser_and_the_vocabulary_import_no_numpy_or_duckdb():
    out = _run("import sys, harness.scenario.parse, harness.checker.result, harness.gates; "
               "print(sorted(m for m in ('numpy', 'duckdb', 'harness.checker.check', "
               "'harness.checker.files') if m in sys.modules))")
    assert out == "[]"


def test_check_and_check_files_still_come_from_the_package():
    out = _run("import types, harness.checker.check, harness.checker.files\n"
               "from harness.checker import ANOMALY_CLASSES, check, check_files, duck\n"
               "import harness.checker as c\n"
               "print(callable(check), not isinstance(check, types.ModuleType), c.check is check,"
               " check_files.__module__, duck.__name__, len(ANOMALY_CLASSES) > 0)")
    assert out == "True True True harness.checker.files harness.checker.duck True"
