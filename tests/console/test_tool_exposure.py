"""The console's **Tool list** select (``config.tool_exposure``): every tool by default, discovery
when chosen, shown on the server page and kept by the edit form."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.console.test_pages import sign_in
from tests.console.test_safe_config import _defaults, _server
from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.e2e


@pytest.fixture
def console(provisioning: Provisioning) -> Iterator[httpx.Client]:
    with sign_in(provisioning.url, provisioning.admin_token) as client:
        yield client


def _chosen(page: httpx.Response) -> str:
    found = re.search(
        r'<select id="tool_exposure".*?<option value="(\w+)" selected>', page.text, re.S
    )
    assert found, page.text[:3000]
    return found.group(1)


def test_discovery_is_chosen_shown_and_kept(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    account = f"/console/accounts/{provisioning.account_id}"
    new = console.get(f"{account}/servers/new")
    assert _chosen(new) == "all"
    created = console.post(
        f"{account}/servers",
        data={**_defaults(new), "name": "discovery", "tool_exposure": "discovery"},
    )
    assert created.status_code == 303, created.text
    server = _server(provisioning, created.headers["location"])
    assert server["config"]["tool_exposure"] == "discovery"
    path = f"{account}/servers/{server['id']}"
    config = console.get(path).text.split('id="server-config"')[1].split("</dl>")[0]
    assert "Discovery (search_tools, get_tool_schema, call_tool)" in config
    edit = console.get(f"{path}/edit")
    assert _chosen(edit) == "discovery"
    saved = console.post(
        f"{path}/edit",
        data={**_defaults(edit), "name": "discovery", "expiry": "keep", "tool_exposure": "all"},
    )
    assert saved.status_code == 303, saved.text
    assert _server(provisioning, f"/servers/{server['id']}")["config"]["tool_exposure"] == "all"
