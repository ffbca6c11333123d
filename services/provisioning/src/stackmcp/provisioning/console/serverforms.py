"""MCP server forms: create (through a review step), edit (with a diff), the URL-once page,
revoke, and the live preview.

After a create, the server's URL travels to the page that shows it sealed in Redis (never in a
URL), so a reload shows it no more.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.response import Redirect

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.servers import McpServerRecord
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.provisioning.clientconfig import client_config
from stackmcp.provisioning.console.forms import (
    CONFIRM_CHOICES,
    EXPIRY_CHOICES,
    FieldMessages,
    ServerForm,
    error_list,
    expiry_label,
    field_messages,
    form_config,
    form_fields,
    form_problems,
    grant_form,
    server_create_body,
    server_form,
    server_update_body,
)
from stackmcp.provisioning.console.preview import filter_choices, preview_config
from stackmcp.provisioning.console.review import (
    check_draft,
    diff_rows,
    review_warnings,
    tool_changes,
)
from stackmcp.provisioning.console.sessions import Session
from stackmcp.provisioning.console.urltest import UrlTest
from stackmcp.provisioning.console.web import (
    PREFIX,
    AnyRequest,
    checked_form,
    console_state,
    page,
    signed_in,
)
from stackmcp.provisioning.provisioner import MintedServer
from stackmcp.provisioning.views import ServerView, account_view, server_view
from stackmcp.runtime.errors import InvalidArgument, Unavailable

__all__ = [
    "create_server",
    "created_from_url",
    "created_page",
    "created_server_page",
    "draft_server",
    "edit_server_page",
    "new_server_page",
    "preview",
    "review_server",
    "revoke_server",
    "revoke_server_page",
    "show_once",
    "update_server",
]


class _CreatedServer(msgspec.Struct, frozen=True):
    url: str
    client_config: dict[str, Any]
    warnings: list[str] = []
    rotated: bool = False


async def show_once(
    request: AnyRequest, session: Session, minted: MintedServer, *, rotated: bool = False
) -> Redirect:
    """Keep a minted URL sealed for the one page that shows it, and go there."""
    state = console_state(request)
    grant = minted.record.grant
    url = f"{state.mcp_base_url}/mcp/{minted.token}"
    created = _CreatedServer(
        url=url,
        client_config=client_config(
            url, grant.name, require_api_token=grant.require_api_token_auth
        ),
        warnings=list(minted.warnings),
        rotated=rotated,
    )
    await state.sessions.keep_secret(
        session, grant.server_id, msgspec.json.encode(created).decode()
    )
    return Redirect(
        f"{PREFIX}/accounts/{grant.account_id}/servers/{grant.server_id}/created", status_code=303
    )


async def _catalogue(request: AnyRequest) -> tuple[tuple[ToolDescriptor, ...], str | None]:
    try:
        return await console_state(request).provisioner.catalogue(), None
    except Unavailable as exc:
        return (), exc.message


async def _server_form_page(
    request: AnyRequest,
    session: Session,
    account_id: str,
    values: ServerForm,
    *,
    server: ServerView | None = None,
    errors: FieldMessages | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response[str]:
    provisioner = console_state(request).provisioner
    account = account_view(await provisioner.account(account_id), 0)
    tools, catalogue_problem = await _catalogue(request)
    errors = errors or {}
    return page(
        session,
        "server_form.html",
        status,
        mode="edit" if server else "create",
        account=account,
        server=server,
        values=values,
        errors=errors,
        summary=error_list(errors),
        problem=problem,
        catalogue_problem=catalogue_problem,
        choices=filter_choices(tools) if tools else None,
        preview=preview_config(tools, form_config(values)) if tools else None,
        expiry_choices=EXPIRY_CHOICES,
        confirm_choices=CONFIRM_CHOICES,
    )


@get("/accounts/{account_id:str}/servers/new")
async def new_server_page(request: AnyRequest, account_id: str) -> Response[str]:
    """The Create MCP Server form; its query string pre-fills it (the no-script preview)."""
    session = await signed_in(request)
    query = request.query_params
    values = (
        server_form(query, default_expiry="30d")
        if "methods" in query or "name" in query
        else ServerForm()
    )
    return await _server_form_page(request, session, account_id, values)


async def _editing(
    request: AnyRequest, account_id: str, server_id: str
) -> tuple[McpServerRecord | None, ServerView | None]:
    if not server_id:
        return None, None
    record = await console_state(request).provisioner.server(account_id, server_id)
    return record, server_view(record, utcnow(), None)


@post("/accounts/{account_id:str}/servers/draft")
async def draft_server(request: AnyRequest, account_id: str) -> Response[str]:
    """Back from the review page to the form, filled as it was (create or edit)."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    server_id = (form.get("server_id") or "").strip()
    values = server_form(form, default_expiry="keep" if server_id else "30d")
    _, view = await _editing(request, account_id, server_id)
    return await _server_form_page(request, session, account_id, values, server=view)


