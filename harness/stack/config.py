"""What a run asks of its stack, whichever backend brings it up: the run's identity and
directory, the sellers, the platform's configuration, the merchant (bundled mode or the
user's command) and the environment each service gets."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .ports import LOOPBACK

__all__ = ["StackConfig", "SERVICES", "CLIENT_LINKS", "expand_placeholders"]

SERVICES = ("taxplatform", "merchant")
#: The links customers use: with `run --bind ADDR` they listen on ADDR, so remote load machines
#: reach the system through the fault proxies (design.md s.10); everything else stays on loopback.
CLIENT_LINKS = ("client->merchant", "client->taxplatform")


@dataclass(slots=True)
class StackConfig:
    run_id: str
    run_dir: Path
    sellers_file: Path
    platform_config: dict
    merchant_mode: str = "robust"
    merchant_env: dict[str, str] = field(default_factory=dict)
    platform_env: dict[str, str] = field(default_factory=dict)
    sut_command: str | None = None
    sut_health: str = "/healthz"
    sut_startup_timeout_s: float = 30.0
    startup_timeout_s: float = 30.0
    client_host: str = LOOPBACK             # where client->* proxies listen (`run --bind`)
    platform_tls: bool = False              # serve the platform over HTTPS (design.md s.13)
    #: The merchant's start-up check, given the stack (its `merchant_direct`, `platform_direct`);
    #: None: design.md s.6's 404 probe. A run through a client adapter asks through the
    #: adapter (harness/client/probe.py).
    sut_probe: Callable[[Any], None] | None = None


def expand_placeholders(command: str, values: dict[str, str]) -> str:
    """Replace only {port}, {tax_platform_url}, {sellers_file}, {data_dir}: other braces stay."""
    for key, value in values.items():
        command = command.replace("{" + key + "}", shlex.quote(value) if " " in value else value)
    return command
