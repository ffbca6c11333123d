"""The admin token: set up once, stored only as a hash, checked on every admin request.

Either the operator configures it (``STACKMCP_ADMIN_TOKEN`` / ``STACKMCP_ADMIN_TOKEN_FILE``),
and its hash replaces whatever was stored, or the first replica to start without one generates
it, stores its hash, and prints it once. Later starts find the hash and print nothing.
"""

from __future__ import annotations

import hmac

from stackmcp.contracts.tokens import ADMIN_TOKEN_PREFIX, hash_token, new_token
from stackmcp.provisioning.store import Store
from stackmcp.runtime.config import ConfigError
from stackmcp.runtime.errors import Unauthenticated

__all__ = ["MIN_ADMIN_TOKEN_LENGTH", "AdminAuth", "setup_admin_token"]

MIN_ADMIN_TOKEN_LENGTH = 24
"""A configured admin token must be at least this long (generated ones have 52 characters)."""

MISSING = "admin token required: send 'Authorization: Bearer <admin token>'"
WRONG = "the admin token was not accepted"


async def setup_admin_token(store: Store, configured: str | None) -> tuple[str, str | None]:
    """Make sure an admin token hash is stored.

    Returns:
        ``(hash, new_token)``: the hash to check requests against, and the token when this
        call generated it (for printing once), else ``None``.

    Raises:
        ConfigError: the configured token is too short or contains whitespace.
    """
    if configured is not None:
        if len(configured) < MIN_ADMIN_TOKEN_LENGTH or any(c.isspace() for c in configured):
            raise ConfigError(
                f"STACKMCP_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters "
                "without spaces (leave it unset to have one generated)"
            )
        token_hash = hash_token(configured)
        await store.set_admin_token_hash(token_hash, only_if_absent=False)
        return token_hash, None
    token = new_token(ADMIN_TOKEN_PREFIX)
    if await store.set_admin_token_hash(hash_token(token), only_if_absent=True):
        return hash_token(token), token
    stored = await store.admin_token_hash()
    if stored is None:  # removed between the two calls: try once more from scratch
        return await setup_admin_token(store, None)
    return stored, None


class AdminAuth:
    """Checks ``Authorization: Bearer <admin token>`` against the stored hash."""

    def __init__(self, token_hash: str) -> None:
        self._hash = token_hash

    @property
    def token_hash(self) -> str:
        """The hash requests are checked against."""
        return self._hash

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is the admin token (constant-time on the hashes)."""
        return hmac.compare_digest(hash_token(token.strip()), self._hash)

    def check(self, authorization: str | None) -> None:
        """Accept the request or raise.

        Raises:
            Unauthenticated: the header is missing, not a bearer token, or the wrong token.
        """
        parts = (authorization or "").split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise Unauthenticated(MISSING)
        if not self.accepts(parts[1]):
            raise Unauthenticated(WRONG)
