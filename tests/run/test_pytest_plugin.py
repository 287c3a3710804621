"""Scenario files collected and run by pytest, failing with the gate table."""
from __future__ import annotations


import pytest

pytest_plugins = ["pytester"]


def _scenario(duration: str = "6s") -> str:
    return (f"name: plugin-check\nseed: 3\nduration: {duration}\nload:\n  points: [[0s, 1.0], [{duration}, 1.0]]\n"
            "  peak_rps: 3\n  mix: {checkout: 100}\nmerchant:\n  sellers: 2\n"
            "faults:\n  - {at: 1s, for: 3s, link: merchant->taxplatform, toxic: latency, latency: 2500}\n"
            "drain: {timeout: 15s}\ngates:\n  p95_ms: 1\n")


def test_non_scenario_yaml_is_not_collected(pytester: pytest.Pytester):
    pytester.makefile(".yaml", config="a: 1\n")
    result = pytester.runpytest_subprocess("-p", "no:locust", "--collect-only", "-q")
    assert "no tests collected" in result.stdout.str() or result.ret == 5


def test_scenarios_directory_is_collected(pytester: pytest.Pytester):
    d = pytester.mkdir("scenarios")
    (d / "quick.yaml").write_text(_scenario())
    result = pytester.runpytest_subprocess("-p", "no:locust", "--collect-only", "-q")
    assert "scenarios/quick.yaml::plugin-check" in result.stdout.str()


@pytest.mark.integration
def test_a_failing_gate_is_reported_as_a_gate_table(pytester: pytest.Pytester):
    d = pytester.mkdir("scenarios")
    (d / "quick.yaml").write_text(_scenario())
    result = pytester.runpytest_subprocess("-p", "no:locust", "--ic-out", str(pytester.path / "runs"),
                                           "scenarios/quick.yaml", timeout=300)
    out = result.stdout.str()
    assert result.ret == 1, out
    assert "verdict FAIL (exit 1)" in out and "p95_ms" in out and "<-- FAILED" in out
    assert "Traceback" not in out
