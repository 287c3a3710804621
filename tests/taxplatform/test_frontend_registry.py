"""The front-end registry: profiles by name, a clear error for an unknown one, and no import
from the ledger core to any front-end."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.taxplatform.cli import main as serve_main
from fakes.taxplatform.frontends import UnknownProfile, frontend_class, names

PKG = Path(__file__).resolve().parents[2] / "fakes" / "taxplatform"
CORE = ("core.py", "store.py", "config.py", "tokens.py", "numbering.py", "clock.py",
        "errors.py", "validation.py", "httpio.py")


def test_built_in_profiles_are_registered_by_name() -> None:
    assert {"clearance", "direct"} <= set(names())
    for name in names():
        assert frontend_class(name).name == name


def test_an_unknown_profile_names_the_known_ones(tmp_path: Path, capsys) -> None:
    with pytest.raises(UnknownProfile, match="unknown profile 'nope'; known: clearance, direct"):
        frontend_class("nope")
    rc = serve_main(["--port", "1", "--data", str(tmp_path), "--config", '{"profile": "nope"}'])
    assert rc == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err


def test_the_core_imports_no_front_end() -> None:
    for name in CORE:
        tree = ast.parse((PKG / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                assert "frontends" not in mod or _type_only(tree, node), (name, mod)
    out = subprocess.run([sys.executable, "-c", "import sys, fakes.taxplatform.core, "
                          "fakes.taxplatform.store; print(any('frontends' in m for m in "
                          "sys.modules))"], capture_output=True, text=True, check=True,
                         cwd=PKG.parents[1])
    assert out.stdout.strip() == "False"


def _type_only(tree: ast.Module, node: ast.ImportFrom) -> bool:
    """Whether `node` sits under `if TYPE_CHECKING:` (annotations only, never executed)."""
    for top in tree.body:
        if isinstance(top, ast.If) and getattr(top.test, "id", "") == "TYPE_CHECKING":
            if any(n is node for n in ast.walk(top)):
                return True
    return False
