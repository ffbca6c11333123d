"""Integrated accounts in the console: list and search, connect, the account's page, and its
management (rename, rotate the Better Stack token, re-verify with a health badge, remove).

Problems are said in the form's words: a field is named by its label ("Team"), never by the
API's name (``team_name``), and the error summary at the top of the form takes focus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from litestar import Response, get, post
from litestar.response import Redirect

from stackmcp.contracts._base import utcnow
from stackmcp.provisioning.accountops import AccountHealth, AccountOps
from stackmcp.provisioning.console.forms import FieldMessages, account_body
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
from stackmcp.provisioning.views import AccountView, account_view, server_view
from stackmcp.runtime.errors import InvalidArgument, NotFound, StackmcpError, Unavailable

__all__ = [
    "ACCOUNT_LABELS",
    "STATUS_CHOICES",
    "account_ops",
    "account_page",
    "account_settings_page",
    "accounts_page",
    "connect_account",
    "humane_fields",
    "new_account_page",
    "remove_account",
    "remove_account_page",
    "rename_account",
    "rotate_account_token",
    "verify_account",
]

ACCOUNT_LABELS = {
    "name": "Name",
    "betterstack_token": "Better Stack API token",
    "base_url": "Base URL",
    "team_name": "Team",
    "integration": "Integration",
}
"""An account field's API name → the label its form shows."""

_EMPTY = {
    "name": "Enter a name.",
    "betterstack_token": "Enter the Better Stack API token.",
    "base_url": "Enter the base URL, or leave it empty for Better Stack's own.",
    "team_name": "Enter the team's name, or leave Team empty.",
}

