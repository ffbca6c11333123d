"""Console pages over HTTP (Litestar): sign-in, accounts, MCP servers, API tokens.

Each handler reads the session (:func:`_session`), checks a posted form's CSRF token
(:func:`_form`), calls the same :class:`~stackmcp.provisioning.provisioner.Provisioner` the JSON
API calls, and renders a page or redirects (post/redirect/get, so a reload never posts twice).
Secrets shown once travel from the POST to the page that shows them sealed in Redis, never in a
URL.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from stackmcp.contracts._base import utcnow
from stackmcp.provisioning.auth import AdminAuth
from stackmcp.provisioning.clientconfig import client_config
from stackmcp.provisioning.console.forms import (
    EXPIRY_CHOICES,
    FieldMessages,
    FormData,
    ServerForm,
    account_body,
    api_token_body,
    field_messages,
    server_create_body,
    server_form,
    server_update_body,
)
from stackmcp.provisioning.console.pages import STATIC_DIR, html
from stackmcp.provisioning.console.preview import filter_choices, preview_filter
from stackmcp.provisioning.console.sessions import ConsoleSessions, Session, csrf_matches
from stackmcp.provisioning.provisioner import Provisioner
from stackmcp.provisioning.views import account_view, server_view
from stackmcp.runtime.errors import InvalidArgument, NotFound, StackmcpError, Unavailable

__all__ = ["PREFIX", "ConsoleState", "console_router", "error_page"]

logger = logging.getLogger(__name__)

PREFIX = "/console"
SESSION_COOKIE = "stackmcp_console"
SIGN_IN_COOKIE = "stackmcp_console_sign_in"
"""Holds the sign-in form's CSRF token before there is a session (double submit)."""

AnyRequest = Request[Any, Any, Any]

_DONE = {
    "connected": "Account connected.",
    "updated": "MCP server updated. Its URL stays the same; clients see the change at once.",
    "revoked": "MCP server revoked. Its URL is refused from now on.",
    "token-revoked": "API token revoked. Gateways refuse it from now on.",
}


@dataclass(frozen=True, slots=True)
class ConsoleState:
    """What the console pages need, wired by the service."""

    provisioner: Provisioner
    sessions: ConsoleSessions
    auth: AdminAuth
    mcp_base_url: str
    secure_cookies: bool


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page."""


class CsrfRejected(Exception):
    """A form came without this session's CSRF token."""


class _CreatedServer(msgspec.Struct, frozen=True):
    url: str
    client_config: dict[str, Any]


def _state(request: AnyRequest) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


async def _session(request: AnyRequest) -> Session:
    session = await _state(request).sessions.find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    return session


async def _form(request: AnyRequest, session: Session) -> FormData:
    form: FormData = await request.form()
    if not csrf_matches(session, form.get("csrf_token")):
        raise CsrfRejected
    return form


def _page(
    session: Session | None, template: str, status: int = 200, **context: Any
) -> Response[str]:
    nav = "api-tokens" if template.startswith("api_token") else "accounts"
    signed_in = {"csrf": session.csrf, "signed_in": True} if session else {}
    return html(template, {"nav": nav, **signed_in, **context}, status=status)


def _cookie(state: ConsoleState, key: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=state.secure_cookies,
    )


