"""stackmcp.sandbox."""
