"""``stackmcp catalog``: print the Better Stack tool catalogue as a server with a filter lists it.

The catalogue is compiled locally from the worker's API description; no NATS is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

import msgspec

from stackmcp.betterstack_worker.catalog import default_catalog, mcp_tools
from stackmcp.contracts.filters import check_filter, filter_tools, known_methods, known_tags
from stackmcp.contracts.mcp_tools import BYTES_PER_TOKEN, estimate_tokens
from stackmcp.contracts.tools import ToolDescriptor

__all__ = ["add_parser", "parse_terms", "run_catalog"]

_DESCRIPTION_WIDTH = 72


def add_parser(commands: Any) -> None:
    """Register the ``catalog`` subcommand on an argparse sub-parsers object."""
    parser = commands.add_parser(
        "catalog",
        help="print the Better Stack tool catalogue, filtered as an MCP server would list it",
        description="Compile the Better Stack tool catalogue and print the tools a server with "
        "the given method/tag filter would list, with the approximate token cost of that "
        "tools/list payload.",
    )
    parser.add_argument(
        "--methods",
        default="all",
        help="comma-separated: read, write, custom, exact method names (list, acknowledge, ...) "
        "or all (default: all = read,write)",
    )
    parser.add_argument(
        "--tags", default="", help="comma-separated tags; a tool needs at least one (default: any)"
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table for people; json = the MCP tools array (default: table)",
    )


def parse_terms(text: str) -> tuple[str, ...]:
    """Split a comma-separated option into its non-empty, stripped terms."""
    return tuple(term.strip() for term in text.split(",") if term.strip())


def run_catalog(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Print the filtered catalogue; returns 0, 1 (nothing matches) or 2 (unknown terms)."""
    methods = parse_terms(args.methods)
    if "all" in methods:
        methods = (*(m for m in methods if m != "all"), "read", "write")
    tags = parse_terms(args.tags)
    catalogue = default_catalog().tools
    if not methods:
        print("stackmcp catalog: --methods is empty", file=err)
        return 2
    problems = check_filter(catalogue, methods, tags)
    if problems:
        print(f"stackmcp catalog: {problems.message()}", file=err)
        print(_vocabulary(catalogue), file=err)
        return 2
    tools = filter_tools(catalogue, methods, tags)
    if not tools:
        print(
            f"stackmcp catalog: no tool matches methods {','.join(methods)} "
            f"and tags {','.join(tags) or '(any)'}; a server with this filter would be refused",
            file=err,
        )
        return 1
    size, tokens = estimate_tokens(tools)
    cost = (
        f"{len(tools)} of {len(catalogue)} tools; tools/list payload {size} bytes of compact "
        f"JSON ≈ {tokens} tokens (estimated as bytes / {BYTES_PER_TOKEN})"
    )
    if args.format == "json":
        text = msgspec.json.format(msgspec.json.encode(mcp_tools(tools)), indent=2).decode()
        _emit(out, text + "\n")
        print(cost, file=err)
    else:
        _emit(out, f"{_table(tools)}{cost}\n")
    return 0


def _emit(out: TextIO, text: str) -> None:
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        # The reader (e.g. ``head``) stopped early; silence the final flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


def _table(tools: tuple[ToolDescriptor, ...]) -> str:
    rows = [("NAME", "METHOD", "CLASS", "TAGS", "DESCRIPTION")]
    rows += [
        (t.name, t.method, t.method_class, ",".join(t.tags), _first_sentence(t.description))
        for t in tools
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def _first_sentence(text: str) -> str:
    sentence = text.split(". ", 1)[0].rstrip(".") + "."
    if len(sentence) > _DESCRIPTION_WIDTH:
        return sentence[: _DESCRIPTION_WIDTH - 1] + "…"
    return sentence


def _vocabulary(tools: tuple[ToolDescriptor, ...]) -> str:
    methods = ", ".join(["read", "write", "custom", *sorted(known_methods(tools))])
    return f"known methods: {methods}\nknown tags: {', '.join(sorted(known_tags(tools)))}"
