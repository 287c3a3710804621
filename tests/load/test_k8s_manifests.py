"""deploy/k8s/ (design.md s.10) without a cluster: a structural check of every manifest and
of the wiring between them, and the commands parsed by the real `invoice-chaos` parser."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import __version__
from harness.cli import build_parser
from harness.load.remote import parse_master

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
ROOT = K8S.parents[1]

#: kind -> (apiVersion, required paths). A path is dotted; `[]` means "a non-empty list".
SCHEMA: dict[str, tuple[str, list[str]]] = {
    "Service": ("v1", ["metadata.name", "spec.selector", "spec.ports[]"]),
    "PersistentVolumeClaim": ("v1", ["metadata.name", "spec.accessModes[]",
                                     "spec.resources.requests.storage"]),
    "Job": ("batch/v1", ["metadata.name", "spec.template.spec.containers[]",
                         "spec.template.spec.restartPolicy", "spec.template.metadata.labels"]),
    "Deployment": ("apps/v1", ["metadata.name", "spec.replicas", "spec.selector.matchLabels",
                               "spec.template.metadata.labels", "spec.template.spec.containers[]"]),
}
CONTAINER_KEYS = {"name", "image", "imagePullPolicy", "command", "args", "env", "ports", "resources",
                  "volumeMounts"}
IMAGES = {f"invoice-chaos/app:{__version__}", f"invoice-chaos/master:{__version__}"}


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for part in path.replace("[]", "").split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(path)
        cur = cur[part]
    if path.endswith("[]") and not (isinstance(cur, list) and cur):
        raise KeyError(path)
    return cur


def structural_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Every way these manifests do not fit SCHEMA and each other (empty when they do)."""
    out: list[str] = []
    names: set[tuple[str, str]] = set()
    for d in docs:
        kind = d.get("kind")
        if kind not in SCHEMA:
            out.append(f"unexpected kind {kind!r}")
            continue
        api, required = SCHEMA[kind]
        if d.get("apiVersion") != api:
            out.append(f"{kind}: apiVersion {d.get('apiVersion')!r}, expected {api}")
        for path in required:
            try:
                _get(d, path)
            except KeyError:
                out.append(f"{kind} {d.get('metadata', {}).get('name')}: missing {path}")
        name = d.get("metadata", {}).get("name", "")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name or "-"):
            out.append(f"{kind}: {name!r} is not a DNS-1123 name")
        names.add((kind, name))
        if kind in ("Job", "Deployment"):
            pod = d["spec"]["template"]
            labels = pod.get("metadata", {}).get("labels", {})
            sel = d["spec"].get("selector", {}).get("matchLabels", labels)
            if any(labels.get(k) != v for k, v in sel.items()):
                out.append(f"{kind} {name}: the selector {sel} does not match the pod labels {labels}")
            for c in pod["spec"]["containers"]:
                extra = set(c) - CONTAINER_KEYS
                if extra:
                    out.append(f"{kind} {name}: unknown container keys {sorted(extra)}")
                if c.get("image") not in IMAGES:
                    out.append(f"{kind} {name}: image {c.get('image')!r}, expected one of {sorted(IMAGES)}")
                if c.get("command") != ["invoice-chaos"]:
                    out.append(f"{kind} {name}: command must be [invoice-chaos]")
                if not all(isinstance(a, str) for a in c.get("args", [])):
                    out.append(f"{kind} {name}: every arg must be a string (quote numbers)")
            for v in pod["spec"].get("volumes", []):
                claim = v.get("persistentVolumeClaim", {}).get("claimName")
                if claim and ("PersistentVolumeClaim", claim) not in names | {
                        ("PersistentVolumeClaim", x.get("metadata", {}).get("name"))
                        for x in docs if x.get("kind") == "PersistentVolumeClaim"}:
                    out.append(f"{kind} {name}: claim {claim!r} is not defined")
        if kind == "Job" and d["spec"]["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
            out.append("Job: restartPolicy must be Never or OnFailure")
    return out


def _docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion of container args."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in args]


def test_manifests_fit_the_schema() -> None:
    assert structural_problems(_docs()) == []


def test_the_check_catches_a_broken_manifest() -> None:
    docs = _docs()
    broken = yaml.safe_load(yaml.safe_dump(_one(docs, "Deployment")))
    broken["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "master"
    broken["spec"]["template"]["spec"]["containers"][0]["args"].append(2)
    problems = structural_problems([broken])
    assert any("selector" in p for p in problems) and any("quote numbers" in p for p in problems)


def test_master_and_workers_are_wired_together() -> None:
    docs = _docs()
    service, job, deploy = _one(docs, "Service"), _one(docs, "Job"), _one(docs, "Deployment")
    master = job["spec"]["template"]["spec"]["containers"][0]
    worker = deploy["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in master.get("env", [])}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    run = build_parser().parse_args(_expand(master["args"], {"POD_IP": "10.1.2.3"}))
    assert run.command == "run" and run.bind == "10.1.2.3"      # an address of the master's pod
    assert (ROOT / run.scenario).is_file(), f"{run.scenario} is not a bundled scenario"
    joined = build_parser().parse_args(worker["args"])
    assert joined.command == "worker"
    host, port = parse_master(joined.master)
    assert host == service["metadata"]["name"]
    assert port == run.master_port == service["spec"]["ports"][0]["port"]
    assert service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    # the master waits for exactly the processes the Deployment starts
    assert run.remote_workers == deploy["spec"]["replicas"] * joined.processes
    assert worker["image"] == f"invoice-chaos/app:{__version__}"    # load machines: the project only
    assert master["image"] == f"invoice-chaos/master:{__version__}"


@pytest.mark.parametrize("line", ["FROM invoice-chaos/app:", "FROM invoice-chaos/toxiproxy:"])
def test_master_image_builds_on_the_project_images(line: str) -> None:
    text = (K8S / "master.Dockerfile").read_text()
    assert f"{line}{__version__}" in text
