"""`python -m fakes.taxplatform` / `invoice-chaos serve taxplatform`: run the platform.

Binds 127.0.0.1 unless `--host` says otherwise (0.0.0.0 is for inside a container only).
Without `--sellers` it generates sellers once, writes them beside the
data (DIR/sellers.json, reused on restart so secrets stay valid) and prints one seller's id
and secret so a person can log in at once. SIGTERM/SIGINT stop it cleanly (uvicorn).
"""
from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
from pathlib import Path

__all__ = ["main", "build_platform"]

DB_NAME = "platform.sqlite3"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m fakes.taxplatform",
                                 description="fake 数电票 tax platform (design.md s.5)")
    ap.add_argument("--port", type=int, default=8700, help="listen on HOST:PORT")
    ap.add_argument("--host", default="127.0.0.1",
                    help="bind address (default 127.0.0.1; 0.0.0.0 only inside a container, where the "
                         "container's own network is the only one it reaches)")
    ap.add_argument("--data", type=Path, default=None,
                    help="directory of the SQLite database (kept across restarts)")
    ap.add_argument("--sellers", type=Path, default=None,
                    help="SELLERS_FILE: JSON list of {seller_tax_id, name, secret}")
    ap.add_argument("--config", default=None,
                    help="JSON object or a path to one: replica_lag_ms, dedup, "
                         "quota_per_seller, token_ttl_s, synchronous, seed, profile, "
                         "upload_delay_ms, upload_deadline_s")
    from .frontends import names
    ap.add_argument("--profile", choices=names(), default=None,
                    help="the protocol front-end: clearance (default: the platform numbers "
                         "invoices, design.md s.5), direct (number ranges and batched uploads, "
                         "s.12), ... (s.13); overrides the config's profile")
    ap.add_argument("--tls-cert", type=Path, default=None,
                    help="serve HTTPS with this PEM certificate chain (design.md s.13; a run "
                         "makes one in <run dir>/tls/)")
    ap.add_argument("--tls-key", type=Path, default=None, help="the PEM key of --tls-cert")
    ap.add_argument("--log-level", default="warning")
    return ap


def build_platform(data: Path, sellers_file: Path | None, config_arg: str | None,
                   clock=None, profile: str | None = None):
    """(ledger core with its front-end, sellers list, sellers file, generated?) -- no server
    yet; tests use it in-process, with a `clock.ManualClock` where time matters. An unknown
    profile is a ValueError naming the known ones."""
    from fakes.common.sellers import read_sellers, sellers_for, write_sellers

    from .config import parse_config
    from .core import Ledger
    from .frontends import frontend_class
    from .store import Store

    cfg = parse_config(config_arg)
    if profile:
        cfg.profile = profile
    frontend = frontend_class(cfg.profile)
    data.mkdir(parents=True, exist_ok=True)
    generated = False
    if sellers_file is None:
        sellers_file = data / "sellers.json"
        if not sellers_file.exists():
            write_sellers(sellers_file, sellers_for(cfg.profile, 3, random.randrange(1 << 30)))
            generated = True
    sellers = read_sellers(sellers_file)
    store = Store(data / DB_NAME, cfg.synchronous) if clock is None else \
        Store(data / DB_NAME, cfg.synchronous, clock)
    platform = Ledger(store, {s["seller_tax_id"]: s["secret"] for s in sellers}, cfg,
                      index_request_keys=frontend.index_request_keys)
    platform.accounts = [dict(s) for s in sellers]
    frontend(platform)
    return platform, sellers, sellers_file, generated


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    for f in (args.tls_cert, args.tls_key):
        if f is not None and not f.is_file():
            print(f"error: {f}: no such file", file=sys.stderr)
            return 2
    data = args.data or Path(tempfile.mkdtemp(prefix="taxplatform-"))
    try:
        platform, sellers, sellers_file, generated = build_platform(
            data, args.sellers, args.config, profile=args.profile)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from .app import create_app

    app = create_app(platform)
    url = f"{'https' if args.tls_cert else 'http'}://{args.host}:{args.port}"
    print(f"taxplatform: {url}  data={data}  profile={platform.config.profile}  "
          f"dedup={platform.config.dedup}  "
          f"replica_lag_ms={platform.config.replica_lag_ms}  sellers={sellers_file}", flush=True)
    if args.sellers is None:
        s = sellers[0]
        print(f"taxplatform: {'generated' if generated else 'reusing'} {len(sellers)} sellers; "
              f"log in with: curl -s -XPOST {url}/v1/auth/token -H 'content-type: "
              f"application/json' -d '{{\"seller_tax_id\": \"{s['seller_tax_id']}\", "
              f"\"secret\": \"{s['secret']}\"}}'", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, loop="uvloop",
                            http="httptools", log_level=args.log_level, access_log=False,
                            proxy_headers=False,
                            lifespan="on", timeout_graceful_shutdown=5,
                            ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
                            ssl_keyfile=str(args.tls_key) if args.tls_key else None)
    server = uvicorn.Server(config)
    stopped_by: list[int] = []
    # uvicorn shuts down gracefully, then re-raises the signal to the handler it found; a
    # handler of ours there turns "stopped by SIGTERM/SIGINT" into a clean exit code 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopped_by.append(signum))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        print(f"error: could not listen on {url} (port in use?)", file=sys.stderr)
        return 3
    return 0
