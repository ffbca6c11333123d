"""The JSON:API-like envelope: resource objects, single and list answers, pagination links."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from litestar import Request, Response

from stackmcp.sandbox.errors import ApiError
from stackmcp.sandbox.state import state_of
from stackmcp.sandbox.store import Row

__all__ = [
    "DEFAULT_PAGING",
    "Paging",
    "attributes_of",
    "json_response",
    "list_response",
    "no_content",
    "paginate",
    "query",
    "read_body",
    "resource",
    "single_response",
]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    """A JSON answer."""
    return Response(
        content=body, status_code=status, media_type="application/json", headers=headers
    )


def no_content() -> Response[Any]:
    """The 204 with an empty body."""
    return Response(content=b"", status_code=204)


def attributes_of(row: Row, hidden: Iterable[str] = ()) -> dict[str, Any]:
    """A row's public attributes: everything except ``id``, ``_private`` keys and ``hidden``."""
    skip = set(hidden)
    return {k: v for k, v in row.items() if k != "id" and not k.startswith("_") and k not in skip}


def resource(
    kind: str,
    row_id: int | str,
    attributes: Mapping[str, Any],
    relationships: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One resource object ``{"id": "<str>", "type", "attributes", "relationships"?}``."""
    obj: dict[str, Any] = {"id": str(row_id), "type": kind, "attributes": dict(attributes)}
    if relationships is not None:
        obj["relationships"] = dict(relationships)
    return obj


def single_response(obj: dict[str, Any], status: int = 200, included: Any = None) -> Response[Any]:
    """``{"data": obj, "included"?: ...}``."""
    body: dict[str, Any] = {"data": obj}
    if included is not None:
        body["included"] = included
    return json_response(body, status)


class Paging(msgspec.Struct, frozen=True):
    """Page size rules of one list endpoint."""

    default: int = 50
    maximum: int = 250


DEFAULT_PAGING = Paging()


def query(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Query parameters as a plain dict (last value wins)."""
    return dict(parse_qsl(request.scope.get("query_string", b"").decode("latin-1")))


def _int_param(value: str | None, fallback: int) -> int:
    """A positive integer query value; anything else (missing, text, < 1) gives ``fallback``."""
    if value is None or not value.strip().isdigit():
        return fallback
    number = int(value)
    return number if number >= 1 else fallback


def paginate(
    request: Request[Any, Any, Any], items: Sequence[Any], paging: Paging = DEFAULT_PAGING
) -> tuple[list[Any], dict[str, str | None]]:
    """Cut ``items`` to the requested page and build the ``pagination`` links.

    ``page`` < 1 or not an integer is treated as 1; ``per_page`` < 1 or not an integer as the
    default; ``per_page`` above the maximum is clamped. A page past the end is empty, its
    ``prev`` points at the last page.
    """
    params = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), True)
    values = dict(params)
    page = _int_param(values.get("page"), 1)
    per_page = min(_int_param(values.get("per_page"), paging.default), paging.maximum)
    last = max(1, math.ceil(len(items) / per_page))
    chunk = list(items[(page - 1) * per_page : page * per_page])
    kept = [(k, v) for k, v in params if k != "page"]
    if "per_page" in values:
        kept = [(k, str(per_page) if k == "per_page" else v) for k, v in kept]
    base = _base_url(request)

    def link(number: int) -> str:
        return f"{base}?{urlencode([*kept, ('page', str(number))])}"

    pagination = {
        "first": link(1),
        "last": link(last),
        "prev": link(min(page - 1, last)) if page > 1 else None,
        "next": link(page + 1) if page < last else None,
    }
    return chunk, pagination


def _base_url(request: Request[Any, Any, Any]) -> str:
    public = state_of(request).config.public_url.rstrip("/")
    if public:
        return public + request.url.path
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}"


def list_response(
    request: Request[Any, Any, Any],
    objects: Sequence[Any],
    paging: Paging = DEFAULT_PAGING,
    included: Any = None,
) -> Response[Any]:
    """``{"data": [...page...], "pagination": {...}}`` (plus ``included`` when given)."""
    page, pagination = paginate(request, objects, paging)
    body: dict[str, Any] = {"data": page, "pagination": pagination}
    if included is not None:
        body["included"] = included(page) if callable(included) else included
    return json_response(body)


async def read_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The JSON object body; empty body is ``{}``; anything else is a 400."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body
