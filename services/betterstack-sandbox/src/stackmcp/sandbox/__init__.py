"""stackmcp.sandbox: a stateful emulator of the Better Stack Uptime REST API."""

from stackmcp.sandbox.app import app_from_env, create_app
from stackmcp.sandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "app_from_env", "create_app"]
