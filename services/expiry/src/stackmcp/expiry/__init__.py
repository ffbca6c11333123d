"""stackmcp-expiry: purges expired mcp servers."""

__all__: list[str] = []
