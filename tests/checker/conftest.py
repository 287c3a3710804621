"""Every checker test runs through every reader that check_files has (harness.checker.files
PATHS: DuckDB and the Python reader), so a new checker test is covered on each by itself.

The autouse fixture `checker_path` is parametrized with those paths. For its test it
- forces `check_files` onto that path (INVOICE_CHAOS_CHECKER_PATH), and
- replaces the test module's `check` with one that also writes the history and ledger to
  files, runs `check_files` on the path and requires the same verdict as the pure `check`,
  decided by that path itself (DuckDB must not hand a valid history to Python).
A module that tests one path's internals sets `CHECKER_PATHS = ("duckdb",)`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.history import blue, call, red, write_files

from harness.checker import CheckOptions, CheckResult, check, check_files
from harness.checker import files

_pure_check = check


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "checker_path" in metafunc.fixturenames:
        paths = getattr(metafunc.module, "CHECKER_PATHS", files.PATHS)
        metafunc.parametrize("checker_path", paths, indirect=True)


def _through(path: str):
    def check_on_path(events: Any, ledger: Any, opts: CheckOptions | None = None) -> CheckResult:
        opts = opts or CheckOptions()
        events, ledger = list(events), list(ledger)
        pure = _pure_check(events, ledger, opts)
        with tempfile.TemporaryDirectory() as tmp:
            h, led = write_files(Path(tmp), events, ledger)
            got = check_files(h, led, opts)
        if pure.errors and path == "duckdb":
            # a crashed sub-check: DuckDB hands it to the Python path, which reports it
            assert got.path == "python" and "sub-check" in (got.fallback_reason or "")
        else:
            assert got.path == path, f"{path} fell back: {got.fallback_reason}"
        assert got.to_dict() == pure.to_dict()
        assert list(got.totals) == list(pure.totals)
        assert list(got.anomalies) == list(pure.anomalies)
        return pure
    return check_on_path


@pytest.fixture(autouse=True)
def checker_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    path = request.param
    monkeypatch.setenv(files.PATH_ENV, path)
    if getattr(request.module, "check", None) is _pure_check:
        monkeypatch.setattr(request.module, "check", _through(path))
    return path


def _generate():
    """benchmarks/gen_history.py by path (benchmarks is not an installed package)."""
    import importlib.util
    src = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_history.py"
    spec = importlib.util.spec_from_file_location("gen_history", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


@pytest.fixture(scope="session")
def generated_run(tmp_path_factory) -> tuple[Path, dict]:
    """3,000 generated orders with every planted class, plus refunds and reds, a pending
    answer before `issued`, a verify filed under another order, an orphan's red."""
    d = tmp_path_factory.mktemp("gen")
    expected = _generate()(d, orders=3000, plant_every=40, procs=50)
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    n = [f"2900000000000000000{i}" for i in range(10)]
    extra_h = (call(9000.0, "w0.0", "issue", "R1", result="issued", no=n[1])
               + call(9001.0, "w0.0", "refund", "R1", result="issued", no=n[9])
               + call(9002.0, "w1.1", "issue", "R2", result="issued", no=n[2])
               + call(9003.0, "w1.1", "issue", "R3", result="pending")
               + call(9004.0, "drain", "query", "R3", result="issued", no=n[3])
               + call(9005.0, "c1", "verify", "R1", result="issued", no=n[3])
               + call(9006.0, "w0.0", "refund", "R4", result="issued", no=n[8]))
    b1, b2, b3 = blue(n[1], "R1"), blue(n[2], "R2"), blue(n[3], "R3", t=9003.5)
    orphan = blue(n[5], "ZZ")
    extra_l = [b1, red(n[9], b1), b2, red("29000000000000000010", b2), b3, orphan,
               red("29000000000000000011", orphan)]
    with open(h, "ab") as f:
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in extra_h))
    with open(led, "ab") as f:
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in extra_l))
    return d, expected


@pytest.fixture(scope="session")
def factory_run(tmp_path_factory) -> tuple[Path, dict]:
    """2,000 orders from the load generator's order factory (benchmarks/gen_factory.py:
    every order distinct, refunds, verifies, polls, final reads, one proc per order and
    shared procs), one planted anomaly of each class in every 50 orders."""
    import importlib.util
    src = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_factory.py"
    spec = importlib.util.spec_from_file_location("gen_factory", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = tmp_path_factory.mktemp("factory")
    return d, mod.generate(d, orders=2000, plant_every=50, jobs=1)
