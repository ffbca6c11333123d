"""Integrated accounts: list, connect, an account's MCP Servers tab (server forms live in
:mod:`.serverforms`, server pages and lists in :mod:`.servers`)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.response import Redirect

from stackmcp.contracts._base import utcnow
from stackmcp.provisioning.console.forms import (
    FieldMessages,
    account_body,
    field_messages,
)
from stackmcp.provisioning.console.sessions import Session
from stackmcp.provisioning.console.web import (
    NOTICES,
    PREFIX,
    AnyRequest,
    checked_form,
    console_state,
    page,
    signed_in,
)
from stackmcp.provisioning.httpio import log_unavailable
from stackmcp.provisioning.provisioner import STATUS_FILTERS
from stackmcp.provisioning.views import account_view, server_view
from stackmcp.runtime.errors import InvalidArgument, StackmcpError, Unavailable

__all__ = [
    "STATUS_CHOICES",
    "account_page",
    "accounts_page",
    "connect_account",
    "new_account_page",
]


class _CreatedServer(msgspec.Struct, frozen=True):
    url: str
    client_config: dict[str, Any]


@get("/accounts")
async def accounts_page(request: AnyRequest, done: str | None = None) -> Response[str]:
    """Integrated accounts."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    accounts = [
        account_view(r, await provisioner.server_count(r.id)) for r in await provisioner.accounts()
    ]
    return page(session, "accounts.html", accounts=accounts, notice=NOTICES.get(done or ""))


@get("/accounts/new")
async def new_account_page(request: AnyRequest) -> Response[str]:
    """The connect-account form."""
    session = await signed_in(request)
    return _account_form(session, {}, {}, None, 200)


def _account_form(
    session: Session,
    values: dict[str, Any],
    errors: FieldMessages,
    problem: str | None,
    status: int,
) -> Response[str]:
    defaults = {"name": "", "base_url": "", "team_name": "", "verify": True}
    return page(
        session,
        "account_new.html",
        status,
        values={**defaults, **values},
        errors=errors,
        problem=problem,
    )


@post("/accounts")
async def connect_account(request: AnyRequest) -> Response[Any]:
    """Connect a Better Stack account from the form."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    body = account_body(form)
    # Shown again after an error, except the token: a credential is never rendered back.
    values = {
        "name": body.name,
        "base_url": form.get("base_url") or "",
        "team_name": body.team_name or "",
        "verify": body.verify,
    }
    try:
        record = await console_state(request).provisioner.create_account(
            body, operator=session.operator
        )
    except InvalidArgument as exc:
        if exc.fields:
            return _account_form(session, values, field_messages(exc.fields), None, 422)
        return _account_form(session, values, {}, exc.message, 400)
    except StackmcpError as exc:
        if isinstance(exc, Unavailable):
            log_unavailable(request, exc)
        return _account_form(session, values, {}, exc.message, exc.status)
    return Redirect(f"{PREFIX}/accounts/{record.id}?done=connected", status_code=303)


STATUS_CHOICES = (
    ("", "All"),
    ("active", "Active"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
)
"""The server list's status filter: value, label (all lists revoked and expired ones too)."""


@get("/accounts/{account_id:str}")
async def account_page(
    request: AnyRequest, account_id: str, done: str | None = None, status: str | None = None
) -> Response[str]:
    """An account's MCP Servers tab: every server (or those with one status) with its usage."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    record = await provisioner.account(account_id)
    status = status if status in STATUS_FILTERS and status != "all" else ""
    now = utcnow()
    records = await provisioner.servers(account_id, status or "all", now=now)
    usage = await provisioner.usage(records)
    servers = [
        server_view(r, now, await provisioner.exposure(r.grant), usage.get(r.id)) for r in records
    ]
    return page(
        session,
        "account.html",
        account=account_view(record, await provisioner.server_count(account_id)),
        servers=servers,
        status_filter=status,
        status_choices=STATUS_CHOICES,
        notice=NOTICES.get(done or ""),
    )
