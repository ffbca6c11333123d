"""``stackmcp catalog``: print the Better Stack tool catalogue as a server with a filter lists it.

The catalogue is compiled locally from the worker's API description; no NATS is needed. What a
server lists is decided by :func:`~stackmcp.contracts.policy.expose` (the gateway's rule), with
the exclusions and pins checked as provisioning checks them; withheld tools are listed with why.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

import msgspec

from stackmcp.betterstack_worker.catalog import default_catalog, mcp_tools
from stackmcp.contracts.filters import check_filter, known_methods, known_tags
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.mcp_tools import BYTES_PER_TOKEN, estimate_tokens
from stackmcp.contracts.policy import Exposure, expose
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.provisioning.bodies import FieldErrors, ServerConfigBody
from stackmcp.provisioning.serverconfig import apply_config, check_config

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
        "--exclude-tags", default="", help="comma-separated tags whose tools are withheld"
    )
    parser.add_argument(
        "--exclude-tools", default="", help="comma-separated tool names to withhold"
    )
    parser.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="PARAM=V1,V2",
        help="limit an id parameter to these values, e.g. incident_id=7 (repeatable)",
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
    """Print what a server with this configuration lists; returns 0, 1 (it would list nothing)
    or 2 (unknown terms)."""
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
    grant, refused = _grant(args, methods, tags, catalogue)
    if refused:
        print("\n".join(f"stackmcp catalog: {line}" for line in refused), file=err)
        return 2
    exposure = expose(catalogue, grant)
    tools = exposure.tools
    if not tools:
        print(_nothing(methods, tags, exposure), file=err)
        return 1
    size, tokens = estimate_tokens(tools)
    cost = (
        f"{len(tools)} of {len(catalogue)} tools; tools/list payload {size} bytes of compact "
        f"JSON ≈ {tokens} tokens (estimated as bytes / {BYTES_PER_TOKEN})"
    )
    withheld = _withheld(exposure)
    if args.format == "json":
        text = msgspec.json.format(msgspec.json.encode(mcp_tools(tools)), indent=2).decode()
        _emit(out, text + "\n")
        print(withheld + cost, file=err)
    else:
        _emit(out, f"{_table(tools)}{withheld}{cost}\n")
    return 0


def _grant(
    args: argparse.Namespace,
    methods: tuple[str, ...],
    tags: tuple[str, ...],
    catalogue: tuple[ToolDescriptor, ...],
) -> tuple[Grant, list[str]]:
    """The grant a server with these options would have, checked as provisioning checks it."""
    pins: dict[str, list[str | int]] = {}
    refused: list[str] = []
    for text in args.pin:
        param, equals, values = (part.strip() for part in text.partition("="))
        if not equals or not param:
            refused.append(f"--pin {text!r} is not PARAM=V1,V2 (e.g. incident_id=7)")
        pins[param] = [*parse_terms(values)]
    config = ServerConfigBody(
        methods=list(methods),
        tags=list(tags),
        exclude_tags=list(parse_terms(args.exclude_tags)),
        exclude_tools=list(parse_terms(args.exclude_tools)),
        pin=pins,
    )
    errors = FieldErrors()
    grant = apply_config(errors, config, Grant(server_id="catalog", account_id="catalog"))
    check_config(errors, catalogue, grant)
    refused += [
        f"{_OPTION_OF.get(field.split('.')[1], field)} {field.split('.', 2)[-1]}: {message}"
        if field.startswith("config.pin.")
        else f"{_OPTION_OF.get(field.removeprefix('config.'), field)}: {message}"
        for field, messages in errors.fields.items()
        if field != "config"
        for message in messages
    ]
    return grant, refused


_OPTION_OF = {"exclude_tags": "--exclude-tags", "exclude_tools": "--exclude-tools", "pin": "--pin"}


def _nothing(methods: tuple[str, ...], tags: tuple[str, ...], exposure: Exposure) -> str:
    what = f"methods {','.join(methods)} and tags {','.join(tags) or '(any)'}"
    if not exposure.withheld:
        return (
            f"stackmcp catalog: no tool matches {what}; a server with this filter would be refused"
        )
    return (
        f"stackmcp catalog: every tool matching {what} is withheld; a server with this "
        f"configuration would be refused\n{_withheld(exposure)}"
    ).rstrip("\n")


def _withheld(exposure: Exposure) -> str:
    """The withheld tools with why, one a line (nothing when none is withheld)."""
    if not exposure.withheld:
        return ""
    width = max(len(name) for name in exposure.withheld)
    lines = [f"  {name.ljust(width)}  {why}" for name, why in exposure.withheld.items()]
    return f"withheld ({len(lines)}):\n" + "\n".join(lines) + "\n"


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
