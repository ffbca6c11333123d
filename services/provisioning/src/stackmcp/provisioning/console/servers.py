"""One MCP server's page: what it is, what it exposes, how it is used, and its activity.

The page never shows the URL (only a fingerprint of its token's hash). A revoked or expired
server keeps its page for the history retention, without edit or revoke actions.
"""

from __future__ import annotations

from litestar import Response, get

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import Exposure, expose
from stackmcp.provisioning.console.activity import read_activity
from stackmcp.provisioning.console.forms import CONFIRM_CHOICES
from stackmcp.provisioning.console.web import AnyRequest, console_state, page, signed_in
from stackmcp.provisioning.provisioner import Provisioner
from stackmcp.provisioning.serverconfig import plain_reason
from stackmcp.provisioning.views import account_view, server_view
from stackmcp.runtime.errors import Unavailable

__all__ = ["exposed_tools", "server_page"]


async def exposed_tools(provisioner: Provisioner, grant: Grant) -> tuple[Exposure | None, str]:
    """The tools ``grant`` exposes and withholds (the gateway's own rule), or ``None`` and why
    not when the catalogue cannot be fetched."""
    try:
        catalogue = await provisioner.catalogue()
    except Unavailable as exc:
        return None, exc.message
    return expose(catalogue, grant), ""


@get("/accounts/{account_id:str}/servers/{server_id:str}")
async def server_page(request: AnyRequest, account_id: str, server_id: str) -> Response[str]:
    """An MCP server: id, URL fingerprint, status, configuration, tools, usage, activity."""
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
    )
