"""The client matrix: real MCP clients against the running product."""
