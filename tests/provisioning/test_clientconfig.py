"""Client guidance for a new MCP server URL offers only what works for that server.

Claude's custom connector calls from Anthropic's cloud, so it is offered only for an https URL
on a public host; a server with the second factor signs in there (OAuth, the API token on the
consent page), in Claude Code on first use or with ``x-api-key``, and through ``mcp-remote``
with the token read from the environment. Loopback and private URLs say who can reach them.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from stackmcp.provisioning.clientconfig import client_config, client_name, guidance_lines, reach

PUBLIC = "https://mcp.acme.io/mcp/smcp_srv_abc"
LOOPBACK = "http://127.0.0.1:8080/mcp/smcp_srv_abc"


def _ways(config: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {way["id"]: way["blocks"] for way in config["guidance"]}


def _codes(blocks: list[dict[str, str]]) -> list[str]:
    return [block["code"] for block in blocks if "code" in block]


def _texts(blocks: list[dict[str, str]]) -> str:
    return " ".join(block["text"] for block in blocks if "text" in block)


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("oncall triage", "better-stack-oncall-triage"),
        ("Better Stack on-call", "better-stack-on-call"),
        ("better-stack-prod", "better-stack-prod"),
        ("BetterStack prod", "better-stack-prod"),
        ("Better Stack", "better-stack"),
        ("betterstacker", "better-stack-betterstacker"),
        ("  ***  ", "better-stack"),
        ("x" * 60, "better-stack-" + "x" * 40),
    ],
)
def test_client_name_is_a_slug_without_a_doubled_prefix(server_name: str, expected: str) -> None:
    assert client_name(server_name) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://mcp.acme.io/mcp/x", "public"),
        ("https://203.0.113.9.nip.io/mcp/x", "public"),
        ("http://8.8.8.8/mcp/x", "public"),
        ("http://127.0.0.1:8080/mcp/x", "loopback"),
        ("http://127.3.2.1/mcp/x", "loopback"),
        ("http://localhost:8080/mcp/x", "loopback"),
        ("http://gw.localhost/mcp/x", "loopback"),
        ("http://[::1]:8080/mcp/x", "loopback"),
        ("http://[::ffff:127.0.0.1]/mcp/x", "loopback"),
        ("https://10.1.2.3/mcp/x", "private"),
        ("https://192.168.1.5/mcp/x", "private"),
        ("https://100.64.0.1/mcp/x", "private"),
        ("https://169.254.1.1/mcp/x", "private"),
        ("https://[fd00::1]/mcp/x", "private"),
        ("https://0.0.0.0/mcp/x", "private"),
        ("http://gateway:8080/mcp/x", "private"),
        ("https://gateway.stackmcp.svc.cluster.local/mcp/x", "private"),
        ("https://mcp.corp.internal/mcp/x", "private"),
        ("https://nas.home.arpa/mcp/x", "private"),
    ],
)
def test_reach_is_judged_from_the_host(url: str, expected: str) -> None:
    assert reach(url) == expected


def test_public_https_without_second_factor_offers_the_custom_connector() -> None:
    config = client_config(PUBLIC, "oncall", require_api_token=False)
    ways = _ways(config)
    assert list(ways) == ["custom-connector", "claude-code", "claude-desktop", "other-clients"]
    assert config["custom_connector"] is True
    assert config["reach"] == "public"
    assert config["notes"] == []
    assert "Settings → Connectors → Add custom connector" in _texts(ways["custom-connector"])
    assert "sign in" not in _texts(ways["custom-connector"])
    # The fields earlier readers use keep their meaning.
    assert config["connector_url"] == PUBLIC
    assert config["claude_code"] == f"claude mcp add --transport http better-stack-oncall {PUBLIC}"
    assert _codes(ways["claude-code"]) == [config["claude_code"]]
    assert config["claude_desktop"] == {
        "mcpServers": {
            "better-stack-oncall": {"command": "npx", "args": ["-y", "mcp-remote", PUBLIC]}
        }
    }
    assert [json.loads(c) for c in _codes(ways["claude-desktop"])] == [config["claude_desktop"]]
    assert "claude_code_header" not in config
    assert "API token" not in json.dumps(config)


def test_second_factor_signs_in_or_sends_x_api_key() -> None:
    config = client_config(PUBLIC, "oncall", require_api_token=True)
    ways = _ways(config)
    assert "sign in" in _texts(ways["custom-connector"])
    assert "API token" in _texts(ways["custom-connector"])
    # Claude Code: the plain command (OAuth sign-in on first use) or the token in x-api-key.
    plain, header = _codes(ways["claude-code"])
    assert plain == config["claude_code"]
    assert plain == f"claude mcp add --transport http better-stack-oncall {PUBLIC}"
    assert header == config["claude_code_header"]
    assert shlex.split(header) == [*shlex.split(plain), "--header", "x-api-key: <API token>"]
    assert "sign in" in _texts(ways["claude-code"])
    # Claude Desktop: mcp-remote reads the token from the environment, never from its argv.
    entry = config["claude_desktop"]["mcpServers"]["better-stack-oncall"]
    assert entry == {
        "command": "npx",
        "args": ["-y", "mcp-remote", PUBLIC, "--header", "x-api-key:${STACKMCP_API_TOKEN}"],
        "env": {"STACKMCP_API_TOKEN": "<API token>"},
    }
    assert "x-api-key" in _texts(ways["other-clients"])


def test_loopback_url_offers_no_custom_connector_and_says_who_reaches_it() -> None:
    for require_api_token in (False, True):
        config = client_config(LOOPBACK, "demo", require_api_token=require_api_token)
        ways = _ways(config)
        assert "custom-connector" not in ways
        assert config["custom_connector"] is False
        assert config["reach"] == "loopback"
        (note,) = config["notes"]
        assert "only reachable from this machine" in note
        assert "STACKMCP_PROVISIONING_MCP_BASE_URL" in note
        # mcp-remote accepts http on 127.0.0.1 without --allow-http.
        args = config["claude_desktop"]["mcpServers"]["better-stack-demo"]["args"]
        assert "--allow-http" not in args
        assert _codes(ways["claude-code"])[0] == (
            f"claude mcp add --transport http better-stack-demo {LOOPBACK}"
        )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.5:8080/mcp/x", "private network"),
        ("https://gateway.internal/mcp/x", "private network"),
        ("http://mcp.acme.io/mcp/x", "plain http"),
        ("https://[::1]/mcp/x", "only reachable from this machine"),
    ],
)
def test_no_custom_connector_unless_public_https(url: str, says: str) -> None:
    config = client_config(url, "n", require_api_token=True)
    assert config["custom_connector"] is False
    assert "custom-connector" not in _ways(config)
    (note,) = config["notes"]
    assert says in note
    assert "custom connector is not offered" in note


def test_mcp_remote_gets_allow_http_only_where_it_needs_it() -> None:
    def args(url: str) -> list[str]:
        config = client_config(url, "n", require_api_token=False)
        return list(config["claude_desktop"]["mcpServers"]["better-stack-n"]["args"])

    assert args("http://10.0.0.5/mcp/x") == [
        "-y",
        "mcp-remote",
        "http://10.0.0.5/mcp/x",
        "--allow-http",
    ]
    assert args("http://[::1]:8080/mcp/x")[-1] == "--allow-http"
    assert "--allow-http" not in args("http://localhost:8080/mcp/x")
    assert "--allow-http" not in args(PUBLIC)


def test_text_lines_carry_every_note_title_and_block() -> None:
    config = client_config(LOOPBACK, "Better Stack triage", require_api_token=True)
    text = "\n".join(guidance_lines(config, indent="  "))
    assert "  Note: This URL is only reachable from this machine" in text
    for way in config["guidance"]:
        assert f"  {way['title']}:" in text
        for block in way["blocks"]:
            if "code" in block:
                assert all(f"      {line}" in text for line in block["code"].splitlines())
            else:
                assert f"    {block['text']}" in text
    assert "better-stack-better-stack" not in text


def test_text_lines_of_an_answer_from_before_the_guidance() -> None:
    old = {
        "connector_url": LOOPBACK,
        "claude_code": f"claude mcp add --transport http better-stack-n {LOOPBACK}",
        "claude_desktop": {"mcpServers": {"better-stack-n": {"command": "npx"}}},
    }
    text = "\n".join(guidance_lines(old))
    assert f"Claude Code:\n    {old['claude_code']}" in text
    assert '"command": "npx"' in text
    assert guidance_lines({}) == []
