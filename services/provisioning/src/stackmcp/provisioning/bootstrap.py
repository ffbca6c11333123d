"""``stackmcp-connect-account``: connect one Better Stack account through the admin API, once.

Made for a Kubernetes Job (and any other declarative set-up): the Better Stack token comes from
a Secret in ``STACKMCP_BOOTSTRAP_BETTERSTACK_TOKEN``, the admin token from ``STACKMCP_ADMIN_TOKEN``
(or ``_FILE``). It is idempotent: when an account of that name is already connected it changes
nothing and succeeds, so the Job can be re-applied. While provisioning is unreachable or
answers 5xx (still starting, worker not up for ``verify``) it retries for ``wait`` seconds.

Exit codes: 0 connected or already there; 1 refused (each field problem printed); 2
configuration; 3 admin token refused; 5 provisioning still unavailable after ``wait``.
Neither token is ever printed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import msgspec

from stackmcp.runtime.admin import AdminConfig, admin_token
from stackmcp.runtime.config import ConfigError, load_section

__all__ = ["BootstrapConfig", "connect_account", "main"]

_RETRY_DELAY = 2.0


class BootstrapConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The account to connect (section ``BOOTSTRAP``: ``STACKMCP_BOOTSTRAP_<FIELD>``)."""

    account_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    """Name of the integrated account; an account with this name already there is kept."""
    betterstack_token: Annotated[str, msgspec.Meta(min_length=1)]
    """The Better Stack API token (from a Secret)."""
    base_url: str = ""
    """Better Stack API base URL; empty = the Better Stack cloud (a sandbox URL in dev)."""
    team_name: str = ""
    """Better Stack team, for tokens that reach several teams; empty = none."""
    verify: bool = True
    """Ask the worker to check the token against Better Stack before saving it."""
    wait: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    """Seconds to keep retrying while provisioning is unreachable or answers 5xx."""


class Outcome(Exception):
    """How the run ended: ``exit_code`` and a line for people."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


def connect_account(
    config: BootstrapConfig, url: str, token: str, *, transport: httpx.BaseTransport | None = None
) -> str:
    """Connect the account unless one of that name exists; return what happened.

    Raises:
        Outcome: refused (1), admin token refused (3) or provisioning unavailable (5).
    """
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "stackmcp-connect-account"}
    deadline = time.monotonic() + config.wait
    with httpx.Client(base_url=url, headers=headers, timeout=30, transport=transport) as http:
        listing = _retrying(deadline, lambda: http.get("/integrated-account"))
        for account in listing.json().get("items", []):
            if account.get("name") == config.account_name:
                return f"account {config.account_name!r} is already connected ({account['id']})"
        created = _retrying(deadline, lambda: http.post("/integrated-account", json=_body(config)))
        return f"connected Better Stack account {config.account_name!r} as {created.json()['id']}"


def _body(config: BootstrapConfig) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration": "betterstack",
        "name": config.account_name,
        "betterstack_token": config.betterstack_token,
        "verify": config.verify,
    }
    if config.base_url:
        body["base_url"] = config.base_url
    if config.team_name:
        body["team_name"] = config.team_name
    return body


def _retrying(deadline: float, send: Callable[[], httpx.Response]) -> httpx.Response:
    while True:
        try:
            response = send()
        except httpx.TransportError as exc:
            problem = f"provisioning unreachable ({type(exc).__name__})"
        else:
            if response.is_success:
                return response
            if response.status_code < 500:
                raise _refusal(response)
            problem = f"provisioning answered {response.status_code}: {_message(response)}"
        if time.monotonic() + _RETRY_DELAY > deadline:
            raise Outcome(5, f"gave up: {problem}")
        print(f"stackmcp-connect-account: {problem}; retrying", file=sys.stderr)
        time.sleep(_RETRY_DELAY)


def _refusal(response: httpx.Response) -> Outcome:
    if response.status_code in (401, 403):
        return Outcome(3, "the admin token was not accepted")
    lines = [f"refused ({response.status_code}): {_message(response)}"]
    fields = _error(response).get("fields") or {}
    lines += [f"  {name}: {'; '.join(problems)}" for name, problems in fields.items()]
    return Outcome(1, "\n".join(lines))


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except ValueError:
        return {}
    return error if isinstance(error, dict) else {}


def _message(response: httpx.Response) -> str:
    return str(_error(response).get("message") or response.reason_phrase)


def main() -> None:
    """Console entry point: settings from the environment, outcome as the exit status."""
    try:
        config = load_section(BootstrapConfig, "BOOTSTRAP")
        admin = load_section(AdminConfig, "ADMIN")
        token = admin_token(admin)
        parts = urlsplit(admin.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"STACKMCP_ADMIN_URL={admin.url!r} is not an http(s) URL")
        if token is None:
            raise ConfigError("STACKMCP_ADMIN_TOKEN or STACKMCP_ADMIN_TOKEN_FILE is required")
        print(f"stackmcp-connect-account: {connect_account(config, admin.url, token)}")
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except Outcome as outcome:
        print(f"stackmcp-connect-account: {outcome.message}", file=sys.stderr)
        raise SystemExit(outcome.exit_code) from None
