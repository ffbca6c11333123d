"""stackmcp.gateway."""
