"""Hostile input never makes provisioning answer 500: real HTTP against real processes.

Each hostile body, form, slow client and store outage gets a 4xx (or a 503 for the store) with
the service's one error body — ``{"error": {"code", "message", ...}}`` on the API, the plain
error page in the console — and the service goes on serving afterwards.

Most tests use the session's ``provisioning`` process. The store-outage and slow-body tests
start their own process (:func:`lonely`) on a Valkey of its own, under subject and key prefixes
of its own, so stopping that Valkey disturbs nothing else; its body time limit is 1 second.
"""

from __future__ import annotations

import re
import secrets
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from stackmcp.contracts.errors import ErrorCode
from stackmcp.embedded import ValkeyServer, free_port
from stackmcp.runtime.config import RedisConfig
from tests.support.provisioning import Provisioning, running_provisioning
from tests.support.stack import McpStack

pytestmark = pytest.mark.integration

DEEP = 10_000
MAX_DEPTH = 64
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STORE_RETRY_BUDGET = 0.5
"""Seconds the store-outage process retries a Redis command before answering 503."""


# Helpers -----------------------------------------------------------------------------------


def _error(answer: httpx.Response, status: int, code: ErrorCode) -> dict[str, Any]:
    """Assert the API's one error body with ``status`` and ``code``; return ``error``."""
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code.value, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    return error


def _body_error(answer: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """A refusal of the whole body (no ``fields``) whose message has every one of ``words``."""
    code = {408: ErrorCode.DEADLINE_EXCEEDED}.get(status, ErrorCode.INVALID_ARGUMENT)
    error = _error(answer, status, code)
    assert "fields" not in error, error
    for word in words:
        assert word in error["message"], error
    return error


def _field_error(answer: httpx.Response, field: str) -> str:
    """A 422 naming ``field``; its messages joined."""
    error = _error(answer, 422, ErrorCode.INVALID_ARGUMENT)
    assert field in (error.get("fields") or {}), error
    return " | ".join(error["fields"][field])


def _error_page(answer: httpx.Response, status: int) -> str:
    """A console error page (HTML, no internals) with ``status``."""
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    assert "Traceback" not in answer.text
    return answer.text


def _still_serving(client: httpx.Client) -> None:
    """The admin API still answers a request that reads the store."""
    answer = client.get("/integrated-account")
    assert answer.status_code == 200, answer.text[:500]


def _nested(levels: int, inner: bytes = b"1") -> bytes:
    """``levels`` arrays, one inside the other, around ``inner``."""
    return b"[" * levels + inner + b"]" * levels


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``body`` with the field at dotted ``path`` (``config.methods[0]`` for an item) set."""
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node.setdefault(name, {})
    if last.endswith("[0]"):
        node[last[:-3]] = [value]
    else:
        node[last] = value
    return body


# Fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """An admin-authenticated client of the session's provisioning process."""
    with provisioning.client() as client:
        yield client


@pytest.fixture(scope="module")
def routes(provisioning: Provisioning, admin: httpx.Client) -> dict[str, tuple[str, str]]:
    """Each body-taking route (method, path), with a server of its own for ``PATCH``."""
    servers = f"/integrated-account/{provisioning.account_id}/mcp"
    created = admin.post(servers, json={"name": f"hostile-{secrets.token_hex(3)}"})
    assert created.status_code == 201, created.text
    return {
        "account": ("POST", "/integrated-account"),
        "server": ("POST", servers),
        "update": ("PATCH", f"{servers}/{created.json()['id']}"),
        "token": ("POST", "/api-token"),
    }


@contextmanager
def _signed_in(url: str, admin_token: str) -> Iterator[httpx.Client]:
    """A console client signed in through the sign-in form."""
    with httpx.Client(base_url=url, timeout=15) as client:
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": _csrf(form), "admin_token": admin_token, "next_path": ""},
        )
        assert answer.status_code == 303, answer.text[:500]
        yield client


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


