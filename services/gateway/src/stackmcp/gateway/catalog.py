"""The worker's tool catalogue as the gateway serves it: fetched over NATS, filtered per grant,
encoded once per catalogue version, filter, page and era.

``tools/list`` is answered from bytes cached per catalogue version, grant policy
(:func:`policy_key`), page and era; nothing is encoded per request. A grant's view applies every
rule of :mod:`stackmcp.contracts.policy` (methods, tags, exclusions, pins) and, for tools that
need confirmation, adds the optional ``confirm_token`` argument. The catalogue is re-checked
every ``refresh`` seconds with the version the gateway holds, so the worker only sends tools
when they changed.

Each view's text is rendered for the tools it lists (:func:`render`), once per view: a
description never names a tool the server does not list ("From list_all_better_stack_monitors."
becomes "A monitor id." where the monitor list is hidden; a sentence naming another unlisted tool
is dropped), and an update tool whose description says "Fields as in <create tool>" leaves
out the optional fields it shares with that create tool, only where the create tool is listed
too (a model reads them there; the worker validates update arguments against its own list).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.aio.client import Client

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.mcp_tools import mcp_tool
from stackmcp.contracts.policy import expose, needs_confirmation
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, CatalogResponse, ToolDescriptor
from stackmcp.gateway.confirm import CONFIRM_TOKEN_ARG
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, RpcError
from stackmcp.runtime.errors import StackmcpError, Unavailable
from stackmcp.runtime.natsx import request

__all__ = [
    "TOOL_NAME",
    "WITHHELD_META",
    "GrantView",
    "ToolCatalog",
    "policy_key",
    "render",
    "rewrite",
]

logger = logging.getLogger(__name__)

WITHHELD_META = "stackmcp/withheld"
"""``tools/list`` ``_meta`` key: tool name → why this server withholds it (exclusions, pins)."""


def policy_key(grant: Grant) -> Hashable:
    """What decides a grant's tool view: grants with equal keys see the same tools."""
    return (
        grant.methods,
        grant.tags,
        grant.exclude_tags,
        grant.exclude_tools,
        grant.pin,
        grant.confirm,
    )


@dataclass(frozen=True)
class GrantView:
    """The tools one grant exposes, by name in catalogue order, and those it withholds."""

    tools: dict[str, ToolDescriptor]
    withheld: dict[str, str]


TOOL_NAME = re.compile(r"\b[a-z0-9_]*better_stack_[a-z0-9_]*[a-z0-9]")
"""A catalogue tool's name inside a text (every one has ``better_stack_`` in it)."""
_FIELDS_AS_IN = re.compile(r"Fields as in ([a-z0-9_]+); only those given change\.")
_FROM_LIST = re.compile(r"\b([Ff])rom list_all_better_stack_([a-z0-9_]+)")
_NAMED_ASIDE = re.compile(r"\s*\(([a-z0-9_]*better_stack_[a-z0-9_]*[a-z0-9])\)")
_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+")


def _item(plural: str) -> str:
    """``escalation_policies`` → ``escalation policy`` (the item a list tool lists)."""
    words = plural.split("_")
    last = words[-1]
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last]).replace("on call", "on-call")


def rewrite(text: str, listed: Collection[str]) -> str:
    """``text`` naming only tools in ``listed``.

    A look-up hint naming an unlisted list tool keeps its meaning without the name ("From
    list_all_better_stack_escalation_policies" → "An escalation policy id"); "Fields as in
    <unlisted create tool>; only those given change." becomes "Only the fields given change.";
    a parenthesis holding just an unlisted tool's name goes; any other sentence naming an
    unlisted tool is dropped.
    """
    if not TOOL_NAME.search(text):
        return text

    def fields(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) in listed else "Only the fields given change."

    def hint(match: re.Match[str]) -> str:
        if f"list_all_better_stack_{match.group(2)}" in listed:
            return match.group(0)
        item = _item(match.group(2))
        article = "an" if item[0] in "aeiou" else "a"
        if match.group(1) == "F":
            article = article.capitalize()
        return f"{article} {item} id"

    def aside(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) in listed else ""

    text = _FIELDS_AS_IN.sub(fields, text)
    text = _FROM_LIST.sub(hint, text)
    text = _NAMED_ASIDE.sub(aside, text)
    kept = [
        sentence
        for sentence in _SENTENCE_END.split(text)
        if all(name in listed for name in TOOL_NAME.findall(sentence))
    ]
    return " ".join(kept)


