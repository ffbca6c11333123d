"""The client matrix: every MCP client docs/operator-guide.md documents ("Clients") lists a
server's tools and calls one, on the server's plain URL, against the real product (two gateways,
a worker, the sandbox).

Each client runs with each factor:

- ``none``: a server without ``require_api_token_auth``, no credential at all;
- ``bearer``: a server with the second factor, the API token sent as ``Authorization: Bearer``;
- ``x-api-key``: the same server, the API token sent as ``x-api-key``;
- ``sign-in`` (Claude Code only): the same server and no credential, which Claude Code must report
  as "Needs authentication" (it then signs in with OAuth), not as a failure.

Clients without a way to send a header (the Inspector that Node 20 gets) run with ``none`` only.
The clients are the pinned ones of ``tools/clients`` and ``tools/clients-node20``
(:mod:`tests.support.clients`); the Node clients run on the pinned Node 22, except the Node 20
Inspector. Every subprocess gets a throwaway ``HOME`` and a minimal environment whose proxy
points at a closed loopback port, so nothing reaches beyond 127.0.0.1.

The selected cases run once per module, a few at a time, in :func:`outcomes`; each test then
checks its own case's outcome, so every client and factor is its own test id and the module takes
about as long as its slowest clients rather than the sum of all.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import SSETransport, StreamableHttpTransport
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.filters import filter_tools
from tests.support.clients import ClientTools
from tests.support.grants import mint_api_token, mint_grant
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(600)]

METHODS = ("read",)
TAGS = ("incidents",)
EXPECTED_TOOLS = [t.name for t in filter_tools(default_catalog().tools, METHODS, TAGS)]
TOOL = "list_all_better_stack_incidents"
MARKER = "Checkout API is down"
"""The name of a seeded incident that every call of :data:`TOOL` returns."""

NONE, BEARER, X_API_KEY, SIGN_IN = "none", "bearer", "x-api-key", "sign-in"
HEADER_FACTORS = (NONE, BEARER, X_API_KEY)

CASE_TIMEOUT = 90.0
"""Seconds one case may take (mcp-remote waits up to 30 s for a browser when it falls back to
OAuth, so failures take that long)."""
CONCURRENCY = 4
API_TOKEN_ENV = "STACKMCP_API_TOKEN"
DEAD_PROXY = "http://127.0.0.1:9"
"""A closed loopback port: anything a client tries to send beyond loopback fails at once."""


@dataclass(frozen=True)
class Servers:
    """The module's two servers (same filter) and the API token of the second factor."""

    plain: str
    """URL of a server without the second factor."""
    secured: str
    """URL of a server with ``require_api_token_auth``."""
    api_token: str = field(repr=False)

    def url(self, factor: str) -> str:
        """The plain MCP URL a case with ``factor`` uses."""
        return self.plain if factor == NONE else self.secured

    def headers(self, factor: str) -> dict[str, str]:
        """The HTTP headers a header-capable client sends for ``factor``."""
        if factor == BEARER:
            return {"Authorization": f"Bearer {self.api_token}"}
        if factor == X_API_KEY:
            return {"x-api-key": self.api_token}
        return {}


@dataclass
class Outcome:
    """What one client did."""

    tools: list[str] | None = None
    call_text: str | None = None
    call_is_error: bool = False
    protocol_version: str | None = None
    status: str | None = None
    """Claude Code: the ``Status:`` line of ``claude mcp get``."""
    log: list[str] = field(default_factory=list, repr=False)
    """Command lines and what the client printed, for failure messages."""
    error: str | None = field(default=None, repr=False)
    seconds: float = 0.0

    def report(self, secret: str) -> str:
        """Everything known about the run, for an assertion message (``secret`` masked: Claude
        Code's ``mcp get`` prints header values)."""
        lines = [*self.log]
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)[-6000:].replace(secret, "<API token>")


