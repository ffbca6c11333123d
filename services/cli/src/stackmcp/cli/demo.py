"""The demo account and MCP server ``stackmcp up`` creates on its first start.

Made through the admin API like any operator would, so a fresh install shows the whole path:
account → MCP server URL → Claude. Against the sandbox the demo server may read and write
incidents and on-call (the seed's workflows: triage, acknowledge, escalate, comment, resolve);
against a real Better Stack account it is read-only, and the token is verified first.
"""

from __future__ import annotations

from typing import Any

import httpx

from stackmcp.cli.localstate import LocalState
from stackmcp.provisioning.clientconfig import client_config

__all__ = ["DemoError", "DemoTarget", "ensure_demo"]

DEMO_TAGS = ["incidents", "on_call"]


class DemoError(Exception):
    """The demo account or server could not be set up (the message says why)."""


class DemoTarget:
    """Which Better Stack API the demo account connects to."""

    def __init__(self, *, token: str, base_url: str, team_name: str | None, real: bool) -> None:
        self.token = token
        self.base_url = base_url
        self.team_name = team_name
        self.real = real

    def __repr__(self) -> str:
        return f"DemoTarget(base_url={self.base_url!r}, real={self.real})"


def ensure_demo(
    state: LocalState, provisioning_url: str, admin_token: str, target: DemoTarget, mcp_base: str
) -> dict[str, Any]:
    """The demo facts (``account_id``, ``server_id``, ``mcp_url``, ``client_config``, ``note``).

    Created on the first start and remembered in the data directory; on later starts the stored
    server is looked up, and ``mcp_url`` is ``None`` when it has been revoked or has expired.
    The URL is rebuilt on ``mcp_base`` (the gateway's address now), since ports may change
    between runs while the token stays valid.

    Raises:
        DemoError: the admin API refused or could not be reached.
    """
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=provisioning_url, headers=headers, timeout=30) as client:
        demo = state.demo()
        if demo is not None:
            return _check_existing(client, demo, mcp_base)
        account = _call(client, "POST", "/integrated-account", _account_body(target))
        server = _call(
            client,
            "POST",
            f"/integrated-account/{account['id']}/mcp",
            {
                "name": "demo",
                "config": {
                    "methods": ["read"] if target.real else ["read", "write"],
                    "tags": DEMO_TAGS,
                    # Deleting and resolving wait for the user's yes, as they should anywhere.
                    "confirm": "destructive",
                },
            },
        )
    demo = {
        "account_id": account["id"],
        "server_id": server["id"],
        "mcp_url": server["url"],
        "client_config": server["client_config"],
    }
    state.save_demo(demo)
    return {**demo, "note": "created on this first start"}


def _account_body(target: DemoTarget) -> dict[str, Any]:
    return {
        "integration": "betterstack",
        "name": "Better Stack" if target.real else "Sandbox (demo data)",
        "betterstack_token": target.token,
        "base_url": target.base_url,
        "team_name": target.team_name,
        "verify": target.real,
    }


def _check_existing(client: httpx.Client, demo: dict[str, Any], mcp_base: str) -> dict[str, Any]:
    path = f"/integrated-account/{demo.get('account_id')}/mcp/{demo.get('server_id')}"
    try:
        answer = client.get(path)
    except httpx.HTTPError as exc:
        raise DemoError(f"the admin API could not be reached: {type(exc).__name__}") from None
    if answer.status_code == 200 and answer.json().get("status") == "active":
        token = str(demo.get("mcp_url", "")).rsplit("/", 1)[-1]
        url = f"{mcp_base.rstrip('/')}/mcp/{token}"
        return {
            **demo,
            "mcp_url": url,
            "client_config": client_config(url, "demo", require_api_token=False),
            "note": "kept from an earlier start",
        }
    return {
        **demo,
        "mcp_url": None,
        "note": "the demo MCP server was revoked or has expired; mint one with "
        "'stackmcp servers create'",
    }


def _call(client: httpx.Client, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise DemoError(f"the admin API could not be reached: {type(exc).__name__}") from None
    if answer.status_code >= 400:
        error = answer.json().get("error", {}) if _is_json(answer) else {}
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in (error.get("fields") or {}).items())
        message = error.get("message", f"HTTP {answer.status_code}")
        raise DemoError(
            f"{method} {path} was refused: {message}{' (' + fields + ')' if fields else ''}"
        )
    result: dict[str, Any] = answer.json()
    return result


def _is_json(answer: httpx.Response) -> bool:
    return str(answer.headers.get("content-type", "")).startswith("application/json")
