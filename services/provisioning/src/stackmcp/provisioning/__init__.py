"""stackmcp.provisioning."""
