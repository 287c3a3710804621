"""Bringing the system up and down: Toxiproxy, the fake platform, the merchant or a SUT."""
from __future__ import annotations

from .base import Stack, StackBase
from .config import StackConfig
from .local import LocalStack
from .process import Service

__all__ = ["Stack", "StackBase", "LocalStack", "StackConfig", "Service"]
