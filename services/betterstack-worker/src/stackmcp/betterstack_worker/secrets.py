"""Credential fields of Better Stack answers, replaced by ``"[redacted]"`` in tool results.

Better Stack hands back the credentials it stores for checking and notifying: a monitor's basic
auth password, the values of its request headers (``Authorization: Bearer …``), a Playwright
scenario's environment variables, the secret token inside a heartbeat's or an incoming webhook's
URL (whoever holds it can report a heartbeat or start incidents), an escalation policy's
``incident_token`` and an outgoing webhook's auth password and header values. A tool result
carries none of them unless the server reveals secrets (``ToolCallRequest.reveal_secrets``).

:data:`SECRET_FIELDS` maps a :func:`~stackmcp.betterstack_worker.normalise.result_kind` to the
field paths to redact in each result item (flattened, see :mod:`~.normalise`). Path syntax:
``a.b`` is member ``b`` of object ``a``, ``a[].b`` member ``b`` of every element of list ``a``,
``a.*`` every value of object ``a`` (names kept). An absent, ``null`` or empty value stays as it
is: it shows that nothing is set. Not listed, deliberately: ``auth_username`` and header names
(identify, do not authenticate), ``request_body`` (a check's payload; the API documents it as
plain configuration, and credentials have their dedicated fields), ``playwright_script`` (code
that reads secrets from ``environment_variables``), a status page's ``password_enabled``.

Redaction runs on results only; write tools still take these fields as arguments. It never
touches the answer it is given (results are copied along the redacted paths), and it is
decided once per operation: :func:`redactor_for` is ``None`` for the many operations whose
answers can hold no credential, so their results are never walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stackmcp.betterstack_worker.api import Operation
from stackmcp.betterstack_worker.normalise import result_kind
from stackmcp.contracts.tools import REDACTED

__all__ = ["SECRET_FIELDS", "Redactor", "redactor_for"]

_EACH, _VALUES = "[]", "*"

MONITOR_SECRETS = ("auth_password", "request_headers[].value", "environment_variables.*")
"""A monitor's credentials (also embedded in incidents as ``monitor``)."""

SECRET_FIELDS: Mapping[str, tuple[str, ...]] = {
    "monitors": MONITOR_SECRETS,
    "heartbeats": ("url",),
    "incidents": (*(f"monitor.{path}" for path in MONITOR_SECRETS), "heartbeat.url"),
    "policies": ("incident_token",),
    "status-pages": ("password",),
    "outgoing-webhooks": (
        "custom_webhook_template_attributes.auth_password",
        "custom_webhook_template_attributes.headers_template[].value",
    ),
    "incoming-webhooks": ("url",),
}
"""Result kind → credential field paths in each result item.

``incidents``: a single incident embeds its monitor or heartbeat (``included``). A status
page's ``password`` is write-only upstream; it is listed in case an answer ever carries it.
"""


class Redactor:
    """Replace the credential fields of one operation's results with :data:`REDACTED`.

    Paths are grouped by their first member, so an item without any of those members (most
    incidents embed no monitor) costs one dictionary lookup per group and is returned as is.
    """

    __slots__ = ("_groups",)

    def __init__(self, paths: Iterable[str]) -> None:
        groups: dict[str, list[tuple[str, ...]]] = {}
        for path in paths:
            first, *rest = _steps(path)
            groups.setdefault(first, []).append(tuple(rest))
        self._groups = tuple((first, tuple(rests)) for first, rests in groups.items())

    def result(self, result: Any) -> Any:
        """``result`` (one item, a list of items, or ``None``) with its credentials redacted."""
        if isinstance(result, list):
            return [self.item(item) for item in result]
        return self.item(result)

    def item(self, item: Any) -> Any:
        """One result item with its credentials redacted."""
        if not isinstance(item, dict):
            return item
        for first, rests in self._groups:
            if first in item:
                value = item[first]
                for rest in rests:
                    value = _redact(value, rest)
                item = {**item, first: value}
        return item


def redactor_for(op: Operation) -> Redactor | None:
    """The redactor of ``op``'s results, or ``None`` when they can carry no credential."""
    if op.envelope == "empty":
        return None
    paths = SECRET_FIELDS.get(result_kind(op.path) or "", ())
    return Redactor(paths) if paths else None


def _steps(path: str) -> tuple[str, ...]:
    steps: list[str] = []
    for part in path.split("."):
        name = part.removesuffix(_EACH)
        steps.append(name)
        if name != part:
            steps.append(_EACH)
    return tuple(steps)


def _redact(value: Any, steps: tuple[str, ...]) -> Any:
    if not steps:
        return value if value is None or value == "" else REDACTED
    step, rest = steps[0], steps[1:]
    if step == _EACH:
        return [_redact(v, rest) for v in value] if isinstance(value, list) else value
    if not isinstance(value, dict):
        return value
    if step == _VALUES:
        return {k: _redact(v, rest) for k, v in value.items()}
    if step not in value:
        return value
    return {**value, step: _redact(value[step], rest)}
