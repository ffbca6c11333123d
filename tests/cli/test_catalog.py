"""``stackmcp catalog`` run as a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import msgspec

from stackmcp.betterstack_worker.catalog import default_catalog, mcp_tools
from stackmcp.contracts.filters import filter_tools

STACKMCP = Path(sys.executable).with_name("stackmcp")
TOOLS = default_catalog().tools


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STACKMCP), "catalog", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _token_estimate(stderr_or_stdout: str) -> tuple[int, int]:
    match = re.search(r"payload (\d+) bytes .*≈ (\d+) tokens", stderr_or_stdout)
    assert match, stderr_or_stdout
    return int(match[1]), int(match[2])


def test_json_is_the_filtered_mcp_tools_array() -> None:
    done = _run("--methods", "read", "--tags", "incidents", "--format", "json")
    assert done.returncode == 0, done.stderr
    expected = mcp_tools(filter_tools(TOOLS, ["read"], ["incidents"]))
    assert json.loads(done.stdout) == expected
    size, tokens = _token_estimate(done.stderr)
    assert size == len(msgspec.json.encode({"tools": expected}))
    assert tokens == -(-size // 4)


def test_json_defaults_to_every_tool() -> None:
    done = _run("--format", "json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [t["name"] for t in listed] == [t.name for t in TOOLS]
    assert _run("--methods", "all", "--format", "json").stdout == done.stdout


def test_full_catalogue_costs_more_than_a_filtered_one() -> None:
    full = _token_estimate(_run("--format", "json").stderr)[1]
    small = _token_estimate(
        _run("--methods", "read", "--tags", "incidents", "--format", "json").stderr
    )[1]
    assert small * 5 < full


def test_table_lists_names_methods_classes_and_tags() -> None:
    done = _run("--methods", "write", "--tags", "incidents")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "METHOD", "CLASS", "TAGS", "DESCRIPTION"]
    expected = filter_tools(TOOLS, ["write"], ["incidents"])
    rows = [line.split() for line in lines[1 : 1 + len(expected)]]
    assert [row[:3] for row in rows] == [[t.name, t.method, t.method_class] for t in expected]
    assert [row[3] for row in rows] == [",".join(t.tags) for t in expected]
    _token_estimate(lines[-1])


def test_unknown_terms_exit_2_naming_them() -> None:
    done = _run("--methods", "read,frobnicate", "--tags", "incidents,nonsense")
    assert done.returncode == 2
    assert "frobnicate" in done.stderr
    assert "nonsense" in done.stderr
    assert done.stdout == ""


def test_a_filter_matching_nothing_exits_1() -> None:
    done = _run("--methods", "acknowledge", "--tags", "monitors")
    assert done.returncode == 1
    assert "no tool matches" in done.stderr
    assert done.stdout == ""


def test_up_subcommand_is_still_there() -> None:
    done = subprocess.run(
        [str(STACKMCP), "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "up" in done.stdout
    assert "catalog" in done.stdout
