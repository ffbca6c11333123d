"""What provisioning does: accounts, MCP servers, API tokens and named admin tokens, validated,
stored, announced, and recorded in the audit trail.

Transport-free: the HTTP layer (:mod:`stackmcp.provisioning.api`) decodes bodies and turns the
:mod:`stackmcp.runtime.errors` raised here into statuses. Every change takes the ``operator``
making it (the signed-in admin token's name) and publishes one
:class:`~stackmcp.contracts.audit.AdminChange` naming them once it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from msgspec import UNSET
from msgspec.structs import replace

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
    McpServerRotated,
    McpServerUpdated,
)
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import Exposure, expose
from stackmcp.contracts.servers import SERVER_STATUSES, EndedGrant, McpServerRecord
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import (
    ADMIN_TOKEN_PREFIX,
    API_TOKEN_PREFIX,
    SERVER_TOKEN_PREFIX,
    hash_token,
    new_token,
)
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.contracts.usage import Usage, summarize_usage
from stackmcp.provisioning.admintokens import AdminTokenRecord, check_operator_name
from stackmcp.provisioning.bodies import (
    AccountCreate,
    AdminTokenCreate,
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
from stackmcp.provisioning.events import AuditTrail, EventPublisher
from stackmcp.provisioning.ids import (
    ACCOUNT_ID_RE,
    ADMIN_TOKEN_ID_RE,
    API_TOKEN_ID_RE,
    SERVER_ID_RE,
    new_id,
)
from stackmcp.provisioning.serverconfig import apply_config, check_config, config_changes
from stackmcp.provisioning.store import Store
from stackmcp.provisioning.views import server_status
from stackmcp.runtime.config import AuditConfig
from stackmcp.runtime.crypto import SecretBox
from stackmcp.runtime.errors import Conflict, InvalidArgument, NotFound

__all__ = ["STATUS_FILTERS", "MintedServer", "Provisioner", "StatusFilter", "Verifier"]

logger = logging.getLogger(__name__)

Verifier = Callable[[AccountRecord], Awaitable[None]]
"""Checks an account's (sealed) token against the upstream; raises when it is refused."""

SUPPORTED_INTEGRATIONS = ("betterstack",)

StatusFilter = Literal["active", "expired", "revoked", "all"]
STATUS_FILTERS: tuple[str, ...] = (*SERVER_STATUSES, "all")
"""What ``?status=`` of a server listing may ask for."""


@dataclass(frozen=True, slots=True)
class MintedServer:
    """A server just created (or rotated): its record, the URL token shown this once, and
    warnings for the operator (e.g. a name another active server of the account has)."""

    record: McpServerRecord
    token: str
    warnings: tuple[str, ...] = ()