STATUS_CHOICES = (
    ("", "All"),
    ("active", "Active"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
)
"""The server list's status filter: value, label (all lists revoked and expired ones too)."""

_NOTICES = {
    **NOTICES,
    "renamed": "Account renamed.",
    "token-rotated": "Better Stack token replaced. Better Stack accepted it; it is stored "
    "encrypted and MCP servers use it from now on.",
    "verified": "Checked with Better Stack.",
    "removed": "Account removed. Its MCP servers are revoked.",
}


def account_ops(request: AnyRequest) -> AccountOps:
    """The account operations wired by the service."""
    ops: AccountOps = request.app.state.account_ops
    return ops


def humane(text: str) -> str:
    """A backend message with API field names replaced by the form's labels."""
    for field_name, label in ACCOUNT_LABELS.items():
        text = re.sub(rf"\bset {field_name}\b", f"fill in {label}", text)
        text = re.sub(rf"\b{field_name}\b", label, text)
    return text


def _headline(exc: InvalidArgument) -> str | None:
    """The error's own message when it says more than "check these fields" (e.g. "Better Stack
    refused the token"), shown above the fields' problems."""
    return None if exc.message.startswith("invalid ") else humane(exc.message)


def humane_fields(fields: Mapping[str, Sequence[str]]) -> FieldMessages:
    """Field problems as sentences naming the field by its label ("Team must be …")."""
    messages: FieldMessages = {}
    for field_name, texts in fields.items():
        label = ACCOUNT_LABELS.get(field_name, field_name)
        for text in texts:
            if text == "must not be empty" and field_name in _EMPTY:
                sentence = _EMPTY[field_name]
            elif text.startswith(("must ", "needs ")):
                sentence = f"{label} {humane(text)}"
            else:
                sentence = humane(text)
            if not sentence.endswith((".", "!", "?")):
                sentence += "."
            messages.setdefault(field_name, []).append(sentence)
    return messages


def _matches(account: AccountView, query: str) -> bool:
    words = query.casefold().split()
    text = " ".join(
        (account.name, account.id, account.base_url, account.team_name or "")
    ).casefold()
    return all(word in text for word in words)


@get("/accounts")
async def accounts_page(
    request: AnyRequest, done: str | None = None, q: str | None = None
) -> Response[str]:
    """Integrated accounts, with their health; ``q`` narrows them by name, team, URL or id."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    records = await provisioner.accounts()
    every = [account_view(r, await provisioner.server_count(r.id)) for r in records]
    query = (q or "").strip()[:200]
    accounts = [a for a in every if _matches(a, query)] if query else every
    return page(
        session,
        "accounts.html",
        accounts=accounts,
        total=len(every),
        query=query,
        health=await account_ops(request).health([a.id for a in accounts]),
        notice=_NOTICES.get(done or ""),
    )


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
            errors = humane_fields(exc.fields)
            return _account_form(session, values, errors, _headline(exc), 422)
        return _account_form(session, values, {}, humane(exc.message), 400)
    except StackmcpError as exc:
        if isinstance(exc, Unavailable):
            log_unavailable(request, exc)
        return _account_form(session, values, {}, humane(exc.message), exc.status)
    if body.verify:
        await account_ops(request).note_verified(record.id)
    return Redirect(f"{PREFIX}/accounts/{record.id}?done=connected", status_code=303)


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
        health=await _health(request, account_id),
        servers=servers,
        status_filter=status,
        status_choices=STATUS_CHOICES,
        notice=_NOTICES.get(done or ""),
    )


async def _health(request: AnyRequest, account_id: str) -> AccountHealth | None:
    return (await account_ops(request).health([account_id])).get(account_id)


# Settings: rename, rotate the token, re-verify ------------------------------------------------


async def _settings(
    request: AnyRequest,
    session: Session,
    account_id: str,
    *,
    status: int = 200,
    form: str = "",
    errors: FieldMessages | None = None,
    problem: str | None = None,
    name: str | None = None,
    notice: str | None = None,
) -> Response[str]:
    provisioner = console_state(request).provisioner
    record = await provisioner.account(account_id)
    return page(
        session,
        "account_settings.html",
        status,
        account=account_view(record, await provisioner.server_count(account_id)),
        health=await _health(request, account_id),
        form=form,
        errors=errors or {},
        problem=problem,
        name=record.name if name is None else name,
        notice=notice,
    )


@get("/accounts/{account_id:str}/settings")
async def account_settings_page(
    request: AnyRequest, account_id: str, done: str | None = None
) -> Response[str]:
    """The account's Settings tab: name, Better Stack token, health, remove."""
    session = await signed_in(request)
    return await _settings(request, session, account_id, notice=_NOTICES.get(done or ""))


def _settings_done(account_id: str, done: str) -> Redirect:
    return Redirect(f"{PREFIX}/accounts/{account_id}/settings?done={done}", status_code=303)


@post("/accounts/{account_id:str}/rename")
async def rename_account(request: AnyRequest, account_id: str) -> Response[Any]:
    """Give the account a new name."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    name = form.get("name") or ""
    try:
        await account_ops(request).update_account(account_id, name=name, operator=session.operator)
    except InvalidArgument as exc:
        return await _failed(request, session, account_id, exc, form="rename", name=name)
    return _settings_done(account_id, "renamed")


@post("/accounts/{account_id:str}/token")
async def rotate_account_token(request: AnyRequest, account_id: str) -> Response[Any]:
    """Replace the Better Stack token, once Better Stack accepts the new one."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    token = form.get("betterstack_token") or ""
    try:
        await account_ops(request).update_account(
            account_id, api_token=token, operator=session.operator
        )
    except InvalidArgument as exc:
        return await _failed(request, session, account_id, exc, form="token")
    except StackmcpError as exc:
        if isinstance(exc, NotFound):
            raise
        if isinstance(exc, Unavailable):
            log_unavailable(request, exc)
        errors = {"betterstack_token": [f"{humane(exc.message)} The old token stays in use."]}
        return await _settings(
            request, session, account_id, status=exc.status, form="token", errors=errors
        )
    return _settings_done(account_id, "token-rotated")


async def _failed(
    request: AnyRequest,
    session: Session,
    account_id: str,
    exc: InvalidArgument,
    *,
    form: str,
    name: str | None = None,
) -> Response[str]:
    if exc.fields:
        errors, problem = humane_fields(exc.fields), _headline(exc)
    else:
        errors, problem = {}, humane(exc.message)
    status = 422 if exc.fields else 400
    return await _settings(
        request,
        session,
        account_id,
        status=status,
        form=form,
        errors=errors,
        problem=problem,
        name=name,
    )


@post("/accounts/{account_id:str}/verify")
async def verify_account(request: AnyRequest, account_id: str) -> Redirect:
    """Check the stored token with Better Stack now; the badge shows the outcome."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    await account_ops(request).verify_account(account_id)
    back = form.get("back")
    target = f"{PREFIX}/accounts/{account_id}" if back == "account" else None
    if back == "list":
        target = f"{PREFIX}/accounts"
    if target is None:
        return _settings_done(account_id, "verified")
    return Redirect(f"{target}?done=verified", status_code=303)


# Remove ------------------------------------------------------------------------------------


@get("/accounts/{account_id:str}/remove")
async def remove_account_page(request: AnyRequest, account_id: str) -> Response[str]:
    """Ask before removing: the servers that will be revoked with the account."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    record = await provisioner.account(account_id)
    now = utcnow()
    servers = [
        server_view(r, now, None) for r in await provisioner.servers(account_id, "active", now=now)
    ]
    return page(
        session,
        "account_remove.html",
        account=account_view(record, len(servers)),
        servers=servers,
    )


@post("/accounts/{account_id:str}/remove")
async def remove_account(request: AnyRequest, account_id: str) -> Redirect:
    """Remove the account; every MCP server of it is revoked at once."""
    session = await signed_in(request)
    await checked_form(request, session)
    await console_state(request).provisioner.delete_account(account_id, operator=session.operator)
    await account_ops(request).forget(account_id)
    return Redirect(f"{PREFIX}/accounts?done=removed", status_code=303)
