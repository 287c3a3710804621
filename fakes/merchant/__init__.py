"""The reference merchant of invoice-chaos and its defect modes (design.md s.6).

    python -m fakes.merchant            # env PORT, TAX_PLATFORM_URL, SELLERS_FILE, DATA_DIR,
                                        # MERCHANT_MODE, PLATFORM_DEDUP, PLATFORM_TIMEOUT_S,
                                        # HOST (bind address, default 127.0.0.1)

`main(argv)` is also what `invoice-chaos serve merchant` calls.
"""
from __future__ import annotations

import logging
import signal
import sys
from typing import Sequence

from .modes import MODES

__all__ = ["main", "MODES"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the merchant until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad configuration."""
    import uvicorn

    from fakes.common.sellers import read_sellers

    from .app import create_app
    from .config import parse_config

    try:
        cfg = parse_config(argv)
        sellers = read_sellers(cfg.sellers_file)
    except (ValueError, OSError) as e:
        print(f"fakes.merchant: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s merchant %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(cfg, {s["seller_tax_id"]: s["secret"] for s in sellers},
                     [dict(s) for s in sellers])
    print(f"fakes.merchant: mode={cfg.mode} dedup={cfg.dedup} listening on {cfg.host}:{cfg.port} "
          f"platform={cfg.platform_url} data={cfg.data_dir}", file=sys.stderr, flush=True)
    # uvloop + httptools as the platform runs (both are dependencies); no proxy-header
    # rewriting: nothing stands in front of the merchant but Toxiproxy, which forwards bytes.
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning",
                                           access_log=False, lifespan="on", loop="uvloop",
                                           http="httptools", proxy_headers=False))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handler that was installed before it; a no-op one lets a clean stop exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    return 0 if server.started else 3
