"""``STACKMCP_EXPIRY_*`` settings."""

from __future__ import annotations

import pytest

from stackmcp.expiry.config import ExpiryConfig
from stackmcp.runtime.config import ConfigError, load_section


def test_defaults() -> None:
    """Without variables: one look a second, batches of 100, 30 s outbox grace."""
    config = load_section(ExpiryConfig, "EXPIRY", {})
    assert (config.max_sleep, config.batch, config.outbox_grace) == (1.0, 100, 30.0)


def test_values_are_read_from_the_environment() -> None:
    """Strings are coerced to the field types."""
    env = {"STACKMCP_EXPIRY_MAX_SLEEP": "0.25", "STACKMCP_EXPIRY_BATCH": "10"}
    config = load_section(ExpiryConfig, "EXPIRY", env)
    assert (config.max_sleep, config.batch) == (0.25, 10)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STACKMCP_EXPIRY_MAX_SLEEP", "0"),
        ("STACKMCP_EXPIRY_BATCH", "0"),
        ("STACKMCP_EXPIRY_OUTBOX_GRACE", "0.5"),
        ("STACKMCP_EXPIRY_BATCH", "many"),
        ("STACKMCP_EXPIRY_MAX_SLEEPS", "1"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """Out-of-range, mistyped and unknown variables fail at start-up, naming the variable."""
    with pytest.raises(ConfigError, match=name):
        load_section(ExpiryConfig, "EXPIRY", {name: value})
