"""What provisioning does: accounts, MCP servers and API tokens, validated, stored, announced.

Transport-free: the HTTP layer (:mod:`stackmcp.provisioning.api`) decodes bodies and turns the
:mod:`stackmcp.runtime.errors` raised here into statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from msgspec import UNSET

from stackmcp.contracts._base import new_event_id, utcnow
from stackmcp.contracts.accounts import AccountRecord, credential_context
from stackmcp.contracts.apitokens import ApiTokenRecord
from stackmcp.contracts.events import (
    AccountCreated,
    AccountDeleted,
    ApiTokenCreated,
    ApiTokenRevoked,
    McpServerCreated,
    McpServerDeleted,
    McpServerUpdated,
)
from stackmcp.contracts.filters import check_filter, filter_tools
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.servers import McpServerRecord
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import API_TOKEN_PREFIX, SERVER_TOKEN_PREFIX, hash_token, new_token
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.provisioning.bodies import (
    AccountCreate,
    ApiTokenCreate,
    FieldErrors,
    ServerConfigBody,
    ServerCreate,
    ServerUpdate,
    check_base_url,
    check_betterstack_token,
    check_name,
    parse_expires_at,
)
from stackmcp.provisioning.catalog import CatalogSource
from stackmcp.provisioning.events import EventPublisher
from stackmcp.provisioning.ids import ACCOUNT_ID_RE, API_TOKEN_ID_RE, SERVER_ID_RE, new_id
from stackmcp.provisioning.store import Store
from stackmcp.runtime.crypto import SecretBox
from stackmcp.runtime.errors import Conflict, NotFound

__all__ = ["MintedServer", "Provisioner", "Verifier"]

logger = logging.getLogger(__name__)

Verifier = Callable[[AccountRecord], Awaitable[None]]
"""Checks an account's (sealed) token against the upstream; raises when it is refused."""

SUPPORTED_INTEGRATIONS = ("betterstack",)


@dataclass(frozen=True, slots=True)
class MintedServer:
    """A server just created: its record, and the URL token shown this once."""

    record: McpServerRecord
    token: str


