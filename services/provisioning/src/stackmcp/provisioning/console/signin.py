"""Signing in and out of the console with an admin token (the bootstrap one or a named
operator's); the session remembers the operator."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from litestar import Response, get, post
from litestar.response import Redirect

from stackmcp.provisioning.console.forms import (
    FieldMessages,
    FormData,
)
from stackmcp.provisioning.console.pages import html
from stackmcp.provisioning.console.web import (
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    AnyRequest,
    ConsoleState,
    CsrfRejected,
    checked_form,
    console_cookie,
    console_state,
    safe_next,
    signed_in,
)
from stackmcp.provisioning.httpio import form_body

__all__ = ["home", "sign_in", "sign_in_page", "sign_out"]

logger = logging.getLogger(__name__)


@get("/")
async def home() -> Redirect:
    """The console starts at the account list."""
    return Redirect(f"{PREFIX}/accounts", status_code=303)


@get("/sign-in")
async def sign_in_page(
    request: AnyRequest, next_path: str | None = None, signed_out: str | None = None
) -> Response[Any]:
    """The sign-in form (or straight on, when already signed in); after sign-out it says so."""
    state = console_state(request)
    if await state.sessions.find(request.cookies.get(SESSION_COOKIE)) is not None:
        return Redirect(safe_next(next_path), status_code=303)
    notice = "You are signed out. Sign in again to continue." if signed_out else None
    return _sign_in_form(state, safe_next(next_path), {}, 200, notice=notice)


def _sign_in_form(
    state: ConsoleState,
    target: str,
    errors: FieldMessages,
    status: int,
    *,
    notice: str | None = None,
) -> Response[str]:
    token = secrets.token_urlsafe(32)
    context = {"csrf": token, "signed_in": False, "next_path": target, "errors": errors}
    response = html("sign_in.html", {**context, "notice": notice}, status=status)
    response.cookies.append(console_cookie(state, SIGN_IN_COOKIE, token, 3600))
    return response


@post("/sign-in")
async def sign_in(request: AnyRequest) -> Response[Any]:
    """Check the admin token; open a session and set its cookie."""
    state = console_state(request)
    form: FormData = await form_body(request)
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    sent = form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected
    target = safe_next(form.get("next_path"))
    token = (form.get("admin_token") or "").strip()
    if not token:
        return _sign_in_form(state, target, {"admin_token": ["Enter the admin token."]}, 422)
    operator = await state.auth.identify(token)
    if operator is None:
        logger.info("console sign-in refused: wrong admin token")
        errors = {"admin_token": ["This admin token was not accepted. Check it and try again."]}
        return _sign_in_form(state, target, errors, 401)
    cookie, _ = await state.sessions.open(operator)
    logger.info("console sign-in by operator %s", operator.name)
    return Redirect(
        target,
        status_code=303,
        cookies=[
            console_cookie(state, SESSION_COOKIE, cookie, state.sessions.ttl),
            console_cookie(state, SIGN_IN_COOKIE, "", 0),
        ],
    )


@post("/sign-out")
async def sign_out(request: AnyRequest) -> Redirect:
    """End the session on every replica and drop its cookie."""
    state = console_state(request)
    session = await signed_in(request)
    await checked_form(request, session)
    await state.sessions.close(session)
    return Redirect(
        f"{PREFIX}/sign-in",
        query_params={"signed_out": "1"},
        status_code=303,
        cookies=[console_cookie(state, SESSION_COOKIE, "", 0)],
    )
