"""What every console page shares: the wired state, the session and CSRF checks, cookies.

Each handler calls :func:`signed_in` for the session and :func:`checked_form` for a posted
form, so the checks are visible where they happen rather than hidden in middleware.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

from stackmcp.provisioning.auth import AdminAuth
from stackmcp.provisioning.console.forms import (
    FormData,
)
from stackmcp.provisioning.console.pages import html
from stackmcp.provisioning.console.sessions import ConsoleSessions, Session, csrf_matches
from stackmcp.provisioning.httpio import form_body
from stackmcp.provisioning.provisioner import Provisioner

__all__ = [
    "NOTICES",
    "PREFIX",
    "SESSION_COOKIE",
    "SIGN_IN_COOKIE",
    "AnyRequest",
    "ConsoleState",
    "CsrfRejected",
    "SignInRequired",
    "checked_form",
    "console_cookie",
    "console_state",
    "page",
    "safe_next",
    "signed_in",
]

PREFIX = "/console"
SESSION_COOKIE = "stackmcp_console"
SIGN_IN_COOKIE = "stackmcp_console_sign_in"
"""Holds the sign-in form's CSRF token before there is a session (double submit)."""

AnyRequest = Request[Any, Any, Any]

_NAV = (("api_token", "api-tokens"), ("admin_history", "history"), ("servers.html", "servers"))
"""Template name prefix → the top navigation entry marked current (default: accounts)."""

NOTICES = {
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


def console_state(request: AnyRequest) -> ConsoleState:
    """The wired console objects of the application."""
    state: ConsoleState = request.app.state.console
    return state


async def signed_in(request: AnyRequest) -> Session:
    """The request's live session.

    Raises:
        SignInRequired: no cookie, or it names no live session.
    """
    session = await console_state(request).sessions.find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    return session


async def checked_form(request: AnyRequest, session: Session) -> FormData:
    """The posted form, once its CSRF token is the session's.

    Raises:
        CsrfRejected: the token is missing or wrong.
        InvalidArgument: the form is not UTF-8 or has too many fields (see
            :func:`~stackmcp.provisioning.httpio.form_body`, which also answers 408/413/415).
    """
    form: FormData = await form_body(request)
    if not csrf_matches(session, form.get("csrf_token")):
        raise CsrfRejected
    return form


def page(
    session: Session | None, template: str, status: int = 200, **context: Any
) -> Response[str]:
    """A console page for ``session`` (its forms get the session's CSRF token)."""
    nav = next((n for prefix, n in _NAV if template.startswith(prefix)), "accounts")
    own = {"csrf": session.csrf, "signed_in": True, "operator": session.operator} if session else {}
    return html(template, {"nav": nav, **own, **context}, status=status)


def console_cookie(state: ConsoleState, key: str, value: str, max_age: int) -> Cookie:
    """An HTTP-only, ``SameSite=Strict`` cookie scoped to the console (``max_age=0`` drops it)."""
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=state.secure_cookies,
    )


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path inside the console (no open redirect)."""
    target = target or ""
    inside = target.startswith(f"{PREFIX}/") and not target.startswith("//")
    if inside and len(target) < 512 and "\\" not in target and "://" not in target:
        return target
    return f"{PREFIX}/accounts"
