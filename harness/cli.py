"""The `invoice-chaos` command (design.md s.3).

Exit codes: 0 every gate passed; 1 a gate failed or the verdict is unknown (not enough
evidence to pass); 2 bad usage or an invalid scenario
(nothing was started); 3 the stack could not be brought up; 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, HarnessError, ScenarioError

__all__ = ["main", "build_parser"]

EPILOG = """exit codes:
  0  every gate passed          1  a gate failed (lost, duplicated, latency ...), or the
                                   verdict is unknown (e.g. the final read went unanswered)
  2  bad usage / invalid scenario (nothing was started)
  3  the stack could not be brought up (missing Toxiproxy, no Docker engine, an image that
     cannot be built, port clash, unhealthy service)
  130 interrupted (Ctrl-C): the partial run directory says so

examples:
  invoice-chaos run scenarios/holiday_peak.yaml
  invoice-chaos run scenarios/smoke.yaml --merchant-mode naive-retry
  invoice-chaos run scenarios/smoke.yaml --sut-cmd "python examples/stdlib_merchant/server.py"
  invoice-chaos run scenarios/smoke.yaml --sut-cmd "python3 examples/job_erp/server.py" --client examples/job_erp/adapter.py:JobErp
  invoice-chaos run scenarios/smoke.yaml --backend docker --sut-image my-merchant:1 --sut-port 8080
  invoice-chaos check reports/smoke-20261123T101500Z
  invoice-chaos validate scenarios/*.yaml
  invoice-chaos run scenarios/smoke.yaml --remote-workers 2 --bind 10.0.0.5   # then, on 2 load machines:
  invoice-chaos worker --master 10.0.0.5:5557
  invoice-chaos sweep scenarios/capacity.yaml --from 100 --to 1200 --steps 6
  invoice-chaos explore scenarios/smoke.yaml --merchant-mode naive-retry --runs 20 --seed 1
"""

EXPLORE_EPILOG = """Each try keeps the scenario's load, sellers and gates and draws a new fault schedule
from its `explore:` block (docs/scenarios.md) or from every fault that applies; the same
--seed draws the same tries. A try fails when an anomaly gate fails (lost, duplicated, ...;
--any-gate: any gate). At the first failing try the schedule is shrunk (drop faults,
shorten windows, lower the rate and the length, move faults later), keeping a step only when
--confirm K re-runs all fail with the same anomaly class. The exploration directory holds
one sub-directory per try and step (its scenario.yaml is written before it runs),
minimal.yaml (replay it with `invoice-chaos run`), explore.json and explore.html.

exit codes:
  0  the runs or the budget were spent without a failure (figure gates may have failed: see explore.json)
  1  a failure was found (minimal.yaml written)
  2  bad usage / invalid scenario (nothing was started)
  3  the stack or a fault's tool is missing (Toxiproxy, libfaketime, root)
  130 interrupted (Ctrl-C): explore.json has what ran so far

examples:
  invoice-chaos explore scenarios/smoke.yaml --merchant-mode naive-retry --runs 20 --seed 1
  invoice-chaos explore scenarios/smoke.yaml --budget 20m --confirm 3
  invoice-chaos explore scenarios/smoke.yaml --runs 5 --dry-run     # write the tries, run nothing
"""

SWEEP_EPILOG = """exit codes:
  0  the sweep ran (and the knee is at least --require-rps)
  1  the knee is below --require-rps
  2  bad usage / invalid scenario (nothing was started)
  3  the stack could not be brought up        130 interrupted (sweep.json says so)

The knee is the highest step rate that passes every gate with achieved >= 95 % of the
offered rate, every lower step passing too; steps where the harness itself was the
bottleneck are marked harness_limited and never count as the system's limit.

example:
  invoice-chaos sweep scenarios/capacity.yaml --from 100 --to 1200 --steps 6
  invoice-chaos sweep scenarios/smoke.yaml --rates 10,20,40 --faults both --require-rps 20
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="invoice-chaos",
        description="Chaos testing and load simulation for e-invoicing (数电票) pipelines: a fake tax "
                    "platform and merchant behind Toxiproxy, holiday-peak load with Locust, a fault "
                    "schedule, and a checker that proves no invoice was lost, duplicated, invented or altered.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"invoice-chaos {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="one full run: stack, load, faults, checker, report",
                       description="Run a scenario end to end and print the verdict and the report path.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("scenario", metavar="SCENARIO.yaml")
    r.add_argument("--out", metavar="DIR", help="run directory (default reports/<scenario>-<UTC time>/)")
    r.add_argument("--seed", type=int, help="override the scenario's seed (data, arrivals, random faults)")
    r.add_argument("--scale", type=float, default=1.0, metavar="F",
                   help="multiply the scenario's load (0.1 = a tenth of the traffic; default 1)")
    r.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local Locust worker processes (master/worker mode when N > 1; default 1, "
                        "or 0 with --remote-workers)")
    r.add_argument("--remote-workers", type=int, default=0, metavar="M",
                   help="wait for M worker processes from load machines ('invoice-chaos worker "
                        "--master ADDR:P' on each) and give each its share of the arrivals; they "
                        "send their history back over Locust's connection (design.md s.10)")
    r.add_argument("--bind", default="127.0.0.1", metavar="ADDR",
                   help="with --remote-workers: the address of THIS machine where the Locust master "
                        "and the client->merchant / client->taxplatform proxies listen (default 127.0.0.1)")
    r.add_argument("--master-port", type=int, default=5557, metavar="P",
                   help="with --remote-workers: the Locust master's port on ADDR (default 5557)")
    r.add_argument("--workers-timeout", default="60s", metavar="DURATION",
                   help="how long to wait, once the stack is up, for every load worker to be ready "
                        "(with --remote-workers: to join; default 60s; then exit 3 naming who came)")
    r.add_argument("--merchant-mode", metavar="MODE",
                   help="bundled merchant mode: robust or a defect mode (see 'invoice-chaos list')")
    r.add_argument("--sut-cmd", metavar="CMD",
                   help="start YOUR merchant system with this shell command instead of the bundled one; "
                        "it gets PORT, TAX_PLATFORM_URL, SELLERS_FILE, DATA_DIR (also as {port}, "
                        "{tax_platform_url}, {sellers_file}, {data_dir}); see docs/sut-contract.md. "
                        "Under --backend docker it runs inside the app image with the current "
                        "directory mounted read-only at /project")
    r.add_argument("--client", metavar="FILE.py:Class",
                   help="drive YOUR system through its own API with this client adapter (a subclass of "
                        "harness.client.Adapter; design.md s.14, docs/sut-contract.md \"Your system has "
                        "its own API\"); with --sut-cmd or --sut-image")
    r.add_argument("--backend", choices=("local", "docker"), default="local",
                   help="where the stack runs: local processes (default) or Docker containers on a "
                        "network of their own (images are built here on first use; see 'invoice-chaos images')")
    r.add_argument("--sut-image", metavar="IMAGE",
                   help="docker backend: run YOUR merchant from this local image (never pulled); it gets "
                        "the --sut-cmd variables plus HOST=0.0.0.0, DATA_DIR is a volume")
    r.add_argument("--sut-port", type=int, metavar="N",
                   help="the port your --sut-image listens on inside its container (default 8080; given as PORT)")

    w = sub.add_parser("worker", help="join a run as a load machine (design.md s.10)",
                       description="Join the run whose master listens on HOST:PORT ('invoice-chaos run "
                                   "... --remote-workers M --bind HOST'): start N Locust worker "
                                   "processes that get their share of the arrival schedule, the URLs "
                                   "and the seed from the master, play it, and stream their history "
                                   "back. Needs only the project installed. Ends when the run ends.",
                       epilog="exit codes: 0 the run ended; 2 bad usage; 3 the master could not be "
                              "reached or turned the worker away",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    w.add_argument("--master", required=True, metavar="HOST:PORT", help="the run's master")
    w.add_argument("--processes", type=int, default=1, metavar="N",
                   help="worker processes on this machine, one per core is the useful maximum "
                        "(each counts as one of the run's --remote-workers; default 1)")

    c = sub.add_parser("check", help="re-run the checker and gates on a recorded run",
                       description="Check a directory holding history.jsonl and platform-ledger.jsonl "
                                   "(and optionally scenario.yaml for its gates); writes summary.json, "
                                   "junit.xml and the report there.")
    c.add_argument("run_dir", metavar="RUN_DIR")
    c.add_argument("--no-report", action="store_true", help="write summary.json and junit.xml only")

    rp = sub.add_parser("report", help="re-render the report of a recorded run")
    rp.add_argument("run_dir", metavar="RUN_DIR")

    v = sub.add_parser("validate", help="check scenario files; print every error with file:line")
    v.add_argument("scenarios", nargs="+", metavar="SCENARIO")

    sub.add_parser("list", help="bundled scenarios, fault types (and which backend runs them), platform "
                   "profiles, merchant modes")

    im = sub.add_parser("images", help="build the docker backend's images (cached by content)",
                        description="Build invoice-chaos/python:3.11 (debootstrap + docker import), "
                                    "invoice-chaos/app:<version> (offline, from wheels built here) and "
                                    "invoice-chaos/toxiproxy:<version> (FROM scratch). Nothing is pulled. "
                                    "An image whose inputs did not change is kept, so a second call "
                                    "takes seconds.")
    im.add_argument("--rebuild", action="store_true", help="build all three again even if cached")
    im.add_argument("--remove", action="store_true", help="remove the three images instead")

    sw = sub.add_parser("sweep", help="capacity sweep: one full run per offered rate, the knee",
                        description="Run the scenario once per rate (load.peak_rps = the rate), "
                                    "from the lowest up, and find the knee (design.md s.9). "
                                    "Writes sweep.json, sweep.html, plots/, junit.xml and one "
                                    "run directory per step.",
                        epilog=SWEEP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sw.add_argument("scenario", metavar="SCENARIO.yaml")
    sw.add_argument("--rates", metavar="R1,R2,...", help="the offered rates (arrivals/s)")
    sw.add_argument("--from", dest="rate_from", type=float, metavar="A", help="lowest rate")
    sw.add_argument("--to", dest="rate_to", type=float, metavar="B", help="highest rate")
    sw.add_argument("--steps", type=int, metavar="N", help="N rates from A to B, evenly spaced")
    sw.add_argument("--faults", choices=("scenario", "none", "both"), default="scenario",
                    help="scenario: the scenario's faults as written (default); none: drop them; "
                         "both: every rate without and with them (knee under faults, headroom)")
    sw.add_argument("--require-rps", type=float, metavar="R",
                    help="exit 1 unless the knee is at least R arrivals/s")
    sw.add_argument("--all", dest="run_all", action="store_true",
                    help="run every step (default: stop after two failing steps above the last pass)")
    sw.add_argument("--workers", type=int, default=1, metavar="N", help="Locust worker processes")
    sw.add_argument("--sut-cmd", metavar="CMD", help="your merchant system (as for run)")
    sw.add_argument("--merchant-mode", metavar="MODE", help="bundled merchant mode (as for run)")
    sw.add_argument("--client", metavar="FILE.py:Class", help="client adapter of your system's own API (as for run)")
    sw.add_argument("--seed", type=int, help="override the scenario's seed")
    sw.add_argument("--out", metavar="DIR", help="sweep directory (default reports/sweep-<scenario>-<UTC time>/)")
    sw.add_argument("--ceiling-s", type=float, default=6.0, metavar="S",
                    help="seconds of the harness-ceiling ramp at the start (default 6; 0 skips it)")

    e = sub.add_parser("explore", help="many short runs with drawn fault schedules; shrink a failure to minimal.yaml",
                       description="Search for a failing fault schedule and shrink it to the smallest "
                                   "scenario that still fails.",
                       epilog=EXPLORE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("scenario", metavar="SCENARIO.yaml")
    how_long = e.add_mutually_exclusive_group(required=True)
    how_long.add_argument("--runs", type=int, metavar="N", help="at most N tries")
    how_long.add_argument("--budget", metavar="DURATION", help="start tries for this long (e.g. 20m); shrinking has its own step budget")
    e.add_argument("--seed", type=int, help="seed of the drawing and of every try's load (default the scenario's)")
    e.add_argument("--merchant-mode", metavar="MODE", help="bundled merchant mode (see 'invoice-chaos list')")
    e.add_argument("--sut-cmd", metavar="CMD", help="your own merchant system, as for 'run'")
    e.add_argument("--client", metavar="FILE.py:Class", help="client adapter of your system's own API, as for 'run'")
    e.add_argument("--confirm", type=int, default=2, metavar="K",
                   help="re-runs per shrink step that must all fail with the same class (default 2)")
    e.add_argument("--shrink-steps", type=int, default=12, metavar="N",
                   help="at most N shrink steps (candidates tried; default 12)")
    e.add_argument("--try-length", metavar="DURATION",
                   help="load per try (default the explore: block's duration, else min(scenario, 20s))")
    e.add_argument("--scale", type=float, default=1.0, metavar="F", help="multiply the scenario's load (default 1)")
    e.add_argument("--workers", type=int, default=1, metavar="N", help="Locust worker processes per try (default 1)")
    e.add_argument("--out", metavar="DIR", help="exploration directory (default reports/explore-<scenario>-<UTC time>/)")
    e.add_argument("--dry-run", action="store_true", help="draw and write the tries' scenarios and explore.json; run nothing")
    e.add_argument("--any-gate", action="store_true",
                   help="a try also fails on figure gates (latency, answered_share, recovery); by default only "
                        "an anomaly class (lost, duplicated, ...) is a failure to shrink")

    cp = sub.add_parser("compare", help="side-by-side figures of two runs (or two sweeps: knees)")
    cp.add_argument("run_a", metavar="RUN_A")
    cp.add_argument("run_b", metavar="RUN_B")

    s = sub.add_parser("serve", help="run one fake service by hand")
    s.add_argument("service", choices=("taxplatform", "merchant"))
    s.add_argument("--port", type=int, default=None, help="listen on 127.0.0.1:PORT")
    s.add_argument("--data", metavar="DIR", help="data directory (SQLite files)")
    s.add_argument("--sellers", metavar="FILE", help="sellers JSON list (generated when absent)")
    s.add_argument("--platform-url", metavar="URL",
                   help="merchant only: the tax platform's base URL (else $TAX_PLATFORM_URL)")
    s.add_argument("--mode", metavar="MODE", help="merchant only: robust or a defect mode (else $MERCHANT_MODE)")
    s.add_argument("--tls-dir", metavar="DIR",
                   help="taxplatform only: serve HTTPS with a CA and certificate made into DIR "
                        "(DIR/ca.pem, DIR/truststore.p12; made when absent, design.md s.13)")
    from .configure import PROFILES
    s.add_argument("--profile", choices=tuple(PROFILES), default=None,
                   help="the platform's profile (both services): " + " or ".join(
                       f"{name} ({p.summary})" for name, p in PROFILES.items()))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("list", "validate", "compare") and hasattr(signal, "SIGPIPE"):
        # `invoice-chaos list | head` ends quietly; never for `run`, whose teardown must happen
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _dispatch(args)
    except ScenarioError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return e.exit_code
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from .run import RunOptions, run
        return run(RunOptions(scenario_path=args.scenario, out=args.out, seed=args.seed, scale=args.scale,
                              workers=args.workers, merchant_mode=args.merchant_mode, sut_cmd=args.sut_cmd,
                              backend=args.backend, remote_workers=args.remote_workers, bind=args.bind,
                              master_port=args.master_port, workers_timeout=args.workers_timeout,
                              sut_image=args.sut_image, sut_port=args.sut_port, client=args.client))
    if args.command == "worker":
        from .worker import run_worker
        return run_worker(args.master, args.processes)
    if args.command == "explore":
        from .explore.search import ExploreOptions, explore
        from .durations import DurationError, parse_duration
        from .errors import UsageError
        try:
            budget = parse_duration(args.budget) if args.budget else None
            try_s = parse_duration(args.try_length) if args.try_length else None
        except DurationError as e:
            raise UsageError(f"--budget/--try-length: {e}") from None
        return explore(ExploreOptions(scenario_path=args.scenario, runs=args.runs, budget_s=budget, seed=args.seed,
                                      merchant_mode=args.merchant_mode, sut_cmd=args.sut_cmd, client=args.client,
                                      confirm=args.confirm,
                                      shrink_steps=args.shrink_steps, try_s=try_s, out=args.out, scale=args.scale,
                                      workers=args.workers, dry_run=args.dry_run, any_gate=args.any_gate))
    if args.command == "check":
        from .verdict import evaluate_run, print_verdict
        run_dir = Path(args.run_dir)
        summary, code = evaluate_run(run_dir, render=not args.no_report)
        if args.no_report:
            from .report import write_junit
            write_junit(run_dir, summary)
        print_verdict(summary, run_dir)
        return code
    if args.command == "report":
        from .report import write_report
        from .errors import InputError
        run_dir = Path(args.run_dir)
        if not (run_dir / "summary.json").is_file():
            raise InputError(f"{run_dir / 'summary.json'}:1: missing; run 'invoice-chaos check {run_dir}' first")
        print(f"report: {write_report(run_dir)}")
        return 0
    if args.command == "validate":
        return _validate(args.scenarios)
    if args.command == "list":
        return _list()
    if args.command == "sweep":
        from .sweep import SweepOptions, run_sweep
        return run_sweep(SweepOptions(
            scenario_path=args.scenario, rates=args.rates, rate_from=args.rate_from,
            rate_to=args.rate_to, steps=args.steps, faults=args.faults,
            require_rps=args.require_rps, run_all=args.run_all, workers=args.workers,
            sut_cmd=args.sut_cmd, merchant_mode=args.merchant_mode, client=args.client, seed=args.seed, out=args.out,
            ceiling_s=args.ceiling_s))
    if args.command == "images":
        from .stack.docker.cli import images_command
        return images_command(rebuild=args.rebuild, remove=args.remove)
    if args.command == "compare":
        from .sweep import compare_sweeps, is_sweep_dir
        a, b = Path(args.run_a), Path(args.run_b)
        if is_sweep_dir(a) or is_sweep_dir(b):
            if not (is_sweep_dir(a) and is_sweep_dir(b)):
                from .errors import UsageError
                raise UsageError("compare: give two run directories or two sweep directories")
            print(compare_sweeps(a, b))
            return 0
        from .report import compare
        print(compare(a, b))
        return 0
    if args.command == "serve":
        return _serve(args)
    raise AssertionError(args.command)


def _validate(paths: list[str]) -> int:
    from .scenario import load_scenario
    bad = 0
    for path in paths:
        try:
            s = load_scenario(path)
        except ScenarioError as e:
            bad += 1
            for problem in e.problems:
                print(problem, file=sys.stderr)
            continue
        print(f"{path}: ok ({s.name}: {len(s.faults)} faults, {s.duration_s:g}s of load)")
    return EXIT_USAGE if bad else 0


def _list() -> int:
    from fakes.merchant.modes import MODES

    from .faults import kinds_of
    from .scenario import load_scenario
    root = Path(__file__).resolve().parents[1] / "scenarios"
    print("bundled scenarios (scenarios/):")
    for path in sorted(root.glob("*.yaml")):
        try:
            s = load_scenario(path)
            desc = " ".join(s.description.split())
            print(f"  {path.name:<28} {desc[:90]}")
        except ScenarioError as e:
            print(f"  {path.name:<28} INVALID: {e.problems[0]}")
    for family, title, key in (("toxic", "network faults (link: A->B, toxic: KIND)", "toxic"),
                               ("process", "process faults (target: taxplatform|merchant, action: KIND; "
                                           "local: signals to the process group, docker: to the container)", "action"),
                               ("platform", "platform faults (target: taxplatform, action: KIND)", "action"),
                               ("system", "clock and disk faults (target: a service, action: KIND; need libfaketime / root)", "action")):
        print(f"\n{title}:")
        for name, cls in sorted(kinds_of(family).items()):
            attrs = ", ".join(f"{a}={v.default}" for a, v in cls.attrs.items() if a not in ("stream", "toxicity"))
            where = "local+docker" if set(cls.backends) >= {"local", "docker"} else "+".join(cls.backends) + " only"
            print(f"  {name:<20} ({where}) {cls.doc}" + (f"  [{attrs}]" if attrs else ""))
    from .configure import PROFILES
    from .links import LINKS
    print(f"\nlinks: {', '.join(LINKS)}")
    print("\nplatform profiles (platform: {profile: NAME}; serve taxplatform --profile NAME):")
    for name, prof in PROFILES.items():
        print(f"  {name:<20} {prof.summary}")
    print("\nbackends (--backend): local (processes on 127.0.0.1, the default), docker (containers on a "
          "network per run; --sut-image runs your merchant's image)")
    print("\nmerchant modes (--merchant-mode):")
    for name, doc in MODES.items():
        print(f"  {name:<20} {doc}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    argv: list[str] = []
    if args.service == "taxplatform":
        from fakes.taxplatform import main as serve_main
    else:
        from fakes.merchant import main as serve_main
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.data:
        argv += ["--data", args.data]
    if args.sellers:
        argv += ["--sellers", args.sellers]
    if args.profile:
        argv += ["--profile", args.profile]
    if args.tls_dir:
        if args.service != "taxplatform":
            from .errors import UsageError
            raise UsageError("--tls-dir: only the taxplatform serves HTTPS")
        from .stack.tls import make_run_tls
        tls_dir = Path(args.tls_dir)
        if not (tls_dir / "server.pem").is_file():
            make_run_tls(tls_dir.parent, dirname=tls_dir.name)
        argv += ["--tls-cert", str(tls_dir / "server.pem"), "--tls-key", str(tls_dir / "server.key")]
        print(f"taxplatform: HTTPS; trust {tls_dir / 'ca.pem'} (Java: {tls_dir / 'truststore.p12'}, "
              f"password invoice-chaos)", flush=True)
    if args.service == "merchant":
        if args.platform_url:
            argv += ["--platform-url", args.platform_url]
        if args.mode:
            argv += ["--mode", args.mode]
    elif args.platform_url or args.mode:
        from .errors import UsageError
        raise UsageError("--platform-url and --mode are options of 'serve merchant'")
    return int(serve_main(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
