"""stackmcp.cli."""
