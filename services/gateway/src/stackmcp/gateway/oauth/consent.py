"""The consent page and the sign-in error page, in the console's look (one inline stylesheet
with its palette and type, no external assets, every value escaped).

The page sends no script; its stylesheet is allowed by hash, and :func:`page_headers` forbids
framing, caching and referrers.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from datetime import datetime
from html import escape

from stackmcp.gateway.oauth.flow import Consent

__all__ = ["AUTHORIZE_FORM_PATH", "consent_page", "error_page", "page_headers"]

AUTHORIZE_FORM_PATH = "authorize"
"""The form posts back to the URL it came from (relative, so a path prefix in front is kept)."""

_CSS = """
:root { --ink: #1d2433; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --card: #fff;
  --accent: #3a4fd8; --accent-ink: #fff; --danger: #b42318;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--ink); background: var(--bg); line-height: 1.45; }
* { box-sizing: border-box; }
body { margin: 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.top { padding: .75rem 1.25rem; background: var(--ink); color: #fff; font-weight: 700; }
.top span { font-weight: 400; opacity: .7; }
main { max-width: 36rem; margin: 0 auto; padding: 1.25rem; }
h1 { font-size: 1.5rem; margin: .25rem 0 .75rem; overflow-wrap: anywhere; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem;
  padding: 1rem 1.25rem; margin: 1rem 0; }
.muted, .hint { color: var(--muted); }
.hint { font-size: .875rem; margin: .15rem 0 .35rem; }
.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .35rem 1rem;
  margin: 0; }
.facts dt { font-weight: 600; color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; font-size: .78rem; padding: .05rem .45rem; border-radius: 1rem;
  background: #eef0f6; margin: .05rem 0; }
.problem { color: var(--danger); background: #fef3f2; border: 1px solid #fecdca;
  padding: .6rem .9rem; border-radius: .4rem; }
label { font-weight: 600; display: inline-block; margin-bottom: .2rem; }
input { width: 100%; padding: .5rem .6rem; border: 1px solid #b8c0cc; border-radius: .35rem;
  font: inherit; background: #fff; }
input[aria-invalid="true"] { border-color: var(--danger); outline: 1px solid var(--danger); }
.buttons { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; margin-top: 1rem; }
button { font: inherit; padding: .5rem .95rem; border-radius: .4rem; border: 1px solid #b8c0cc;
  background: #fff; color: var(--ink); cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-ink); }
button:focus-visible, input:focus-visible { outline: 3px solid #98a6ff; outline-offset: 2px; }
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()


def page_headers(form_target: str | None = None) -> dict[str, str]:
    """Headers of every sign-in page: no framing, no caching, no referrer; forms may post only
    here and (through the redirect that answers them) to ``form_target``'s origin."""
    targets = "'self'"
    if form_target:
        parts = urllib.parse.urlsplit(form_target)
        targets += f" {parts.scheme}://{parts.netloc}"
    policy = (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action {targets}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} · stackmcp</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        '<header class="top">stackmcp <span>sign-in</span></header>\n'
        f'<main id="main">\n{body}\n</main>\n</body>\n</html>\n'
    )


def error_page(message: str) -> str:
    """A sign-in request that cannot go on: why, and what to do."""
    body = (
        "<h1>This sign-in cannot continue</h1>\n"
        f'<p class="problem" role="alert">{escape(message)}</p>\n'
        '<p class="muted">Nothing was shared with the application. Close this page and start '
        "the connection again from your application.</p>"
    )
    return _document("Sign-in problem", body)


def _badges(values: tuple[str, ...], empty: str) -> str:
    if not values:
        return f'<span class="muted">{escape(empty)}</span>'
    return " ".join(f'<span class="badge">{escape(v)}</span>' for v in values)


def _expiry(expires_at: datetime | None) -> str:
    if expires_at is None:
        return "never"
    return expires_at.strftime("%Y-%m-%d %H:%M UTC")


def consent_page(consent: Consent, problem: str | None = None) -> str:
    """Which server, which account, what it allows, which application asks; a field for the API
    token; Allow and Deny. ``problem``: why the last attempt was refused."""
    grant, pending = consent.grant, consent.pending
    client = pending.client_name or pending.client_id
    host = urllib.parse.urlsplit(pending.redirect_uri).netloc
    excluded = (*grant.exclude_tags, *grant.exclude_tools)
    facts = [
        ("MCP server", f"<strong>{escape(grant.name or grant.server_id)}</strong>"),
        ("Server id", f"<code>{escape(grant.server_id)}</code>"),
        ("Better Stack account", f"<code>{escape(grant.account_id)}</code>"),
        ("Methods", _badges(grant.methods, "none")),
        ("Tags", _badges(grant.tags, "any")),
        ("Excluded", _badges(excluded, "nothing")),
        ("Tools", f"{consent.tool_count}"),
        ("Expires", escape(_expiry(grant.expires_at))),
    ]
    rows = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    alert = (
        f'<p class="problem" role="alert" id="problem">{escape(problem)}</p>\n' if problem else ""
    )
    described = "api_token_hint problem" if problem else "api_token_hint"
    invalid = ' aria-invalid="true"' if problem else ""
    body = (
        f"<h1>Allow {escape(client)} to use this MCP server?</h1>\n"
        f'<p class="muted">The application <strong>{escape(client)}</strong> asks to call tools '
        f"of this MCP server on your behalf. After you allow it, it is sent back to "
        f"<strong>{escape(host)}</strong>.</p>\n"
        f'<section class="card" aria-label="What it allows">\n<dl class="facts">\n{rows}\n</dl>\n'
        "</section>\n"
        f'<form method="post" action="{AUTHORIZE_FORM_PATH}" class="card">\n{alert}'
        f'<input type="hidden" name="request_id" value="{escape(consent.request_id)}">\n'
        '<label for="api_token">API token</label>\n'
        '<p class="hint" id="api_token_hint">This server needs its second factor: the API token '
        "(<code>smcp_api_…</code>) your operator gave you. It stays here; the application "
        "never sees it.</p>\n"
        '<input type="password" id="api_token" name="api_token" autocomplete="off" '
        f'spellcheck="false" aria-describedby="{described}"{invalid}>\n'
        '<div class="buttons">\n'
        '<button type="submit" name="decision" value="allow" class="primary">Allow</button>\n'
        '<button type="submit" name="decision" value="deny">Deny</button>\n'
        "</div>\n</form>"
    )
    return _document("Allow access", body)