def _undescribed(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _undescribed(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_undescribed(v) for v in schema]
    return schema


def _unless_name_says_it(name: str, schema: Any) -> Any:
    """``schema`` without a description that only repeats its name ("A monitor id." of
    ``monitor_id``, left by :func:`rewrite` when the list tool is not listed)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("description"), str):
        return schema
    words = schema["description"].removesuffix(".").split(" ", 1)
    if (
        len(words) == 2
        and words[0] in ("A", "An")
        and words[1].replace(" ", "_").replace("-", "_") == name
    ):
        return {k: v for k, v in schema.items() if k != "description"}
    return schema


def _rewrite_schema(schema: Any, listed: Collection[str]) -> Any:
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "description" and isinstance(value, str):
                text = rewrite(value, listed)
                if text:
                    out[key] = text
            elif key == "properties" and isinstance(value, dict):
                out[key] = {
                    k: _unless_name_says_it(k, _rewrite_schema(v, listed)) for k, v in value.items()
                }
                if (
                    isinstance(out[key].get("limit"), dict)
                    and out[key]["limit"].get("minimum") == 1
                ):
                    # a page of at least one item goes without saying (the worker checks it)
                    out[key]["limit"] = {
                        k: v for k, v in out[key]["limit"].items() if k != "minimum"
                    }
            else:
                out[key] = _rewrite_schema(value, listed)
        return out
    if isinstance(schema, list):
        return [_rewrite_schema(v, listed) for v in schema]
    return schema


_OWN_HINT = re.compile(r"From list_all_better_stack_([a-z0-9_]+)\.")


def _without_own_hints(schema: Any, listed: Collection[str]) -> Any:
    """``schema`` without the look-up hint of each required ``<item>_id`` whose hint is just
    "From list_all_better_stack_<items>." with that list tool listed: the server instructions
    state that rule once (:data:`ID_RULE`) instead of on every such argument."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    trimmed = dict(properties)
    for name in schema.get("required", ()):
        prop = properties.get(name)
        if not isinstance(prop, dict):
            continue
        found = _OWN_HINT.fullmatch(prop.get("description", ""))
        if (
            found is not None
            and f"{_item(found.group(1)).replace(' ', '_').replace('-', '_')}_id" == name
            and f"list_all_better_stack_{found.group(1)}" in listed
        ):
            trimmed[name] = {k: v for k, v in prop.items() if k != "description"}
    return {**schema, "properties": trimmed}


ID_RULE = (
    "A required <thing>_id argument without a description takes an id from the tool that "
    "lists <things>."
)
"""The look-up rule for the id arguments :func:`render` leaves undescribed."""


def render(tool: ToolDescriptor, listed: Mapping[str, ToolDescriptor]) -> ToolDescriptor:
    """``tool`` as a server listing ``listed`` shows it: text naming only listed tools, and an
    update tool without the optional fields it shares with its listed create tool (their
    schemas and descriptions are on the create tool its description names: "Fields as in
    create_a_better_stack_monitor; only those given change."; a field the grant shapes
    differently, e.g. pinned, stays)."""
    schema = tool.input_schema
    match = _FIELDS_AS_IN.search(tool.description)
    create = listed.get(match.group(1)) if match else None
    if create is not None:
        shared = create.input_schema.get("properties", {})
        required = set(schema.get("required", ()))
        schema = {
            **schema,
            "properties": {
                name: prop
                for name, prop in schema.get("properties", {}).items()
                if name in required
                or name not in shared
                or _undescribed(prop) != _undescribed(shared[name])
            },
        }
    description = rewrite(tool.description, listed)
    schema = _rewrite_schema(_without_own_hints(schema, listed), listed)
    properties = schema.get("properties", {})
    if properties.get("next_cursor") == {"type": ["string", "null"]}:
        # null is what a result says at the end; a call passes a cursor or nothing
        schema = {**schema, "properties": {**properties, "next_cursor": {"type": "string"}}}
    annotations = tool.annotations
    if annotations.idempotentHint is not None:
        # Clients act on readOnlyHint and destructiveHint (claude.ai's directory requires
        # them); idempotentHint, in every update and delete tool, guides no client we know.
        annotations = msgspec.structs.replace(annotations, idempotentHint=None)
    if (description, schema, annotations) == (
        tool.description,
        tool.input_schema,
        tool.annotations,
    ):
        return tool
    return msgspec.structs.replace(
        tool, description=description, input_schema=schema, annotations=annotations
    )


def _with_confirmation(tool: ToolDescriptor) -> ToolDescriptor:
    """``tool`` with the optional ``confirm_token`` argument and, in its output schema, the
    ``confirmation`` a first call answers with."""
    schema = dict(tool.input_schema)
    schema["properties"] = {
        **schema.get("properties", {}),
        # No description: the server instructions and the plan a first call returns say how
        # it is used, once, instead of in every tool that needs confirmation.
        CONFIRM_TOKEN_ARG: {"type": "string"},
    }
    output = tool.output_schema
    if output is not None:
        output = dict(output)
        required = output.pop("required", None)
        output["properties"] = {
            **output.get("properties", {}),
            "confirmation": {
                "type": "object",
                "description": "Instead of result when the call needs the user's confirmation",
            },
        }
        if required:
            output["anyOf"] = [{"required": required}, {"required": ["confirmation"]}]
    return msgspec.structs.replace(tool, input_schema=schema, output_schema=output)


class ToolCatalog:
    """The current catalogue and its per-filter views.

    Args:
        nc: NATS client.
        subjects: subject names.
        page_size: tools per ``tools/list`` page.
        timeout: seconds to wait for ``catalog.get``.
    """

    def __init__(
        self, nc: Client, subjects: Subjects, *, page_size: int = 200, timeout: float = 5.0
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._page_size = page_size
        self._timeout = timeout
        self.version = ""
        self._tools: tuple[ToolDescriptor, ...] = ()
        self._names: frozenset[str] = frozenset()
        self._views: dict[Hashable, GrantView] = {}
        self._pages: dict[tuple[Hashable, int, bool], bytes] = {}
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether a catalogue has been received."""
        return bool(self.version)

    async def refresh(self) -> bool:
        """Ask the worker for the catalogue; return whether it changed.

        Raises:
            StackmcpError: the worker did not answer.
        """
        async with self._lock:
            answer = await request(
                self._nc,
                self._subjects.catalog_get,
                CatalogRequest(known_version=self.version),
                CatalogResponse,
                timeout=self._timeout,
            )
            if answer.unchanged or answer.version == self.version:
                return False
            self._tools = answer.tools
            self._names = frozenset(t.name for t in answer.tools)
            self._views.clear()
            self._pages.clear()
            self.version = answer.version
            logger.info("tool catalogue %s loaded: %d tools", self.version[:12], len(self._tools))
            return True

    async def ensure_loaded(self) -> None:
        """Load the catalogue if none is held yet.

        Raises:
            Unavailable: no worker answered.
        """
        if self.loaded:
            return
        try:
            await self.refresh()
        except StackmcpError as exc:
            raise Unavailable("the tool catalogue is not available yet") from exc

    async def keep_fresh(self, interval: float, stop: asyncio.Event) -> None:
        """Refresh every ``interval`` seconds until ``stop`` is set (errors are logged)."""
        while not stop.is_set():
            try:
                await self.refresh()
            except StackmcpError as exc:
                logger.warning("catalogue refresh failed: %s", exc.code)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval if self.loaded else 1.0)

    def view(self, grant: Grant) -> GrantView:
        """The tools ``grant`` may see and call (pinned and confirmation schemas applied), and
        those its exclusions and pins withhold; built once per policy and catalogue."""
        key = policy_key(grant)
        view = self._views.get(key)
        if view is None:
            exposure = expose(self._tools, grant)
            listed = {t.name: t for t in exposure.tools}
            tools = {}
            for tool in exposure.tools:
                shown = render(tool, listed)
                if needs_confirmation(tool, grant.confirm):
                    shown = _with_confirmation(shown)
                tools[tool.name] = shown
            view = GrantView(tools=tools, withheld=exposure.withheld)
            self._views[key] = view
        return view

    def find(self, name: str, grant: Grant) -> ToolDescriptor | None:
        """The tool ``name`` if ``grant`` exposes it (a hidden tool is as absent as unknown)."""
        return self.view(grant).tools.get(name)

    def exists(self, name: str) -> bool:
        """Whether the catalogue has a tool ``name``, whatever a grant may see."""
        return name in self._names

    def list_page(
        self,
        grant: Grant,
        cursor: object,
        *,
        modern: bool,
        server_meta: dict[str, Any] | None = None,
    ) -> bytes:
        """The encoded ``tools/list`` result for one page; the first page's ``_meta`` names
        the tools the grant withholds and why.

        Raises:
            RpcError: ``-32602`` for a cursor this gateway did not issue for this catalogue.
        """
        key = policy_key(grant)
        offset = self._offset(cursor)
        cached = self._pages.get((key, offset, modern))
        if cached is not None:
            return cached
        view = self.view(grant)
        tools = list(view.tools.values())
        if offset > len(tools):
            raise RpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
        page = tools[offset : offset + self._page_size]
        result: dict[str, Any] = {"tools": [mcp_tool(t) for t in page]}
        end = offset + len(page)
        if end < len(tools):
            result["nextCursor"] = self._cursor(end)
        meta: dict[str, Any] = {}
        if view.withheld and offset == 0:
            meta[WITHHELD_META] = view.withheld
        if modern:
            result.update(resultType="complete", ttlMs=60_000, cacheScope="private")
            meta.update(server_meta or {})
        if meta:
            result["_meta"] = meta
        encoded = msgspec.json.encode(result)
        self._pages[(key, offset, modern)] = encoded
        return encoded

    def _cursor(self, offset: int) -> str:
        raw = f"{self.version[:16]}:{offset}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _offset(self, cursor: object) -> int:
        if cursor is None:
            return 0
        if not isinstance(cursor, str):
            raise RpcError(INVALID_PARAMS, "Invalid params: cursor must be a string")
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            version, _, offset = text.partition(":")
            if version != self.version[:16]:
                raise ValueError(version)
            return int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise RpcError(
                INVALID_PARAMS,
                "Invalid params: unknown or outdated cursor; list tools again without a cursor",
            ) from None