@post("/accounts/{account_id:str}/servers/review")
async def review_server(request: AnyRequest, account_id: str) -> Response[str]:
    """What the form will create (or change): tools, expiry, warnings, and for an edit the
    diff. Nothing is written: the page's own button does that."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    server_id = (form.get("server_id") or "").strip()
    values = server_form(form, default_expiry="keep" if server_id else "30d")
    record, view = await _editing(request, account_id, server_id)
    tools, catalogue_problem = await _catalogue(request)
    now = utcnow()
    before = record.grant if record else None
    checked = check_draft(values, tools, account_id=account_id, before=before, now=now)
    if checked.fields or catalogue_problem:
        errors = field_messages(checked.fields, values)
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            server=view,
            errors=errors,
            problem=catalogue_problem,
            status=422 if errors else 503,
        )
    return await _review_page(
        request, session, account_id, values, grant=checked.grant, record=record, tools=tools
    )


async def _review_page(
    request: AnyRequest,
    session: Session,
    account_id: str,
    values: ServerForm,
    *,
    grant: Grant,
    record: McpServerRecord | None,
    tools: tuple[ToolDescriptor, ...],
) -> Response[str]:
    provisioner = console_state(request).provisioner
    account = account_view(await provisioner.account(account_id), 0)
    others = [
        r.grant.name
        for r in await provisioner.servers(account_id, "active")
        if not record or r.id != record.id
    ]
    found = preview_config(tools, form_config(values))
    before = record.grant if record else None
    added, removed = tool_changes(before, grant, tools) if before else ([], [])
    expiry_text, expiry_at = expiry_label(values, utcnow())
    return page(
        session,
        "server_review.html",
        mode="edit" if record else "create",
        account=account,
        server=server_view(record, utcnow(), None) if record else None,
        values=values,
        grant=grant,
        hidden=form_fields(values),
        preview=found,
        warnings=review_warnings(grant, tools, others),
        diff=diff_rows(before, grant, tools) if before else [],
        added=added,
        removed=removed,
        expiry_text=expiry_text,
        expiry_at=expiry_at or grant.expires_at,
        confirm_label=dict(CONFIRM_CHOICES).get(grant.confirm, grant.confirm),
    )


@post("/accounts/{account_id:str}/servers")
async def create_server(request: AnyRequest, account_id: str) -> Response[Any]:
    """Mint an MCP server (the review page's "Create server"); its URL is shown once next."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    values = server_form(form, default_expiry="30d")
    state = console_state(request)
    try:
        _check_form(values)
        minted = await state.provisioner.create_server(
            account_id, server_create_body(values, utcnow()), operator=session.operator
        )
    except InvalidArgument as exc:
        errors = field_messages(exc.fields or {}, values)
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            errors=errors,
            problem=None if exc.fields else exc.message,
            status=422 if exc.fields else 400,
        )
    return await show_once(request, session, minted)


def _check_form(values: ServerForm) -> None:
    """Refuse lines of the form that cannot be read, before the domain is asked.

    Raises:
        InvalidArgument: with the form's own fields (``budgets``, ``pin``) naming each line.
    """
    problems = form_problems(values)
    if problems:
        raise InvalidArgument(f"invalid form: check {', '.join(problems)}", fields=problems)


@get("/accounts/{account_id:str}/servers/{server_id:str}/created")
async def created_server_page(
    request: AnyRequest, account_id: str, server_id: str
) -> Response[str]:
    """The new (or rotated) server's URL and client configuration, this once."""
    session = await signed_in(request)
    state = console_state(request)
    record = await state.provisioner.server(account_id, server_id)
    secret = await state.sessions.take_secret(session, server_id)
    created = msgspec.json.decode(secret, type=_CreatedServer) if secret else None
    return await created_page(request, session, record, created)