@pytest.fixture(scope="module")
def console(provisioning: Provisioning) -> Iterator[tuple[httpx.Client, str]]:
    """A signed-in console client and its session's CSRF token."""
    with _signed_in(provisioning.url, provisioning.admin_token) as client:
        yield client, _csrf(client.get("/console/api-tokens"))


# Hostile JSON bodies -----------------------------------------------------------------------

HOSTILE_BODIES = [
    pytest.param(b'{"name": "\xff\xfe"}', "UTF-8", id="invalid-utf8-in-a-string"),
    pytest.param(b'\xff{"name": "x"}', "UTF-8", id="invalid-utf8-outside-strings"),
    pytest.param(b'{"name": "\xed\xa0\x80"}', "UTF-8", id="utf8-encoded-surrogate"),
    pytest.param(b'{"name": "\xc0\xaf"}', "UTF-8", id="overlong-utf8"),
    pytest.param(b'{"name": "\xe2\x82"}', "UTF-8", id="truncated-utf8-sequence"),
    pytest.param(b'{"name": "\\ud800"}', "surrogate", id="lone-surrogate-escape"),
    pytest.param(_nested(DEEP), "deeper than 64", id="arrays-10000-deep"),
    pytest.param(
        b'{"name": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
        "deeper than 64",
        id="objects-10000-deep-in-a-field",
    ),
    pytest.param(b"[" * DEEP, "deeper than 64", id="unclosed-10000-deep"),
    pytest.param(b'{"name": ' + _nested(MAX_DEPTH) + b"}", "deeper than 64", id="65-levels"),
    pytest.param(b'{"name": "a", "name": "b"}', "'name'", id="repeated-key"),
    pytest.param(b'{"name": "a", "n\\u0061me": "b"}', "'name'", id="repeated-key-by-escape"),
    pytest.param(
        b'{"name": "a", "config": {"methods": ["read"], "methods": ["write"]}}',
        "'methods'",
        id="repeated-nested-key",
    ),
    pytest.param(b'{"name": NaN}', "JSON", id="nan"),
    pytest.param(b'{"name": -Infinity}', "JSON", id="infinity"),
    pytest.param(b'\xef\xbb\xbf{"name": "x"}', "JSON", id="byte-order-mark"),
    pytest.param(b'{"name": "x",', "JSON", id="truncated"),
    pytest.param(b"\x00", "JSON", id="nul-byte"),
    pytest.param(b'[{"name": "x"}]', "object", id="array-not-object"),
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b" \r\n\t ", "empty", id="whitespace-only"),
]


@pytest.mark.parametrize(("content", "word"), HOSTILE_BODIES)
def test_hostile_body_is_400_with_the_reason(
    admin: httpx.Client, routes: dict[str, tuple[str, str]], content: bytes, word: str
) -> None:
    method, path = routes["server"]
    answer = admin.request(method, path, content=content, headers=_json_type())
    _body_error(answer, 400, word)
    _still_serving(admin)


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_nesting_up_to_the_limit_is_decoded_field_by_field(
    admin: httpx.Client, routes: dict[str, tuple[str, str]]
) -> None:
    method, path = routes["server"]
    content = b'{"name": ' + _nested(MAX_DEPTH - 1) + b"}"  # the object is level 1: 64 in all
    assert "str" in _field_error(admin.request(method, path, content=content), "name")


def test_brackets_inside_strings_are_not_nesting(
    admin: httpx.Client, routes: dict[str, tuple[str, str]]
) -> None:
    method, path = routes["server"]
    content = b'{"name": "' + b"[{" * DEEP + b'"}'
    message = _field_error(admin.request(method, path, content=content), "name")
    assert "at most 100 characters" in message


def test_hostile_key_names_are_repeated_printable_and_short(
    admin: httpx.Client, routes: dict[str, tuple[str, str]]
) -> None:
    """A key is named in the answer (and the log), but never raw: control characters escaped,
    at most 64 characters."""
    method, path = routes["server"]
    for key, shown in (("bad\nkey\u0007", "bad\\u000akey\\u0007"), ("k" * 50_000, "k" * 64 + "…")):
        answer = admin.request(method, path, json={"name": "x", key: 1})
        assert "is not a known field" in _field_error(answer, shown)
    answer = admin.request(method, path, content=b'{"a\\nb": 1, "a\\nb": 2}', headers=_json_type())
    _body_error(answer, 400, "'a\\u000ab'")


