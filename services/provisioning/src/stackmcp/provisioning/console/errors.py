"""Console error pages: plain pages, no internals, the right status."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from redis.exceptions import RedisError

from stackmcp.provisioning.console.pages import html
from stackmcp.provisioning.console.web import (
    PREFIX,
    AnyRequest,
    CsrfRejected,
    SignInRequired,
    safe_next,
)
from stackmcp.provisioning.httpio import http_error_headers, log_unavailable, store_unavailable
from stackmcp.runtime.errors import NotFound, StackmcpError, Unavailable

__all__ = [
    "csrf_rejected",
    "error_page",
    "http_error",
    "http_error_page",
    "sign_in_required",
    "stackmcp_error",
    "store_error",
    "unexpected",
]

logger = logging.getLogger(__name__)


def error_page(status: int, title: str, message: str) -> Response[str]:
    """A plain console error page (no session details, no internals)."""
    return html("error.html", {"title": title, "message": message}, status=status)


def sign_in_required(request: AnyRequest, _: SignInRequired) -> Response[Any]:
    """Pages go to sign-in (and come back after it); posts and the preview get 401."""
    if request.method != "GET" or request.url.path == f"{PREFIX}/preview":
        return error_page(401, "Signed out", "Your session has ended. Sign in again.")
    query = f"?{request.url.query}" if request.url.query else ""
    target = safe_next(f"{request.url.path}{query}")
    return Redirect(f"{PREFIX}/sign-in", query_params={"next_path": target}, status_code=303)


def csrf_rejected(_: AnyRequest, __: CsrfRejected) -> Response[str]:
    """403: the form did not carry this session's CSRF token."""
    return error_page(
        403,
        "Form not accepted",
        "This form did not carry a valid security token (it may be from an old page or from "
        "another site). Go back, reload the page and submit it again.",
    )


def stackmcp_error(request: AnyRequest, exc: StackmcpError) -> Response[str]:
    """A domain error the page did not handle itself, with its status."""
    titles = {404: "Not found", 409: "Cannot do that now", 503: "Temporarily unavailable"}
    if isinstance(exc, Unavailable):
        log_unavailable(request, exc)
    if isinstance(exc, NotFound):
        return error_page(404, "Not found", f"{exc.message[:1].upper()}{exc.message[1:]}.")
    return error_page(exc.status, titles.get(exc.status, "Request not accepted"), exc.message)


def store_error(request: AnyRequest, exc: RedisError) -> Response[str]:
    """A Redis failure (sessions live there too): 503, like every other store failure."""
    return stackmcp_error(request, store_unavailable(exc))


def http_error_page(exc: HTTPException) -> Response[str]:
    """A console page for Litestar's own errors (unknown page, method, body too large)."""
    status = exc.status_code
    message = {
        404: "There is no such console page.",
        405: "This page does not accept that method.",
        408: "The form took too long to arrive. Submit it again.",
        413: "The form was too large.",
        415: "This page only accepts forms posted by the console's own pages.",
    }.get(status, "The request was not accepted.")
    page = error_page(status, "Request not accepted" if status != 404 else "Not found", message)
    page.headers.update(http_error_headers(exc) or {})
    return page


def http_error(_: AnyRequest, exc: HTTPException) -> Response[str]:
    """Litestar's own errors inside the console, as pages."""
    return http_error_page(exc)


def unexpected(_: AnyRequest, exc: Exception) -> Response[str]:
    """500, logged by type only (no traceback, no request data)."""
    logger.error("unexpected %s on a console page", type(exc).__name__)
    return error_page(500, "Something went wrong", "The console hit an internal error; retry.")
