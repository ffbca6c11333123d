"""Structured logging: secrets are masked wherever they appear; trace ids are attached."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from stackmcp.contracts.tokens import API_TOKEN_PREFIX, SERVER_TOKEN_PREFIX, new_token
from stackmcp.runtime.config import LogConfig
from stackmcp.runtime.logging import bind_server, configure_logging, serving_server


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Configure JSON logging into a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(LogConfig(format="json", level="DEBUG"), "test-svc", stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_tokens_and_bearer_values_are_masked_in_message_and_args(json_log: io.StringIO) -> None:
    """A server token in the format string and a Bearer value in the args never reach the log."""
    server_token = new_token(SERVER_TOKEN_PREFIX)
    api_token = new_token(API_TOKEN_PREFIX)
    log = logging.getLogger("stackmcp.test")
    log.info("POST /mcp/" + server_token + " from %s", "client")
    log.warning("upstream headers: %r", {"Authorization": f"Bearer {api_token}"})
    log.info("curl -H 'authorization: bearer abc.DEF-123' redis://:pw@h:6379/0")
    text = json_log.getvalue()
    assert server_token not in text
    assert api_token not in text
    assert "abc.DEF-123" not in text
    assert ":pw@" not in text
    messages = [line["msg"] for line in _lines(json_log)]
    assert messages[0] == "POST /mcp/[REDACTED] from client"
    assert "Bearer [REDACTED]" in messages[1]
    assert "bearer [REDACTED]" in messages[2]


def test_exceptions_are_summarised_masked_and_without_traceback(json_log: io.StringIO) -> None:
    """An exception carrying a token is logged as type and masked message, no stack trace."""
    token = new_token(SERVER_TOKEN_PREFIX)
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        logging.getLogger("stackmcp.test").exception("request failed")
    (line,) = _lines(json_log)
    assert line["exc_summary"] == "ValueError: bad token [REDACTED]"
    assert "Traceback" not in json_log.getvalue()
    assert token not in json_log.getvalue()


def test_records_carry_trace_and_span_ids(json_log: io.StringIO) -> None:
    """Inside a span, each line names the trace and span; outside, no ids are written."""
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("stackmcp.test").info("inside")
    logging.getLogger("stackmcp.test").info("outside")
    inside, outside = _lines(json_log)
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["service"] == "test-svc"
    assert "trace_id" not in outside


async def test_records_carry_the_server_being_served(json_log: io.StringIO) -> None:
    """Inside ``serving_server`` (and tasks started there) lines name the MCP server, with the
    call's trace id; outside and in a concurrent call's task they do not."""
    log = logging.getLogger("stackmcp.test")
    tracer = TracerProvider().get_tracer("test")

    async def call(server_id: str, started: asyncio.Event, go_on: asyncio.Event) -> None:
        with serving_server(server_id), tracer.start_as_current_span("call"):
            started.set()
            await go_on.wait()
            log.warning("upstream failed")

    first_started, second_started, go_on = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(call("srv_first", first_started, go_on))
    second = asyncio.create_task(call("srv_second", second_started, go_on))
    await first_started.wait()
    await second_started.wait()
    go_on.set()
    await asyncio.gather(first, second)
    log.info("idle")
    lines = [line for line in _lines(json_log) if line["logger"] == "stackmcp.test"]
    assert sorted(line["server_id"] for line in lines[:2]) == ["srv_first", "srv_second"]
    assert all(len(line["trace_id"]) == 32 for line in lines[:2])
    assert "server_id" not in lines[2]


def test_text_lines_name_the_server(json_log: io.StringIO) -> None:
    """``bind_server`` (an HTTP request's own task) names the server on later lines, text too."""
    stream = io.StringIO()
    configure_logging(LogConfig(format="text", level="DEBUG"), "test-svc", stream=stream)

    def request() -> None:
        bind_server("srv_text")
        logging.getLogger("stackmcp.test").error("refused")

    contextvars.copy_context().run(request)  # the request's context, not the test's
    logging.getLogger("stackmcp.test").error("later")
    first, second = stream.getvalue().splitlines()
    assert first.endswith("refused server_id=srv_text")
    assert "server_id" not in second


def test_tracebacks_can_be_switched_on_and_are_still_masked() -> None:
    """STACKMCP_LOG_TRACEBACKS keeps the traceback, with secrets masked inside it."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers)
    handler = configure_logging(LogConfig(format="text", tracebacks=True), "svc", stream=stream)
    token = new_token(SERVER_TOKEN_PREFIX)
    try:
        try:
            raise KeyError(token)
        except KeyError:
            logging.getLogger("stackmcp.test").exception("lookup failed")
    finally:
        root.removeHandler(handler)
        for old in saved:
            root.addHandler(old)
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "lookup failed error=KeyError: '[REDACTED]'" in text
    assert token not in text
