"""The admin commands find the admin token and URL a local ``stackmcp up`` keeps in its data
directory; a token or URL named explicitly wins, and a local token is never sent elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from stackmcp.cli.__main__ import _parser
from stackmcp.cli.admin import run_admin
from stackmcp.cli.localstate import LocalState, local_admin

LOCAL_TOKEN = "smcp_adm_local-token-from-the-data-dir"
LOCAL_URL = "http://127.0.0.1:18081"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory as ``stackmcp up`` leaves it: admin token and admin URL."""
    state = LocalState(tmp_path / ".stackmcp")
    (state.data_dir / "admin_token").write_text(LOCAL_TOKEN + "\n")
    state.save_admin_url(LOCAL_URL)
    return state.data_dir


def _run(argv: list[str], environ: dict[str, str]) -> tuple[int, str, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    err = io.StringIO()
    code = run_admin(
        _parser().parse_args(["accounts", "list", *argv]),
        out=io.StringIO(),
        err=err,
        environ=environ,
        transport=httpx.MockTransport(answer),
    )
    return code, err.getvalue(), seen


def _sent(request: httpx.Request) -> tuple[str, str]:
    return f"{request.url.scheme}://{request.url.netloc.decode()}", request.headers["authorization"]


def test_the_data_directory_gives_token_and_url(data_dir: Path) -> None:
    code, _, seen = _run([], {"STACKMCP_DATA_DIR": str(data_dir)})
    assert code == 0
    assert [_sent(r) for r in seen] == [(LOCAL_URL, f"Bearer {LOCAL_TOKEN}")]


def test_the_default_data_directory_is_dot_stackmcp_here(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(data_dir.parent)
    assert local_admin({}).token == LOCAL_TOKEN
    assert local_admin({}).url == LOCAL_URL


def test_an_explicit_token_wins_over_the_data_directory(data_dir: Path) -> None:
    env = {"STACKMCP_DATA_DIR": str(data_dir), "STACKMCP_ADMIN_TOKEN": "smcp_adm_from-env"}
    code, _, seen = _run([], env)
    assert code == 0
    assert [_sent(r) for r in seen] == [("http://127.0.0.1:8081", "Bearer smcp_adm_from-env")]
    code, _, seen = _run(["--admin-token", "smcp_adm_flag"], env)
    assert [_sent(r)[1] for r in seen] == ["Bearer smcp_adm_flag"]


def test_the_token_file_wins_over_the_data_directory(data_dir: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("smcp_adm_from-file\n")
    env = {"STACKMCP_DATA_DIR": str(data_dir), "STACKMCP_ADMIN_TOKEN_FILE": str(token_file)}
    code, _, seen = _run([], env)
    assert code == 0
    assert [_sent(r)[1] for r in seen] == ["Bearer smcp_adm_from-file"]


def test_the_local_token_goes_to_its_own_url_only(data_dir: Path) -> None:
    """Given the local URL explicitly: used; given another URL: the local token is not sent."""
    env = {"STACKMCP_DATA_DIR": str(data_dir)}
    code, _, seen = _run(["--url", LOCAL_URL + "/"], env)
    assert code == 0
    assert [_sent(r)[1] for r in seen] == [f"Bearer {LOCAL_TOKEN}"]
    code, err, seen = _run(["--url", "https://admin.example.com"], env)
    assert (code, seen) == (2, [])
    assert "no admin token configured" in err
    code, err, seen = _run([], {**env, "STACKMCP_ADMIN_URL": "https://admin.example.com"})
    assert (code, seen) == (2, [])
    assert LOCAL_TOKEN not in err


def test_no_data_directory_is_a_configuration_error_naming_every_way(tmp_path: Path) -> None:
    code, err, seen = _run([], {"STACKMCP_DATA_DIR": str(tmp_path / "none")})
    assert (code, seen) == (2, [])
    assert "STACKMCP_ADMIN_TOKEN" in err
    assert "STACKMCP_DATA_DIR" in err
    assert not (tmp_path / "none").exists()


def test_a_url_file_missing_falls_back_to_the_default_url(tmp_path: Path) -> None:
    """A data directory from before the URL was kept: its token, the default URL."""
    data = tmp_path / "old"
    data.mkdir()
    (data / "admin_token").write_text(LOCAL_TOKEN)
    code, _, seen = _run([], {"STACKMCP_DATA_DIR": str(data)})
    assert code == 0
    assert [_sent(r) for r in seen] == [("http://127.0.0.1:8081", f"Bearer {LOCAL_TOKEN}")]