HUGE_NUMBERS = [
    pytest.param("server", b'{"name": 1e400}', "name", id="1e400-for-a-string"),
    pytest.param("server", b'{"name": -1e400}', "name", id="minus-1e400-for-a-string"),
    pytest.param("server", b'{"name": 1e-400}', "name", id="1e-400-for-a-string"),
    pytest.param("server", b'{"name": 1180591620717411303424}', "name", id="2**70-for-a-string"),
    pytest.param("server", b'{"name": ' + b"9" * 5000 + b"}", "name", id="5000-digits"),
    pytest.param(
        "server",
        b'{"name": "x", "config": {"require_api_token_auth": 1e400}}',
        "config.require_api_token_auth",
        id="1e400-for-a-boolean",
    ),
    pytest.param(
        "account",
        b'{"integration": "betterstack", "name": "x", "betterstack_token": "t", '
        b'"verify": 1180591620717411303424}',
        "verify",
        id="2**70-for-a-boolean",
    ),
    pytest.param(
        "server", b'{"name": "x", "config": {"tags": [1e400]}}', "config.tags[0]", id="in-a-list"
    ),
    pytest.param("update", b'{"expires_at": 1e400}', "expires_at", id="1e400-for-a-time"),
    pytest.param("token", b'{"name": "x", "extra": 1e400}', "extra", id="1e400-unknown-field"),
]


@pytest.mark.parametrize(("route", "content", "field"), HUGE_NUMBERS)
def test_huge_number_is_422_naming_its_field(
    admin: httpx.Client,
    routes: dict[str, tuple[str, str]],
    route: str,
    content: bytes,
    field: str,
) -> None:
    method, path = routes[route]
    _field_error(admin.request(method, path, content=content, headers=_json_type()), field)
    _still_serving(admin)


def test_expiry_too_far_ahead_is_422(
    admin: httpx.Client, routes: dict[str, tuple[str, str]]
) -> None:
    """Year 9999 west of UTC is past the last date Python can hold in UTC."""
    method, path = routes["update"]
    for when in ("9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59+00:00"):
        answer = admin.request(method, path, json={"expires_at": when})
        assert "100 years" in _field_error(answer, "expires_at")
    _still_serving(admin)


# Wrong JSON types for every field kind -----------------------------------------------------

_STRING: list[Any] = [5, 1.5, True, None, [], {}]
_OPTIONAL_STRING: list[Any] = [5, False, ["x"], {"a": "b"}]
_BOOLEAN: list[Any] = ["true", 1, 0, None, [], {}]
_LIST: list[Any] = ["read", 5, None, {"read": True}]
_ITEM: list[Any] = [5, None, ["read"], {}]
_STRUCT: list[Any] = ["read", 5, None, [], True]
_BASES: dict[str, dict[str, Any]] = {
    "account": {"integration": "betterstack", "name": "n", "betterstack_token": "t"},
    "server": {"name": "n"},
    "update": {},
    "token": {},
}
_FIELDS: list[tuple[str, str, list[Any]]] = [
    ("account", "integration", _STRING),
    ("account", "name", _STRING),
    ("account", "betterstack_token", _STRING),
    ("account", "base_url", _STRING),
    ("account", "team_name", _OPTIONAL_STRING),
    ("account", "verify", _BOOLEAN),
    ("server", "name", _STRING),
    ("server", "config", _STRUCT),
    ("server", "expires_at", _OPTIONAL_STRING),
    ("server", "config.methods", _LIST),
    ("server", "config.tags", _LIST),
    ("server", "config.methods[0]", _ITEM),
    ("server", "config.tags[0]", _ITEM),
    ("server", "config.require_api_token_auth", _BOOLEAN),
    ("update", "name", _STRING),
    ("update", "config", _STRUCT),
    ("update", "expires_at", _OPTIONAL_STRING),
    ("update", "config.tags[0]", _ITEM),
    ("token", "name", _STRING),
]
WRONG_TYPES = [
    pytest.param(route, field, value, id=f"{route}-{field}-{type(value).__name__}-{i}")
    for route, field, values in _FIELDS
    for i, value in enumerate(values)
]


