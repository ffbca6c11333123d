"""Discovery mode (``config.tool_exposure: "discovery"``): three meta-tools instead of the list.

A discovery server's ``tools/list`` shows only ``search_tools``, ``get_tool_schema`` and
``call_tool``; the tools they reach are exactly the ones the grant exposes (the catalogue's
:meth:`~stackmcp.gateway.catalog.ToolCatalog.view`, the same rules as a direct ``tools/list``):

* ``search_tools`` ranks them for a query with :func:`rank`: a deterministic score over the words
  of each tool's name, tags, title and description, each word weighted by how rare it is among
  the server's tools (so ``better_stack``, in every name, counts for nothing);
* ``get_tool_schema`` returns one tool's definition as a direct ``tools/list`` would show it for
  this grant (pinned enums, the ``confirm_token`` argument where confirmation applies);
* ``call_tool`` is not run here: :func:`inner_call` turns its params into the params of a direct
  ``tools/call`` of the inner tool, which :class:`~stackmcp.gateway.mcp.McpMethods` then handles
  as any other call (hidden, pins, rate limit, confirmation, budget, run, audit of the inner tool).

Calling a reachable tool by its own name works on a discovery server too: the grant decides
what may run, ``tool_exposure`` only how tools are presented.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.mcp_tools import mcp_tool
from stackmcp.contracts.tools import ToolAnnotations, ToolCallResult, ToolDescriptor
from stackmcp.gateway.catalog import ToolCatalog, policy_key
from stackmcp.gateway.jsonrpc import INVALID_PARAMS, RpcError

__all__ = [
    "CALL_TOOL",
    "DEFAULT_LIMIT",
    "GET_TOOL_SCHEMA",
    "MAX_LIMIT",
    "META_TOOLS",
    "SEARCH_TOOLS",
    "Discovery",
    "SearchIndex",
    "inner_call",
    "meta_tools",
    "not_available",
    "one_line",
    "rank",
    "words",
]

SEARCH_TOOLS = "search_tools"
GET_TOOL_SCHEMA = "get_tool_schema"
CALL_TOOL = "call_tool"
META_TOOLS = (SEARCH_TOOLS, GET_TOOL_SCHEMA, CALL_TOOL)
DEFAULT_LIMIT = 10
"""Results of ``search_tools`` without a ``limit``."""
MAX_LIMIT = 50
ONE_LINE = 120
"""Longest one-line description in ``search_tools`` results."""

_SEARCH = ToolDescriptor(
    name=SEARCH_TOOLS,
    title="Search tools",
    description=(
        "Find this server's Better Stack tools (incidents, on-call, monitors, heartbeats, "
        "status pages) for a task: ranked names with one-line descriptions. Then "
        "get_tool_schema for a tool's arguments and call_tool to run it."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": 'What to do, e.g. "acknowledge incident" or "who is on call"',
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
        },
        "required": ["query"],
    },
    annotations=ToolAnnotations(readOnlyHint=True),
    method="search",
    method_class="read",
)
_SCHEMA = ToolDescriptor(
    name=GET_TOOL_SCHEMA,
    title="Get tool schema",
    description=(
        "The full definition of one tool of this server (input schema, annotations), to "
        "call it with call_tool."
    ),
    input_schema={
        "type": "object",
        "properties": {"name": {"type": "string", "description": "A name search_tools returned"}},
        "required": ["name"],
    },
    annotations=ToolAnnotations(readOnlyHint=True),
    method="get",
    method_class="read",
)
_CALL_DESCRIPTION = (
    "Run one tool of this server, exactly as if it were called directly: the same checks, "
    "confirmations, budgets and result. Give the arguments its get_tool_schema shows."
)
_CALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The tool's name"},
        "arguments": {"type": "object", "description": "The tool's arguments"},
    },
    "required": ["name"],
}


def meta_tools(tools: Sequence[ToolDescriptor]) -> tuple[ToolDescriptor, ...]:
    """The three meta-tools of a discovery server reaching ``tools``.

    ``call_tool`` is read-only when every reachable tool is, and destructive-hinted when any
    reachable tool is: a client's approval prompt (claude.ai asks before destructive tools)
    must not treat it as safer than the most dangerous tool it can run.
    """
    writes = [t for t in tools if t.method_class == "write"]
    if writes:
        destructive = any(t.annotations.destructiveHint is not False for t in writes)
        annotations = ToolAnnotations(readOnlyHint=False, destructiveHint=destructive)
    else:
        annotations = ToolAnnotations(readOnlyHint=True)
    call = ToolDescriptor(
        name=CALL_TOOL,
        title="Call tool",
        description=_CALL_DESCRIPTION,
        input_schema=_CALL_SCHEMA,
        annotations=annotations,
        method="call",
        method_class="write" if writes else "read",
    )
    return (_SEARCH, _SCHEMA, call)


def not_available(name: str) -> str:
    """What a discovery server answers for a tool it does not reach (hidden or unknown alike)."""
    return f"{name[:100]} is not available on this server — search_tools shows what is"


def one_line(description: str) -> str:
    """The first sentence of ``description``, at most :data:`ONE_LINE` characters."""
    text = " ".join(description.split())
    found = re.search(r"(?<=[.!?])\s", text)
    if found:
        text = text[: found.start()]
    if len(text) <= ONE_LINE:
        return text
    cut = text[: ONE_LINE - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


# --------------------------------------------------------------------------- ranking

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do for from how i in is it its me my of on or the this "
        "to what which who with",
    )
)
_SYNONYMS = {
    "ack": "acknowledge",
    "close": "resolve",
    "fix": "resolve",
    "paging": "escalate",
    "pager": "escalate",
    "oncall": "call",
    "alert": "incident",
    "outage": "incident",
    "uptime": "monitor",
    "mute": "pause",
    "silence": "pause",
    "note": "comment",
    "statuspage": "status",
    "summary": "brief",
    "summarize": "brief",
    "handover": "brief",
    "handoff": "brief",
}
"""Everyday words for what the catalogue names otherwise: a query word also counts as its
synonym (whichever scores more)."""
_FIELDS = (("name", 3.0), ("tags", 2.0), ("title", 2.0), ("description", 1.0))
"""Where a word is found, and what finding it there is worth."""
PREFIX_WEIGHT = 0.5
"""A word found only as the start of a longer one (``ack`` in ``acknowledge``)."""


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The normalised words of ``text``: lower case, letters and digits, plurals singular,
    without the commonest English words."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass(frozen=True)
class _Entry:
    tool: ToolDescriptor
    fields: tuple[frozenset[str], ...]
    """The words of each of :data:`_FIELDS`, in that order."""


class SearchIndex:
    """The words of a set of tools and how rare each is among them."""

    def __init__(self, tools: Sequence[ToolDescriptor]) -> None:
        self._entries = [
            _Entry(
                tool,
                (
                    frozenset(words(tool.name)),
                    frozenset(words(" ".join(tool.tags))),
                    frozenset(words(tool.title)),
                    frozenset(words(tool.description)),
                ),
            )
            for tool in tools
        ]
        counts: dict[str, int] = {}
        for entry in self._entries:
            for word in frozenset().union(*entry.fields):
                counts[word] = counts.get(word, 0) + 1
        total = len(self._entries)
        self._idf = {w: math.log((total + 1) / n) for w, n in counts.items()}
        self._vocabulary = tuple(sorted(counts))

    def __len__(self) -> int:
        return len(self._entries)

    def rank(self, query: str) -> list[tuple[ToolDescriptor, float]]:
        """Tools matching ``query``, best first (ties in catalogue order); an empty query
        (no word left once common words are dropped) matches every tool, in catalogue order."""
        terms = list(dict.fromkeys(words(query)))
        if not terms:
            return [(entry.tool, 0.0) for entry in self._entries]
        scored: list[tuple[float, int, ToolDescriptor]] = []
        for index, entry in enumerate(self._entries):
            score, matched = 0.0, 0
            for term in terms:
                best = self._term_score(term, entry)
                if term in _SYNONYMS:
                    best = max(best, self._term_score(_SYNONYMS[term], entry))
                if best > 0:
                    score += best
                    matched += 1
            if score > 0:
                # Tools matching every word of the query come first.
                score *= 0.5 + 0.5 * matched / len(terms)
                scored.append((-score, index, entry.tool))
        scored.sort(key=lambda item: (item[0], item[1]))
        return [(tool, round(-negative, 4)) for negative, _, tool in scored]

    def _term_score(self, term: str, entry: _Entry) -> float:
        best = 0.0
        for (_, weight), field in zip(_FIELDS, entry.fields, strict=True):
            if term in field:
                best = max(best, weight * self._idf.get(term, 0.0))
            elif len(term) >= 3:
                for word in field:
                    if _prefixed(term, word):
                        best = max(best, weight * PREFIX_WEIGHT * self._idf.get(word, 0.0))
        return best


def _prefixed(term: str, word: str) -> bool:
    """``term`` starts ``word`` (``ack``, ``acknowledge``) or ``word`` starts ``term``
    (``acknowledged``, ``acknowledge``), the shorter of the two being a real word."""
    if len(word) > len(term):
        return word.startswith(term)
    return len(word) >= 4 and term.startswith(word)


def rank(tools: Sequence[ToolDescriptor], query: str) -> list[ToolDescriptor]:
    """``tools`` matching ``query``, best first (see :class:`SearchIndex`)."""
    return [tool for tool, _ in SearchIndex(tools).rank(query)]


# --------------------------------------------------------------------------- the meta-tools


def inner_call(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``tools/call`` params of the tool a ``call_tool`` call names: its ``name`` and
    ``arguments``, every other param (``_meta``, 2026-07-28 ``inputResponses`` and
    ``requestState``) kept, so the inner call is handled exactly as a direct one.

    ``arguments`` given as a JSON text of an object (a frequent slip of models for a nested
    object) is read as that object.

    Raises:
        RpcError: ``-32602`` when ``call_tool``'s own arguments name no tool.
    """
    outer = params.get("arguments")
    outer = outer if isinstance(outer, dict) else {}
    name = outer.get("name")
    if not isinstance(name, str) or not name:
        raise RpcError(
            INVALID_PARAMS,
            "Invalid params: call_tool needs name, a tool name search_tools returned, and "
            "arguments, an object",
        )
    arguments = outer.get("arguments")
    if isinstance(arguments, str):
        try:
            decoded = msgspec.json.decode(arguments)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, dict):
            arguments = decoded
    return {**params, "name": name, "arguments": arguments}


