"""The sweep end to end, as a user runs it: `invoice-chaos sweep` in its own process against
real stacks (Toxiproxy, the platform, a merchant given by --sut-cmd), then the page in a real
headless Chromium.

1. A merchant of known capacity (tests/sweep/slot_merchant.py: 8 slots x 200 ms = 40
   checkouts/s): the sweep's knee must lie within +-20 % of 40/s.
2. A driver that cannot keep up (offered far beyond what one process can send): the steps
   are harness_limited and the knee is not blamed on the system.
3. sweep.html in Debian's chromium: the knee and every plot are visible; the screenshot is
   kept in the sweep directory.
"""
from __future__ import annotations

import contextlib
import html
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.sweep.report import KNEE_COLOURS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SLOTS, WORK_MS = 8, 200
CAPACITY = SLOTS / (WORK_MS / 1000)        # 40 checkouts/s


def _sut(slots: int, work_ms: int) -> str:
    return f"SLOTS={slots} WORK_MS={work_ms} {sys.executable} {HERE / 'slot_merchant.py'}"


def _sweep(out: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "sweep", str(HERE / "knee.yaml"),
                           "--out", str(out), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def knee_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("sweep") / "knee"
    res = _sweep(out, "--rates", "28,34,40,48", "--sut-cmd", _sut(SLOTS, WORK_MS),
                 "--ceiling-s", "2", "--require-rps", "25")
    return out, res


def test_the_knee_of_a_merchant_of_known_capacity(knee_sweep):
    out, res = knee_sweep
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    rec = json.loads((out / "sweep.json").read_text())
    assert rec["knee_rps"] is not None, res.stdout[-3000:]
    assert 0.8 * CAPACITY <= rec["knee_rps"] <= 1.2 * CAPACITY, rec["steps"]
    assert rec["knee_limited_by"] in ("system", "harness")
    assert rec["harness_ceiling_rps"] and rec["harness_ceiling_rps"] > 0
    # one progress line per finished step, then the knee
    lines = [l for l in res.stdout.splitlines() if l.startswith("sweep step ")]
    assert len(lines) == len(rec["steps"]) and "achieved" in lines[0] and "p95" in lines[0]
    assert f"knee: {rec['knee_rps']:g} arrivals/s" in res.stdout
    # every step is a full run with its own report; the step above the knee failed a gate
    for s in rec["steps"]:
        assert (out / s["run_dir"] / "report.html").is_file()
        assert (out / s["run_dir"] / "summary.json").is_file()
        # where the CPU went in each step's load: the system under test is a real process
        # group (--sut-cmd), the harness the rest; the machine's share is a real figure
        assert s["system_cores"] is not None and s["system_cores"] > 0, s
        assert s["harness_cores"] is not None and s["harness_cores"] > 0, s
        assert 0 < s["machine_busy_share"] <= 1, s
        cpu = json.loads((out / s["run_dir"] / "summary.json").read_text())["load"]["cpu"]
        assert {"merchant", "taxplatform", "toxiproxy", "orchestrator"} <= set(cpu["cores"]), cpu
        assert any(k.startswith("locust") for k in cpu["cores"]), cpu
        assert 'id="machine-cpu"' in (out / s["run_dir"] / "report.html").read_text(encoding="utf-8")
    assert "machine busy" in (out / "sweep.html").read_text(encoding="utf-8")
    # above the knee the system itself failed a gate (a busy machine may also mark a step
    # harness-limited; then a higher one must still show the system's own failure)
    above = [s for s in rec["steps"] if s["target_rps"] > rec["knee_rps"]]
    assert any(s["verdict"] == "fail" and "p95_ms" in s["failed_gates"] for s in above), above
    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.get("tests")) == len(rec["steps"]) + 1
    for name in ("achieved", "latency", "errors"):
        assert (out / "plots" / f"{name}.png").is_file()


def test_the_knee_is_drawn_on_every_plot(knee_sweep):
    from matplotlib.image import imread
    out, _ = knee_sweep
    want = tuple(int(KNEE_COLOURS[False][i:i + 2], 16) / 255 for i in (1, 3, 5))
    for png in sorted((out / "plots").glob("*.png")):
        img = imread(png)[:, :, :3]
        hit = (abs(img - want) < 0.03).all(axis=2)
        assert hit.sum(axis=0).max() > img.shape[0] * 0.3, f"{png.name}: no knee line"


def test_sweep_html_in_headless_chromium(knee_sweep):
    out, _ = knee_sweep
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: `make setup` installs it "
                    "(scripts/install-chromium.sh; or apt-get install chromium)")
    page = (out / "sweep.html").read_text(encoding="utf-8")
    probe = out / "sweep-visibility-probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1280,1800", f"--user-data-dir={out / '.chromium'}"]
    dom = subprocess.run([chromium, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=90)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert m, dom.stdout[-2000:] + dom.stderr[-2000:]
    seen = json.loads(html.unescape(m.group(1)))
    assert seen["knee"] and "arrivals/s" in seen["knee"] and seen["knee_on_first_screen"], seen
    assert [p["id"] for p in seen["plots"]] == ["plot-achieved", "plot-latency", "plot-errors"]
    assert all(p["visible"] for p in seen["plots"]), seen["plots"]
    shot = out / "sweep-screenshot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", (out / "sweep.html").as_uri()],
                   capture_output=True, timeout=90)
    probe.unlink()
    shutil.rmtree(out / ".chromium", ignore_errors=True)
    from matplotlib.image import imread
    img = imread(shot)[:, :, :3]
    want = tuple(int(KNEE_COLOURS[False][i:i + 2], 16) / 255 for i in (1, 3, 5))
    assert (abs(img - want) < 0.06).all(axis=2).sum() > 200, "no knee line in the screenshot"


