"""Merchant configuration: the environment of design.md s.6, flags override it."""
from __future__ import annotations

from pathlib import Path

import pytest

from fakes.merchant import main
from fakes.merchant.config import parse_config

ENV = {"PORT": "8080", "TAX_PLATFORM_URL": "http://127.0.0.1:9000/", "SELLERS_FILE": "s.json",
       "DATA_DIR": "/tmp/m"}


def test_env_defaults():
    cfg = parse_config([], ENV)
    assert (cfg.port, cfg.platform_url, cfg.mode, cfg.dedup, cfg.platform_timeout_s) == \
        (8080, "http://127.0.0.1:9000", "robust", "request_id", 2.0)
    assert cfg.data_dir == Path("/tmp/m") and cfg.sync_budget_s == 2.5


def test_flags_override_env():
    cfg = parse_config(["--port", "9", "--mode", "naive-retry", "--dedup", "none", "--platform-timeout", "4"],
                       dict(ENV, MERCHANT_MODE="robust", PLATFORM_SETTLE_S="1.5"))
    assert (cfg.port, cfg.mode, cfg.dedup, cfg.platform_timeout_s, cfg.settle_s) == (9, "naive-retry", "none", 4.0, 1.5)
    assert cfg.sync_budget_s == 5.0


@pytest.mark.parametrize("env, msg", [
    ({k: v for k, v in ENV.items() if k != "PORT"}, "set PORT"),
    (dict(ENV, MERCHANT_MODE="robustt"), "known: robust, naive-retry"),
    (dict(ENV, PLATFORM_DEDUP="uuid"), "PLATFORM_DEDUP"),
    (dict(ENV, PLATFORM_TIMEOUT_S="fast"), "PLATFORM_TIMEOUT_S"),
])
def test_bad_settings_say_what_is_wrong(env, msg):
    with pytest.raises(ValueError, match=msg):
        parse_config([], env)


def test_main_exits_2_on_bad_configuration(monkeypatch, capsys):
    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    assert main(["--port", "1"]) == 2
    assert "TAX_PLATFORM_URL" in capsys.readouterr().err
