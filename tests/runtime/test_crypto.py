"""Credentials sealed at rest: AES-GCM bound to the record, with key rotation."""

from __future__ import annotations

import pytest

from stackmcp.runtime.config import ConfigError, load_section
from stackmcp.runtime.crypto import CryptoConfig, DecryptionError, SecretBox, new_key


def test_sealed_secret_opens_only_with_the_same_context() -> None:
    """The plaintext is not in the ciphertext, and a copied ciphertext does not open elsewhere."""
    box = SecretBox(CryptoConfig(key=new_key()))
    sealed = box.seal("bs-api-token-123", context="account:1")
    assert "bs-api-token-123" not in sealed
    assert sealed != box.seal("bs-api-token-123", context="account:1")  # fresh nonce
    assert box.open(sealed, context="account:1") == "bs-api-token-123"
    with pytest.raises(DecryptionError):
        box.open(sealed, context="account:2")


def test_tampering_and_foreign_keys_are_detected() -> None:
    """A flipped byte or another installation's key never yields a plaintext."""
    box = SecretBox(CryptoConfig(key=new_key()))
    sealed = box.seal("secret", context="c")
    head, tail = sealed.rsplit(".", 1)
    flipped = head + "." + ("A" if tail[0] != "A" else "B") + tail[1:]
    with pytest.raises(DecryptionError):
        box.open(flipped, context="c")
    with pytest.raises(DecryptionError, match="key that is not configured"):
        SecretBox(CryptoConfig(key=new_key())).open(sealed, context="c")
    with pytest.raises(DecryptionError, match="not a stackmcp ciphertext"):
        box.open("plain text", context="c")


def test_rotation_keeps_old_records_readable() -> None:
    """After rotating, old ciphertexts open via old_keys and are flagged for re-sealing."""
    old, new = new_key(), new_key()
    sealed_before = SecretBox(CryptoConfig(key=old)).seal("t", context="c")
    rotated = SecretBox(
        load_section(
            CryptoConfig, "CRYPTO", {"STACKMCP_CRYPTO_KEY": new, "STACKMCP_CRYPTO_OLD_KEYS": old}
        )
    )
    assert rotated.open(sealed_before, context="c") == "t"
    assert rotated.needs_rotation(sealed_before)
    assert not rotated.needs_rotation(rotated.seal("t", context="c"))


@pytest.mark.parametrize("key", ["", "short", "!!!not-base64!!!"])
def test_missing_or_malformed_key_is_a_config_error(key: str) -> None:
    """A key that is not 32 base64url bytes stops start-up naming the variable."""
    with pytest.raises(ConfigError, match="STACKMCP_CRYPTO_KEY"):
        SecretBox(CryptoConfig(key=key))