class Provisioner:
    """Accounts, MCP servers, API tokens and named admin tokens.

    Args:
        history_days: days a revoked server stays listed (``STACKMCP_AUDIT_HISTORY_DAYS``).
    """

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
        history_days: float = AuditConfig().history_days,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._events = events
        self._audit = AuditTrail(events, subjects, clock=clock)
        self._subjects = subjects
        self._catalog = catalog
        self._box = box
        self._verify = verify
        self._min_expiry = min_expiry
        self._history_seconds = max(1, round(history_days * 86_400))
        self._clock = clock

    # Accounts ------------------------------------------------------------------------------

    async def create_account(self, body: AccountCreate, *, operator: str) -> AccountRecord:
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
        await self._audit.record(
            operator, "account.created", account_id=account_id, name=name, at=record.created_at
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
        """How many active MCP servers an account has (ended ones kept for history aside)."""
        return await self._store.count_servers(account_id)

    async def delete_account(self, account_id: str, *, operator: str) -> None:
        """Remove an account, revoking every MCP server of it first (their history goes too:
        the ``account.deleted`` audit record is what remains)."""
        account = await self.account(account_id)
        servers = await self._store.delete_account(account_id)
        now = self._clock()
        for server in servers:
            if server.status == "active":
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
        await self._audit.record(
            operator, "account.deleted", account_id=account_id, name=account.name, at=now
        )
        logger.info("account %s removed with %d MCP servers", account_id, len(servers))

    # MCP servers ---------------------------------------------------------------------------

    async def create_server(
        self, account_id: str, body: ServerCreate, *, operator: str
    ) -> MintedServer:
        """Mint an MCP server: a new URL token and its grant."""
        await self.account(account_id)
        now = self._clock()
        errors = FieldErrors()
        name = check_name(errors, "name", body.name)
        expires_at = (
            None
            if body.expires_at is None
            else parse_expires_at(errors, body.expires_at, now, self._min_expiry)
        )
        draft = Grant(
            server_id=new_id("srv"),
            account_id=account_id,
            name=name,
            expires_at=expires_at,
            created_at=now,
        )
        grant = apply_config(errors, body.config, draft)
        await self._check_config(errors, grant)
        errors.raise_if_any()
        warnings = await self._name_warnings(account_id, name, now)
        token = new_token(SERVER_TOKEN_PREFIX)
        record = McpServerRecord(
            grant=grant, token_hash=hash_token(token), updated_at=now, created_by=operator
        )
        await self._store.put_server(record, now, create=True)
        await self._events.publish(
            self._subjects.mcp_server_event("created"),
            McpServerCreated(
                id=new_event_id(), occurred_at=now, grant=grant, token_hash=record.token_hash
            ),
        )
        await self._audit.record(
            operator,
            "mcp_server.created",
            account_id=account_id,
            server_id=grant.server_id,
            name=name,
            at=now,
        )
        logger.info("MCP server %s created for account %s", grant.server_id, account_id)
        return MintedServer(record=record, token=token, warnings=warnings)

    async def _name_warnings(self, account_id: str, name: str, now: datetime) -> tuple[str, ...]:
        """A warning when another active server of the account has this name (letter case
        aside): servers are told apart by id and fingerprint then."""
        wanted = name.casefold()
        for other in await self._store.list_servers(account_id):
            if other.grant.name.casefold() == wanted and server_status(other, now) == "active":
                return (
                    f'another active server of this account is already named "{other.grant.name}"'
                    f" ({other.id}); tell them apart by id and URL fingerprint",
                )
        return ()

    async def server(self, account_id: str, server_id: str) -> McpServerRecord:
        """One server of an account (a revoked or expired one too, during its history).

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

    async def servers(
        self, account_id: str, status: str = "all", *, now: datetime | None = None
    ) -> list[McpServerRecord]:
        """The servers of an account with this status (:func:`server_status`), or all of them.

        Raises:
            InvalidArgument: ``status`` is not one of :data:`STATUS_FILTERS`.
            NotFound: there is no such account.
        """
        if status not in STATUS_FILTERS:
            raise InvalidArgument(
                f"status must be one of {', '.join(STATUS_FILTERS)} (got {status[:40]!r})"
            )
        await self.account(account_id)
        records = await self._store.list_servers(account_id)
        if status == "all":
            return records
        at = now or self._clock()
        return [r for r in records if server_status(r, at) == status]

    async def usage(self, records: list[McpServerRecord]) -> dict[str, Usage]:
        """Last use and the last 24 hours' calls and errors of each server, read in one round
        trip."""
        found = await self._store.server_usage([r.id for r in records])
        now = self._clock().timestamp()
        return {
            r.id: summarize_usage(fields, now) for r, fields in zip(records, found, strict=True)
        }

    async def update_server(
        self, account_id: str, server_id: str, body: ServerUpdate, *, operator: str
    ) -> McpServerRecord:
        """Change a server's name, configuration or expiry; the URL stays the same.

        Raises:
            Conflict: the server was revoked or has expired.
        """
        current = await self.server(account_id, server_id)
        now = self._clock()
        _check_active(current, now)
        grant = current.grant
        errors = FieldErrors()
        name = grant.name if body.name is UNSET else check_name(errors, "name", body.name)
        config = ServerConfigBody() if body.config is UNSET else body.config
        expires_at = grant.expires_at
        if body.expires_at is None:
            expires_at = None
        elif body.expires_at is not UNSET:
            expires_at = parse_expires_at(errors, body.expires_at, now, self._min_expiry)
        draft = replace(grant, name=name, expires_at=expires_at)
        updated = apply_config(errors, config, draft)
        await self._check_config(errors, updated)
        errors.raise_if_any()
        record = replace(current, grant=updated, updated_at=now)
        if not await self._store.put_server(record, now, create=False):
            raise Conflict(
                f"MCP server {server_id!r} was revoked or expired meanwhile; create a new one"
            )
        await self._events.publish(
            self._subjects.mcp_server_event("updated"),
            McpServerUpdated(
                id=new_event_id(), occurred_at=now, grant=updated, token_hash=record.token_hash
            ),
        )
        await self._audit.record(
            operator,
            "mcp_server.updated",
            account_id=account_id,
            server_id=server_id,
            name=name,
            changes=_changes(grant, updated),
            at=now,
        )
        logger.info("MCP server %s updated", server_id)
        return record

    async def rotate_server(
        self, account_id: str, server_id: str, *, operator: str
    ) -> MintedServer:
        """Give a server a new URL token: same id, grant, name and expiry; the old URL is
        refused at once on every gateway replica (its open streams end, OAuth tokens signed in
        through it stop working) and the new one is returned, shown this once.

        Raises:
            Conflict: the server was revoked or has expired, or changed meanwhile.
            NotFound: the account or the server does not exist.
        """
        for _ in range(3):
            current = await self.server(account_id, server_id)
            now = self._clock()
            _check_active(current, now)
            token = new_token(SERVER_TOKEN_PREFIX)
            record = replace(current, token_hash=hash_token(token), updated_at=now)
            if await self._store.rotate_server(current, record, now):
                break
        else:
            raise Conflict(f"MCP server {server_id!r} kept changing; try again")
        await self._events.publish(
            self._subjects.mcp_server_event("rotated"),
            McpServerRotated(
                id=new_event_id(),
                occurred_at=now,
                grant=record.grant,
                token_hash=record.token_hash,
                previous_token_hash=current.token_hash,
            ),
        )
        await self._audit.record(
            operator,
            "mcp_server.rotated",
            account_id=account_id,
            server_id=server_id,
            name=record.grant.name,
            at=now,
        )
        logger.info("MCP server %s got a new URL", server_id)
        return MintedServer(record=record, token=token)

    async def delete_server(self, account_id: str, server_id: str, *, operator: str) -> None:
        """Revoke a server: its URL is refused from now on, on every gateway replica; its
        record stays listed as ``revoked`` for the history retention.

        Raises:
            Conflict: it was already revoked, or expiry purged it (409).
            NotFound: there is no such server.
        """
        for _ in range(3):
            record = await self.server(account_id, server_id)
            if record.status != "active":
                raise Conflict(
                    f"MCP server {server_id!r} was already {record.status} "
                    f"(by {record.ended_by or 'unknown'}); its URL is refused already"
                )
            now = self._clock()
            ended = replace(record, status="revoked", ended_at=now, ended_by=operator)
            grant = EndedGrant(
                server_id=record.id,
                account_id=account_id,
                name=record.grant.name,
                status="revoked",
                ended_at=now,
                ended_by=operator,
            )
            if await self._store.end_server(record, ended, grant, self._history_seconds):
                break
        else:
            raise Conflict(f"MCP server {server_id!r} kept changing; try again")
        await self._announce_deleted(record, now)
        await self._audit.record(
            operator,
            "mcp_server.revoked",
            account_id=account_id,
            server_id=server_id,
            name=record.grant.name,
            at=now,
        )
        logger.info("MCP server %s revoked", server_id)

    async def catalogue(self) -> tuple[ToolDescriptor, ...]:
        """The worker's tool catalogue (what filters choose from).

        Raises:
            Unavailable: no worker answered and no catalogue was fetched before.
        """
        return await self._catalog.tools()

    async def exposure(self, grant: Grant) -> Exposure | None:
        """The tools the grant exposes and those it withholds, with why (the gateway's own
        rule), or ``None`` when no catalogue has been fetched yet."""
        if not self._catalog.loaded:
            return None
        return expose(await self._catalog.tools(), grant)

    async def tool_count(self, grant: Grant) -> int | None:
        """How many tools the grant exposes, or ``None`` when the catalogue is unavailable."""
        exposure = await self.exposure(grant)
        return None if exposure is None else len(exposure.tools)

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

    async def _check_config(self, errors: FieldErrors, grant: Grant) -> None:
        if not grant.methods:  # answered without asking the worker for its catalogue
            check_config(errors, (), grant)
            return
        check_config(errors, await self._catalog.tools(), grant)

    # API tokens ----------------------------------------------------------------------------

    async def create_api_token(
        self, body: ApiTokenCreate, *, operator: str
    ) -> tuple[ApiTokenRecord, str]:
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
        await self._audit.record(
            operator, "api_token.created", target_id=record.id, name=name, at=record.created_at
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

    async def revoke_api_token(self, token_id: str, *, operator: str) -> None:
        """Revoke an API token; gateways stop accepting it at once."""
        record = (
            await self._store.delete_api_token(token_id)
            if API_TOKEN_ID_RE.fullmatch(token_id)
            else None
        )
        if record is None:
            raise NotFound(f"no API token {token_id!r}")
        now = self._clock()
        await self._events.publish(
            self._subjects.api_token_event("revoked"),
            ApiTokenRevoked(
                id=new_event_id(), occurred_at=now, token_hash=record.token_hash, token_id=record.id
            ),
        )
        await self._audit.record(
            operator, "api_token.revoked", target_id=record.id, name=record.name, at=now
        )
        logger.info("API token %s revoked", token_id)

    # Named admin tokens --------------------------------------------------------------------

    async def create_admin_token(
        self, body: AdminTokenCreate, *, operator: str
    ) -> tuple[AdminTokenRecord, str]:
        """Create a named admin token; returns its record and the token, shown this once.

        Raises:
            InvalidArgument: the name is reserved (400) or malformed (422).
            Conflict: an admin token of that name exists.
        """
        name = check_operator_name(body.name)
        token = new_token(ADMIN_TOKEN_PREFIX)
        record = AdminTokenRecord(
            id=new_id("adm"),
            name=name,
            token_hash=hash_token(token),
            created_at=self._clock(),
            created_by=operator,
        )
        if not await self._store.put_admin_token(record):
            raise Conflict(
                f"an admin token named {name!r} exists already; revoke it first or choose "
                "another name"
            )
        await self._audit.record(
            operator, "admin_token.created", target_id=record.id, name=name, at=record.created_at
        )
        logger.info("admin token %s created", record.id)
        return record, token

    async def admin_tokens(self) -> list[AdminTokenRecord]:
        """Every named admin token (never the tokens; the bootstrap token is not listed)."""
        return await self._store.list_admin_tokens()

    async def revoke_admin_token(self, token_id: str, *, operator: str) -> None:
        """Revoke a named admin token: refused at once on every replica, its console sessions
        end.

        Raises:
            NotFound: there is none with this id.
        """
        record = (
            await self._store.delete_admin_token(token_id)
            if ADMIN_TOKEN_ID_RE.fullmatch(token_id)
            else None
        )
        if record is None:
            raise NotFound(f"no admin token {token_id!r}")
        await self._audit.record(
            operator, "admin_token.revoked", target_id=record.id, name=record.name
        )
        logger.info("admin token %s revoked", token_id)


def _check_active(record: McpServerRecord, now: datetime) -> None:
    status = server_status(record, now)
    if status != "active":
        raise Conflict(f"this MCP server was {status}; create a new one")


def _changes(before: Grant, after: Grant) -> dict[str, Any]:
    """The fields an update changed, with their new values."""
    changes: dict[str, Any] = {}
    if before.name != after.name:
        changes["name"] = after.name
    changes.update(config_changes(before, after))
    if before.expires_at != after.expires_at:
        changes["expires_at"] = after.expires_at
    return changes
