"""Error bodies of the Better Stack API and the exception that carries them to the client."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BLANK",
    "NOT_FOUND",
    "SEE_DOCS",
    "UNAUTHORIZED",
    "ApiError",
    "blank",
    "field_error",
    "not_found",
]

UNAUTHORIZED = (
    "Invalid Team API token. How to find your Team API token: "
    "https://betterstack.com/docs/uptime/api/getting-started-with-uptime-api/"
    "#get-an-uptime-api-token"
)
NOT_FOUND = "Resource with provided ID was not found"
SEE_DOCS = "https://betterstack.com/docs/uptime/api/getting-started-with-uptime-api/"
BLANK = "Can't be blank."


class ApiError(Exception):
    """An answer other than success: ``status`` plus the JSON body ``{"errors": ...}``."""

    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.body: dict[str, Any] = {"errors": errors}
        self.headers = headers or {}


def not_found() -> ApiError:
    """The 404 for an unknown id."""
    return ApiError(404, NOT_FOUND)


def field_error(field: str, message: str) -> ApiError:
    """A 422 naming one field, e.g. ``{"errors": {"name": ["Can't be blank."]}}``."""
    return ApiError(422, {field: [message]})


def blank(field: str) -> ApiError:
    """The 422 for a missing required field."""
    return field_error(field, BLANK)
