"""The platform's error type: every refusal is JSON `{"error", "message"}` (design.md s.5).

A handler raises `ApiError`; the app turns it into a response. Codes are stable (clients
branch on them), messages are for people and name the field that is wrong.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "invalid", "missing"]


class ApiError(Exception):
    """A refusal or an injected failure with its HTTP status and stable code."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        out.update(self.extra)
        return out


def invalid(field: str, message: str, code: str = "invalid_field") -> ApiError:
    """422 for a well-formed request the platform refuses; the message starts with the field."""
    return ApiError(422, code, f"{field}: {message}", field=field)


def missing(field: str) -> ApiError:
    return ApiError(422, "missing_field", f"{field}: is required", field=field)
