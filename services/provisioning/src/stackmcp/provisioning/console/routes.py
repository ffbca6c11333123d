"""The console's routes under ``/console``: every page handler, the static files, the error pages.

Handlers live in :mod:`.signin`, :mod:`.accounts`, :mod:`.servers`, :mod:`.activity` and
:mod:`.apitokens`; each reads the session,
checks a posted form's CSRF token, calls the same
:class:`~stackmcp.provisioning.provisioner.Provisioner` the JSON API calls, and renders a page or
redirects (post/redirect/get, so a reload never posts twice).
"""

from __future__ import annotations

from litestar import Router
from litestar.exceptions import HTTPException
from litestar.static_files import create_static_files_router
from redis.exceptions import RedisError

from stackmcp.provisioning.console.accounts import (
    account_page,
    account_settings_page,
    accounts_page,
    connect_account,
    new_account_page,
    remove_account,
    remove_account_page,
    rename_account,
    rotate_account_token,
    verify_account,
)
from stackmcp.provisioning.console.activity import account_activity_page, admin_history_page
from stackmcp.provisioning.console.apitokens import (
    api_tokens_page,
    create_api_token,
    created_api_token_page,
    revoke_api_token,
    revoke_api_token_page,
)
from stackmcp.provisioning.console.errors import (
    csrf_rejected,
    http_error,
    sign_in_required,
    stackmcp_error,
    store_error,
    unexpected,
)
from stackmcp.provisioning.console.pages import STATIC_DIR
from stackmcp.provisioning.console.serverforms import (
    create_server,
    created_server_page,
    draft_server,
    edit_server_page,
    new_server_page,
    preview,
    review_server,
    revoke_server,
    revoke_server_page,
    update_server,
)
from stackmcp.provisioning.console.servers import (
    all_servers_page,
    rotate_server,
    rotate_server_page,
    server_page,
    test_server_url,
)
from stackmcp.provisioning.console.signin import home, sign_in, sign_in_page, sign_out
from stackmcp.provisioning.console.web import (
    PREFIX,
    CsrfRejected,
    SignInRequired,
)
from stackmcp.runtime.errors import StackmcpError

__all__ = ["console_router"]


def console_router() -> Router:
    """The console's routes under ``/console`` (state is ``app.state.console``)."""
    return Router(
        path=PREFIX,
        route_handlers=[
            home,
            sign_in_page,
            sign_in,
            sign_out,
            accounts_page,
            new_account_page,
            connect_account,
            account_page,
            account_settings_page,
            rename_account,
            rotate_account_token,
            verify_account,
            remove_account_page,
            remove_account,
            account_activity_page,
            admin_history_page,
            new_server_page,
            server_page,
            create_server,
            created_server_page,
            edit_server_page,
            update_server,
            revoke_server_page,
            revoke_server,
            preview,
            review_server,
            draft_server,
            rotate_server_page,
            rotate_server,
            test_server_url,
            all_servers_page,
            api_tokens_page,
            create_api_token,
            created_api_token_page,
            revoke_api_token_page,
            revoke_api_token,
            create_static_files_router(
                path="/static",
                directories=[STATIC_DIR],
                send_as_attachment=False,
                include_in_schema=False,
            ),
        ],
        exception_handlers={
            SignInRequired: sign_in_required,
            CsrfRejected: csrf_rejected,
            StackmcpError: stackmcp_error,
            RedisError: store_error,
            HTTPException: http_error,
            Exception: unexpected,
        },
    )