async def created_page(
    request: AnyRequest,
    session: Session,
    record: McpServerRecord,
    created: _CreatedServer | None,
    test: UrlTest | None = None,
) -> Response[str]:
    """The URL-once page (``Cache-Control: no-store``, as every console page)."""
    state = console_state(request)
    account = account_view(await state.provisioner.account(record.grant.account_id), 0)
    return page(
        session,
        "server_created.html",
        account=account,
        server=server_view(record, utcnow(), await state.provisioner.exposure(record.grant)),
        created=created,
        notes=(created.client_config.get("notes") or []) if created else [],
        ways=_ways(created.client_config) if created else [],
        test=test,
    )


def created_from_url(url: str, record: McpServerRecord, *, rotated: bool) -> _CreatedServer:
    """The URL-once page's content for a URL posted back to it (the Test URL button)."""
    grant = record.grant
    return _CreatedServer(
        url=url,
        client_config=client_config(
            url, grant.name, require_api_token=grant.require_api_token_auth
        ),
        rotated=rotated,
    )


def _ways(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The ways in to show, each code block with the element id its copy button names."""
    ways = []
    for way in config.get("guidance") or []:
        blocks = []
        codes = 0
        for block in way.get("blocks") or []:
            if "code" in block:
                codes += 1
                element = way["id"] if codes == 1 else f"{way['id']}-{codes}"
                blocks.append({**block, "element": element})
            else:
                blocks.append(block)
        ways.append({**way, "blocks": blocks})
    return ways


@get("/accounts/{account_id:str}/servers/{server_id:str}/edit")
async def edit_server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """The edit form, filled with the server's current filter and expiry."""
    session = await signed_in(request)
    record, view = await _editing(request, account_id, server_id)
    assert record is not None
    return await _server_form_page(
        request, session, account_id, grant_form(record.grant), server=view
    )


@post("/accounts/{account_id:str}/servers/{server_id:str}/edit")
async def update_server(request: AnyRequest, account_id: str, server_id: str) -> Response[Any]:
    """Apply the edit (the review page's "Save changes")."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    values = server_form(form, default_expiry="keep")
    provisioner = console_state(request).provisioner
    try:
        _check_form(values)
        await provisioner.update_server(
            account_id, server_id, server_update_body(values, utcnow()), operator=session.operator
        )
    except InvalidArgument as exc:
        _, view = await _editing(request, account_id, server_id)
        errors = field_messages(exc.fields or {}, values)
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            server=view,
            errors=errors,
            problem=None if exc.fields else exc.message,
            status=422 if exc.fields else 400,
        )
    return Redirect(
        f"{PREFIX}/accounts/{account_id}/servers/{server_id}?done=updated", status_code=303
    )


@get("/accounts/{account_id:str}/servers/{server_id:str}/revoke")
async def revoke_server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """Ask before revoking."""
    return await confirm_page(request, account_id, server_id, "server_revoke.html")


async def confirm_page(
    request: AnyRequest, account_id: str, server_id: str, template: str
) -> Response[str]:
    """A page asking before a change to one server (revoke, rotate)."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    record = await provisioner.server(account_id, server_id)
    account = account_view(await provisioner.account(account_id), 0)
    return page(session, template, account=account, server=server_view(record, utcnow(), None))


@post("/accounts/{account_id:str}/servers/{server_id:str}/revoke")
async def revoke_server(request: AnyRequest, account_id: str, server_id: str) -> Redirect:
    """Revoke the server: its URL is refused at once, on every gateway."""
    session = await signed_in(request)
    await checked_form(request, session)
    await console_state(request).provisioner.delete_server(
        account_id, server_id, operator=session.operator
    )
    return Redirect(f"{PREFIX}/accounts/{account_id}?done=revoked", status_code=303)


@get("/preview")
async def preview(request: AnyRequest) -> Response[str]:
    """The preview fragment for a filter (fetched by the form's script as choices change)."""
    session = await signed_in(request)
    values = server_form(request.query_params)
    try:
        tools = await console_state(request).provisioner.catalogue()
    except Unavailable as exc:
        return page(session, "_preview.html", preview=None, catalogue_problem=exc.message)
    found = preview_config(tools, form_config(values))
    return page(session, "_preview.html", preview=found, catalogue_problem=None)
