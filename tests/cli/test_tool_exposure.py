"""``stackmcp servers create/update --tool-exposure``: the request it sends and what ``show``
prints (against ``httpx.MockTransport``)."""

from __future__ import annotations

import pytest

from stackmcp.cli.__main__ import main
from tests.cli.test_safe_config import _sent


def test_create_and_update_send_the_exposure() -> None:
    result, body = _sent(
        ["servers", "create", "acc_1", "--name", "n", "--tool-exposure", "discovery"]
    )
    assert result.code == 0, result.err
    assert body["config"] == {"tool_exposure": "discovery"}
    _, body = _sent(["servers", "update", "acc_1", "srv_1", "--tool-exposure", "all"])
    assert body == {"config": {"tool_exposure": "all"}}
    _, body = _sent(["servers", "update", "acc_1", "srv_1", "--confirm", "none"])
    assert "tool_exposure" not in body["config"]


def test_show_prints_it() -> None:
    server = {"id": "srv_1", "config": {"methods": ["read"], "tool_exposure": "discovery"}}
    result, _ = _sent(
        ["servers", "update", "acc_1", "srv_1", "--tool-exposure", "discovery"], server
    )
    assert result.code == 0, result.err
    assert "tool exposure:      discovery" in result.out.splitlines()


def test_an_unknown_exposure_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["servers", "update", "acc_1", "srv_1", "--tool-exposure", "meta"])
    assert exit_info.value.code == 2
    assert "all" in capsys.readouterr().err
