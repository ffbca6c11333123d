"""stackmcp.runtime."""