@pytest.mark.parametrize(("route", "field", "value"), WRONG_TYPES)
def test_wrong_json_type_is_422_naming_the_field(
    admin: httpx.Client, routes: dict[str, tuple[str, str]], route: str, field: str, value: Any
) -> None:
    method, path = routes[route]
    body = _set(dict(_BASES[route]), field, value)
    _field_error(admin.request(method, path, json=body), field)


# Media types -------------------------------------------------------------------------------


def _token_names(admin: httpx.Client) -> set[str]:
    return {item["name"] for item in admin.get("/api-token").json()["items"]}


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "application/json; charset=latin-1",
    ],
)
def test_a_body_that_is_not_json_by_its_type_is_415(admin: httpx.Client, content_type: str) -> None:
    name = f"typed-{secrets.token_hex(3)}"
    answer = admin.post(
        "/api-token", content=f'{{"name": "{name}"}}', headers={"Content-Type": content_type}
    )
    _body_error(answer, 415, "application/json")
    assert answer.headers["connection"] == "close"  # the body was left unread
    assert name not in _token_names(admin)
    _still_serving(admin)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=UTF-8", "application/merge-patch+json"],
)
def test_json_media_types_are_accepted(admin: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = admin.post("/api-token", content=b'{"name": "typed"}', headers=headers)
    assert answer.status_code == 201, answer.text
    admin.delete(f"/api-token/{answer.json()['id']}")


# Console forms -----------------------------------------------------------------------------

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(b"%FF%FE", id="percent-encoded"),
        pytest.param(b"\xff\xfe", id="raw-bytes"),
        pytest.param(b"%ED%A0%80", id="encoded-surrogate"),
    ],
)
def test_console_form_that_is_not_utf8_is_400(
    console: tuple[httpx.Client, str], name: bytes
) -> None:
    client, csrf = console
    content = b"csrf_token=" + csrf.encode() + b"&name=" + name
    page = _error_page(client.post("/console/api-tokens", content=content, headers=_FORM), 400)
    assert "UTF-8" in page
    assert client.get("/console/accounts").status_code == 200


def test_sign_in_form_that_is_not_utf8_is_400(provisioning: Provisioning) -> None:
    with httpx.Client(base_url=provisioning.url, timeout=15) as client:
        csrf = _csrf(client.get("/console/sign-in"))
        content = f"csrf_token={csrf}&admin_token=%C0%AF".encode()
        _error_page(client.post("/console/sign-in", content=content, headers=_FORM), 400)


def test_console_form_with_a_huge_field_is_refused_on_the_field(
    console: tuple[httpx.Client, str],
) -> None:
    client, csrf = console
    answer = client.post("/console/api-tokens", data={"csrf_token": csrf, "name": "a" * 60_000})
    assert "at most 100 characters" in _error_page(answer, 422)


@pytest.mark.parametrize(
    "offset", ["1" + "0" * 30, "2000", "-99999", "1e400", "9" * 5000, "nan", "٣"]
)
def test_console_time_zone_offset_of_any_size_is_refused_on_the_field(
    provisioning: Provisioning, console: tuple[httpx.Client, str], offset: str
) -> None:
    """``tz_offset`` is the console's one numeric field (minutes, from the page script)."""
    client, csrf = console
    form = {
        "csrf_token": csrf,
        "name": f"tz-{secrets.token_hex(3)}",
        "methods": "read",
        "expiry": "custom",
        "expires_at_local": "2031-01-01T09:00",
        "tz_offset": offset,
    }
    answer = client.post(f"/console/accounts/{provisioning.account_id}/servers", data=form)
    assert answer.status_code in (303, 422), answer.text[:500]
    assert client.get("/console/accounts").status_code == 200


