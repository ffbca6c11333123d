"""The OAuth 2.1 authorization server for MCP servers that require the second factor.

The gateway is both the protected resource and its authorization server (one origin, one
issuer): claude.ai and other clients discover it from the ``WWW-Authenticate`` challenge of a
401 (RFC 9728), register (RFC 7591) or present a client metadata document URL (CIMD), send a
person to the consent page, where the API token is entered once, and receive an access token
bound to that MCP URL and that API token.

Modules: :mod:`.metadata` (discovery documents), :mod:`.clients` (registration and CIMD),
:mod:`.store` (Redis records and single-use redemption), :mod:`.flow` (the authorization and
token endpoints' rules), :mod:`.consent` (the consent page), :mod:`.guard` (the second factor
of every MCP request), :mod:`.routes` (HTTP), :mod:`.fetch` (the guarded CIMD fetcher).
"""