def _result(structured: dict[str, Any]) -> ToolCallResult:
    return ToolCallResult(structured=msgspec.Raw(msgspec.json.encode(structured)))


def _error(text: str) -> ToolCallResult:
    return ToolCallResult(text=text, is_error=True)


class Discovery:
    """The meta-tools of discovery servers, over one catalogue.

    The ``tools/list`` bytes and the search index are built once per catalogue version and
    grant policy (:func:`~stackmcp.gateway.catalog.policy_key`), as the catalogue's own pages.
    """

    def __init__(self, catalog: ToolCatalog) -> None:
        self._catalog = catalog
        self._version = ""
        self._meta: dict[Hashable, tuple[ToolDescriptor, ...]] = {}
        self._indexes: dict[Hashable, SearchIndex] = {}
        self._pages: dict[tuple[Hashable, bool], bytes] = {}

    def _fresh(self) -> None:
        if self._version != self._catalog.version:
            self._meta.clear()
            self._indexes.clear()
            self._pages.clear()
            self._version = self._catalog.version

    def tools(self, grant: Grant) -> tuple[ToolDescriptor, ...]:
        """The meta-tools ``grant``'s ``tools/list`` shows."""
        self._fresh()
        key = policy_key(grant)
        found = self._meta.get(key)
        if found is None:
            found = meta_tools(tuple(self._catalog.view(grant).tools.values()))
            self._meta[key] = found
        return found

    def list_page(
        self, grant: Grant, cursor: object, *, modern: bool, server_meta: dict[str, Any]
    ) -> bytes:
        """The encoded ``tools/list`` result (one page: three tools).

        Raises:
            RpcError: ``-32602`` for any cursor (this list has no second page).
        """
        if cursor is not None:
            raise RpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
        self._fresh()
        key = (policy_key(grant), modern)
        cached = self._pages.get(key)
        if cached is not None:
            return cached
        result: dict[str, Any] = {"tools": [mcp_tool(t) for t in self.tools(grant)]}
        if modern:
            result.update(
                resultType="complete", ttlMs=60_000, cacheScope="private", _meta=server_meta
            )
        encoded = msgspec.json.encode(result)
        self._pages[key] = encoded
        return encoded

    def _index(self, grant: Grant) -> SearchIndex:
        self._fresh()
        key = policy_key(grant)
        index = self._indexes.get(key)
        if index is None:
            index = SearchIndex(tuple(self._catalog.view(grant).tools.values()))
            self._indexes[key] = index
        return index

    def answer(self, name: str, arguments: object, grant: Grant) -> ToolCallResult:
        """The result of ``search_tools`` or ``get_tool_schema`` (``name``) for ``grant``."""
        args = arguments if isinstance(arguments, dict) else {}
        if name == SEARCH_TOOLS:
            return self.search(grant, args.get("query"), args.get("limit"))
        return self.schema(grant, args.get("name"))

    def search(self, grant: Grant, query: object, limit: object = None) -> ToolCallResult:
        """``search_tools``: up to ``limit`` tools for ``query``, best first (a ``limit`` above
        :data:`MAX_LIMIT` gives that many)."""
        if not isinstance(query, str):
            return _error('search_tools needs query, a few words such as "open incidents"')
        if limit is None:
            limit = DEFAULT_LIMIT
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            return _error(f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = min(limit, MAX_LIMIT)
        index = self._index(grant)
        ranked = index.rank(query)
        found = [{"name": t.name, "description": one_line(t.description)} for t, _ in ranked]
        structured: dict[str, Any] = {"result": found[:limit]}
        if len(found) > limit:
            structured["more"] = len(found) - limit
        if not found:
            structured["hint"] = (
                f"No tool of this server matches; try other words, or an empty query for all "
                f"{len(index)} of its tools."
            )
        return _result(structured)

    def schema(self, grant: Grant, name: object) -> ToolCallResult:
        """``get_tool_schema``: the tool as a direct ``tools/list`` shows it for ``grant``."""
        if not isinstance(name, str) or not name:
            return _error("get_tool_schema needs name, a tool name search_tools returned")
        tool = self._catalog.find(name, grant)
        if tool is None:
            return _error(not_available(name))
        return _result(mcp_tool(tool))
