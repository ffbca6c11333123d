"""Discovery documents: RFC 9728 protected-resource metadata for each MCP URL and RFC 8414
metadata of the one authorization server (the gateway itself)."""

from __future__ import annotations

from typing import Any

from stackmcp.contracts.grants import Grant

__all__ = [
    "AUTHORIZE_PATH",
    "PRM_PREFIX",
    "REGISTER_PATH",
    "TOKEN_PATH",
    "authorization_server",
    "prm_url",
    "protected_resource",
    "resource_of",
    "url_token_of",
]

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path
REGISTER_PATH = "/oauth/register"
PRM_PREFIX = "/.well-known/oauth-protected-resource"
_MCP = "/mcp/"


def resource_of(base: str, url_token: str) -> str:
    """The canonical resource of an MCP server: ``<base>/mcp/<url token>``."""
    return f"{base}{_MCP}{url_token}"


def prm_url(base: str, url_token: str) -> str:
    """Where the MCP server's protected-resource metadata is served."""
    return f"{base}{PRM_PREFIX}{_MCP}{url_token}"


def url_token_of(base: str, resource: str) -> str | None:
    """The URL token named by ``resource`` if it is exactly a canonical MCP URL of ``base``."""
    prefix = base + _MCP
    if not resource.startswith(prefix):
        return None
    token = resource[len(prefix) :]
    if not token or any(c in token for c in "/?#"):
        return None
    return token


def protected_resource(base: str, url_token: str, grant: Grant) -> dict[str, Any]:
    """RFC 9728 metadata of one MCP server (its canonical resource, whatever alias was asked)."""
    return {
        "resource": resource_of(base, url_token),
        "authorization_servers": [base],
        "bearer_methods_supported": ["header"],
        "resource_name": grant.name or grant.server_id,
    }


def authorization_server(base: str) -> dict[str, Any]:
    """RFC 8414 metadata: public clients, PKCE S256, DCR and client metadata documents."""
    return {
        "issuer": base,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "registration_endpoint": base + REGISTER_PATH,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
    }
