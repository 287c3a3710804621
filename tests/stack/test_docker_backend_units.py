"""Pure parts of the docker backend: the static-binary check of the Toxiproxy image, the owner
label that tells a crashed run's leftovers from a live run's, the engine's errors in a user's
words, and the checks `run --backend docker` makes before anything starts (exit 2)."""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from harness.errors import ScenarioError, UsageError
from harness.faults.registry import KINDS
from harness.run import RunOptions, prepare
from harness.stack.docker.stack import _explain, _name
from harness.stack.docker.engine import owner_alive, owner_label
from harness.stack.docker.images import is_static_elf


def _elf(path: Path, *segment_types: int) -> Path:
    """A minimal 64-bit little-endian ELF header with the given program header types."""
    head = bytearray(64)
    head[:4] = b"\x7fELF"
    head[4], head[5] = 2, 1
    struct.pack_into("<Q", head, 0x20, 64)                      # e_phoff
    struct.pack_into("<HH", head, 0x36, 56, len(segment_types))  # e_phentsize, e_phnum
    table = b"".join(struct.pack("<I", t) + bytes(52) for t in segment_types)
    path.write_bytes(bytes(head) + table)
    return path


def test_an_elf_without_an_interpreter_is_static_and_one_with_it_is_not(tmp_path: Path):
    assert is_static_elf(_elf(tmp_path / "static", 1, 1))
    assert not is_static_elf(_elf(tmp_path / "dynamic", 6, 3, 1))     # PT_INTERP = 3
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert not is_static_elf(tmp_path / "script")


def test_the_owner_label_of_this_process_is_alive_and_a_stale_one_is_not():
    assert owner_alive(owner_label())
    assert not owner_alive(f"{socket.gethostname()}:1:1.00")           # pid 1 started long before
    assert not owner_alive("garbage") and not owner_alive(None)
    assert owner_alive("another-host:1:1.00")                          # cannot tell: left alone


def test_names_are_safe_for_the_engine():
    assert _name("smoke-20261123T101500Z") == "ic-smoke-20261123T101500Z"
    assert _name("a b/c") == "ic-a-b-c"


def test_a_port_clash_is_said_in_plain_words():
    assert "a published port is in use" in _explain(Exception(
        "driver failed programming external connectivity: Bind for 127.0.0.1:8474 failed: port is already allocated"))


def test_sut_image_needs_the_docker_backend_and_sut_port_needs_sut_image():
    with pytest.raises(UsageError, match="needs --backend docker"):
        prepare(RunOptions("scenarios/smoke.yaml", sut_image="shop:1"))
    with pytest.raises(UsageError, match="give --sut-image too"):
        prepare(RunOptions("scenarios/smoke.yaml", backend="docker", sut_port=8080))
    with pytest.raises(UsageError, match="not several"):
        prepare(RunOptions("scenarios/smoke.yaml", backend="docker", sut_image="shop:1", sut_cmd="x"))
    scenario = prepare(RunOptions("scenarios/smoke.yaml", backend="docker", sut_image="shop:1", sut_port=9000))
    assert scenario.merchant.sut is not None and scenario.merchant.sut.health == "/healthz"


def test_a_fault_the_backend_cannot_apply_is_refused_with_its_line(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(KINDS["process:pause"], "backends", ("local",))
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nseed: 1\nduration: 20s\nload:\n  points: [[0s, 1.0], [20s, 1.0]]\n"
                    "  peak_rps: 2\nfaults:\n  - {at: 2s, for: 3s, target: merchant, action: pause}\n")
    with pytest.raises(ScenarioError) as e:
        prepare(RunOptions(str(path), backend="docker"))
    assert e.value.problems[0].startswith(f"{path}:8:") and "not available on the docker backend" in e.value.problems[0]
    assert prepare(RunOptions(str(path), backend="local")).faults


def test_partition_is_a_fault_of_both_backends():
    cls = KINDS["process:partition"]
    assert set(cls.backends) == {"local", "docker"} and cls.needs_duration


def test_the_bundled_merchant_binds_loopback_unless_host_says_otherwise(tmp_path: Path):
    from fakes.merchant.config import parse_config
    env = {"PORT": "8000", "TAX_PLATFORM_URL": "http://toxiproxy:18082", "SELLERS_FILE": "s.json",
           "DATA_DIR": str(tmp_path)}
    assert parse_config([], env).host == "127.0.0.1"
    assert parse_config([], {**env, "HOST": "0.0.0.0"}).host == "0.0.0.0"
    assert parse_config(["--host", "0.0.0.0"], env).host == "0.0.0.0"
