"""Seeded fault schedules (harness/faults/plan.py `expand`): `random:` entries are a pure
function of the seed, `repeat:` gives the expected starts; and two real short runs of
`invoice-chaos run` with the same `--seed` apply the same schedule (a different seed, another)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.faults import check_fault, expand

RANDOM_ENTRY = {"random": {"between": ["500ms", "1500ms"], "for": ["500ms", "1s"],
                           "pick": ["latency", "slicer", "bandwidth"]},
                "link": "merchant->taxplatform", "latency": 100, "rate": 200}


def _schedule(entries: list[dict], seed: int, duration_s: float) -> list[dict]:
    for e in entries:
        problems: list[str] = []
        check_fault(e, duration_s, lambda k, m: problems.append(f"{k}: {m}"))
        assert not problems, problems
    return [f.to_json() for f in expand([(e, f"s.yaml:{i + 1}") for i, e in enumerate(entries)],
                                        seed, duration_s)]


def test_same_seed_same_random_schedule_other_seed_another():
    a = _schedule([RANDOM_ENTRY], 1111, 120)
    b = _schedule([RANDOM_ENTRY], 1111, 120)
    c = _schedule([RANDOM_ENTRY], 1112, 120)
    assert a == b
    assert len(a) >= 10
    assert [(f["kind"], f["start_s"], f["end_s"]) for f in a] != [(f["kind"], f["start_s"], f["end_s"]) for f in c]


def test_random_schedule_keeps_to_its_ranges():
    faults = _schedule([RANDOM_ENTRY], 7, 60)
    prev_end = 0.0
    for f in faults:
        assert f["kind"] in ("latency", "slicer", "bandwidth")
        assert f["target"] == "merchant->taxplatform" and f["family"] == "toxic"
        assert 0.5 - 1e-3 <= f["start_s"] - prev_end <= 1.5 + 1e-3, (prev_end, f)
        assert 0.5 - 1e-3 <= f["end_s"] - f["start_s"] <= 1.0 + 1e-3, f
        assert f["end_s"] <= 60 and f["undo_at_s"] == f["end_s"]
        prev_end = f["end_s"]
    ids = [f["id"] for f in faults]
    assert len(set(ids)) == len(ids)
    # each kind gets only its own attributes, defaults filled
    lat = next(f for f in faults if f["kind"] == "latency")
    assert lat["params"] == {"latency": 100, "jitter": 0, "stream": "downstream", "toxicity": 1.0}
    bw = next(f for f in faults if f["kind"] == "bandwidth")
    assert bw["params"] == {"rate": 200, "stream": "downstream", "toxicity": 1.0}


def test_random_entries_do_not_shift_each_other():
    """Each entry draws from its own generator (seed, index): adding a fixed fault before a
    random entry changes its index, so the schedule may move; appending one after does not."""
    alone = _schedule([RANDOM_ENTRY], 5, 60)
    fixed = {"at": "59s", "for": "500ms", "target": "taxplatform", "action": "throttle"}
    appended = [f for f in _schedule([RANDOM_ENTRY, fixed], 5, 60) if f["kind"] != "throttle"]
    assert appended == alone


@pytest.mark.parametrize("repeat, duration_s, starts", [
    ({"every": "20s", "times": 3}, 70, [10.0, 30.0, 50.0]),
    ({"every": "20s", "until": "45s"}, 70, [10.0, 30.0]),      # 50 + 5 would end after 45
    ({"every": "25s"}, 70, [10.0, 35.0, 60.0]),                # until the end of the load
    ({"every": "25s"}, 62, [10.0, 35.0]),                      # 60 + 5 would end after the load
    ({"every": "20s", "times": 5, "until": "55s"}, 70, [10.0, 30.0, 50.0]),   # whichever comes first
])
def test_repeat_gives_the_expected_starts(repeat, duration_s, starts):
    entry = {"at": "10s", "for": "5s", "link": "client->merchant", "toxic": "latency", "repeat": repeat}
    faults = _schedule([entry], 1, duration_s)
    assert [f["start_s"] for f in faults] == starts
    assert [f["end_s"] for f in faults] == [s + 5 for s in starts]
    assert [f["id"] for f in faults] == [f"f0_{n}_latency" for n in range(len(starts))]


def test_repeat_of_an_instant_fault_sets_the_restart_after_each_start():
    entry = {"at": "5s", "target": "merchant", "action": "kill", "restart_after": "2s",
             "repeat": {"every": "10s", "times": 3}}
    faults = _schedule([entry], 1, 60)
    assert [(f["start_s"], f["end_s"], f["undo_at_s"]) for f in faults] == [
        (5.0, None, 7.0), (15.0, None, 17.0), (25.0, None, 27.0)]


# --- two real runs ---------------------------------------------------------------------
SCENARIO = """\
name: random-faults-tiny
description: a few seconds of checkout traffic under random toxics on the platform link
seed: 5
duration: 8s
load:
  points: [[0s, 1.0], [8s, 1.0]]
  peak_rps: 3
  mix: {checkout: 100}
  timeout: 4s
merchant:
  mode: robust
  sellers: 2
  platform_timeout: 1s
platform:
  replica_lag: 100ms
faults:
  - random: {between: [500ms, 1500ms], for: [500ms, 1s], pick: [latency, slicer, bandwidth]}
    link: merchant->taxplatform
    latency: 100
    rate: 200
drain: {timeout: 5s}
"""


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("invoice-chaos")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "harness"]


def _applied(run_dir: Path) -> list[tuple[str, str, float]]:
    lines = [json.loads(x) for x in (run_dir / "faults.jsonl").read_text().splitlines() if x.strip()]
    return sorted((x["kind"], x["target"], x["planned_start_s"]) for x in lines)


@pytest.mark.integration
def test_runs_with_the_same_seed_apply_the_same_random_faults(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    runs = {"a": 11, "b": 11, "c": 12}
    procs = {}
    logs = {}
    try:
        for name, seed in runs.items():             # in parallel: each stack has its own ports
            logs[name] = open(tmp_path / f"{name}.log", "wb")
            procs[name] = subprocess.Popen(
                [*_cli(), "run", str(scenario), "--seed", str(seed), "--out", str(tmp_path / name)],
                stdout=logs[name], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
        deadline = time.monotonic() + 120
        for name, p in procs.items():
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()                        # the run takes its stack down on SIGTERM
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        for fh in logs.values():
            fh.close()
    for name, p in procs.items():
        out = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert p.returncode in (0, 1), f"run {name} exited {p.returncode}:\n{out[-3000:]}"
    applied = {name: _applied(tmp_path / name) for name in runs}
    planned = {name: json.loads((tmp_path / name / "faults-plan.json").read_text()) for name in runs}
    # what the runs applied is what the seed plans
    for name, seed in runs.items():                  # SCENARIO's entry is RANDOM_ENTRY
        expected = sorted((f["kind"], f["target"], f["start_s"]) for f in _schedule([RANDOM_ENTRY], seed, 8.0))
        assert len(expected) >= 2
        assert applied[name] == expected, name
        assert sorted((f["kind"], f["target"], f["start_s"]) for f in planned[name]) == expected
        assert json.loads((tmp_path / name / "run.json").read_text())["seed"] == seed
    assert applied["a"] == applied["b"]
    assert applied["a"] != applied["c"]
    for name in runs:                                # every applied fault went on and off cleanly
        for x in map(json.loads, (tmp_path / name / "faults.jsonl").read_text().splitlines()):
            assert x["ok"] is True, (name, x)
            assert abs(x["start_s"] - x["planned_start_s"]) <= 0.5, (name, x)