def test_console_form_with_too_many_fields_is_400(console: tuple[httpx.Client, str]) -> None:
    client, csrf = console
    content = f"csrf_token={csrf}&" + "&".join(f"f{i}=1" for i in range(1000))
    page = _error_page(client.post("/console/api-tokens", content=content, headers=_FORM), 400)
    assert "fields" in page


def test_console_form_over_the_size_limit_is_413(console: tuple[httpx.Client, str]) -> None:
    client, csrf = console
    answer = client.post("/console/api-tokens", data={"csrf_token": csrf, "name": "a" * 70_000})
    _error_page(answer, 413)
    assert answer.headers["connection"] == "close"  # the body was left unread


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data"])
def test_console_post_that_is_not_a_form_is_415(
    console: tuple[httpx.Client, str], content_type: str
) -> None:
    client, csrf = console
    content = f'{{"csrf_token": "{csrf}", "name": "x"}}'
    answer = client.post(
        "/console/api-tokens", content=content, headers={"Content-Type": content_type}
    )
    _error_page(answer, 415)
    assert client.get("/console/accounts").status_code == 200


# A provisioning process of its own: slow bodies, the store going away ----------------------


@dataclass
class Lonely:
    """A provisioning process on a Valkey of its own (body time limit: 1 second)."""

    provisioning: Provisioning
    valkey: ValkeyServer
    log: Path


@pytest.fixture(scope="module")
def lonely(mcp_stack: McpStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lonely]:
    """Provisioning on its own Valkey, subjects and keys."""
    root = tmp_path_factory.mktemp("hostile")
    valkey = ValkeyServer(root / "valkey", port=free_port())
    (root / "valkey").mkdir()
    valkey.start()
    prefix = f"hostile{secrets.token_hex(3)}"
    try:
        with running_provisioning(
            mcp_stack,
            root,
            STACKMCP_REDIS_URL=valkey.url,
            STACKMCP_REDIS_KEY_PREFIX=prefix,
            STACKMCP_NATS_SUBJECT_PREFIX=prefix,
            STACKMCP_PROVISIONING_BODY_TIMEOUT="1",
            **_short_store_retries(),
        ) as running:
            port = urlsplit(running.url).port
            yield Lonely(running, valkey, root / f"provisioning-{port}.log")
    finally:
        if valkey.is_running:
            valkey.stop()


def _short_store_retries() -> dict[str, str]:
    """Ride through a store outage for half a second rather than the default ten, where the
    Redis settings offer a retry budget (so each request of the outage test is answered soon)."""
    if "retry_budget" in RedisConfig.__struct_fields__:
        return {"STACKMCP_REDIS_RETRY_BUDGET": str(STORE_RETRY_BUDGET)}
    return {}


@dataclass
class RawAnswer:
    """An HTTP answer read off a socket."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    """From the end of the request head to the first byte of the answer."""


def _trickle(url: str, head: str, body: bytes, *, pace: float, limit: float) -> RawAnswer:
    """Send ``head``, then ``body`` one byte per ``pace`` seconds until an answer comes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=limit) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        sent = 0
        while not select.select([sock], [], [], pace)[0]:
            assert time.monotonic() - started < limit, "no answer while the body trickled in"
            if sent < len(body):
                sock.sendall(body[sent : sent + 1])
                sent += 1
        seconds = time.monotonic() - started
        return _read_answer(sock, seconds)


def _read_answer(sock: socket.socket, seconds: float) -> RawAnswer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65_536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65_536)
        assert chunk, body
        body += chunk
    return RawAnswer(int(status_line.split()[1]), headers, body, seconds)


def _post_head(path: str, content_type: str, length: int, extra: str = "") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: provisioning\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    )


