"""The drawing is seeded and separate from the running: the same seed gives the same tries
(here and in explore.json from a --dry-run), the draws respect the space, and the
`explore:` block is validated with file:line like every other key."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.explore.draw import window_of
from harness.explore.search import ExploreOptions, explore, plan_tries
from harness.explore.space import space_of
from harness.scenario import load_scenario, parse_scenario_text

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"

BLOCK = """\
name: e1
seed: 4
duration: 30s
load: {peak_rps: 5}
explore:
  faults: [latency, kill, errors]
  links: [merchant->taxplatform]
  count: [2, 3]
  for: [2s, 5s]
  duration: 20s
"""


def test_the_same_seed_draws_the_same_tries_and_another_seed_others() -> None:
    s = load_scenario(SMOKE)
    space = space_of(s)
    a, b = plan_tries(s, space, 1, 20), plan_tries(s, space, 1, 20)
    assert [t.to_json() for t in a] == [t.to_json() for t in b]
    c = plan_tries(s, space, 2, 20)
    assert [t.faults for t in a] != [t.faults for t in c]
    # try 7 does not depend on whether tries 1-6 were drawn
    assert plan_tries(s, space, 1, 7)[-1] == a[6]


def test_two_dry_runs_with_one_seed_write_the_same_tries(tmp_path: Path) -> None:
    docs = []
    for name in ("one", "two"):
        code = explore(ExploreOptions(str(SMOKE), runs=8, seed=3, dry_run=True, out=str(tmp_path / name)),
                       say=lambda line: None)
        assert code == 0
        doc = json.loads((tmp_path / name / "explore.json").read_text())
        docs.append([{k: t[k] for k in ("index", "faults", "duration_s", "peak_rps", "seed")} for t in doc["tries"]])
        for t in doc["tries"]:                        # each try's scenario is written and valid
            load_scenario(tmp_path / name / t["scenario"])
    assert docs[0] == docs[1] and len(docs[0]) == 8


def test_draws_stay_inside_the_block_and_do_not_overlap() -> None:
    s = parse_scenario_text(BLOCK, "e1.yaml")
    space = space_of(s)
    assert space.try_s == 20 and {c.kind for c in space.choices} == {"latency", "kill", "errors"}
    assert {c.where for c in space.choices if c.key == "toxic"} == {"merchant->taxplatform"}
    for seed in range(30):
        faults = plan_tries(s, space, seed, 1)[0].faults
        assert 1 <= len(faults) <= 3
        spans = sorted(window_of(f) for f in faults)
        for (a0, a1), (b0, _) in zip(spans, spans[1:]):
            assert a1 <= b0, spans
        for f in faults:
            start, end = window_of(f)
            assert start >= 3 and end <= 20
            if "for" in f:
                assert 2 <= float(f["for"][:-1]) <= 5


def test_default_space_leaves_out_what_no_merchant_survives() -> None:
    space = space_of(load_scenario(SMOKE))
    kinds = {c.kind for c in space.choices}
    assert {"latency", "down", "kill", "errors"} <= kinds
    assert not kinds & {"ack_without_commit", "quota", "replica_lag", "limit_data"}
    assert all(c.where == "merchant" for c in space.choices if c.kind == "clock_skew")


def test_the_explore_block_is_validated_with_lines() -> None:
    bad = BLOCK.replace("[latency, kill, errors]", "[latency, kil]").replace("count: [2, 3]", "count: [3, 2]") \
        .replace("duration: 20s", "duration: 2m\n  tries: 3")
    with pytest.raises(ScenarioError) as e:
        parse_scenario_text(bad, "e1.yaml")
    text = "\n".join(e.value.problems)
    assert "e1.yaml:6: explore.faults: unknown fault kind 'kil'" in text
    assert "e1.yaml:8: explore.count: count: [min, max] with min <= max" in text
    assert "explore.duration: longer than the scenario's duration (30s)" in text
    assert "e1.yaml:11: explore.tries: unknown key 'tries'" in text


def test_usage_errors_before_anything_starts(tmp_path: Path) -> None:
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="--runs N or --budget"):
        explore(ExploreOptions(str(SMOKE), out=str(tmp_path / "x")))
    with pytest.raises(UsageError, match="--confirm"):
        explore(ExploreOptions(str(SMOKE), runs=2, confirm=0, out=str(tmp_path / "y")))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_random_module_state_is_not_used() -> None:
    s = load_scenario(SMOKE)
    space = space_of(s)
    random.seed(1)
    a = plan_tries(s, space, 5, 3)
    random.seed(2)
    assert plan_tries(s, space, 5, 3) == a