def _safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path inside the console (no open redirect)."""
    target = target or ""
    inside = target.startswith(f"{PREFIX}/") and not target.startswith("//")
    if inside and len(target) < 512 and "\\" not in target and "://" not in target:
        return target
    return f"{PREFIX}/accounts"


# Sign-in -----------------------------------------------------------------------------------


@get("/")
async def home() -> Redirect:
    """The console starts at the account list."""
    return Redirect(f"{PREFIX}/accounts", status_code=303)


@get("/sign-in")
async def sign_in_page(request: AnyRequest, next_path: str | None = None) -> Response[Any]:
    """The sign-in form (or straight on, when already signed in)."""
    state = _state(request)
    if await state.sessions.find(request.cookies.get(SESSION_COOKIE)) is not None:
        return Redirect(_safe_next(next_path), status_code=303)
    return _sign_in_form(state, _safe_next(next_path), {}, 200)


def _sign_in_form(
    state: ConsoleState, target: str, errors: FieldMessages, status: int
) -> Response[str]:
    token = secrets.token_urlsafe(32)
    response = html(
        "sign_in.html",
        {"csrf": token, "signed_in": False, "next_path": target, "errors": errors},
        status=status,
    )
    response.cookies.append(_cookie(state, SIGN_IN_COOKIE, token, 3600))
    return response


@post("/sign-in")
async def sign_in(request: AnyRequest) -> Response[Any]:
    """Check the admin token; open a session and set its cookie."""
    state = _state(request)
    form: FormData = await request.form()
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    sent = form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected
    target = _safe_next(form.get("next_path"))
    token = (form.get("admin_token") or "").strip()
    if not token:
        return _sign_in_form(state, target, {"admin_token": ["Enter the admin token."]}, 422)
    if not state.auth.accepts(token):
        logger.info("console sign-in refused: wrong admin token")
        errors = {"admin_token": ["This admin token was not accepted. Check it and try again."]}
        return _sign_in_form(state, target, errors, 401)
    cookie, _ = await state.sessions.open()
    logger.info("console sign-in")
    return Redirect(
        target,
        status_code=303,
        cookies=[
            _cookie(state, SESSION_COOKIE, cookie, state.sessions.ttl),
            _cookie(state, SIGN_IN_COOKIE, "", 0),
        ],
    )


@post("/sign-out")
async def sign_out(request: AnyRequest) -> Redirect:
    """End the session on every replica and drop its cookie."""
    state = _state(request)
    session = await _session(request)
    await _form(request, session)
    await state.sessions.close(session)
    return Redirect(
        f"{PREFIX}/sign-in", status_code=303, cookies=[_cookie(state, SESSION_COOKIE, "", 0)]
    )


# Accounts ----------------------------------------------------------------------------------


@get("/accounts")
async def accounts_page(request: AnyRequest, done: str | None = None) -> Response[str]:
    """Integrated accounts."""
    session = await _session(request)
    provisioner = _state(request).provisioner
    accounts = [
        account_view(r, await provisioner.server_count(r.id)) for r in await provisioner.accounts()
    ]
    return _page(session, "accounts.html", accounts=accounts, notice=_DONE.get(done or ""))


@get("/accounts/new")
async def new_account_page(request: AnyRequest) -> Response[str]:
    """The connect-account form."""
    session = await _session(request)
    return _account_form(session, {}, {}, None, 200)


def _account_form(
    session: Session,
    values: dict[str, Any],
    errors: FieldMessages,
    problem: str | None,
    status: int,
) -> Response[str]:
    defaults = {"name": "", "base_url": "", "team_name": "", "verify": True}
    return _page(
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
    session = await _session(request)
    form = await _form(request, session)
    body = account_body(form)
    # Shown again after an error, except the token: a credential is never rendered back.
    values = {
        "name": body.name,
        "base_url": form.get("base_url") or "",
        "team_name": body.team_name or "",
        "verify": body.verify,
    }
    try:
        record = await _state(request).provisioner.create_account(body)
    except InvalidArgument as exc:
        if exc.fields:
            return _account_form(session, values, field_messages(exc.fields), None, 422)
        return _account_form(session, values, {}, exc.message, 400)
    except StackmcpError as exc:
        return _account_form(session, values, {}, exc.message, exc.status)
    return Redirect(f"{PREFIX}/accounts/{record.id}?done=connected", status_code=303)


@get("/accounts/{account_id:str}")
async def account_page(
    request: AnyRequest, account_id: str, done: str | None = None
) -> Response[str]:
    """An account's MCP Servers tab."""
    session = await _session(request)
    provisioner = _state(request).provisioner
    record = await provisioner.account(account_id)
    now = utcnow()
    servers = [
        server_view(r, now, await provisioner.tool_count(r.grant))
        for r in await provisioner.servers(account_id)
    ]
    return _page(
        session,
        "account.html",
        account=account_view(record, len(servers)),
        servers=servers,
        notice=_DONE.get(done or ""),
    )


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
    provisioner = _state(request).provisioner
    account = account_view(await provisioner.account(account_id), 0)
    catalogue_problem: str | None = None
    try:
        tools = await provisioner.catalogue()
    except Unavailable as exc:
        tools, catalogue_problem = (), exc.message
    return _page(
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
        preview=preview_filter(tools, values.methods, values.tags) if tools else None,
        expiry_choices=EXPIRY_CHOICES,
    )


@get("/accounts/{account_id:str}/servers/new")
async def new_server_page(request: AnyRequest, account_id: str) -> Response[str]:
    """The Create MCP Server form; its query string pre-fills it (the no-script preview)."""
    session = await _session(request)
    query = request.query_params
    values = server_form(query) if "methods" in query or "name" in query else ServerForm()
    return await _server_form_page(request, session, account_id, values, mode="create")


@post("/accounts/{account_id:str}/servers")
async def create_server(request: AnyRequest, account_id: str) -> Response[Any]:
    """Mint an MCP server from the form; its URL is shown once on the next page."""
    session = await _session(request)
    form = await _form(request, session)
    values = server_form(form)
    state = _state(request)
    try:
        minted = await state.provisioner.create_server(
            account_id, server_create_body(values, utcnow())
        )
    except InvalidArgument as exc:
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            mode="create",
            errors=field_messages(exc.fields or {}),
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
    await state.sessions.keep_secret(session, grant.server_id, msgspec.json.encode(created))
    return Redirect(
        f"{PREFIX}/accounts/{account_id}/servers/{grant.server_id}/created", status_code=303
    )


