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

    @property
    def account_health(self) -> str:
        """Hash: account id → the last check of its Better Stack token (console health badge)."""
        return f"{self.prefix}:account_health"

    def grant(self, token_hash: str) -> str:
        """The :class:`~stackmcp.contracts.grants.Grant` found by a URL token's hash."""
        return f"{self.prefix}:grant:{token_hash}"

    def mcp_server(self, server_id: str) -> str:
        """Hash of one MCP server: its :class:`~stackmcp.contracts.servers.McpServerRecord` and
        ``expires_at`` in Unix seconds (fields named in :mod:`stackmcp.contracts.servers`)."""
        return f"{self.prefix}:mcp_server:{server_id}"

    def ended_grant(self, token_hash: str) -> str:
        """An :class:`~stackmcp.contracts.servers.EndedGrant`: what a revoked or expired URL
        was, kept for the history retention so refusals can say why (the URL stays dead)."""
        return f"{self.prefix}:ended_grant:{token_hash}"

    def server_usage(self, server_id: str) -> str:
        """Hash of one server's usage counters (layout in :mod:`stackmcp.contracts.usage`)."""
        return f"{self.prefix}:usage:{server_id}"

    def mcp_servers_of_account(self, account_id: str) -> str:
        """Set of the ids of every MCP server of one account."""
        return f"{self.prefix}:account:{account_id}:mcp_servers"

    @property
    def expiry_schedule(self) -> str:
        """Sorted set: MCP server id scored by ``expires_at`` (Unix seconds); kept by expiry."""
        return f"{self.prefix}:expiry:schedule"

    @property
    def expiry_outbox(self) -> str:
        """Hash: server id → encoded ``McpServerExpired`` event purged but not yet published."""
        return f"{self.prefix}:expiry:outbox"

    def expiry_outbox_claim(self, server_id: str) -> str:
        """Set (``NX EX``) by the expiry replica re-publishing the outbox entry of a server."""
        return f"{self.prefix}:expiry:outbox_claim:{server_id}"

    @property
    def scheduled_actions(self) -> str:
        """Sorted set: scheduled action id scored by its due time (Unix seconds)."""
        return f"{self.prefix}:scheduled:due"

    def scheduled_action(self, action_id: str) -> str:
        """A :class:`~stackmcp.contracts.actions.ScheduledAction` waiting to run."""
        return f"{self.prefix}:scheduled:action:{action_id}"

    def scheduled_target(self, account_id: str, target: str) -> str:
        """The id of the action pending for one target of one account (one at a time)."""
        return f"{self.prefix}:scheduled:target:{account_id}:{target}"

    def scheduled_claim(self, action_id: str) -> str:
        """Set (``NX PX``) by the expiry replica running a scheduled action (its lease)."""
        return f"{self.prefix}:scheduled:claim:{action_id}"

    def scheduled_outcome(self, action_id: str) -> str:
        """The :class:`~stackmcp.contracts.actions.ActionOutcome` of a finished action."""
        return f"{self.prefix}:scheduled:outcome:{action_id}"

    @property
    def admin_token(self) -> str:
        """Hash of the provisioning admin token (the token itself is never stored)."""
        return f"{self.prefix}:admin:token_hash"

    def admin_token_record(self, token_hash: str) -> str:
        """A named operator's admin token record, found by the token's hash."""
        return f"{self.prefix}:admin_token:{token_hash}"

    @property
    def admin_token_ids(self) -> str:
        """Hash: admin token id → token hash (to list and revoke by id)."""
        return f"{self.prefix}:admin_token_ids"

    def api_token(self, token_hash: str) -> str:
        """The :class:`~stackmcp.contracts.apitokens.ApiTokenRecord` found by a token's hash."""
        return f"{self.prefix}:api_token:{token_hash}"

    @property
    def api_tokens(self) -> str:
        """Set of the hashes of every API token (for listing)."""
        return f"{self.prefix}:api_tokens"

    @property
    def api_token_ids(self) -> str:
        """Hash: API token id → token hash (to revoke by id)."""
        return f"{self.prefix}:api_token_ids"

    def budget(self, server_id: str, target: str) -> str:
        """Sorted set of the times one budget of a server was spent (a sliding window)."""
        return f"{self.prefix}:budget:{server_id}:{target}"

    def confirm_token(self, token_hash: str) -> str:
        """What a ``confirm_token`` (by hash) was issued for, then ``used`` once redeemed."""
        return f"{self.prefix}:confirm:{token_hash}"

    def session(self, session_id: str) -> str:
        """MCP session state shared by gateway replicas."""
        return f"{self.prefix}:session:{session_id}"

    def server_sessions(self, server_id: str) -> str:
        """Sorted set: the live MCP sessions of one server, scored by last activity."""
        return f"{self.prefix}:server:{server_id}:sessions"

    def call_claim(self, call_id: str) -> str:
        """A write's claim: the worker running it, or ``abandoned`` once the gateway gave up."""
        return f"{self.prefix}:call:{call_id}"

    def rate_window(self, scope: str, owner_id: str, window: int) -> str:
        """Counter of inbound tool calls of one server or account in one fixed window."""
        return f"{self.prefix}:rate:{scope}:{owner_id}:{window}"

    def console_session(self, session_hash: str) -> str:
        """A web console sign-in session, found by the hash of its cookie value."""
        return f"{self.prefix}:console:session:{session_hash}"

    def console_reveal(self, session_hash: str, item_id: str) -> str:
        """A sealed one-time secret (a new server URL or API token) for one console session."""
        return f"{self.prefix}:console:reveal:{session_hash}:{item_id}"

    def oauth_client(self, client_id: str) -> str:
        """A client registered through OAuth dynamic client registration, by its id."""
        return f"{self.prefix}:oauth:client:{client_id}"

    def oauth_request(self, request_hash: str) -> str:
        """A pending OAuth authorization request (the consent form's id, hashed)."""
        return f"{self.prefix}:oauth:request:{request_hash}"

    def oauth_code(self, code_hash: str) -> str:
        """An OAuth authorization code's binding (by hash), then ``used`` once redeemed."""
        return f"{self.prefix}:oauth:code:{code_hash}"

    def oauth_access(self, token_hash: str) -> str:
        """What an OAuth access token (by hash) is bound to."""
        return f"{self.prefix}:oauth:access:{token_hash}"

    def oauth_refresh(self, token_hash: str) -> str:
        """What an OAuth refresh token (by hash) is bound to, then ``used`` once rotated."""
        return f"{self.prefix}:oauth:refresh:{token_hash}"

    def oauth_family(self, family_id: str) -> str:
        """Present while one sign-in's tokens (a refresh-token family) are alive."""
        return f"{self.prefix}:oauth:family:{family_id}"
