"""The admin web console: server-rendered pages over the same domain as the admin API.

Operators sign in with the admin token and get an HTTP-only, ``SameSite=Strict`` session cookie;
every form carries the session's CSRF token. Pages are Jinja templates rendered by
:mod:`stackmcp.provisioning.console.routes`; the little JavaScript there is (live filter preview,
expiry countdowns, copy buttons) is shipped in ``static/`` and the pages work without it.
"""

from stackmcp.provisioning.console.routes import console_router
from stackmcp.provisioning.console.sessions import ConsoleSessions
from stackmcp.provisioning.console.web import ConsoleState

__all__ = ["ConsoleSessions", "ConsoleState", "console_router"]
