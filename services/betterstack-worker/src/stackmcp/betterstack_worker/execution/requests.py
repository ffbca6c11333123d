"""Turn validated tool arguments into an upstream request that arguments cannot redirect.

Path segments come only from ids that match their ``id_kind`` exactly (digits, or digits or the
literal ``default``) and are percent-encoded anyway; every other argument goes into the query
string or the JSON body, where httpx and msgspec encode it. So no argument text can add a path
segment, a query parameter or a host: ``1/../../monitors`` or ``1?x=`` is refused here, before
any request exists, even if schema validation were skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import msgspec

from stackmcp.betterstack_worker.api import IdKind, Operation, Param
from stackmcp.runtime.errors import InvalidArgument

__all__ = ["PAGING_ARGUMENTS", "RequestPlan", "UpstreamRequest"]

PAGING_ARGUMENTS = frozenset({"limit", "next_cursor"})
"""Arguments the worker consumes itself; they never reach the upstream as such."""

_ID_RE: dict[IdKind, re.Pattern[str]] = {
    "digits": re.compile(r"[0-9]{1,19}"),
    "digits_or_default": re.compile(r"[0-9]{1,19}|default"),
}
_ID_HINT: dict[IdKind, str] = {
    "digits": 'an id made of digits, e.g. "7"',
    "digits_or_default": 'an id made of digits, or "default"',
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

Query = list[tuple[str, str]]


class UpstreamRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything :meth:`UpstreamClient.send` needs except the origin and the credential."""

    method: str
    path: str
    """Encoded path, e.g. ``/api/v3/incidents/7/acknowledge``."""
    query: Query = []
    body: dict[str, Any] | None = None


class RequestPlan:
    """The precomputed recipe for one operation's requests (built once per tool)."""

    def __init__(self, op: Operation) -> None:
        self._op = op
        self._path_parts = _PLACEHOLDER.split(op.path)
        self._path_params = {p.name: p for p in op.params if p.location == "path"}
        self._query_params = {p.name: p for p in op.params if p.location == "query"}
        self._body_params = {p.name: p for p in op.params if p.location == "body"}
        self._team_param = next((p.name for p in op.params if p.team_default), None)
        self._sends_body = op.http_method in ("POST", "PATCH") or bool(self._body_params)

    def build(
        self,
        arguments: Mapping[str, Any],
        *,
        extra_query: Sequence[tuple[str, str]] = (),
        team_name: str | None = None,
    ) -> UpstreamRequest:
        """The request for ``arguments`` (already validated against the tool's schema).

        Args:
            arguments: tool arguments; ``limit`` and ``next_cursor`` are ignored here.
            extra_query: paging parameters the worker adds (``page``, ``per_page``).
            team_name: the account's team, sent for the tool's ``team_default`` parameter
                when the model gave none.

        Raises:
            InvalidArgument: a path id does not have its documented shape.
        """
        if team_name and self._team_param and self._team_param not in arguments:
            arguments = {**arguments, self._team_param: team_name}
        query: Query = []
        body: dict[str, Any] = {}
        for name, value in arguments.items():
            if (param := self._query_params.get(name)) is not None:
                query.extend(_query_pairs(param, value))
            elif (param := self._body_params.get(name)) is not None:
                for upstream_name in param.upstream_names or (name,):
                    body[upstream_name] = value
        query.extend(extra_query)
        return UpstreamRequest(
            method=self._op.http_method,
            path=self._path(arguments),
            query=query,
            body=body if self._sends_body else None,
        )

    def _path(self, arguments: Mapping[str, Any]) -> str:
        parts = list(self._path_parts)
        for index in range(1, len(parts), 2):
            param = self._path_params[parts[index]]
            parts[index] = quote(_checked_id(param, arguments.get(param.name)), safe="")
        return "".join(parts)


def _checked_id(param: Param, value: Any) -> str:
    kind: IdKind = param.id_kind or "digits"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _ID_RE[kind].fullmatch(value):
        raise InvalidArgument(
            f"{param.name} must be {_ID_HINT[kind]}",
            fields={param.name: [f"must be {_ID_HINT[kind]}"]},
        )
    return value


def _query_pairs(param: Param, value: Any) -> Query:
    names = param.upstream_names or (param.name,)
    if value is None:
        return []
    if param.deep_object and isinstance(value, Mapping):
        return [
            (f"{name}[{key}]", _text(item))
            for name in names
            for key, item in value.items()
            if item is not None
        ]
    if isinstance(value, list):
        return [(f"{name}[]", _text(item)) for name in names for item in value]
    return [(name, _text(value)) for name in names]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode() if isinstance(value, (dict, list)) else str(value)
