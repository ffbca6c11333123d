"""Claude Code signs in to a server with the second factor through the gateway's OAuth server.

``claude mcp add --transport http|sse`` with no header, then ``claude mcp get`` (needs
authentication), then ``claude mcp login --no-browser`` in a pseudo-terminal: it prints the
authorization URL, a headless person answers the consent page with the API token, and the
browser's last step (the redirect to Claude Code's loopback ``/callback``) is a plain GET. After
that ``claude mcp get`` connects (which lists the tools) with the stored access token.

Claude Code identifies itself with a Client ID Metadata Document, by default
``https://claude.ai/oauth/claude-code-client-metadata``; the tests run offline, so its
``MCP_OAUTH_CLIENT_METADATA_URL`` setting points it at a copy served over HTTPS on 127.0.0.1 by
the OAuth stack's TLS server (the gateways are allowed loopback CIMD there).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.clients import ClientTools
from tests.support.oauthstack import OAuthStack, consent, oauth_stack
from tests.support.tls import Document

__all__ = ["oauth_stack"]

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

CIMD_PATH = "/oauth/claude-code-client-metadata"
DEAD_PROXY = "http://127.0.0.1:9"
_AUTHORIZE = re.compile(rb"https?://[^\s\x07\x1b]+/oauth/authorize\?[^\s\x07\x1b]+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def claude_code_metadata(client_id: str) -> dict[str, object]:
    """A client metadata document like Claude Code's own (loopback ``/callback``, public)."""
    return {
        "client_id": client_id,
        "client_name": "Claude Code",
        "client_uri": "https://claude.ai",
        "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


@dataclass
class ClaudeHome:
    """A throwaway HOME for Claude Code and the environment it runs with."""

    claude: Path
    home: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        """``claude <args>``; returns stdout (fails the test on a non-zero exit)."""
        result = subprocess.run(
            [str(self.claude), *args],
            cwd=self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"claude {args}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def status(self, name: str) -> str:
        """The ``Status:`` of ``claude mcp get <name>``."""
        out = self.run("mcp", "get", name)
        lines = [line.strip() for line in out.splitlines() if line.strip().startswith("Status:")]
        assert lines, out
        return lines[0].removeprefix("Status:").strip()


@pytest.fixture
def claude_home(client_tools: ClientTools, oauth_stack: OAuthStack) -> Iterator[ClaudeHome]:
    """Claude Code in a temporary HOME, offline, its CIMD URL on the test TLS server."""
    oauth_stack.tls.serve(CIMD_PATH, Document.json(claude_code_metadata(_cimd(oauth_stack))))
    with tempfile.TemporaryDirectory(prefix="claude-home-") as home:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/.config",
            "XDG_CACHE_HOME": f"{home}/.cache",
            "XDG_DATA_HOME": f"{home}/.local/share",
            "XDG_STATE_HOME": f"{home}/.local/state",
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "COLUMNS": "400",
            "NO_COLOR": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "MCP_OAUTH_CLIENT_METADATA_URL": _cimd(oauth_stack),
        }
        yield ClaudeHome(claude=client_tools.claude, home=Path(home), env=env)


def _cimd(stack: OAuthStack) -> str:
    return stack.tls.url(CIMD_PATH)


class Terminal:
    """``claude mcp login`` in a pseudo-terminal (it refuses to run without one)."""

    def __init__(self, claude: ClaudeHome, *args: str) -> None:
        master, slave = os.openpty()
        self.master = master
        self.output = b""
        self.proc = subprocess.Popen(
            [str(claude.claude), *args],
            cwd=claude.home,
            env=claude.env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        os.set_blocking(master, False)

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                return
            except OSError:  # EIO: the other side closed
                return
            if not chunk:
                return
            self.output += chunk

    def text(self) -> str:
        """What the terminal showed so far, without escape sequences."""
        return _ANSI.sub("", self.output.decode(errors="replace"))

    async def wait_for(self, pattern: re.Pattern[bytes], timeout: float = 30) -> bytes:
        """The first match of ``pattern`` in the output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if found := pattern.search(self.output):
                return found.group(0)
            if self.proc.poll() is not None:
                self._drain()
                break
            await asyncio.sleep(0.05)
        pytest.fail(f"no {pattern.pattern!r} on the terminal:\n{self.text()[-3000:]}")

    async def wait_exit(self, timeout: float = 30) -> int:
        """The exit code, once the process ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if (code := self.proc.poll()) is not None:
                self._drain()
                return code
            await asyncio.sleep(0.05)
        pytest.fail(f"still running after {timeout} s:\n{self.text()[-3000:]}")

    def close(self) -> None:
        """Stop the process (if still running) and close the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_claude_code_signs_in_with_the_api_token_and_connects(
    oauth_stack: OAuthStack, claude_home: ClaudeHome, transport: str
) -> None:
    """add → needs authentication → login (consent with the API token) → connected, on the
    plain URL with either transport."""
    token, _ = await oauth_stack.mint()
    api_token = await oauth_stack.api_token()
    url = oauth_stack.url(token)
    claude_home.run("mcp", "add", "--transport", transport, "stackmcp", url)
    assert claude_home.status("stackmcp").endswith("Needs authentication")

    terminal = Terminal(claude_home, "mcp", "login", "stackmcp", "--no-browser")
    try:
        authorization_url = (await terminal.wait_for(_AUTHORIZE)).decode()
        assert authorization_url.startswith(f"{oauth_stack.gateways[0]}/oauth/authorize?")
        async with httpx.AsyncClient(timeout=20, trust_env=False) as http:
            decision = await consent(http, authorization_url, api_token)
            assert decision.response.status_code == 303, decision.response.text[:2000]
            location = decision.response.headers["location"]
            assert re.match(r"http://localhost:\d+/callback\?", location), location
            assert "code" in decision.params, location
            # The browser's last step: Claude Code's loopback callback takes the code.
            await http.get(location)
        code = await terminal.wait_exit()
        assert code == 0, terminal.text()[-3000:]
    finally:
        terminal.close()
    assert oauth_stack.tls.seen(CIMD_PATH), "the gateway never fetched Claude Code's CIMD"
    assert claude_home.status("stackmcp").endswith("Connected")
