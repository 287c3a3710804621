"""No import loop in harness/ or fakes/: neither between modules nor between the harness's
stages (its top-level modules and packages), so each stage can be read, tested and replaced
on its own (docs/internals.md, "Module map").

Every import counts, also one inside a function (a loop hidden in a function is still a
loop between the stages); only imports under `if TYPE_CHECKING:` do not. Importing a.b.c
runs a/__init__ and a/b/__init__ first, so it depends on them too.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for p in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("fakes/**/*.py")]:
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for m, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        package = m if is_pkg else m.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                deps.update(d for a in node.names if (d := known(a.name)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for a in node.names:
                    d = known(f"{base}.{a.name}") if f"{base}.{a.name}" in mods else known(base)
                    if d:
                        deps.add(d)
        for d in list(deps):                      # the packages an import runs first
            parts = d.split(".")
            deps.update(anc for k in range(1, len(parts)) if (anc := ".".join(parts[:k])) in mods
                        and not (m == anc or m.startswith(anc + ".")))
        deps.discard(m)
        graph[m] = deps
    return graph


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts with more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                part = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    part.append(w)
                    if w == v:
                        break
                if len(part) > 1:
                    out.append(sorted(part))
    return out


def _stage(module: str) -> str:
    return ".".join(module.split(".")[:2])       # harness.checker, harness.run, fakes.merchant


def _explain(graph: dict[str, set[str]], loops: list[list[str]]) -> str:
    lines = []
    for part in loops:
        inside = set(part)
        lines += [f"{m} -> {', '.join(sorted(graph[m] & inside))}" for m in part]
    return "\n".join(lines)


def test_no_module_imports_itself_through_others() -> None:
    graph = _graph()
    loops = _loops(graph)
    assert not loops, "import loops:\n" + _explain(graph, loops)


#: Stage pairs that import each other today, each with why; a new pair fails the test.
KNOWN_STAGE_LOOPS: set[tuple[str, str]] = set()


def test_no_two_stages_import_each_other() -> None:
    stages: dict[str, set[str]] = {}
    for m, deps in _graph().items():
        stages.setdefault(_stage(m), set()).update(_stage(d) for d in deps if _stage(d) != _stage(m))
    for a, b in KNOWN_STAGE_LOOPS:
        stages.get(b, set()).discard(a)
    loops = _loops(stages)
    assert not loops, "stages importing each other:\n" + _explain(stages, loops)


def test_a_loop_is_found() -> None:
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _loops({"a": {"b"}, "b": set()}) == []
