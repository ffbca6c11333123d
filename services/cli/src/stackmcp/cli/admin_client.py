"""A small synchronous client for the provisioning admin REST API, with typed errors.

Every failure is one :class:`AdminError` subclass carrying the CLI exit code it maps to::

    AdminError
    ├── Refused        1  the API answered 4xx/502 with a reason (validation, conflict, verify)
    ├── AuthFailed     3  401/403: the admin token is missing, wrong or not allowed
    ├── NotFound       4  404: unknown account, server or token
    └── Unreachable    5  connection refused, timeout, a 5xx, or an answer that is not the API's

Configuration problems (no admin token, a bad URL) are ``ConfigError`` and exit 2; they are
raised before any request is made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from stackmcp.runtime.config import ConfigError

__all__ = [
    "AdminClient",
    "AdminError",
    "Answer",
    "AuthFailed",
    "NotFound",
    "Refused",
    "Unreachable",
    "segment",
]

_USER_AGENT = "stackmcp-cli"


class AdminError(Exception):
    """The admin API could not do what was asked; ``exit_code`` is the CLI's status for it."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        code: str = "",
        status: int = 0,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        """What went wrong, for people (the API's own message when it gave one)."""
        self.fields = fields or {}
        """Field path → problems, when the API named fields."""
        self.code = code
        """The API's stable error code (``invalid_argument``...), empty when there was none."""
        self.status = status
        """HTTP status, 0 when no answer arrived."""
        self.body = body
        """The API's error body as received (printed verbatim with ``--json``)."""


class Refused(AdminError):
    """The API refused the request: malformed, invalid fields, conflict, verify failed."""

    exit_code = 1


class AuthFailed(AdminError):
    """The admin token was missing, wrong or not allowed (401/403)."""

    exit_code = 3


class NotFound(AdminError):
    """The account, server or token does not exist (404)."""

    exit_code = 4


class Unreachable(AdminError):
    """Provisioning cannot be reached or is unavailable (network error, timeout, 5xx)."""

    exit_code = 5


@dataclass(frozen=True)
class Answer:
    """A successful answer: the decoded JSON (``None`` for 204) and the body as received."""

    status: int
    data: Any
    text: str = field(repr=False, default="")


def segment(value: str) -> str:
    """``value`` escaped as one URL path segment (an id can never reach another route)."""
    return quote(value, safe="")


class AdminClient:
    """Calls the admin API with ``Authorization: Bearer <admin token>``.

    Args:
        url: base URL, e.g. ``http://127.0.0.1:8081``.
        token: the admin token; never logged or put in an error message.
        timeout: seconds for connecting and for each read.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).

    Raises:
        ConfigError: ``url`` is not an absolute http(s) URL.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"admin URL {url!r} is not an http(s) URL like http://host:8081")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": _USER_AGENT},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(self, path: str) -> Answer:
        """``GET path``."""
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Answer:
        """``POST path`` with a JSON body (none: an empty request body)."""
        return self.request("POST", path, body)

    def patch(self, path: str, body: dict[str, Any]) -> Answer:
        """``PATCH path`` with a JSON body."""
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Answer:
        """``DELETE path``."""
        return self.request("DELETE", path)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        """Send one request and decode a 2xx answer.

        Raises:
            AdminError: one of its subclasses for every non-2xx answer or transport failure.
        """
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise Unreachable(f"no answer from {self.url} in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.url}: {_reason(exc)}") from None
        if response.is_success:
            return self._decode(response)
        raise self._error(response)

    def _decode(self, response: httpx.Response) -> Answer:
        if response.status_code == 204 or not response.content:
            return Answer(status=response.status_code, data=None, text="")
        try:
            data = json.loads(response.text)
        except ValueError:
            raise Unreachable(
                f"{self.url} answered {response.status_code} with a body that is not JSON; "
                "is this the provisioning admin API?",
                status=response.status_code,
            ) from None
        return Answer(status=response.status_code, data=data, text=response.text)

    def _error(self, response: httpx.Response) -> AdminError:
        status = response.status_code
        code, message, fields = _error_body(response)
        body = response.text if code else ""
        kwargs: dict[str, Any] = {"fields": fields, "code": code, "status": status, "body": body}
        if status in (401, 403):
            reason = message or "the admin token was refused"
            return AuthFailed(f"authentication failed at {self.url}: {reason}", **kwargs)
        if status == 404 and code:
            return NotFound(f"not found: {message or response.request.url.path}", **kwargs)
        if status == 404:
            return Unreachable(
                f"{self.url} answered 404 for {response.request.url.path} without an API error "
                "body; is this the provisioning admin API?",
                status=status,
            )
        if status == 502 and code == "upstream_error":
            # --verify: Better Stack answered an error or was unreachable at the account's base
            # URL ("Better Stack unreachable at <url>: connection refused"): the request's fault.
            return Refused(f"the API refused the request: {message}", **kwargs)
        if status >= 500:
            detail = f": {message}" if message else ""
            return Unreachable(f"{self.url} is unavailable (HTTP {status}){detail}", **kwargs)
        reason = message or f"HTTP {status}"
        return Refused(f"the API refused the request: {reason}", **kwargs)


def _error_body(response: httpx.Response) -> tuple[str, str, dict[str, list[str]]]:
    """``(code, message, fields)`` from the API's error body; empty when it has none."""
    try:
        error = json.loads(response.text).get("error")
    except (ValueError, AttributeError):
        return "", "", {}
    if not isinstance(error, dict):
        return "", "", {}
    raw_fields = error.get("fields") or {}
    fields = {
        str(name): [str(p) for p in problems] if isinstance(problems, list) else [str(problems)]
        for name, problems in (raw_fields.items() if isinstance(raw_fields, dict) else ())
    }
    return str(error.get("code") or ""), str(error.get("message") or ""), fields


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text