class Provisioner:
    """Accounts, MCP servers and API tokens."""

    def __init__(
        self,
        *,
        store: Store,
        events: EventPublisher,
        subjects: Subjects,
        catalog: CatalogSource,
        box: SecretBox,
        verify: Verifier,
        min_expiry: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._events = events
        self._subjects = subjects
        self._catalog = catalog
        self._box = box
        self._verify = verify
        self._min_expiry = min_expiry
        self._clock = clock

    # Accounts ------------------------------------------------------------------------------

    async def create_account(self, body: AccountCreate) -> AccountRecord:
        """Validate, optionally verify upstream, seal the token, store, announce."""
        errors = FieldErrors()
        if body.integration not in SUPPORTED_INTEGRATIONS:
            errors.add("integration", 'must be "betterstack"')
        name = check_name(errors, "name", body.name)
        token = check_betterstack_token(errors, body.betterstack_token)
        base_url = check_base_url(errors, body.base_url)
        team = None if body.team_name is None else check_name(errors, "team_name", body.team_name)
        errors.raise_if_any()
        account_id = new_id("acc")
        record = AccountRecord(
            id=account_id,
            integration=body.integration,
            name=name,
            base_url=base_url,
            team_name=team or None,
            sealed_token=self._box.seal(token, context=credential_context(account_id)),
            created_at=self._clock(),
        )
        if body.verify:
            await self._verify(record)
        await self._store.put_account(record)
        await self._events.publish(
            self._subjects.account_event("created"),
            AccountCreated(
                id=new_event_id(), occurred_at=record.created_at, account_id=account_id, name=name
            ),
        )
        logger.info("account %s connected", account_id)
        return record

    async def account(self, account_id: str) -> AccountRecord:
        """The account with this id.

        Raises:
            NotFound: there is none.
        """
        record = (
            await self._store.get_account(account_id)
            if ACCOUNT_ID_RE.fullmatch(account_id)
            else None
        )
        if record is None:
            raise NotFound(f"no integrated account {account_id!r}")
        return record

    async def accounts(self) -> list[AccountRecord]:
        """Every account."""
        return await self._store.list_accounts()

    async def server_count(self, account_id: str) -> int:
        """How many MCP servers an account has."""
        return await self._store.count_servers(account_id)

    async def delete_account(self, account_id: str) -> None:
        """Remove an account, revoking every MCP server of it first."""
        await self.account(account_id)
        servers = await self._store.delete_account(account_id)
        now = self._clock()
        for server in servers:
            await self._announce_deleted(server, now)
        await self._events.publish(
            self._subjects.account_event("deleted"),
            AccountDeleted(
                id=new_event_id(),
                occurred_at=now,
                account_id=account_id,
                server_ids=tuple(s.id for s in servers),
            ),
        )
        logger.info("account %s removed with %d MCP servers", account_id, len(servers))

    # MCP servers ---------------------------------------------------------------------------

    async def create_server(self, account_id: str, body: ServerCreate) -> MintedServer:
        """Mint an MCP server: a new URL token and its grant."""
        await self.account(account_id)
        now = self._clock()
        errors = FieldErrors()
        name = check_name(errors, "name", body.name)
        methods, tags, require = _config_values(body.config, ("read",), (), False)
        expires_at = (
            None
            if body.expires_at is None
            else parse_expires_at(errors, body.expires_at, now, self._min_expiry)
        )
        await self._check_filter(errors, methods, tags)
        errors.raise_if_any()
        token = new_token(SERVER_TOKEN_PREFIX)
        grant = Grant(
            server_id=new_id("srv"),
            account_id=account_id,
            name=name,
            methods=methods,
            tags=tags,
            require_api_token_auth=require,
            expires_at=expires_at,
            created_at=now,
        )
        record = McpServerRecord(grant=grant, token_hash=hash_token(token), updated_at=now)
        await self._store.put_server(record, now, create=True)
        await self._events.publish(
            self._subjects.mcp_server_event("created"),
            McpServerCreated(
                id=new_event_id(), occurred_at=now, grant=grant, token_hash=record.token_hash
            ),
        )
        logger.info("MCP server %s created for account %s", grant.server_id, account_id)
        return MintedServer(record=record, token=token)

    async def server(self, account_id: str, server_id: str) -> McpServerRecord:
        """One server of an account.

        Raises:
            NotFound: the account or the server does not exist.
        """
        await self.account(account_id)
        record = (
            await self._store.get_server(account_id, server_id)
            if SERVER_ID_RE.fullmatch(server_id)
            else None
        )
        if record is None:
            raise NotFound(f"no MCP server {server_id!r} in account {account_id!r}")
        return record

    async def servers(self, account_id: str) -> list[McpServerRecord]:
        """Every server of an account."""
        await self.account(account_id)
        return await self._store.list_servers(account_id)

    async def update_server(
        self, account_id: str, server_id: str, body: ServerUpdate
    ) -> McpServerRecord:
        """Change a server's name, filter or expiry; the URL stays the same."""
        current = await self.server(account_id, server_id)
        now = self._clock()
        if current.grant.is_expired(now):
            raise Conflict("this MCP server has expired; create a new one")
        grant = current.grant
        errors = FieldErrors()
        name = grant.name if body.name is UNSET else check_name(errors, "name", body.name)
        config = ServerConfigBody() if body.config is UNSET else body.config
        methods, tags, require = _config_values(
            config, grant.methods, grant.tags, grant.require_api_token_auth
        )
        expires_at = grant.expires_at
        if body.expires_at is None:
            expires_at = None
        elif body.expires_at is not UNSET:
            expires_at = parse_expires_at(errors, body.expires_at, now, self._min_expiry)
        await self._check_filter(errors, methods, tags)
        errors.raise_if_any()
        updated = Grant(
            server_id=grant.server_id,
            account_id=account_id,
            name=name,
            methods=methods,
            tags=tags,
            require_api_token_auth=require,
            expires_at=expires_at,
            created_at=grant.created_at,
        )
        record = McpServerRecord(grant=updated, token_hash=current.token_hash, updated_at=now)
        if not await self._store.put_server(record, now, create=False):
            raise NotFound(f"MCP server {server_id!r} was revoked or expired meanwhile")
        await self._events.publish(
            self._subjects.mcp_server_event("updated"),
            McpServerUpdated(
                id=new_event_id(), occurred_at=now, grant=updated, token_hash=record.token_hash
            ),
        )
        logger.info("MCP server %s updated", server_id)
        return record

    async def delete_server(self, account_id: str, server_id: str) -> None:
        """Revoke a server: its URL is refused from now on, on every gateway replica."""
        record = await self.server(account_id, server_id)
        if not await self._store.delete_server(record):
            raise NotFound(f"no MCP server {server_id!r} in account {account_id!r}")
        await self._announce_deleted(record, self._clock())
        logger.info("MCP server %s revoked", server_id)

    async def catalogue(self) -> tuple[ToolDescriptor, ...]:
        """The worker's tool catalogue (what filters choose from).

        Raises:
            Unavailable: no worker answered and no catalogue was fetched before.
        """
        return await self._catalog.tools()

    async def tool_count(self, grant: Grant) -> int | None:
        """How many tools the grant exposes, or ``None`` when the catalogue is unavailable."""
        if not self._catalog.loaded:
            return None
        tools = await self._catalog.tools()
        return len(filter_tools(tools, grant.methods, grant.tags))

    async def _announce_deleted(self, record: McpServerRecord, now: datetime) -> None:
        await self._events.publish(
            self._subjects.mcp_server_event("deleted"),
            McpServerDeleted(
                id=new_event_id(),
                occurred_at=now,
                server_id=record.id,
                account_id=record.grant.account_id,
                token_hash=record.token_hash,
            ),
        )

    async def _check_filter(
        self, errors: FieldErrors, methods: tuple[str, ...], tags: tuple[str, ...]
    ) -> None:
        if not methods:
            errors.add("config.methods", 'must name at least one method, e.g. ["read"]')
            return
        tools = await self._catalog.tools()
        problems = check_filter(tools, methods, tags)
        if problems.unknown_methods:
            known = "read, write, custom or a method name such as list, get, acknowledge"
            errors.add(
                "config.methods",
                f"unknown methods: {', '.join(problems.unknown_methods)} (use {known})",
            )
        if problems.unknown_tags:
            known_tags = ", ".join(sorted({t for tool in tools for t in tool.tags}))
            errors.add(
                "config.tags",
                f"unknown tags: {', '.join(problems.unknown_tags)} (known: {known_tags})",
            )
        if not problems and not filter_tools(tools, methods, tags):
            errors.add(
                "config",
                f"this filter matches no tool (methods {list(methods)} with tags {list(tags)}); "
                "widen the methods or the tags",
            )

    # API tokens ----------------------------------------------------------------------------

    async def create_api_token(self, body: ApiTokenCreate) -> tuple[ApiTokenRecord, str]:
        """Create an API token; returns its record and the token, shown this once."""
        errors = FieldErrors()
        name = check_name(errors, "name", body.name)
        errors.raise_if_any()
        token = new_token(API_TOKEN_PREFIX)
        record = ApiTokenRecord(
            id=new_id("apt"), name=name, token_hash=hash_token(token), created_at=self._clock()
        )
        await self._store.put_api_token(record)
        await self._events.publish(
            self._subjects.api_token_event("created"),
            ApiTokenCreated(
                id=new_event_id(), occurred_at=record.created_at, token_id=record.id, name=name
            ),
        )
        logger.info("API token %s created", record.id)
        return record, token

    async def api_token(self, token_id: str) -> ApiTokenRecord:
        """One API token record (never the token).

        Raises:
            NotFound: there is none.
        """
        record = (
            await self._store.get_api_token(token_id)
            if API_TOKEN_ID_RE.fullmatch(token_id)
            else None
        )
        if record is None:
            raise NotFound(f"no API token {token_id!r}")
        return record

    async def api_tokens(self) -> list[ApiTokenRecord]:
        """Every API token record (never the tokens)."""
        return await self._store.list_api_tokens()

    async def revoke_api_token(self, token_id: str) -> None:
        """Revoke an API token; gateways stop accepting it at once."""
        record = (
            await self._store.delete_api_token(token_id)
            if API_TOKEN_ID_RE.fullmatch(token_id)
            else None
        )
        if record is None:
            raise NotFound(f"no API token {token_id!r}")
        await self._events.publish(
            self._subjects.api_token_event("revoked"),
            ApiTokenRevoked(
                id=new_event_id(),
                occurred_at=self._clock(),
                token_hash=record.token_hash,
                token_id=record.id,
            ),
        )
        logger.info("API token %s revoked", token_id)


def _config_values(
    config: ServerConfigBody,
    methods: tuple[str, ...],
    tags: tuple[str, ...],
    require: bool,
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """The filter after applying the fields ``config`` sets (trimmed, de-duplicated)."""
    if config.methods is not UNSET:
        methods = tuple(dict.fromkeys(m.strip() for m in config.methods if m.strip()))
    if config.tags is not UNSET:
        tags = tuple(dict.fromkeys(t.strip() for t in config.tags if t.strip()))
    if config.require_api_token_auth is not UNSET:
        require = config.require_api_token_auth
    return methods, tags, require
