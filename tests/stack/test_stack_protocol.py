"""Both backends are one `Stack` (harness/stack/base.py): the protocol holds for each, the
partition fault asks the stack what it supports, and heal (written once) mends partitions,
resets Toxiproxy and restarts only the services the run had, saying what it could not undo."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import StackError
from harness.faults.partition import Partition, links_of
from harness.stack import LocalStack, Stack, StackBase, StackConfig
from harness.stack.base import PARTITION
from harness.stack.docker.stack import DockerStack


def _cfg(tmp_path: Path) -> StackConfig:
    return StackConfig(run_id="r1", run_dir=tmp_path, sellers_file=tmp_path / "sellers.json", platform_config={})


def _missing(stack: object) -> list[str]:
    """The protocol's members `stack` lacks (its class or, for data, the instance)."""
    members = {n for n in vars(Stack) if not n.startswith("_")} | set(Stack.__annotations__)
    return sorted(n for n in members if not hasattr(type(stack), n) and n not in vars(stack)
                  and n not in getattr(type(stack), "__slots__", ()))


def test_both_backends_are_stacks_and_only_docker_partitions(tmp_path: Path):
    local = LocalStack(_cfg(tmp_path), say=lambda _: None)
    docker = DockerStack(_cfg(tmp_path), client=object(), say=lambda _: None)
    assert _missing(local) == [] and _missing(docker) == []
    assert "probe_merchant" in vars(StackBase) and "heal" in vars(StackBase)
    assert not {"probe_merchant", "heal"} & (set(vars(LocalStack)) | set(vars(DockerStack)))
    assert (local.backend, docker.backend) == ("local", "docker")
    assert docker.supports(PARTITION) and not local.supports(PARTITION)
    with pytest.raises(StackError, match="local backend cannot partition"):
        local.partition("merchant")


class _Toxiproxy:
    def __init__(self) -> None:
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1


class _Recorded(StackBase):
    """A stack whose services are calls in a list: what the shared code asks of a backend."""

    backend = "test"
    capabilities = frozenset({PARTITION})

    def __init__(self, started: set[str], failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls: list[str] = []
        self.toxiproxy: Any = _Toxiproxy()
        self.partitioned = {"merchant"}
        self.started, self.failing = started, failing

    def url(self, name: str) -> str:
        return f"http://127.0.0.1/{name}"

    def _started(self, service: str) -> bool:
        return service in self.started

    def ensure_running(self, target: str) -> None:
        self.calls.append(f"start {target}")
        if target in self.failing:
            raise StackError(f"{target} did not come back")

    def unpartition(self, target: str) -> None:
        self.calls.append(f"reconnect {target}")
        self.partitioned.discard(target)


def test_heal_mends_partitions_resets_toxiproxy_and_restarts_what_the_run_had():
    stack = _Recorded(started={"taxplatform", "merchant"}, failing={"merchant"})
    problems = stack.heal()
    assert stack.calls == ["reconnect merchant", "start taxplatform", "start merchant"]
    assert stack.toxiproxy.resets == 1 and not stack.partitioned
    assert problems == ["merchant did not come back"]
    assert _Recorded(started={"taxplatform"}).heal() == []


def test_the_partition_fault_uses_the_stack_when_it_can_and_toxiproxy_otherwise(tmp_path: Path):
    class Ctx:
        def __init__(self, stack: Any) -> None:
            self.stack, self.toxiproxy = stack, self
            self.toxics: list[str] = []

        def add_toxic(self, link: str, name: str, **_: Any) -> None:
            self.toxics.append(f"{link}:{name}")

    class Fault:
        id, target = "f1", "merchant"

    capable = _Recorded(started=set())
    capable.partition = lambda target: capable.calls.append(f"cut {target}")  # type: ignore[method-assign]
    assert Partition.apply(Ctx(capable), Fault()) == {"how": "network disconnect"}
    assert capable.calls == ["cut merchant"]
    ctx = Ctx(LocalStack(_cfg(tmp_path), say=lambda _: None))
    assert Partition.apply(ctx, Fault())["how"] == "toxiproxy timeout toxics"
    assert ctx.toxics == [f"{link}:f1_{stream}" for link in links_of("merchant")
                          for stream in ("upstream", "downstream")]
    assert {"client->merchant", "merchant->taxplatform"} <= set(links_of("merchant"))
