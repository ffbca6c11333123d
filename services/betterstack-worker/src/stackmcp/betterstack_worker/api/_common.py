"""Builders and shared parameter sets that keep the per-resource description modules short."""

from __future__ import annotations

from typing import Any

import msgspec

from stackmcp.betterstack_worker.api.model import (
    HttpMethod,
    IdKind,
    Operation,
    Page,
    Param,
    Resource,
)

DIGITS = r"^[0-9]+$"
DIGITS_OR_DEFAULT = r"^([0-9]+|default)$"
HHMMSS = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"

UPSTREAM_PAGES = Page(upstream=True, default_limit=20, max_limit=250, upstream_default=50)
WORKER_PAGES = Page(upstream=False, default_limit=20, max_limit=100, upstream_default=0)


def s(name: str, description: str, **kw: Any) -> Param:
    """A string parameter (body unless ``location`` says otherwise)."""
    return Param(name=name, type="string", description=description, **kw)


def i(name: str, description: str, **kw: Any) -> Param:
    """An integer parameter."""
    return Param(name=name, type="integer", description=description, **kw)


def b(name: str, description: str, **kw: Any) -> Param:
    """A boolean parameter."""
    return Param(name=name, type="boolean", description=description, **kw)


def arr(name: str, description: str, items: Param, **kw: Any) -> Param:
    """An array parameter whose elements are described by ``items``."""
    return Param(name=name, type="array", description=description, items=items, **kw)


def obj(name: str, description: str, *properties: Param, **kw: Any) -> Param:
    """An object parameter; without ``properties`` it is free-form."""
    open_object = kw.pop("open_object", not properties)
    return Param(
        name=name,
        type="object",
        description=description,
        properties=properties,
        open_object=open_object,
        **kw,
    )


def q(param: Param) -> Param:
    """The same parameter, sent in the query string."""
    return msgspec.structs.replace(param, location="query")


def path_id(name: str, description: str, kind: IdKind = "digits") -> Param:
    """A required path id (digits as a string or an integer); its shape is checked again
    before any request is built."""
    pattern = DIGITS if kind == "digits" else DIGITS_OR_DEFAULT
    return Param(
        name=name,
        type="string",
        description=description,
        location="path",
        required=True,
        pattern=pattern,
        id_kind=kind,
    )


def int_id(name: str, description: str, **kw: Any) -> Param:
    """An id the upstream takes as a JSON integer; the model may give digits or an integer."""
    return Param(
        name=name, type="integer", description=description, pattern=DIGITS, id_kind="digits", **kw
    )


def str_id(name: str, description: str, **kw: Any) -> Param:
    """An id the upstream takes as a string of digits; the model may give digits or an
    integer."""
    return Param(
        name=name, type="string", description=description, pattern=DIGITS, id_kind="digits", **kw
    )


def optional(params: tuple[Param, ...]) -> tuple[Param, ...]:
    """The same parameters with nothing required (PATCH sends only what changes)."""
    return tuple(msgspec.structs.replace(p, required=False) for p in params)


def without(params: tuple[Param, ...], *names: str) -> tuple[Param, ...]:
    """The parameters minus those named."""
    return tuple(p for p in params if p.name not in names)


def listing(
    resource: Resource, path: str, description: str, *params: Param, **kw: Any
) -> Operation:
    """A list operation paged by the upstream unless ``page`` says otherwise."""
    kw.setdefault("page", UPSTREAM_PAGES)
    kw.setdefault("envelope", "jsonapi_list")
    return Operation(
        resource=resource,
        method="list",
        http_method="GET",
        path=path,
        description=description,
        params=params,
        read=True,
        **kw,
    )


def getting(
    resource: Resource, path: str, description: str, *params: Param, **kw: Any
) -> Operation:
    """A get-by-id operation."""
    return Operation(
        resource=resource,
        method="get",
        http_method="GET",
        path=path,
        description=description,
        params=params,
        read=True,
        **kw,
    )


def creating(
    resource: Resource, path: str, description: str, *params: Param, **kw: Any
) -> Operation:
    """A create operation (POST, 201)."""
    kw.setdefault("success", (201,))
    return Operation(
        resource=resource,
        method="create",
        http_method="POST",
        path=path,
        description=description,
        params=params,
        **kw,
    )


def updating(
    resource: Resource, path: str, description: str, *params: Param, **kw: Any
) -> Operation:
    """A partial update (PATCH, 200): repeating it changes nothing more."""
    kw.setdefault("idempotent", True)
    return Operation(
        resource=resource,
        method="update",
        http_method="PATCH",
        path=path,
        description=description,
        params=params,
        **kw,
    )


def deleting(
    resource: Resource, path: str, description: str, *params: Param, **kw: Any
) -> Operation:
    """A permanent delete (DELETE, 204)."""
    return Operation(
        resource=resource,
        method="delete",
        http_method="DELETE",
        path=path,
        description=description,
        params=params,
        envelope="empty",
        success=(204,),
        destructive=True,
        idempotent=True,
        **kw,
    )


def action(
    resource: Resource,
    method: str,
    http_method: HttpMethod,
    path: str,
    description: str,
    *params: Param,
    **kw: Any,
) -> Operation:
    """A custom action (acknowledge, availability, invite, ...)."""
    return Operation(
        resource=resource,
        method=method,
        http_method=http_method,
        path=path,
        description=description,
        params=params,
        **kw,
    )


TEAM_FILTER = s(
    "team_name",
    "Only this team's (global API tokens only).",
    location="query",
    team_default=True,
)
TEAM_OWNER = s(
    "team_name",
    "Owning team (global API tokens only); cannot change later.",
    team_default=True,
)
NOTIFY = (
    b("call", ""),
    b("sms", ""),
    b("email", ""),
    b("push", ""),
    b("critical_alert", "Push bypasses do-not-disturb."),
)
TEAM_WAIT = i(
    "team_wait",
    "Seconds before alerting the whole team if nobody acknowledges.",
    minimum=0,
    nullable=True,
)
POLICY_ID = str_id(
    "policy_id",
    "From list_all_better_stack_escalation_policies; overrides call/sms/email/push. null clears.",
    nullable=True,
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAINTENANCE = (
    arr(
        "maintenance_days",
        "Weekdays of the daily no-alert window.",
        s("day", "Weekday.", enum=WEEKDAYS),
    ),
    s("maintenance_from", "No-alert window start.", pattern=HHMMSS),
    s("maintenance_to", "No-alert window end.", pattern=HHMMSS),
    s("maintenance_timezone", "No-alert window time zone, e.g. UTC."),
)
FROM_TO = (
    s("from", "First day.", location="query", format="date"),
    s("to", "Last day.", location="query", format="date"),
)
