"""Every Redis key stackmcp uses, under one configurable prefix."""

from __future__ import annotations

__all__ = ["RedisKeys"]


class RedisKeys:
    """Key names under ``prefix`` (``STACKMCP_REDIS_KEY_PREFIX``)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "stackmcp") -> None:
        if not prefix or any(c in prefix for c in " \r\n*?[]{}"):
            raise ValueError(f"invalid key prefix {prefix!r}")
        self.prefix = prefix

    def account(self, account_id: str) -> str:
        """The :class:`~stackmcp.contracts.accounts.AccountRecord` of one account."""
        return f"{self.prefix}:account:{account_id}"

    @property
    def accounts(self) -> str:
        """Set of every account id."""
        return f"{self.prefix}:accounts"

    def grant(self, token_hash: str) -> str:
        """The :class:`~stackmcp.contracts.grants.Grant` found by a URL token's hash."""
        return f"{self.prefix}:grant:{token_hash}"

    def grants_of_account(self, account_id: str) -> str:
        """Set of the token hashes of every grant (MCP server) of one account."""
        return f"{self.prefix}:account:{account_id}:grants"

    def api_token(self, token_hash: str) -> str:
        """The :class:`~stackmcp.contracts.apitokens.ApiTokenRecord` found by a token's hash."""
        return f"{self.prefix}:api_token:{token_hash}"

    @property
    def api_tokens(self) -> str:
        """Set of the hashes of every API token (for listing)."""
        return f"{self.prefix}:api_tokens"

    def session(self, session_id: str) -> str:
        """MCP session state shared by gateway replicas."""
        return f"{self.prefix}:session:{session_id}"
