"""The console's server form with the grant's policy keys, over plain HTTP against a real
provisioning process: the new-server defaults (destructive tools left out, confirmation of every
change), the preview of withheld tools and why, errors pointing at a line, the server page and
the edit form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.console.test_pages import csrf_of, sign_in
from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.e2e

RESOLVE = "better_stack_incidents_resolve"


@pytest.fixture
def console(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """A signed-in console client."""
    with sign_in(provisioning.url, provisioning.admin_token) as client:
        yield client


@pytest.fixture
def account(provisioning: Provisioning) -> str:
    """The console path of the shared account."""
    return f"/console/accounts/{provisioning.account_id}"


def _defaults(page: httpx.Response) -> dict[str, Any]:
    """What a browser would post from ``page``'s form when the operator changes nothing."""
    text = page.text
    form: dict[str, Any] = {"csrf_token": csrf_of(page), "methods": ["read"], "expiry": "never"}
    for box in ("exclude_destructive", "reveal_secrets", "provenance", "require_api_token_auth"):
        tag = re.search(rf'<input type="checkbox" name="{box}"[^>]*>', text)
        assert tag, box
        if " checked" in tag.group(0):
            form[box] = "on"
    chosen = re.search(r'<select id="confirm".*?<option value="(\w+)" selected>', text, re.S)
    assert chosen
    form["confirm"] = chosen.group(1)
    return form


