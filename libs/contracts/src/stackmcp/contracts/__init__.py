"""stackmcp.contracts."""
