"""stackmcp-betterstack-worker: runs better stack tool calls."""

__all__: list[str] = []
