"""stackmcp-gateway: terminates mcp for claude and other clients."""

__all__: list[str] = []
