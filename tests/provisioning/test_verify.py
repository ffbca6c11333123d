"""Verifying a Better Stack token says what happened: three causes, three different answers.

Through the real admin API, the real worker and the sandbox: a base URL where nothing listens
("Better Stack unreachable at <url>: connection refused", 502), a token the sandbox refuses
("Better Stack refused the token", 422 on ``betterstack_token``), and a provisioning whose NATS
has no worker at all ("no betterstack-worker answered in time", 503). Nothing is saved in any of
the three cases.
"""

from __future__ import annotations

import secrets
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackmcp.betterstack_worker.execution.verify import unreachable_reason
from stackmcp.embedded import free_port
from stackmcp.runtime.errors import Unavailable
from tests.support.provisioning import Provisioning, running_provisioning

pytestmark = pytest.mark.integration


def _body(provisioning: Provisioning, **overrides: Any) -> dict[str, Any]:
    return {
        "integration": "betterstack",
        "name": f"verify-{secrets.token_hex(4)}",
        "betterstack_token": provisioning.stack.sandbox.token,
        "base_url": provisioning.stack.sandbox.base_url,
        "verify": True,
        **overrides,
    }


def _connect(provisioning: Provisioning, body: dict[str, Any]) -> httpx.Response:
    with provisioning.client() as admin:
        answer = admin.post("/integrated-account", json=body)
        names = {item["name"] for item in admin.get("/integrated-account").json()["items"]}
    assert body["name"] not in names, "a failed verify saved the account"
    return answer


def test_a_base_url_where_nothing_listens_is_reported_as_unreachable(
    provisioning: Provisioning,
) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    answer = _connect(provisioning, _body(provisioning, base_url=base_url))
    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert error["code"] == "upstream_error"
    assert error["message"] == f"Better Stack unreachable at {base_url}: connection refused"
    assert "worker" not in error["message"]


def test_a_refused_token_is_reported_as_refused(provisioning: Provisioning) -> None:
    wrong = f"wrong-{secrets.token_hex(12)}"
    answer = _connect(provisioning, _body(provisioning, betterstack_token=wrong))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["message"] == "Better Stack refused the token"
    assert "HTTP 401" in error["fields"]["betterstack_token"][0]
    assert wrong not in answer.text


@pytest.fixture(scope="module")
def without_worker(
    provisioning: Provisioning, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provisioning]:
    """Provisioning on the stack's NATS and Valkey under a subject prefix no worker serves."""
    log_dir: Path = tmp_path_factory.mktemp("no-worker")
    prefix = f"noworker{secrets.token_hex(3)}"
    with running_provisioning(
        provisioning.stack, log_dir, STACKMCP_NATS_SUBJECT_PREFIX=prefix
    ) as running:
        yield running


def test_no_worker_is_reported_as_no_worker(without_worker: Provisioning) -> None:
    answer = _connect(without_worker, _body(without_worker))
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unavailable"
    assert "no betterstack-worker answered in time" in error["message"]
    assert "Better Stack unreachable" not in error["message"]
    assert answer.headers["retry-after"]


def _raised_from(cause: BaseException) -> Unavailable:
    """An :class:`Unavailable` raised ``from None`` while ``cause`` was handled, as the
    upstream client raises it."""
    try:
        try:
            raise cause
        except BaseException:
            raise Unavailable("Better Stack could not be reached; try again shortly") from None
    except Unavailable as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "host name not found"),
        (ssl.SSLError(1, "certificate verify failed"), "TLS handshake failed"),
        (TimeoutError(), "connection timed out"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection reset"),
        (OSError(113, "No route to host"), "No route to host"),
        (RuntimeError("?"), "the connection failed"),
    ],
)
def test_unreachable_reason_names_the_innermost_cause(cause: BaseException, reason: str) -> None:
    assert unreachable_reason(_raised_from(cause)) == reason
