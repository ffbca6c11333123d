"""MCP server pages: one server (what it is, what it exposes, how it is used, its activity),
rotating its URL, testing a URL just shown, and every server of every account in one list.

The server page never shows the URL (only a fingerprint of its token's hash). A revoked or
expired server keeps its page for the history retention, without edit, rotate or revoke.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Response, get, post
from litestar.response import Redirect

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import Exposure, expose
from stackmcp.provisioning.console.activity import read_activity
from stackmcp.provisioning.console.forms import CONFIRM_CHOICES
from stackmcp.provisioning.console.serverforms import (
    confirm_page,
    created_from_url,
    created_page,
    show_once,
)
from stackmcp.provisioning.console.urltest import UrlTest, on_gateway, run_url_test
from stackmcp.provisioning.console.web import (
    NOTICES,
    AnyRequest,
    checked_form,
    console_state,
    page,
    signed_in,
)
from stackmcp.provisioning.provisioner import Provisioner
from stackmcp.provisioning.serverconfig import plain_reason
from stackmcp.provisioning.views import ServerView, account_view, server_view
from stackmcp.runtime.errors import Unavailable

__all__ = [
    "EXPIRING_SOON",
    "SORTS",
    "all_servers_page",
    "exposed_tools",
    "rotate_server",
    "rotate_server_page",
    "server_page",
    "test_server_url",
]

EXPIRING_SOON = timedelta(days=3)
"""Active servers expiring sooner than this are highlighted in the lists."""
SORTS = (
    ("name", "Name"),
    ("created", "Newest first"),
    ("expires", "Expiring first"),
    ("used", "Last used first"),
)
"""The all-servers list's sort choices: value, label."""
_STATUSES = (("", "All"), ("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked"))


async def exposed_tools(provisioner: Provisioner, grant: Grant) -> tuple[Exposure | None, str]:
    """The tools ``grant`` exposes and withholds (the gateway's own rule), or ``None`` and why
    not when the catalogue cannot be fetched."""
    try:
        catalogue = await provisioner.catalogue()
    except Unavailable as exc:
        return None, exc.message
    return expose(catalogue, grant), ""


@get("/accounts/{account_id:str}/servers/{server_id:str}")
async def server_page(
    request: AnyRequest, account_id: str, server_id: str, done: str | None = None
) -> Response[str]:
    """An MCP server: id, URL fingerprint, status, configuration, tools, usage, activity, and
    the Edit, Rotate URL and Revoke buttons."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    account = account_view(await provisioner.account(account_id), 0)
    record = await provisioner.server(account_id, server_id)
    exposure, catalogue_problem = await exposed_tools(provisioner, record.grant)
    usage = (await provisioner.usage([record])).get(record.id)
    view = server_view(record, utcnow(), exposure, usage)
    activity = await read_activity(request, account_id=account_id, server_id=server_id)
    return page(
        session,
        "server.html",
        422 if activity.errors else 200,
        account=account,
        server=view,
        tools=[t.name for t in exposure.tools] if exposure else None,
        withheld={n: plain_reason(r) for n, r in exposure.withheld.items()} if exposure else {},
        confirm_label=dict(CONFIRM_CHOICES).get(record.grant.confirm, record.grant.confirm),
        catalogue_problem=catalogue_problem,
        activity=activity,
        notice=NOTICES.get(done or ""),
    )


@get("/accounts/{account_id:str}/servers/{server_id:str}/rotate")
async def rotate_server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """Ask before rotating: the current URL stops working at once."""
    return await confirm_page(request, account_id, server_id, "server_rotate.html")


@post("/accounts/{account_id:str}/servers/{server_id:str}/rotate")
async def rotate_server(request: AnyRequest, account_id: str, server_id: str) -> Redirect:
    """Give the server a new URL (shown once next); the old one is refused at once."""
    session = await signed_in(request)
    await checked_form(request, session)
    minted = await console_state(request).provisioner.rotate_server(
        account_id, server_id, operator=session.operator
    )
    return await show_once(request, session, minted, rotated=True)


@post("/test-url")
async def test_server_url(request: AnyRequest) -> Response[str]:
    """The URL-once page again, with what ``initialize`` + ``tools/list`` on its URL found.

    The page posts the URL it shows (nothing stores it); only the configured gateway's MCP
    URLs are fetched.
    """
    session = await signed_in(request)
    form = await checked_form(request, session)
    state = console_state(request)
    url = (form.get("url") or "").strip()
    record = await state.provisioner.server(
        (form.get("account_id") or "").strip(), (form.get("server_id") or "").strip()
    )
    if not on_gateway(url, state.mcp_base_url):
        refused = UrlTest(ok=False, message="Only this gateway's MCP URLs can be tested here.")
        return await created_page(request, session, record, None, test=refused)
    result = await run_url_test(url)
    shown = created_from_url(url, record, rotated=form.get("rotated") == "on")
    return await created_page(request, session, record, shown, test=result)


@dataclass(frozen=True)
class _Row:
    """A server of the all-servers list, with its account's name and whether it expires soon."""

    account_name: str
    server: ServerView
    expiring_soon: bool


def _sort_key(sort: str) -> Any:
    def created(row: _Row) -> float:
        at = row.server.created_at
        return -at.timestamp() if at else 0.0

    def expires(row: _Row) -> tuple[bool, float]:
        at = row.server.expires_at
        return (at is None, at.timestamp() if at else 0.0)

    def used(row: _Row) -> float:
        at = row.server.last_used_at
        return -at.timestamp() if at else 0.0

    def name(row: _Row) -> tuple[str, str]:
        return (row.server.name.casefold(), row.account_name.casefold())

    return {"created": created, "expires": expires, "used": used}.get(sort, name)


@get("/servers")
async def all_servers_page(
    request: AnyRequest, q: str = "", status: str = "", sort: str = "name"
) -> Response[str]:
    """Every MCP server of every account: search by name or id, status filter, sort, and the
    servers expiring within three days highlighted."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    now = utcnow()
    status = status if status in ("active", "expired", "revoked") else ""
    sort = sort if sort in dict(SORTS) else "name"
    needle = q.strip().casefold()
    rows: list[_Row] = []
    for account in await provisioner.accounts():
        records = await provisioner.servers(account.id, status or "all", now=now)
        matching = [
            r
            for r in records
            if not needle or needle in r.grant.name.casefold() or needle in r.id.casefold()
        ]
        usage = await provisioner.usage(matching)
        for record in matching:
            exposure = await provisioner.exposure(record.grant)
            view = server_view(record, now, exposure, usage.get(record.id))
            soon = view.status == "active" and bool(
                view.expires_at and view.expires_at - now < EXPIRING_SOON
            )
            rows.append(_Row(account_name=account.name, server=view, expiring_soon=soon))
    rows.sort(key=_sort_key(sort))
    return page(
        session,
        "servers.html",
        rows=rows,
        q=q.strip(),
        status_filter=status,
        status_choices=_STATUSES,
        sort=sort,
        sorts=SORTS,
    )
