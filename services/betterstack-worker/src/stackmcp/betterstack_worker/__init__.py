"""stackmcp.betterstack_worker."""
