"""Admin tokens: the bootstrap token and named operators' tokens, checked on every admin request.

The bootstrap token is set up once and stored only as a hash: either the operator configures it
(``STACKMCP_ADMIN_TOKEN`` / ``STACKMCP_ADMIN_TOKEN_FILE``), and its hash replaces whatever was
stored, or the first replica to start without one generates it, stores its hash, and prints it
once. Later starts find the hash and print nothing. It names the operator
:data:`~stackmcp.contracts.audit.OPERATOR_BOOTSTRAP`.

Named admin tokens (:mod:`stackmcp.provisioning.admintokens`) are looked up by hash in Redis on
every request, so a revoked one is refused at once on every replica.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from stackmcp.contracts.audit import OPERATOR_BOOTSTRAP
from stackmcp.contracts.tokens import ADMIN_TOKEN_PREFIX, hash_token, new_token
from stackmcp.provisioning.store import Store
from stackmcp.runtime.config import ConfigError
from stackmcp.runtime.errors import Unauthenticated

__all__ = ["MIN_ADMIN_TOKEN_LENGTH", "AdminAuth", "Operator", "setup_admin_token"]

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


@dataclass(frozen=True, slots=True)
class Operator:
    """Who an accepted admin token stands for."""

    name: str
    """The operator name changes are recorded under."""
    token_id: str | None
    """The named admin token's id; ``None`` for the bootstrap token."""
    token_hash: str


class AdminAuth:
    """Checks ``Authorization: Bearer <admin token>``: the bootstrap token's hash, else a named
    admin token found by hash in Redis.

    Args:
        token_hash: the bootstrap token's hash.
        store: where named admin tokens are looked up (``None``: the bootstrap token only).
    """

    def __init__(self, token_hash: str, store: Store | None = None) -> None:
        self._hash = token_hash
        self._store = store

    @property
    def token_hash(self) -> str:
        """The hash of the bootstrap token."""
        return self._hash

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is the bootstrap admin token (constant-time on the hashes)."""
        return hmac.compare_digest(hash_token(token.strip()), self._hash)

    async def identify(self, token: str) -> Operator | None:
        """The operator ``token`` stands for, or ``None`` when it is no (live) admin token.

        Raises:
            StoreUnavailable: Redis could not be asked about a named token.
        """
        token_hash = hash_token(token.strip())
        if hmac.compare_digest(token_hash, self._hash):
            return Operator(name=OPERATOR_BOOTSTRAP, token_id=None, token_hash=token_hash)
        if self._store is None:
            return None
        record = await self._store.find_admin_token(token_hash)
        if record is None or not hmac.compare_digest(record.token_hash, token_hash):
            return None
        return Operator(name=record.name, token_id=record.id, token_hash=token_hash)

    async def check(self, authorization: str | None) -> str:
        """Accept the request and return its operator's name, or raise.

        Raises:
            Unauthenticated: the header is missing, not a bearer token, or no live admin token.
            StoreUnavailable: Redis could not be asked about a named token.
        """
        parts = (authorization or "").split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise Unauthenticated(MISSING)
        operator = await self.identify(parts[1])
        if operator is None:
            raise Unauthenticated(WRONG)
        return operator.name
