"""``stackmcp accounts add --verify`` says what happened, in the words of the admin API."""

from __future__ import annotations

import pytest

from stackmcp.embedded import free_port
from tests.cli.test_rotate import Run, run
from tests.support.provisioning import Provisioning

__all__ = ["run"]

pytestmark = pytest.mark.integration


def test_a_base_url_where_nothing_listens_exits_1_saying_better_stack_is_unreachable(
    run: Run, provisioning: Provisioning
) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    argv = ("accounts", "add", "--name", "CLI unreachable", "--token-stdin", "--verify",
            "--base-url", base_url)  # fmt: skip
    code, out, err = run(*argv, stdin=provisioning.stack.sandbox.token)
    assert code == 1, err
    assert f"Better Stack unreachable at {base_url}: connection refused" in err
    assert "worker" not in err
    assert provisioning.stack.sandbox.token not in out + err