@get("/accounts/{account_id:str}/servers/{server_id:str}/created")
async def created_server_page(
    request: AnyRequest, account_id: str, server_id: str
) -> Response[str]:
    """The new server's URL and client configuration, this once."""
    session = await _session(request)
    state = _state(request)
    record = await state.provisioner.server(account_id, server_id)
    secret = await state.sessions.take_secret(session, server_id)
    created = msgspec.json.decode(secret, type=_CreatedServer) if secret else None
    desktop = (
        msgspec.json.format(msgspec.json.encode(created.client_config["claude_desktop"])).decode()
        if created
        else ""
    )
    account = account_view(await state.provisioner.account(account_id), 0)
    return _page(
        session,
        "server_created.html",
        account=account,
        server=server_view(record, utcnow(), await state.provisioner.tool_count(record.grant)),
        created=created,
        desktop=desktop,
    )


@get("/accounts/{account_id:str}/servers/{server_id:str}/edit")
async def edit_server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """The edit form, filled with the server's current filter and expiry."""
    session = await _session(request)
    record = await _state(request).provisioner.server(account_id, server_id)
    grant = record.grant
    values = ServerForm(
        name=grant.name,
        methods=list(grant.methods),
        tags=list(grant.tags),
        require_api_token_auth=grant.require_api_token_auth,
        expiry="keep",
    )
    view = server_view(record, utcnow(), None)
    return await _server_form_page(request, session, account_id, values, mode="edit", server=view)


@post("/accounts/{account_id:str}/servers/{server_id:str}/edit")
async def update_server(request: AnyRequest, account_id: str, server_id: str) -> Response[Any]:
    """Apply the edit form."""
    session = await _session(request)
    form = await _form(request, session)
    values = server_form(form, default_expiry="keep")
    provisioner = _state(request).provisioner
    try:
        await provisioner.update_server(account_id, server_id, server_update_body(values, utcnow()))
    except InvalidArgument as exc:
        view = server_view(await provisioner.server(account_id, server_id), utcnow(), None)
        return await _server_form_page(
            request,
            session,
            account_id,
            values,
            mode="edit",
            server=view,
            errors=field_messages(exc.fields or {}),
            problem=None if exc.fields else exc.message,
            status=422 if exc.fields else 400,
        )
    return Redirect(f"{PREFIX}/accounts/{account_id}?done=updated", status_code=303)


@get("/accounts/{account_id:str}/servers/{server_id:str}/revoke")
async def revoke_server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """Ask before revoking."""
    session = await _session(request)
    provisioner = _state(request).provisioner
    record = await provisioner.server(account_id, server_id)
    account = account_view(await provisioner.account(account_id), 0)
    return _page(
        session, "server_revoke.html", account=account, server=server_view(record, utcnow(), None)
    )


@post("/accounts/{account_id:str}/servers/{server_id:str}/revoke")
async def revoke_server(request: AnyRequest, account_id: str, server_id: str) -> Redirect:
    """Revoke the server: its URL is refused at once, on every gateway."""
    session = await _session(request)
    await _form(request, session)
    await _state(request).provisioner.delete_server(account_id, server_id)
    return Redirect(f"{PREFIX}/accounts/{account_id}?done=revoked", status_code=303)


@get("/preview")
async def preview(request: AnyRequest) -> Response[str]:
    """The preview fragment for a filter (fetched by the form's script as choices change)."""
    session = await _session(request)
    values = server_form(request.query_params)
    try:
        tools = await _state(request).provisioner.catalogue()
    except Unavailable as exc:
        return _page(session, "_preview.html", preview=None, catalogue_problem=exc.message)
    found = preview_filter(tools, values.methods, values.tags)
    return _page(session, "_preview.html", preview=found, catalogue_problem=None)


# API tokens --------------------------------------------------------------------------------