@dataclass(frozen=True)
class Run:
    """What a case's client gets: the servers, the pinned clients and a scratch directory."""

    servers: Servers
    tools: ClientTools
    home: Path
    outcome: Outcome

    def env(self, **extra: str) -> dict[str, str]:
        """A minimal environment: a throwaway HOME and XDG directories, loopback only."""
        home = str(self.home)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/.config",
            "XDG_CACHE_HOME": f"{home}/.cache",
            "XDG_DATA_HOME": f"{home}/.local/share",
            "XDG_STATE_HOME": f"{home}/.local/state",
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **extra,
        }

    async def command(
        self, argv: Sequence[str | Path], env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """Run ``argv`` in the scratch directory; returns (exit code, stdout, stderr)."""
        self.outcome.log.append(f"$ {' '.join(str(a) for a in argv)}")
        proc = await asyncio.create_subprocess_exec(
            *(str(a) for a in argv),
            cwd=self.home,
            env=env or self.env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        self.outcome.log.append(f"exit {proc.returncode}\nstdout: {stdout[-3000:]}")
        if stderr.strip():
            self.outcome.log.append(f"stderr: {stderr[-3000:]}")
        return proc.returncode or 0, stdout, stderr


def _result_text(result: CallToolResult) -> str:
    parts = [json.dumps(result.structured_content)] if result.structured_content else []
    parts += [getattr(block, "text", "") for block in result.content]
    return "\n".join(parts)


def _record(outcome: Outcome, listed: Sequence[Any], result: CallToolResult) -> None:
    outcome.tools = [t.name for t in listed]
    outcome.call_text = _result_text(result)
    outcome.call_is_error = bool(result.is_error)


# --- the official Python SDK ---------------------------------------------------------------


def sdk_client(mode: str) -> Callable[[Run, str], Awaitable[None]]:
    """``mcp.Client`` in ``mode``: the URL as is, or a transport carrying the header."""

    async def run(ctx: Run, factor: str) -> None:
        url, headers = ctx.servers.url(factor), ctx.servers.headers(factor)
        if headers:
            http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
            client = Client(streamable_http_client(url, http_client=http), mode=mode)
        else:
            http = None
            client = Client(url, mode=mode)
        try:
            async with client:
                listed = await client.list_tools()
                result = await client.call_tool(TOOL, {})
                _record(ctx.outcome, listed.tools, result)
                ctx.outcome.protocol_version = client.protocol_version
        finally:
            if http is not None:
                await http.aclose()

    return run


async def sdk_sse_client(ctx: Run, factor: str) -> None:
    """``mcp.client.sse.sse_client`` (HTTP+SSE, 2024-11-05) on the plain URL."""
    url, headers = ctx.servers.url(factor), ctx.servers.headers(factor)
    async with (
        sse_client(url, headers=headers or None) as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        listed = await session.list_tools()
        result = await session.call_tool(TOOL, {})
        _record(ctx.outcome, listed.tools, result)
        ctx.outcome.protocol_version = str(init.protocol_version)


# --- FastMCP ---------------------------------------------------------------------------------


def fastmcp_client(transport: str) -> Callable[[Run, str], Awaitable[None]]:
    """``fastmcp.Client``: the URL (``auth=<API token>`` for Bearer), or a transport carrying
    the ``x-api-key`` header; for ``sse``, ``SSETransport`` on the plain URL."""

    async def run(ctx: Run, factor: str) -> None:
        url, token = ctx.servers.url(factor), ctx.servers.api_token
        auth = token if factor == BEARER else None
        headers = ctx.servers.headers(factor) if factor == X_API_KEY else None
        target: Any
        if transport == "sse":
            target = SSETransport(url, headers=headers)
        elif headers:
            target = StreamableHttpTransport(url, headers=headers)
        else:
            target = url
        async with FastMCPClient(target, auth=auth) as client:
            listed = await client.list_tools()
            result = await client.call_tool_mcp(TOOL, {})
            _record(ctx.outcome, listed, result)

    return run


# --- mcp-remote (a stdio bridge, driven with the SDK's stdio client) ----------------------------


def mcp_remote(*flags: str) -> Callable[[Run, str], Awaitable[None]]:
    """``mcp-remote <url> [flags] [--header ...]`` as a Claude Desktop entry runs it: the header
    value comes from ``STACKMCP_API_TOKEN`` (``${VAR}`` is expanded by mcp-remote), with no
    spaces in the arguments (some clients split arguments on spaces)."""

    async def run(ctx: Run, factor: str) -> None:
        args = [str(ctx.tools.mcp_remote), ctx.servers.url(factor), *flags]
        token = ctx.servers.api_token
        if factor == BEARER:
            args += ["--header", f"Authorization:${{{API_TOKEN_ENV}}}"]
            env = ctx.env(**{API_TOKEN_ENV: f"Bearer {token}"})
        elif factor == X_API_KEY:
            args += ["--header", f"x-api-key:${{{API_TOKEN_ENV}}}"]
            env = ctx.env(**{API_TOKEN_ENV: token})
        else:
            env = ctx.env()
        ctx.outcome.log.append(f"$ node {' '.join(args)}")
        errlog = ctx.home / "mcp-remote.stderr"
        params = StdioServerParameters(
            command=str(ctx.tools.node22), args=args, env=env, cwd=str(ctx.home)
        )
        try:
            with errlog.open("w") as err:
                async with (
                    stdio_client(params, errlog=err) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    init = await session.initialize()
                    listed = await session.list_tools()
                    result = await session.call_tool(TOOL, {})
                    _record(ctx.outcome, listed.tools, result)
                    ctx.outcome.protocol_version = str(init.protocol_version)
        finally:
            text = errlog.read_text(errors="replace") if errlog.exists() else ""
            ctx.outcome.log.append(f"mcp-remote stderr: {text[-3000:]}")

    return run


# --- the MCP Inspector CLI ---------------------------------------------------------------------


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def inspector(*flags: str) -> Callable[[Run, str], Awaitable[None]]:
    """Inspector 2.x on Node 22: ``--cli <url> [flags] [--header ...] --method ...``."""

    async def run(ctx: Run, factor: str) -> None:
        base: list[str | Path] = [ctx.tools.node22, ctx.tools.inspector, "--cli"]
        base += [ctx.servers.url(factor), *flags]
        for name, value in ctx.servers.headers(factor).items():
            base += ["--header", f"{name}: {value}"]
        rc, out, _ = await ctx.command([*base, "--method", "tools/list", "--format", "json"])
        listed = _json_or_none(out)
        if rc != 0 or not isinstance(listed, dict) or "result" not in listed:
            ctx.outcome.error = f"tools/list failed (exit {rc})"
            return
        ctx.outcome.tools = [t["name"] for t in listed["result"]["tools"]]
        call = ["--method", "tools/call", "--tool-name", TOOL, "--format", "json"]
        rc, out, _ = await ctx.command([*base, *call])
        ctx.outcome.call_text = out
        ctx.outcome.call_is_error = rc != 0

    return run


def inspector_node20(suffix: str) -> Callable[[Run, str], Awaitable[None]]:
    """Inspector 0.15.0 on Node 20 (what ``npx @modelcontextprotocol/inspector`` runs there):
    ``--cli <url><suffix> --method ...``. It has no ``--header`` option."""

    async def run(ctx: Run, factor: str) -> None:
        assert factor == NONE, "Inspector 0.15.0 cannot send headers"
        env = ctx.env(PATH=f"{ctx.tools.node20.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        base: list[str | Path] = [ctx.tools.node20, ctx.tools.inspector_node20, "--cli"]
        base.append(ctx.servers.url(factor) + suffix)
        rc, out, _ = await ctx.command([*base, "--method", "tools/list"], env)
        listed = _json_or_none(out)
        if rc != 0 or not isinstance(listed, dict) or "tools" not in listed:
            ctx.outcome.error = f"tools/list failed (exit {rc})"
            return
        ctx.outcome.tools = [t["name"] for t in listed["tools"]]
        rc, out, _ = await ctx.command([*base, "--method", "tools/call", "--tool-name", TOOL], env)
        result = _json_or_none(out)
        ctx.outcome.call_text = out
        ctx.outcome.call_is_error = (
            rc != 0 or not isinstance(result, dict) or bool(result.get("isError"))
        )

    return run


# --- Claude Code -------------------------------------------------------------------------------


def claude_code(transport: str) -> Callable[[Run, str], Awaitable[None]]:
    """``claude mcp add --transport <transport> stackmcp <url> [--header ...]`` then
    ``claude mcp get stackmcp``, which connects, lists the tools and prints a status."""

    async def run(ctx: Run, factor: str) -> None:
        env = ctx.env(
            DISABLE_AUTOUPDATER="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_TELEMETRY="1",
            DISABLE_ERROR_REPORTING="1",
        )
        add: list[str | Path] = [ctx.tools.claude, "mcp", "add", "--transport", transport]
        add += ["stackmcp", ctx.servers.url(factor)]
        for name, value in ctx.servers.headers(factor).items():
            add += ["--header", f"{name}: {value}"]
        rc, _, _ = await ctx.command(add, env)
        if rc != 0:
            ctx.outcome.error = f"claude mcp add failed (exit {rc})"
            return
        rc, out, _ = await ctx.command([ctx.tools.claude, "mcp", "get", "stackmcp"], env)
        status = [line.strip() for line in out.splitlines() if line.strip().startswith("Status:")]
        ctx.outcome.status = status[0].removeprefix("Status:").strip() if status else None

    return run


# --- the matrix --------------------------------------------------------------------------------

Runner = Callable[[Run, str], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """One client with one factor."""

    client: str
    factor: str

    def __str__(self) -> str:
        return f"{self.client}/{self.factor}"


CLIENTS: dict[str, tuple[Runner, Sequence[str]]] = {
    "sdk-auto": (sdk_client("auto"), HEADER_FACTORS),
    "sdk-legacy": (sdk_client("legacy"), HEADER_FACTORS),
    "sdk-2026-07-28": (sdk_client("2026-07-28"), HEADER_FACTORS),
    "sdk-sse_client": (sdk_sse_client, HEADER_FACTORS),
    "fastmcp-http": (fastmcp_client("http"), HEADER_FACTORS),
    "fastmcp-sse": (fastmcp_client("sse"), HEADER_FACTORS),
    "mcp-remote": (mcp_remote(), HEADER_FACTORS),
    "mcp-remote-http-only": (mcp_remote("--transport", "http-only"), HEADER_FACTORS),
    "mcp-remote-sse-only": (mcp_remote("--transport", "sse-only"), HEADER_FACTORS),
    "inspector2-http": (inspector("--transport", "http"), HEADER_FACTORS),
    "inspector2-http-modern": (
        inspector("--transport", "http", "--protocol-era", "modern"),
        HEADER_FACTORS,
    ),
    "inspector2-sse": (inspector("--transport", "sse"), HEADER_FACTORS),
    "inspector0.15-node20-sse": (inspector_node20("/sse"), (NONE,)),
    "inspector0.15-node20-mcp": (inspector_node20("/mcp"), (NONE,)),
    "claude-code-http": (claude_code("http"), (*HEADER_FACTORS, SIGN_IN)),
    "claude-code-sse": (claude_code("sse"), (*HEADER_FACTORS, SIGN_IN)),
}
CASES = [Case(client, factor) for client, (_, factors) in CLIENTS.items() for factor in factors]

SDK_VERSIONS = {
    "sdk-auto": "2026-07-28",
    "sdk-legacy": "2025-11-25",
    "sdk-2026-07-28": "2026-07-28",
    "sdk-sse_client": "2025-11-25",
}


async def _run_case(case: Case, servers: Servers, tools: ClientTools, root: Path) -> Outcome:
    outcome = Outcome()
    home = Path(tempfile.mkdtemp(prefix=f"{case.client}-{case.factor}-", dir=root))
    run = Run(servers=servers, tools=tools, home=home, outcome=outcome)
    started = time.monotonic()
    try:
        async with asyncio.timeout(CASE_TIMEOUT):
            await CLIENTS[case.client][0](run, case.factor)
    except TimeoutError:
        outcome.error = f"no result within {CASE_TIMEOUT:.0f} s"
    except Exception as exc:  # reported by the case's test
        text = "".join(traceback.format_exception(exc))
        outcome.error = text[-4000:]
    outcome.seconds = time.monotonic() - started
    return outcome


async def _run_all(
    cases: Sequence[Case], servers: Servers, tools: ClientTools, root: Path
) -> dict[Case, Outcome]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(case: Case) -> tuple[Case, Outcome]:
        async with limit:
            return case, await _run_case(case, servers, tools, root)

    return dict(await asyncio.gather(*(one(case) for case in cases)))


async def _mint(stack: McpStack) -> Servers:
    redis = stack.redis()
    try:
        common: dict[str, Any] = {"account_id": stack.account_id, "methods": METHODS, "tags": TAGS}
        plain, _ = await mint_grant(redis, stack.keys, name="matrix plain", **common)
        secured, _ = await mint_grant(
            redis, stack.keys, name="matrix secured", require_api_token_auth=True, **common
        )
        api_token = await mint_api_token(redis, stack.keys, name="client matrix")
    finally:
        await redis.aclose()
    return Servers(plain=stack.url(plain), secured=stack.url(secured), api_token=api_token)


def _selected(request: pytest.FixtureRequest) -> list[Case]:
    module = request.node.path if hasattr(request.node, "path") else None
    cases = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and item.path == module and "case" in callspec.params:
            cases.append(callspec.params["case"])
    return cases


@pytest.fixture(scope="module")
def servers(mcp_stack: McpStack) -> Servers:
    """The module's servers, on a sandbox with its default knobs."""
    knobs = {"rate_limit": 0, "latency_ms": 0, "error_rate": 0, "rate_limit_headers": False}
    assert mcp_stack.sandbox.admin("PATCH", "knobs", knobs).status_code == 200
    return asyncio.run(_mint(mcp_stack))


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest,
    servers: Servers,
    client_tools: ClientTools,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[Case, Outcome]:
    """Every selected case, run once against one server pair (a few clients at a time)."""
    cases = _selected(request) or CASES
    root = tmp_path_factory.mktemp("client-matrix")
    started = time.monotonic()
    results = asyncio.run(_run_all(cases, servers, client_tools, root))
    elapsed = time.monotonic() - started
    timings = sorted(results.items(), key=lambda kv: -kv[1].seconds)
    slowest = ", ".join(f"{case} {o.seconds:.1f} s" for case, o in timings[:5])
    print(f"\nclient matrix: {len(cases)} cases in {elapsed:.1f} s; slowest: {slowest}")
    return results


@pytest.mark.parametrize("case", CASES, ids=str)
def test_client(case: Case, outcomes: dict[Case, Outcome], servers: Servers) -> None:
    """The client lists exactly the server's tools and calls one (Claude Code: connects, which
    includes listing the tools, or asks for sign-in where the server needs the second factor)."""
    outcome = outcomes[case]
    if problem := _problem(case, outcome):
        pytest.fail(f"{case}: {problem}\n{outcome.report(servers.api_token)}")


def _problem(case: Case, outcome: Outcome) -> str | None:
    if outcome.error is not None:
        return "the client failed"
    if case.client.startswith("claude-code"):
        expected = "Needs authentication" if case.factor == SIGN_IN else "Connected"
        ok = outcome.status is not None and outcome.status.endswith(expected)
        return None if ok else f"claude mcp get says {outcome.status!r}, expected {expected!r}"
    if outcome.tools != EXPECTED_TOOLS:
        return f"listed {outcome.tools}, expected {EXPECTED_TOOLS}"
    if outcome.call_is_error or outcome.call_text is None or MARKER not in outcome.call_text:
        return f"{TOOL} did not return the seeded incidents"
    expected_version = SDK_VERSIONS.get(case.client, outcome.protocol_version)
    if outcome.protocol_version != expected_version:
        return f"negotiated {outcome.protocol_version}, expected {expected_version}"
    return None
