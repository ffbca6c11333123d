"""The shared method/tag filter, exercised on the real compiled Better Stack catalogue."""

from __future__ import annotations

import msgspec
import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.filters import (
    STANDARD_METHODS,
    FilterProblems,
    check_filter,
    filter_tools,
    known_tags,
    tool_matches,
)
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import expose
from stackmcp.contracts.tools import ToolDescriptor

TOOLS = default_catalog().tools


def _names(tools: tuple[ToolDescriptor, ...]) -> set[str]:
    return {t.name for t in tools}


def test_read_is_exactly_the_read_class_including_custom_reads() -> None:
    read = filter_tools(TOOLS, ["read"])
    assert read
    assert all(t.method_class == "read" for t in read)
    assert _names(read) == {t.name for t in TOOLS if t.method_class == "read"}
    assert {t.method for t in read} >= {"list", "get", "availability"}
    assert "better_stack_incidents_acknowledge" not in _names(read)


def test_write_is_the_complement_of_read() -> None:
    read, write = filter_tools(TOOLS, ["read"]), filter_tools(TOOLS, ["write"])
    assert not _names(read) & _names(write)
    assert _names(read) | _names(write) == _names(TOOLS)
    assert {"better_stack_incidents_resolve", "create_a_better_stack_incident_comment"} <= _names(
        write
    )


def test_custom_is_every_non_standard_method_read_or_write() -> None:
    custom = filter_tools(TOOLS, ["custom"])
    assert _names(custom) == {t.name for t in TOOLS if t.method not in STANDARD_METHODS}
    assert {t.method_class for t in custom} == {"read", "write"}
    assert "better_stack_incidents_escalate" in _names(custom)


@pytest.mark.parametrize("method", ["list", "acknowledge", "delete", "availability"])
def test_exact_method_names_match_only_that_method(method: str) -> None:
    matched = filter_tools(TOOLS, [method])
    assert matched
    assert _names(matched) == {t.name for t in TOOLS if t.method == method}


def test_methods_are_a_union() -> None:
    both = filter_tools(TOOLS, ["acknowledge", "resolve"])
    assert _names(both) == {"better_stack_incidents_acknowledge", "better_stack_incidents_resolve"}


def test_tags_are_any_of() -> None:
    tagged = filter_tools(TOOLS, ["read", "write"], ["incidents", "on_call"])
    assert _names(tagged) == {t.name for t in TOOLS if {"incidents", "on_call"} & set(t.tags)}
    assert {"list_all_better_stack_incidents", "list_all_better_stack_on_call_schedules"} <= _names(
        tagged
    )


def test_methods_and_tags_must_both_match() -> None:
    matched = filter_tools(TOOLS, ["write"], ["incidents"])
    assert matched
    for tool in matched:
        assert tool.method_class == "write"
        assert "incidents" in tool.tags
    assert "list_all_better_stack_incidents" not in _names(matched)
    assert "create_a_better_stack_monitor" not in _names(matched)


def test_method_level_tag_selects_destructive_tools() -> None:
    destructive = filter_tools(TOOLS, ["read", "write"], ["destructive"])
    assert "better_stack_incidents_resolve" in _names(destructive)
    assert {t.name for t in TOOLS if t.method == "delete"} <= _names(destructive)
    assert all(t.annotations.destructiveHint for t in destructive)


def test_empty_methods_match_nothing() -> None:
    assert filter_tools(TOOLS, []) == ()
    assert not tool_matches(TOOLS[0], [], [])


def test_filter_keeps_catalogue_order() -> None:
    matched = filter_tools(TOOLS, ["read"], ["incidents", "monitors"])
    positions = [TOOLS.index(t) for t in matched]
    assert positions == sorted(positions)


def test_check_filter_names_unknown_terms_once_in_order() -> None:
    problems = check_filter(
        TOOLS, ["read", "bogus", "acknowledge", "bogus", "zap"], ["x", "incidents"]
    )
    assert problems == FilterProblems(unknown_methods=("bogus", "zap"), unknown_tags=("x",))
    assert problems
    assert "bogus, zap" in problems.message()
    assert "x" in problems.message()


def test_check_filter_accepts_every_known_term() -> None:
    methods = ["read", "write", "custom", *{t.method for t in TOOLS}]
    problems = check_filter(TOOLS, methods, sorted(known_tags(TOOLS)))
    assert not problems
    assert problems.message() == ""


def test_every_tag_is_spelled_with_underscores() -> None:
    """One naming style: ``on_call`` like ``status_pages`` (no hyphenated tag is left)."""
    assert "on_call" in known_tags(TOOLS)
    assert all("-" not in tag for tag in known_tags(TOOLS))


def test_the_old_on_call_spelling_still_matches_everywhere() -> None:
    """``on-call`` (the tag's name before) is accepted in filters and in stored grants."""
    on_call = filter_tools(TOOLS, ["read"], ["on_call"])
    assert on_call
    assert filter_tools(TOOLS, ["read"], ["on-call"]) == on_call
    assert all(tool_matches(t, ["read"], ["on-call"]) for t in on_call)
    assert not check_filter(TOOLS, ["read"], ["on-call", "incidents"])
    assert check_filter(TOOLS, ["read"], ["on call"]).unknown_tags == ("on call",)


def test_grants_stored_with_the_old_spelling_read_back_canonical() -> None:
    """A grant record written before the rename decodes with ``on_call`` (tags and exclusions),
    so exclusions keep excluding."""
    old = msgspec.json.encode(
        {
            "type": "stackmcp.grant.v1",
            "server_id": "s",
            "account_id": "a",
            "methods": ["read"],
            "tags": ["incidents", "on-call"],
            "exclude_tags": ["on-call"],
        }
    )
    grant = msgspec.json.decode(old, type=Grant)
    assert grant.tags == ("incidents", "on_call")
    assert grant.exclude_tags == ("on_call",)
    exposure = expose(TOOLS, grant)
    assert exposure.tools
    assert not any("on_call" in t.tags for t in exposure.tools)
    assert any("on_call" in t.tags for t in filter_tools(TOOLS, ["read"], grant.tags))