async def _api_tokens_page(
    request: AnyRequest,
    session: Session,
    *,
    name: str = "",
    errors: FieldMessages | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    tokens = await _state(request).provisioner.api_tokens()
    tokens.sort(key=lambda t: t.created_at, reverse=True)
    return _page(
        session,
        "api_tokens.html",
        status,
        tokens=tokens,
        name=name,
        errors=errors or {},
        notice=notice,
    )


@get("/api-tokens")
async def api_tokens_page(request: AnyRequest, done: str | None = None) -> Response[str]:
    """API tokens: the list and the create form."""
    session = await _session(request)
    return await _api_tokens_page(request, session, notice=_DONE.get(done or ""))


@post("/api-tokens")
async def create_api_token(request: AnyRequest) -> Response[Any]:
    """Create an API token; it is shown once on the next page."""
    session = await _session(request)
    form = await _form(request, session)
    body = api_token_body(form)
    state = _state(request)
    try:
        record, token = await state.provisioner.create_api_token(body)
    except InvalidArgument as exc:
        return await _api_tokens_page(
            request, session, name=body.name, errors=field_messages(exc.fields or {}), status=422
        )
    await state.sessions.keep_secret(session, record.id, token.encode())
    return Redirect(f"{PREFIX}/api-tokens/{record.id}/created", status_code=303)


@get("/api-tokens/{token_id:str}/created")
async def created_api_token_page(request: AnyRequest, token_id: str) -> Response[str]:
    """The new API token, this once."""
    session = await _session(request)
    state = _state(request)
    record = await state.provisioner.api_token(token_id)
    secret = await state.sessions.take_secret(session, token_id)
    return _page(
        session, "api_token_created.html", token=record, secret=secret.decode() if secret else None
    )


@get("/api-tokens/{token_id:str}/revoke")
async def revoke_api_token_page(request: AnyRequest, token_id: str) -> Response[str]:
    """Ask before revoking an API token."""
    session = await _session(request)
    record = await _state(request).provisioner.api_token(token_id)
    return _page(session, "api_token_revoke.html", token=record)


@post("/api-tokens/{token_id:str}/revoke")
async def revoke_api_token(request: AnyRequest, token_id: str) -> Redirect:
    """Revoke an API token."""
    session = await _session(request)
    await _form(request, session)
    await _state(request).provisioner.revoke_api_token(token_id)
    return Redirect(f"{PREFIX}/api-tokens?done=token-revoked", status_code=303)


# Errors ------------------------------------------------------------------------------------


def error_page(status: int, title: str, message: str) -> Response[str]:
    """A plain console error page (no session details, no internals)."""
    return html("error.html", {"title": title, "message": message}, status=status)


def _sign_in_required(request: AnyRequest, _: SignInRequired) -> Response[Any]:
    if request.method != "GET" or request.url.path == f"{PREFIX}/preview":
        return error_page(401, "Signed out", "Your session has ended. Sign in again.")
    query = f"?{request.url.query}" if request.url.query else ""
    target = _safe_next(f"{request.url.path}{query}")
    return Redirect(f"{PREFIX}/sign-in", query_params={"next_path": target}, status_code=303)


def _csrf_rejected(_: AnyRequest, __: CsrfRejected) -> Response[str]:
    return error_page(
        403,
        "Form not accepted",
        "This form did not carry a valid security token (it may be from an old page or from "
        "another site). Go back, reload the page and submit it again.",
    )


def _stackmcp_error(_: AnyRequest, exc: StackmcpError) -> Response[str]:
    titles = {404: "Not found", 409: "Cannot do that now", 503: "Temporarily unavailable"}
    if isinstance(exc, NotFound):
        return error_page(404, "Not found", f"{exc.message[:1].upper()}{exc.message[1:]}.")
    return error_page(exc.status, titles.get(exc.status, "Request not accepted"), exc.message)


def http_error_page(exc: HTTPException) -> Response[str]:
    """A console page for Litestar's own errors (unknown page, method, body too large)."""
    status = exc.status_code
    message = {
        404: "There is no such console page.",
        405: "This page does not accept that method.",
        413: "The form was too large.",
    }.get(status, "The request was not accepted.")
    return error_page(status, "Request not accepted" if status != 404 else "Not found", message)


def _http_error(_: AnyRequest, exc: HTTPException) -> Response[str]:
    return http_error_page(exc)


def _unexpected(_: AnyRequest, exc: Exception) -> Response[str]:
    logger.error("unexpected %s on a console page", type(exc).__name__)
    return error_page(500, "Something went wrong", "The console hit an internal error; retry.")


def console_router() -> Router:
    """The console's routes under ``/console`` (state is ``app.state.console``)."""
    return Router(
        path=PREFIX,
        route_handlers=[
            home,
            sign_in_page,
            sign_in,
            sign_out,
            accounts_page,
            new_account_page,
            connect_account,
            account_page,
            new_server_page,
            create_server,
            created_server_page,
            edit_server_page,
            update_server,
            revoke_server_page,
            revoke_server,
            preview,
            api_tokens_page,
            create_api_token,
            created_api_token_page,
            revoke_api_token_page,
            revoke_api_token,
            create_static_files_router(
                path="/static",
                directories=[STATIC_DIR],
                send_as_attachment=False,
                include_in_schema=False,
            ),
        ],
        exception_handlers={
            SignInRequired: _sign_in_required,
            CsrfRejected: _csrf_rejected,
            StackmcpError: _stackmcp_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
