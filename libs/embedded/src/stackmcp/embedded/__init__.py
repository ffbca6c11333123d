"""stackmcp.embedded."""
