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
from stackmcp.provisioning.clientconfig import client_config
from stackmcp.provisioning.console.forms import (
    CONFIRM_CHOICES,
    EXPIRY_CHOICES,
    FieldMessages,
    ServerForm,
    field_messages,
    form_config,
    form_problems,
    grant_form,
    server_create_body,
    server_form,
    server_update_body,
)
from stackmcp.provisioning.console.preview import filter_choices, preview_config
from stackmcp.provisioning.console.sessions import Session
from stackmcp.provisioning.console.web import (
    PREFIX,
    AnyRequest,
    checked_form,
    console_state,
    page,
    signed_in,
)
from stackmcp.provisioning.views import account_view, server_view
from stackmcp.runtime.errors import InvalidArgument, Unavailable

__all__ = [
    "create_server",
    "created_server_page",
    "edit_server_page",
    "new_server_page",
    "preview",
    "revoke_server",
    "revoke_server_page",
    "update_server",
]


class _CreatedServer(msgspec.Struct, frozen=True):
    url: str
    client_config: dict[str, Any]


# MCP servers -------------------------------------------------------------------------------


async def _server_form_page(
    request: AnyRequest,
    session: Session,
    account_id: str,
    values: ServerForm,
    *,
    mode: str,
    server: Any = None,
    errors: FieldMessages | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response[str]:
    provisioner = console_state(request).provisioner
    account = account_view(await provisioner.account(account_id), 0)
    catalogue_problem: str | None = None
    try:
        tools = await provisioner.catalogue()
    except Unavailable as exc:
        tools, catalogue_problem = (), exc.message
    return page(
        session,
        "server_form.html",
        status,
        mode=mode,
        account=account,
        server=server,
        values=values,
        errors=errors or {},
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
    values = server_form(query) if "methods" in query or "name" in query else ServerForm()
    return await _server_form_page(request, session, account_id, values, mode="create")


@post("/accounts/{account_id:str}/servers")
async def create_server(request: AnyRequest, account_id: str) -> Response[Any]:
    """Mint an MCP server from the form; its URL is shown once on the next page."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    values = server_form(form)
    state = console_state(request)
    try:
        _check_form(values)
        minted = await state.provisioner.create_server(
            account_id, server_create_body(values, utcnow()), operator=session.operator
        )
    except InvalidArgument as exc:
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            mode="create",
            errors=field_messages(exc.fields or {}, values),
            problem=None if exc.fields else exc.message,
            status=422 if exc.fields else 400,
        )
    grant = minted.record.grant
    url = f"{state.mcp_base_url}/mcp/{minted.token}"
    created = _CreatedServer(
        url=url,
        client_config=client_config(
            url, grant.name, require_api_token=grant.require_api_token_auth
        ),
    )
    await state.sessions.keep_secret(
        session, grant.server_id, msgspec.json.encode(created).decode()
    )
    return Redirect(
        f"{PREFIX}/accounts/{account_id}/servers/{grant.server_id}/created", status_code=303
    )


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
    """The new server's URL and client configuration, this once."""
    session = await signed_in(request)
    state = console_state(request)
    record = await state.provisioner.server(account_id, server_id)
    secret = await state.sessions.take_secret(session, server_id)
    created = msgspec.json.decode(secret, type=_CreatedServer) if secret else None
    account = account_view(await state.provisioner.account(account_id), 0)
    return page(
        session,
        "server_created.html",
        account=account,
        server=server_view(record, utcnow(), await state.provisioner.exposure(record.grant)),
        created=created,
        notes=(created.client_config.get("notes") or []) if created else [],
        ways=_ways(created.client_config) if created else [],
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
    record = await console_state(request).provisioner.server(account_id, server_id)
    values = grant_form(record.grant)
    view = server_view(record, utcnow(), None)
    return await _server_form_page(request, session, account_id, values, mode="edit", server=view)


@post("/accounts/{account_id:str}/servers/{server_id:str}/edit")
async def update_server(request: AnyRequest, account_id: str, server_id: str) -> Response[Any]:
    """Apply the edit form."""
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
        view = server_view(await provisioner.server(account_id, server_id), utcnow(), None)
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            mode="edit",
            server=view,
            errors=field_messages(exc.fields or {}, values),
            problem=None if exc.fields else exc.message,
            status=422 if exc.fields else 400,
        )
    return Redirect(f"{PREFIX}/accounts/{account_id}?done=updated", status_code=303)


@get("/accounts/{account_id:str}/servers/{server_id:str}/revoke")
async def revoke_server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """Ask before revoking."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    record = await provisioner.server(account_id, server_id)
    account = account_view(await provisioner.account(account_id), 0)
    return page(
        session, "server_revoke.html", account=account, server=server_view(record, utcnow(), None)
    )


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
