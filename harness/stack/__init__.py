"""Bringing the system up and down: Toxiproxy, the fake platform, the merchant or a SUT."""
from __future__ import annotations

from .local import LocalStack, StackConfig
from .process import Service

__all__ = ["LocalStack", "StackConfig", "Service"]
