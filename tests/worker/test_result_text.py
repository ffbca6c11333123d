"""Leaner results: the text a model reads is compact JSON without null members; the
``structuredContent`` keeps its shape and every member."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from stackmcp.betterstack_worker.execution.executor import encoded_result, result_text
from tests.support.worker import WorkerHarness
from tests.worker.grant_calls import call, ok


def test_nulls_inside_result_are_left_out_and_the_envelope_stays() -> None:
    structured = {
        "result": [{"id": "1", "cause": None, "data": {"a": None, "b": [None, 1]}}],
        "next_cursor": None,
    }
    text = result_text(structured)
    assert text == '{"result":[{"id":"1","data":{"b":[null,1]}}],"next_cursor":null}'
    assert result_text({"result": None}) == '{"result":null}'


@pytest.mark.integration
async def test_a_tool_result_reads_compact_and_keeps_its_structured_content(
    worker: WorkerHarness,
) -> None:
    result = await call(worker, "list_all_better_stack_incident_timeline", {"incident_id": 7})
    structured = ok(result)
    raw = bytes(result.structured).decode()
    assert ":null" in raw.partition("next_cursor")[0]  # e.g. a comment item's data.title
    assert "\n" not in result.text
    shown = json.loads(result.content_text())
    assert shown == json.loads(result_text(structured))
    assert ":null" not in json.dumps(shown["result"], separators=(",", ":"))
    assert [m["id"] for m in shown["result"]] == [m["id"] for m in structured["result"]]
    assert len(result.text) < len(raw)


@pytest.mark.parametrize(
    "structured",
    [
        {"result": [{"id": "1", "cause": None, "data": {"a": None, "b": [None, 1]}}]},
        {"result": [{"id": "1", "title": "no nulls here"}], "next_cursor": None},
        {"result": [{"id": "1", "title": 'a "null" in text'}], "next_cursor": "c1"},
        {"result": None},
        {"result": {"id": 2, "tags": []}, "notified": ["a@example.com"], "step": {"n": 1}},
        {"next_cursor": None, "result": [{"x": None}]},
        {"result": ["null", None, {"k": None}]},
    ],
)
def test_the_one_pass_encoding_equals_encoding_each_form_whole(structured: dict[str, Any]) -> None:
    text, whole = encoded_result(structured)
    assert (text or whole.decode()) == result_text(structured)
    assert whole == msgspec.json.encode(structured)
    assert (text == "") == (result_text(structured) == whole.decode())  # sent once when equal
