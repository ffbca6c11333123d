"""``stackmcp-connect-account``, the Kubernetes bootstrap Job's command, against real provisioning."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

from stackmcp.embedded import free_port
from tests.support.provisioning import Provisioning

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _run(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = shutil.which("stackmcp-connect-account")
    assert command is not None, "the provisioning package installs stackmcp-connect-account"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    return subprocess.run(
        [command],
        check=False,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(provisioning: Provisioning, name: str, **extra: str) -> dict[str, str]:
    return {
        "STACKMCP_ADMIN_URL": provisioning.url,
        "STACKMCP_ADMIN_TOKEN": provisioning.admin_token,
        "STACKMCP_BOOTSTRAP_ACCOUNT_NAME": name,
        "STACKMCP_BOOTSTRAP_BETTERSTACK_TOKEN": provisioning.stack.sandbox.token,
        "STACKMCP_BOOTSTRAP_BASE_URL": provisioning.stack.sandbox.base_url,
        **extra,
    }


def _accounts_named(provisioning: Provisioning, name: str) -> list[dict[str, object]]:
    with provisioning.client() as client:
        items = client.get("/integrated-account").json()["items"]
    return [item for item in items if item["name"] == name]


def test_connects_a_verified_account_once_and_is_idempotent(provisioning: Provisioning) -> None:
    name = f"bootstrap-{secrets.token_hex(3)}"
    first = _run(_env(provisioning, name))
    assert first.returncode == 0, first.stderr
    [account] = _accounts_named(provisioning, name)
    assert f"connected Better Stack account {name!r} as {account['id']}" in first.stdout
    assert account["base_url"] == provisioning.stack.sandbox.base_url

    again = _run(_env(provisioning, name))
    assert again.returncode == 0, again.stderr
    assert "already connected" in again.stdout
    assert len(_accounts_named(provisioning, name)) == 1
    for output in (first.stdout + first.stderr, again.stdout + again.stderr):
        assert provisioning.stack.sandbox.token not in output
        assert provisioning.admin_token not in output


def test_a_token_better_stack_refuses_exits_1_with_the_field_and_saves_nothing(
    provisioning: Provisioning,
) -> None:
    name = f"bootstrap-{secrets.token_hex(3)}"
    wrong = f"wrong-{secrets.token_hex(8)}"
    result = _run(_env(provisioning, name, STACKMCP_BOOTSTRAP_BETTERSTACK_TOKEN=wrong))
    assert result.returncode == 1
    assert "betterstack_token:" in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert _accounts_named(provisioning, name) == []


def test_a_wrong_admin_token_exits_3(provisioning: Provisioning) -> None:
    wrong = f"smcp_adm_{secrets.token_urlsafe(32)}"
    result = _run(_env(provisioning, "x", STACKMCP_ADMIN_TOKEN=wrong))
    assert result.returncode == 3
    assert "admin token was not accepted" in result.stderr
    assert wrong not in result.stderr


def test_unreachable_provisioning_is_retried_until_the_wait_runs_out(
    provisioning: Provisioning,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = _env(provisioning, "x", STACKMCP_ADMIN_URL=nowhere, STACKMCP_BOOTSTRAP_WAIT="3")
    result = _run(env)
    assert result.returncode == 5
    assert "retrying" in result.stderr
    assert "gave up: provisioning unreachable" in result.stderr


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"STACKMCP_BOOTSTRAP_ACCOUNT_NAME": None}, "STACKMCP_BOOTSTRAP_ACCOUNT_NAME"),
        ({"STACKMCP_BOOTSTRAP_VERIFY": "perhaps"}, "STACKMCP_BOOTSTRAP_VERIFY"),
        ({"STACKMCP_BOOTSTRAP_COLOUR": "blue"}, "STACKMCP_BOOTSTRAP_COLOUR"),
        ({"STACKMCP_ADMIN_URL": "provisioning:8081"}, "STACKMCP_ADMIN_URL"),
        ({"STACKMCP_ADMIN_TOKEN": None}, "STACKMCP_ADMIN_TOKEN"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(
    provisioning: Provisioning, override: dict[str, str | None], named: str
) -> None:
    env = _env(provisioning, "x")
    for key, value in override.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    result = _run(env, timeout=15)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
