"""stackmcp.expiry."""