def _server(provisioning: Provisioning, location: str) -> dict[str, Any]:
    """The API's view of the server a create redirect points at."""
    server_id = location.split("/servers/")[1].split("/", maxsplit=1)[0]
    with provisioning.client() as admin:
        answer = admin.get(f"/integrated-account/{provisioning.account_id}/mcp/{server_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _field_error(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', page.text)
    assert found, page.text[:3000]
    return found.group(1)


def test_a_new_console_server_leaves_out_destructive_tools(
    console: httpx.Client, provisioning: Provisioning, account: str
) -> None:
    """Unchanged defaults: destructive tools left out, every change confirmed, secrets
    redacted, timeline notes on."""
    page = console.get(f"{account}/servers/new")
    assert page.status_code == 200
    form = _defaults(page)
    assert form["exclude_destructive"] == "on"
    assert form["confirm"] == "writes"
    assert "reveal_secrets" not in form
    assert form["provenance"] == "on"
    created = console.post(
        f"{account}/servers", data={**form, "name": "defaults", "methods": ["read", "write"]}
    )
    assert created.status_code == 303, created.text
    server = _server(provisioning, created.headers["location"])
    config = server["config"]
    assert config["exclude_tags"] == ["destructive"]
    assert config["confirm"] == "writes"
    assert (config["reveal_secrets"], config["provenance"]) == (False, True)
    assert RESOLVE in server["withheld"]


def test_unticking_keeps_destructive_tools(
    console: httpx.Client, provisioning: Provisioning, account: str
) -> None:
    form = _defaults(console.get(f"{account}/servers/new"))
    del form["exclude_destructive"]
    created = console.post(
        f"{account}/servers", data={**form, "name": "all writes", "methods": ["write"]}
    )
    assert created.status_code == 303, created.text
    server = _server(provisioning, created.headers["location"])
    assert server["config"]["exclude_tags"] == []
    assert server["withheld"] == {}


def test_the_preview_lists_withheld_tools_and_why(console: httpx.Client) -> None:
    """Left-out tools are listed apart, each with its reason, in words."""
    page = console.get(
        "/console/preview",
        params={
            "methods": ["write"],
            "tags": ["incidents"],
            "exclude_destructive": "on",
            "exclude_tools": "better_stack_incidents_escalate",
            "pin": "incident_id = 7, 8",
            "confirm": "writes",
            "budgets": "write = 10/h",
        },
    )
    assert page.status_code == 200
    withheld = dict(
        re.findall(
            r'<li data-withheld="([^"]+)">.*?<small class="reason">([^<]+)</small>',
            page.text,
            re.S,
        )
    )
    assert withheld[RESOLVE] == "Excluded by tag &#39;destructive&#39;."
    assert withheld["better_stack_incidents_escalate"] == "Excluded by name."
    assert "without naming incident_id" in withheld["create_a_better_stack_incident"]
    assert "exclude_tags" not in page.text  # plain words, not the API's keys
    listed = re.findall(r'<li data-tool="([^"]+)">', page.text)
    assert "better_stack_incidents_acknowledge" in listed
    assert "asks first" in page.text
    assert "write: 10/h" in page.text


def test_the_preview_says_when_everything_is_left_out(console: httpx.Client) -> None:
    page = console.get(
        "/console/preview", params={"methods": ["delete"], "exclude_destructive": "on"}
    )
    assert page.status_code == 200
    assert "Every tool these methods and tags match is left out" in page.text
    assert 'data-withheld="delete_a_better_stack_incident_by_id"' in page.text


@pytest.mark.parametrize(
    ("field", "text", "words"),
    [
        ("budgets", "write = 10/h\nresolve = 3 a day", ["Line 2 (resolve):", '"3/h"']),
        ("budgets", "write = 10/h\n\nfrobnicate = 1/h", ["Line 3 (frobnicate):", "not a tool"]),
        ("budgets", "write 10/h", ["Line 1:", "“=”"]),
        ("budgets", "write = 1/h\nwrite = 2/h", ["Line 2:", "line 1 already"]),
        ("pin", "incident_id = 7, x", ["Line 1 (incident_id):", "'x'"]),
        ("pin", "\nnope_id = 1", ["Line 2 (nope_id):", "incident_id"]),
    ],
)
def test_errors_point_at_the_line(
    console: httpx.Client, account: str, field: str, text: str, words: list[str]
) -> None:
    """A budget or pin the domain refuses is reported on its field, naming its line."""
    form = _defaults(console.get(f"{account}/servers/new"))
    page = console.post(
        f"{account}/servers", data={**form, "name": "bad lines", "methods": ["write"], field: text}
    )
    assert page.status_code == 422, page.text[:2000]
    message = _field_error(page, field)
    for word in words:
        assert word in message.replace("&#34;", '"').replace("&#39;", "'"), message
    assert f'id="{field}" name="{field}"' in page.text
    assert 'aria-invalid="true"' in page.text.split(f'id="{field}" name="{field}"')[1][:200]


def test_a_form_that_exposes_nothing_is_refused(console: httpx.Client, account: str) -> None:
    form = _defaults(console.get(f"{account}/servers/new"))
    page = console.post(
        f"{account}/servers", data={**form, "name": "nothing", "methods": ["delete"]}
    )
    assert page.status_code == 422
    assert "would expose no tool" in _field_error(page, "methods")


def test_server_page_and_edit_form_show_every_key(
    console: httpx.Client, provisioning: Provisioning, account: str
) -> None:
    """The server page shows each setting in words and the withheld tools; the edit form is
    filled with them, and saving it with the box unticked brings destructive tools back."""
    form = _defaults(console.get(f"{account}/servers/new"))
    created = console.post(
        f"{account}/servers",
        data={
            **form,
            "name": "everything",
            "methods": ["read", "write"],
            "tags": ["incidents"],
            "confirm": "destructive",
            "budgets": "write = 10/h\nresolve = 3/d",
            "pin": "incident_id = 7, 8",
            "reveal_secrets": "on",
        },
    )
    assert created.status_code == 303, created.text
    server = _server(provisioning, created.headers["location"])
    assert server["config"]["budgets"] == {"write": "10/h", "resolve": "3/d"}
    assert server["config"]["pin"] == {"incident_id": ["7", "8"]}
    path = f"{account}/servers/{server['id']}"
    text = console.get(path).text
    config = text.split('id="server-config"')[1].split("</dl>")[0]
    assert "destructive tools" in config
    assert "Before destructive changes" in config
    assert "write: 10/h" in config
    assert "resolve: 3/d" in config
    assert "incident_id 7, 8" in config
    assert "Revealed" in config
    assert "Each change leaves a note" in config
    withheld = text.split('id="server-withheld"')[1].split("</ul>")[0]
    assert f'data-withheld="{RESOLVE}"' in withheld
    assert "without naming incident_id" in withheld

    edit = console.get(f"{path}/edit")
    assert "write = 10/h\nresolve = 3/d</textarea>" in edit.text
    assert "incident_id = 7, 8</textarea>" in edit.text
    values = _defaults(edit)
    assert values["exclude_destructive"] == "on"
    assert values["confirm"] == "destructive"
    assert values["reveal_secrets"] == "on"
    del values["exclude_destructive"]
    saved = console.post(
        f"{path}/edit",
        data={
            **values,
            "name": "everything",
            "methods": ["read", "write"],
            "tags": ["incidents"],
            "expiry": "keep",
            "budgets": "write = 10/h",
            "pin": "",
        },
    )
    assert saved.status_code == 303, saved.text
    after = _server(provisioning, f"/servers/{server['id']}")
    assert after["config"]["exclude_tags"] == []
    assert after["config"]["budgets"] == {"write": "10/h"}
    assert after["config"]["pin"] == {}
    assert after["config"]["reveal_secrets"] is True
    assert RESOLVE not in after["withheld"]