def test_a_body_trickling_in_is_408_after_the_time_limit(lonely: Lonely) -> None:
    url, token = lonely.provisioning.url, lonely.provisioning.admin_token
    body = b'{"name": "' + b"x" * 80 + b'"}'
    head = _post_head(
        "/api-token", "application/json", len(body), f"Authorization: Bearer {token}\r\n"
    )
    answer = _trickle(url, head, body, pace=0.25, limit=10)
    assert answer.status == 408, answer
    assert 0.9 < answer.seconds < 5, answer
    error = httpx.Response(408, headers=answer.headers, content=answer.body)
    _body_error(error, 408, "1 seconds")
    with lonely.provisioning.client() as admin:
        _still_serving(admin)


def test_a_body_that_never_comes_is_408(lonely: Lonely) -> None:
    url, token = lonely.provisioning.url, lonely.provisioning.admin_token
    head = _post_head("/api-token", "application/json", 50, f"Authorization: Bearer {token}\r\n")
    answer = _trickle(url, head, b"", pace=0.25, limit=10)
    assert answer.status == 408, answer
    with lonely.provisioning.client() as admin:
        _still_serving(admin)


def test_a_console_form_trickling_in_is_408(lonely: Lonely) -> None:
    body = b"csrf_token=x&admin_token=" + b"y" * 60
    head = _post_head("/console/sign-in", _FORM["Content-Type"], len(body))
    answer = _trickle(lonely.provisioning.url, head, body, pace=0.25, limit=10)
    assert answer.status == 408, answer
    assert answer.headers["content-type"].startswith("text/html"), answer
    with lonely.provisioning.client() as admin:
        _still_serving(admin)


STORE_ROUTES = [
    ("GET", "/integrated-account", None),
    (
        "POST",
        "/integrated-account",
        {"integration": "betterstack", "name": "n", "betterstack_token": "t"},
    ),
    ("GET", "/integrated-account/{account_id}", None),
    ("DELETE", "/integrated-account/{account_id}", None),
    ("GET", "/integrated-account/{account_id}/mcp", None),
    ("GET", "/api-token", None),
    ("POST", "/api-token", {"name": "n"}),
    ("DELETE", "/api-token/{token_id}", None),
]
"""Routes that read or write the store: (method, path template, body)."""


def test_store_outage_is_503_with_retry_after_logged_once_per_request(lonely: Lonely) -> None:
    running = lonely.provisioning
    with running.client() as admin, _signed_in(running.url, running.admin_token) as browser:
        created = admin.post("/api-token", json={"name": "outage"})
        assert created.status_code == 201, created.text
        ids = {"account_id": running.account_id, "token_id": created.json()["id"]}
        lonely.valkey.stop()
        for method, path, body in STORE_ROUTES:
            answer = admin.request(method, path.format(**ids), json=body)
            error = _error(answer, 503, ErrorCode.UNAVAILABLE)
            assert error["retryable"] is True, error
            assert int(answer.headers["retry-after"]) >= 1, answer.headers
            assert error["retry_after"] == int(answer.headers["retry-after"]), error
            assert answer.elapsed.total_seconds() < 12, (path, answer.elapsed)  # not held
        page = browser.get("/console/accounts")
        _error_page(page, 503)
        assert int(page.headers["retry-after"]) >= 1
        assert admin.get("/readyz").status_code == 503
        _logged_once_each(lonely.log, [(m, p) for m, p, _ in STORE_ROUTES])
        lonely.valkey.start()
        deadline = time.monotonic() + 30
        while admin.get("/integrated-account").status_code != 200:
            assert time.monotonic() < deadline, lonely.log.read_text()[-2000:]
            time.sleep(0.1)
        assert created.json()["id"] in {t["id"] for t in admin.get("/api-token").json()["items"]}


def _logged_once_each(log: Path, routes: list[tuple[str, str]]) -> None:
    """Each route's 503 is logged once, naming the route by its template (not its ids)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in log.read_text().splitlines() if "answered 503" in line]
        if len(lines) > len(routes) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for method, template in routes:
        logged = [line for line in lines if f"{method} {template} answered 503" in line]
        assert len(logged) == 1, (method, template, lines)
