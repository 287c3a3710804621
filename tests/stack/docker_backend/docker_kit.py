"""What the docker backend's tests share: run `invoice-chaos` as a user does, and ask the
engine what a run left behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.stack.docker.stack import resources_of_run
from support.processes import ctrl_c_reaches_it

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`python -m harness ARGS` from the project root, output captured (and a Ctrl-C it is
    sent reaches it, as at a terminal)."""
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, preexec_fn=ctrl_c_reaches_it)


def finish(proc: subprocess.Popen, timeout: float = 420) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()                       # the run tears down on SIGTERM
        out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run(*args: str, timeout: float = 420, env: dict | None = None) -> subprocess.CompletedProcess:
    return finish(start(*args, env=env), timeout)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def leftovers(engine: Any, run_dir: Path) -> dict[str, list[str]]:
    """What is still labelled for the run (the run id is the --out directory's name)."""
    found = resources_of_run(engine, run_dir.name)
    return {k: v for k, v in found.items() if v}


def tail(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout or "")[-3000:] + "\n--- stderr ---\n" + (proc.stderr or "")[-3000:]
