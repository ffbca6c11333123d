"""Rendering console pages: the Jinja environment, HTML responses and their security headers."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Response
from litestar.datastructures import Cookie

from stackmcp.provisioning.httpio import RETRY_AFTER

__all__ = [
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "countdown",
    "html",
    "moment",
    "render_text",
    "when",
]

STATIC_DIR = Path(str(files("stackmcp.provisioning.console") / "static"))
"""Stylesheet and script served under ``/console/static`` (nothing is fetched from elsewhere)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
"""Sent with every page: own scripts only, never framed, never cached (pages may show a
secret once), no referrer (the console's paths stay private)."""


def when(value: datetime | None) -> str:
    """A time as people read it in an operations console: ``2026-11-25 14:03 UTC``."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def moment(value: datetime | None) -> str:
    """A time to the second, for audit records: ``2026-11-25 14:03:07 UTC``."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def countdown(value: datetime | None, now: datetime | None = None) -> str:
    """Time left until ``value``, e.g. ``6 d 23 h`` (the page script keeps it ticking)."""
    if value is None:
        return "never expires"
    left = int((value - (now or datetime.now(UTC))).total_seconds())
    if left <= 0:
        return "expired"
    days, rest = divmod(left, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} min"
    return f"in {minutes} min {seconds} s"


_ENV = Environment(
    loader=PackageLoader("stackmcp.provisioning.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["when"] = when
_ENV.filters["countdown"] = countdown
_ENV.filters["moment"] = moment
_ENV.filters["iso"] = lambda value: value.astimezone(UTC).isoformat() if value else ""


def render_text(template: str, context: dict[str, Any]) -> str:
    """Render one template to text."""
    return _ENV.get_template(template).render(**context)


def html(
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
) -> Response[str]:
    """An HTML page response with the console's security headers (and ``Retry-After`` on a
    503, when a dependency is down)."""
    defaults = {"csrf": "", "signed_in": False, "notice": None, "nav": "", "operator": None}
    headers = {**SECURITY_HEADERS, **({"Retry-After": str(RETRY_AFTER)} if status == 503 else {})}
    return Response(
        content=render_text(template, {**defaults, **context}),
        status_code=status,
        media_type="text/html",
        headers=headers,
        cookies=cookies,
    )
