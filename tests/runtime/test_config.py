"""Config loading from STACKMCP_* variables: coercion and errors that name the variable."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from stackmcp.runtime.config import ConfigError, NatsConfig, RedisConfig, load_section


class Example(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    port: int = 8080
    ratio: float = 0.5
    enabled: bool = False
    origins: tuple[str, ...] = ()
    mode: Literal["fast", "safe"] = "safe"
    token_ttl: int = 60
    name: str


def test_values_are_coerced_from_strings() -> None:
    """Numbers, booleans and comma lists are parsed from their string form."""
    env = {
        "STACKMCP_EX_PORT": "9000",
        "STACKMCP_EX_RATIO": "0.25",
        "STACKMCP_EX_ENABLED": "true",
        "STACKMCP_EX_ORIGINS": "https://a.example, https://b.example",
        "STACKMCP_EX_NAME": "demo",
        "STACKMCP_OTHER_PORT": "not mine",
    }
    cfg = load_section(Example, "EX", env)
    assert cfg == Example(
        port=9000,
        ratio=0.25,
        enabled=True,
        origins=("https://a.example", "https://b.example"),
        name="demo",
    )


def test_defaults_apply_when_unset() -> None:
    """Sections with defaults load from an empty environment."""
    assert load_section(NatsConfig, "NATS", {}).subject_prefix == "stackmcp"
    assert load_section(RedisConfig, "REDIS", {"STACKMCP_REDIS_URL": "redis://h:1/2"}).url == (
        "redis://h:1/2"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"STACKMCP_EX_PORT": "eighty"},
            "STACKMCP_EX_PORT='eighty' is not valid: expected an integer",
        ),
        (
            {"STACKMCP_EX_ENABLED": "maybe"},
            "STACKMCP_EX_ENABLED='maybe' is not valid: expected a boolean",
        ),
        (
            {"STACKMCP_EX_MODE": "turbo"},
            "STACKMCP_EX_MODE='turbo' is not valid: expected one of 'fast', 'safe'",
        ),
        ({"STACKMCP_EX_PROT": "1"}, "STACKMCP_EX_PROT is not a known setting"),
    ],
)
def test_bad_values_name_the_variable_and_type(env: dict[str, str], expected: str) -> None:
    """The error names the variable, its value and the type it should have."""
    with pytest.raises(ConfigError) as info:
        load_section(Example, "EX", {"STACKMCP_EX_NAME": "x", **env})
    assert str(info.value).startswith(expected)


def test_missing_required_variable_is_named() -> None:
    """A field without default must be set, and the error says which variable."""
    with pytest.raises(ConfigError, match=r"^STACKMCP_EX_NAME is required \(a string\)$"):
        load_section(Example, "EX", {})


def test_secret_values_are_not_echoed() -> None:
    """A bad value of a secret-looking field is not repeated in the error."""
    with pytest.raises(ConfigError) as info:
        load_section(Example, "EX", {"STACKMCP_EX_NAME": "x", "STACKMCP_EX_TOKEN_TTL": "hunter2"})
    assert "hunter2" not in str(info.value)
    assert str(info.value).startswith("STACKMCP_EX_TOKEN_TTL=<redacted> is not valid")
