"""The stackmcp wire contract: subjects, messages, error codes, token formats.

Depends on msgspec only; every service imports it, it imports no service.
"""

from stackmcp.contracts._base import Event, Message, new_event_id, utcnow
from stackmcp.contracts.accounts import (
    AccountRecord,
    AccountVerifyRequest,
    AccountVerifyResponse,
    credential_context,
)
from stackmcp.contracts.apitokens import ApiTokenRecord
from stackmcp.contracts.audit import AdminChange, AuditEntry, ToolCallCompleted
from stackmcp.contracts.errors import STATUS_BY_CODE, ErrorBody, ErrorCode
from stackmcp.contracts.events import (
    AccountCreated,
    AccountDeleted,
    ApiTokenCreated,
    ApiTokenRevoked,
    LifecycleEvent,
    McpServerCreated,
    McpServerDeleted,
    McpServerExpired,
    McpServerRotated,
    McpServerUpdated,
)
from stackmcp.contracts.filters import FilterProblems, check_filter, filter_tools, tool_matches
from stackmcp.contracts.grants import Grant, grant_key_ttl
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.servers import McpServerRecord
from stackmcp.contracts.status import ServiceStatus, StatusPing
from stackmcp.contracts.subjects import DEFAULT_PREFIX, Subjects
from stackmcp.contracts.tools import (
    CatalogRequest,
    CatalogResponse,
    RateLimitInfo,
    ToolAnnotations,
    ToolCallRequest,
    ToolCallResult,
    ToolDescriptor,
)

__all__ = [
    "DEFAULT_PREFIX",
    "STATUS_BY_CODE",
    "AccountCreated",
    "AccountDeleted",
    "AccountRecord",
    "AccountVerifyRequest",
    "AccountVerifyResponse",
    "AdminChange",
    "ApiTokenCreated",
    "ApiTokenRecord",
    "ApiTokenRevoked",
    "AuditEntry",
    "CatalogRequest",
    "CatalogResponse",
    "ErrorBody",
    "ErrorCode",
    "Event",
    "FilterProblems",
    "Grant",
    "LifecycleEvent",
    "McpServerCreated",
    "McpServerDeleted",
    "McpServerExpired",
    "McpServerRecord",
    "McpServerRotated",
    "McpServerUpdated",
    "Message",
    "RateLimitInfo",
    "RedisKeys",
    "ServiceStatus",
    "StatusPing",
    "Subjects",
    "ToolAnnotations",
    "ToolCallCompleted",
    "ToolCallRequest",
    "ToolCallResult",
    "ToolDescriptor",
    "check_filter",
    "credential_context",
    "filter_tools",
    "grant_key_ttl",
    "new_event_id",
    "tool_matches",
    "utcnow",
]
