"""API tokens: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.response import Redirect

from stackmcp.provisioning.console.forms import (
    FieldMessages,
    api_token_body,
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
from stackmcp.runtime.errors import InvalidArgument

__all__ = [
    "api_tokens_page",
    "create_api_token",
    "created_api_token_page",
    "revoke_api_token",
    "revoke_api_token_page",
]


async def _api_tokens_page(
    request: AnyRequest,
    session: Session,
    *,
    name: str = "",
    errors: FieldMessages | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response[str]:
    tokens = await console_state(request).provisioner.api_tokens()
    tokens.sort(key=lambda t: t.created_at, reverse=True)
    return page(
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
    session = await signed_in(request)
    return await _api_tokens_page(request, session, notice=NOTICES.get(done or ""))


@post("/api-tokens")
async def create_api_token(request: AnyRequest) -> Response[Any]:
    """Create an API token; it is shown once on the next page."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    body = api_token_body(form)
    state = console_state(request)
    try:
        record, token = await state.provisioner.create_api_token(body, operator=session.operator)
    except InvalidArgument as exc:
        return await _api_tokens_page(
            request, session, name=body.name, errors=field_messages(exc.fields or {}), status=422
        )
    await state.sessions.keep_secret(session, record.id, token)
    return Redirect(f"{PREFIX}/api-tokens/{record.id}/created", status_code=303)


@get("/api-tokens/{token_id:str}/created")
async def created_api_token_page(request: AnyRequest, token_id: str) -> Response[str]:
    """The new API token, this once."""
    session = await signed_in(request)
    state = console_state(request)
    record = await state.provisioner.api_token(token_id)
    secret = await state.sessions.take_secret(session, token_id)
    return page(session, "api_token_created.html", token=record, secret=secret)


@get("/api-tokens/{token_id:str}/revoke")
async def revoke_api_token_page(request: AnyRequest, token_id: str) -> Response[str]:
    """Ask before revoking an API token."""
    session = await signed_in(request)
    record = await console_state(request).provisioner.api_token(token_id)
    return page(session, "api_token_revoke.html", token=record)


@post("/api-tokens/{token_id:str}/revoke")
async def revoke_api_token(request: AnyRequest, token_id: str) -> Redirect:
    """Revoke an API token."""
    session = await signed_in(request)
    await checked_form(request, session)
    await console_state(request).provisioner.revoke_api_token(token_id, operator=session.operator)
    return Redirect(f"{PREFIX}/api-tokens?done=token-revoked", status_code=303)
