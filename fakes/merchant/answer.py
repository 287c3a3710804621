"""What the merchant tells a customer: an HTTP status and a JSON body (design.md s.6).

Its own module so that the issuing core (service.py) and the platform clients
(platforms/) both build answers without importing each other."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Answer"]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
