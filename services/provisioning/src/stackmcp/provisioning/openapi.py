"""The OpenAPI 3.1 document of the admin API, generated from the very Structs the API uses."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from stackmcp.provisioning.bodies import (
    AccountCreate,
    AdminTokenCreate,
    ApiTokenCreate,
    ServerCreate,
    ServerUpdate,
)
from stackmcp.provisioning.logapi import LogView, log_query_parameters
from stackmcp.provisioning.status import StatusView
from stackmcp.provisioning.statusapi import status_query_parameters
from stackmcp.provisioning.views import (
    AccountList,
    AccountView,
    AdminTokenList,
    ApiTokenList,
    CreatedAdminTokenView,
    CreatedApiTokenView,
    CreatedServerView,
    ErrorView,
    ServerList,
    ServerView,
)

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{name}"
_ACCOUNT_ID = {"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SERVER_ID = {"name": "server_id", "in": "path", "required": True, "schema": {"type": "string"}}
_TOKEN_ID = {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}
_STATUS = {
    "name": "status",
    "in": "query",
    "required": False,
    "description": "Only servers of this status (400 for another value)",
    "schema": {"type": "string", "enum": ["active", "expired", "revoked", "all"], "default": "all"},
}


def _ref(struct: type) -> dict[str, str]:
    return {"$ref": _REF.format(name=struct.__name__)}


def _json(struct: type) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(struct)}}}


_BODY_ERRORS = {
    "400": "Invalid body (empty, not UTF-8, not JSON, not an object, too deep, a repeated key)",
    "408": "The body did not arrive in time",
    "413": "The body is too large",
    "415": "The body is not application/json",
    "422": "Invalid fields",
}


def _operation(
    summary: str,
    ok: tuple[int, type | None],
    *,
    body: type | None = None,
    params: tuple[dict[str, Any], ...] = (),
    errors: tuple[int, ...] = (401,),
) -> dict[str, Any]:
    status, answer = ok
    responses: dict[str, Any] = {
        str(status): {"description": "OK", **(_json(answer) if answer else {})}
    }
    for code in (*errors, 503):
        responses[str(code)] = {"description": "Error", **_json(ErrorView)}
    op: dict[str, Any] = {"summary": summary, "responses": responses, "security": [{"admin": []}]}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
        for body_status, description in _BODY_ERRORS.items():
            responses[body_status] = {"description": description, **_json(ErrorView)}
    if params:
        op["parameters"] = list(params)
    return op


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document (built once)."""
    structs = [
        AccountCreate, ServerCreate, ServerUpdate, ApiTokenCreate, AccountView, AccountList,
        ServerView, ServerList, CreatedServerView, CreatedApiTokenView, ApiTokenList, ErrorView,
        AdminTokenCreate, CreatedAdminTokenView, AdminTokenList,
        LogView, StatusView,
    ]  # fmt: skip
    _, components = msgspec.json.schema_components(structs, ref_template=_REF)
    account = (_ACCOUNT_ID,)
    server = (_ACCOUNT_ID, _SERVER_ID)
    return {
        "openapi": "3.1.0",
        "info": {"title": "stackmcp provisioning admin API", "version": "1"},
        "components": {
            "schemas": components,
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/integrated-account": {
                "post": _operation(
                    "Connect a Better Stack account", (201, AccountView), body=AccountCreate,
                    errors=(401, 502),
                ),
                "get": _operation("List integrated accounts", (200, AccountList)),
            },
            "/integrated-account/{account_id}": {
                "get": _operation("Get an account", (200, AccountView), params=account,
                                  errors=(401, 404)),
                "delete": _operation("Remove an account and revoke its MCP servers", (204, None),
                                     params=account, errors=(401, 404)),
            },
            "/integrated-account/{account_id}/mcp": {
                "post": _operation("Mint an MCP server (the URL is shown once)",
                                   (201, CreatedServerView), body=ServerCreate, params=account,
                                   errors=(401, 404)),
                "get": _operation("List an account's MCP servers (revoked and expired ones too, "
                                  "during their history)", (200, ServerList),
                                  params=(*account, _STATUS), errors=(400, 401, 404)),
            },
            "/integrated-account/{account_id}/mcp/{server_id}": {
                "get": _operation("Get an MCP server (a revoked or expired one too, during its "
                                  "history)", (200, ServerView), params=server, errors=(401, 404)),
                "patch": _operation("Change name, configuration or expiry (absent keys stay as "
                                    "they are)", (200, ServerView),
                                    body=ServerUpdate, params=server, errors=(401, 404, 409)),
                "delete": _operation("Revoke an MCP server (409: already revoked or expired)",
                                     (204, None), params=server, errors=(401, 404, 409)),
            },
            "/integrated-account/{account_id}/mcp/{server_id}/rotate": {
                "post": _operation("Give an MCP server a new URL, shown once (same id and "
                                   "configuration; the old URL is refused at once; 409: revoked "
                                   "or expired)", (200, CreatedServerView), params=server,
                                   errors=(401, 404, 409)),
            },
            "/api-token": {
                "post": _operation("Create an API token (shown once)", (201, CreatedApiTokenView),
                                   body=ApiTokenCreate),
                "get": _operation("List API tokens", (200, ApiTokenList)),
            },
            "/api-token/{token_id}": {
                "delete": _operation("Revoke an API token", (204, None), params=(_TOKEN_ID,),
                                     errors=(401, 404)),
            },
            "/admin-token": {
                "post": _operation("Create a named operator's admin token (shown once; 400 for a "
                                   "reserved name, 409 for a name in use)",
                                   (201, CreatedAdminTokenView), body=AdminTokenCreate,
                                   errors=(401, 409)),
                "get": _operation("List named admin tokens", (200, AdminTokenList)),
            },
            "/log": {
                "get": _operation("The audit trail, newest first (with after: the records since "
                                  "then, oldest first)", (200, LogView),
                                  params=tuple(log_query_parameters()), errors=(400, 401)),
            },
            "/status": {
                "get": _operation("What runs (every service that answered within half a second, "
                                  "by service) and the tool calls of the last minutes",
                                  (200, StatusView), params=tuple(status_query_parameters()),
                                  errors=(400, 401)),
            },
            "/admin-token/{token_id}": {
                "delete": _operation("Revoke a named admin token", (204, None),
                                     params=(_TOKEN_ID,), errors=(401, 404)),
            },
        },
    }  # fmt: skip