_PROBE = """<script>
window.addEventListener('load', () => {
  const visible = el => { if (!el) return false; const b = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return b.width > 0 && b.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
  const knee = document.getElementById('knee');
  const r = {knee: visible(knee) ? knee.textContent : null,
             knee_on_first_screen: !!knee && knee.getBoundingClientRect().bottom < window.innerHeight,
             plots: [...document.querySelectorAll('img.plot')].map(i => ({id: i.id,
               visible: i.complete && i.naturalWidth > 300 && visible(i)}))};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def test_compare_two_sweeps(knee_sweep, tmp_path):
    out, _ = knee_sweep
    other = tmp_path / "copy"
    shutil.copytree(out, other, ignore=shutil.ignore_patterns("step-*"))
    rec = json.loads((other / "sweep.json").read_text())
    rec["knee_rps"] = (rec["knee_rps"] or 0) + 20
    (other / "sweep.json").write_text(json.dumps(rec))
    res = subprocess.run([sys.executable, "-m", "harness", "compare", str(out), str(other)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    row = next(l for l in res.stdout.splitlines() if l.startswith("knee /s"))
    assert row.split()[-1] == "+20"


def _starve_locust(under: Path, done: threading.Event, stop_s: float = 0.3,
                   run_s: float = 0.1) -> int:
    """Starve every Locust process whose working directory is under `under` of CPU, as a
    crowded load machine does: SIGSTOP for `stop_s`, SIGCONT for `run_s`, until `done`
    (and at most 300 s). Returns how many stop cycles it applied; always leaves them running."""
    import psutil

    cycles, seen = 0, set()
    end = time.monotonic() + 300
    while not done.is_set() and time.monotonic() < end:
        procs = []
        for p in psutil.process_iter(["cmdline", "cwd"]):
            try:
                cmd, cwd = p.info["cmdline"] or [], p.info["cwd"] or ""
            except (psutil.Error, OSError):
                continue
            if "locust" in cmd and cwd.startswith(str(under)):
                procs.append(p)
        if not procs:
            time.sleep(0.05)
            continue
        seen.update(p.pid for p in procs)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGSTOP)
        time.sleep(stop_s)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGCONT)
        cycles += 1
        time.sleep(run_s)
    for pid in seen:                       # never leave one stopped
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(signal.SIGCONT)
    return cycles


def test_a_starved_driver_marks_steps_harness_limited(tmp_path):
    """The load process starved of CPU (stopped 0.3 s of every 0.4 s, as on a crowded
    machine) while the system has capacity to spare: the harness, not the system, is named.
    (A rate beyond what one process can send used to starve it, until a fast hour of this
    machine started 30,000 arrivals/s; the pool of open journeys then filled, which is
    rightly the system's doing. Stopping the process starves it on any machine.)"""
    out = tmp_path / "starved"
    scenario = tmp_path / "starved.yaml"
    scenario.write_text((HERE / "knee.yaml").read_text().replace("duration: 10s", "duration: 4s")
                        .replace("[10s, 1.0]", "[4s, 1.0]"))
    done = threading.Event()
    cycles: list[int] = []
    starver = threading.Thread(target=lambda: cycles.append(_starve_locust(out, done)))
    starver.start()
    try:
        res = subprocess.run([sys.executable, "-m", "harness", "sweep", str(scenario), "--out",
                              str(out), "--rates", "100", "--ceiling-s", "0",
                              "--sut-cmd", _sut(400, 10)], cwd=ROOT, capture_output=True,
                             text=True, timeout=400)
    finally:
        done.set()
        starver.join(timeout=10)
    assert cycles and cycles[0] >= 5, cycles
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    rec = json.loads((out / "sweep.json").read_text())
    assert [s["harness_limited"] for s in rec["steps"]] == [True], rec["steps"]
    assert rec["knee_rps"] is None and rec["knee_limited_by"] == "harness"
    assert all(s["harness_reasons"] for s in rec["steps"])
    assert "HARNESS-LIMITED" in res.stdout and "add --workers" in res.stdout
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert 'id="harness-limited"' in page and "add --workers" in page
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"
    step = json.loads((out / rec["steps"][0]["run_dir"] / "summary.json").read_text())
    assert step["load"]["harness_saturated"] is True
    assert "The harness was the bottleneck" in (out / rec["steps"][0]["run_dir"]
                                               / "report.html").read_text(encoding="utf-8")
