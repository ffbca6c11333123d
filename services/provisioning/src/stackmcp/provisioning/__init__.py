"""stackmcp-provisioning: owns accounts, mcp servers and api tokens."""

__all__: list[str] = []
