"""Encryption at rest for upstream credentials (AES-256-GCM with key rotation).

Ciphertexts look like ``v1.<key id>.<nonce>.<sealed>`` (base64url parts). The key id is derived
from the key, so a keyring of the current key plus retired ones decrypts old records while new
ones are always sealed with the current key. Associated data binds a ciphertext to the record it
belongs to (e.g. the account id): a ciphertext copied into another record does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stackmcp.runtime.config import ConfigError

__all__ = ["CryptoConfig", "DecryptionError", "SecretBox", "new_key"]

_VERSION = "v1"


class CryptoConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Keys for encrypting credentials (section ``CRYPTO``)."""

    key: str = ""
    """Current key: 32 random bytes, base64url; seals Better Stack API tokens at rest
    (AES-256-GCM). Required by the worker and provisioning (``stackmcp up`` keeps one in its data
    directory); ``python -c "from stackmcp.runtime.crypto import new_key; print(new_key())"``
    makes one."""
    old_keys: tuple[str, ...] = ()
    """Retired keys still accepted for decryption during a rotation, comma-separated."""


class DecryptionError(Exception):
    """A ciphertext is malformed, was sealed with an unknown key, or was tampered with."""


def new_key() -> str:
    """Return a fresh random key in the form :class:`CryptoConfig` expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _decode_key(text: str, variable: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{variable} must be 32 bytes, base64url-encoded")
    return raw


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"stackmcp-key-id" + key).hexdigest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Seal and open secrets with the configured keyring.

    Raises:
        ConfigError: on construction, when a key is missing or malformed.
    """

    def __init__(self, config: CryptoConfig) -> None:
        if not config.key:
            raise ConfigError("STACKMCP_CRYPTO_KEY is required (32 bytes, base64url)")
        current = _decode_key(config.key, "STACKMCP_CRYPTO_KEY")
        self._current_id = _key_id(current)
        self._keys = {self._current_id: AESGCM(current)}
        for old in config.old_keys:
            key = _decode_key(old, "STACKMCP_CRYPTO_OLD_KEYS")
            self._keys.setdefault(_key_id(key), AESGCM(key))

    def seal(self, plaintext: str, *, context: str) -> str:
        """Encrypt ``plaintext`` bound to ``context`` (e.g. ``"account:42"``)."""
        nonce = os.urandom(12)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext.encode(), context.encode())
        return ".".join((_VERSION, self._current_id, _b64(nonce), _b64(sealed)))

    def open(self, ciphertext: str, *, context: str) -> str:
        """Decrypt what :meth:`seal` produced with the same ``context``.

        Raises:
            DecryptionError: malformed, unknown key, wrong context or tampered.
        """
        parts = ciphertext.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            raise DecryptionError("not a stackmcp ciphertext")
        aead = self._keys.get(parts[1])
        if aead is None:
            raise DecryptionError("sealed with a key that is not configured")
        try:
            return aead.decrypt(_unb64(parts[2]), _unb64(parts[3]), context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError("ciphertext does not authenticate") from None

    def needs_rotation(self, ciphertext: str) -> bool:
        """Whether ``ciphertext`` was sealed with a retired key."""
        return ciphertext.split(".")[1:2] != [self._current_id]
