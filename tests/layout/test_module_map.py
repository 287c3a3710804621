"""docs/internals.md's module map places every module of harness/ and fakes/: a module added
without its line in the map fails here (the map is how a newcomer finds a stage's files)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {"__init__.py", "__main__.py"}


def _placed(module: Path, text: str) -> bool:
    """Named by its path (`harness/load/runner.py`, `load/runner.py`), or by its file name in
    a table row, paragraph or code block that names its folder (`load/` ... `runner.py`)."""
    if module.relative_to(ROOT).as_posix() in text or f"{module.parent.name}/{module.name}" in text:
        return True
    blocks = re.split(r"\n(?=\|)|\n\n", text)         # table rows; paragraphs and code blocks
    return any(f"{module.parent.name}/" in b and re.search(rf"(?<![\w/]){re.escape(module.name)}", b)
               for b in blocks)


def test_every_module_has_its_place_in_the_map() -> None:
    text = (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
    modules = [p for p in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("fakes/**/*.py")]
               if p.name not in SKIP]
    missing = [m.relative_to(ROOT).as_posix() for m in modules if not _placed(m, text)]
    assert not missing, "modules docs/internals.md does not place:\n" + "\n".join(sorted(missing))
