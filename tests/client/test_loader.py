"""A wrong adapter stops everything before it starts: `--client` and `merchant.client`
give exit 2 with the reason (not importable, not an Adapter, issue/query missing)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.client.loader import ClientError, ClientSpec, load_class, read_client
from harness.scenario import parse_scenario_text

ROOT = Path(__file__).resolve().parents[2]
GOOD = "from harness.client import Adapter, Answer\n\nclass Shop(Adapter):\n" \
       "    def issue(self, order):\n        return Answer.pending()\n" \
       "    def query(self, order_id):\n        return Answer.not_found()\n"


@pytest.mark.parametrize("source,name,message", [
    ("import no_such_module_here\n", "Shop",
     ":1: cannot be imported: ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("x = 1\ndef broken(:\n", "Shop", ":2: cannot be imported: SyntaxError"),
    ("x = 1\nraise RuntimeError('config missing')\n", "Shop",
     ":2: cannot be imported: RuntimeError: config missing"),
    ("class Shop:\n    def issue(self, o): pass\n    def query(self, o): pass\n", "Shop",
     ":Shop: not an Adapter"),
    (GOOD.replace("def query", "def other"), "Shop", ":Shop: the adapter lacks query"),
    (GOOD, "Shopp", ": no class 'Shopp'; its adapters: Shop"),
])
def test_a_wrong_adapter_says_why(tmp_path: Path, source: str, name: str, message: str):
    f = tmp_path / "adapter.py"
    f.write_text(source, encoding="utf-8")
    with pytest.raises(ClientError) as e:
        read_client(f"{f}:{name}")
    assert f"{f}{message}" in str(e.value)


@pytest.mark.parametrize("spec,message", [
    ("adapter.py", "expected FILE.py:Class"),
    ("adapter.txt:Shop", "is not a .py file"),
    ("adapter.py:1Shop", "is not a Python class name"),
    ("nowhere.py:Shop", "no such file"),
])
def test_the_spec_itself(tmp_path: Path, spec: str, message: str):
    with pytest.raises(ClientError, match=message):
        read_client(spec, tmp_path)


def test_the_text_travels_and_builds_the_same_class_anywhere(tmp_path: Path):
    f = tmp_path / "adapter.py"
    f.write_text(GOOD, encoding="utf-8")
    spec = read_client(f"{f}:Shop")
    f.unlink()                                     # a load machine has only the settings
    cls = load_class(ClientSpec.from_json(spec.to_json()))
    assert cls.__name__ == "Shop" and cls().query("x").kind == "not_found"


def test_a_scenario_names_the_client_with_file_and_line(tmp_path: Path):
    text = ("name: s\nduration: 5s\nload: {points: [[0s, 1], [5s, 1]], peak_rps: 1}\n"
            "merchant:\n  sut: {command: 'true'}\n  client: shop.py\n")
    with pytest.raises(Exception) as e:
        parse_scenario_text(text, "s.yaml", base_dir=tmp_path)
    assert "s.yaml:6: merchant.client: 'shop.py': expected FILE.py:Class" in str(e.value)
    s = parse_scenario_text(text.replace("shop.py", "shop.py:Shop"), "s.yaml", base_dir=tmp_path)
    assert s.merchant.client == f"{tmp_path.resolve() / 'shop.py'}:Shop"
    assert s.merchant.client_loc == "s.yaml:6"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_run_exits_2_before_anything_starts_for_an_adapter_that_cannot_be_imported(tmp_path: Path):
    f = tmp_path / "broken.py"
    f.write_text("from harness.client import Adapter\nimport nonexistent_dependency\n", encoding="utf-8")
    out = tmp_path / "run"
    p = _cli("run", "scenarios/smoke.yaml", "--sut-cmd", "python3 examples/envelope_shop/server.py",
             "--client", f"{f}:Shop", "--out", str(out))
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"--client {f}:2: cannot be imported: ModuleNotFoundError" in p.stderr
    assert not out.exists()                        # nothing was started, no run directory


def test_a_scenarios_client_that_lacks_query_exits_2_with_its_line(tmp_path: Path):
    (tmp_path / "shop.py").write_text(GOOD.replace("def query", "def other"), encoding="utf-8")
    sc = tmp_path / "s.yaml"
    sc.write_text("name: s\nduration: 5s\nload: {points: [[0s, 1], [5s, 1]], peak_rps: 1}\n"
                  "merchant:\n  sut: {command: 'true'}\n  client: shop.py:Shop\n", encoding="utf-8")
    p = _cli("run", str(sc), "--out", str(tmp_path / "run"))
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"{sc}:6: merchant.client: {tmp_path.resolve() / 'shop.py'}:Shop: the adapter lacks query" in p.stderr
