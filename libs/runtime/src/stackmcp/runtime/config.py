"""Configuration from ``STACKMCP_<SECTION>_<FIELD>`` environment variables.

Each service composes frozen msgspec Structs, one per section (``NATS``, ``REDIS``, ``LOG``...),
and fills them with :func:`load_section`. Values are strings in the environment; they are
coerced leniently (``"4222"`` → ``4222``, ``"true"`` → ``True``, ``"a,b"`` → ``("a", "b")`` for
sequence fields). A bad value or an unknown variable in a section is a :class:`ConfigError`
whose message names the variable and the expected type, so a typo fails at start-up instead of
being silently ignored. ``OTEL_*`` and ``GRANIAN_*`` variables belong to their owners and are
never read here.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec

__all__ = [
    "ENV_PREFIX",
    "AuditConfig",
    "ConfigError",
    "LogConfig",
    "NatsConfig",
    "RedisConfig",
    "load_section",
]

ENV_PREFIX = "STACKMCP_"

T = TypeVar("T", bound=msgspec.Struct)

_PATH_RE = re.compile(r"`\$\.(\w+)")
_UNKNOWN_RE = re.compile(r"unknown field `(\w+)`")
_MISSING_RE = re.compile(r"missing required field `(\w+)`")
_SECRET_WORDS = ("token", "key", "password", "secret")


class ConfigError(Exception):
    """A configuration variable is missing, unknown or has a value of the wrong type."""


class NatsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a service reaches NATS (section ``NATS``)."""

    url: str = "nats://127.0.0.1:4222"
    """Comma-separated server URLs, e.g. ``nats://nats-0:4222,nats://nats-1:4222``."""
    subject_prefix: str = "stackmcp"
    """First token of every subject; lets several installations share one NATS."""
    request_timeout: float = 10.0
    """Seconds a request/reply call waits for an answer."""
    drain_timeout: float = 10.0
    """Seconds allowed for draining subscriptions on shutdown."""
    stream_replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    """Copies JetStream keeps of the events stream: 3 on a three-node cluster, so events
    survive the loss of a node; 1 on a single server."""


class RedisConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a service reaches Redis/Valkey (section ``REDIS``)."""

    url: str = "redis://127.0.0.1:6379/0"
    """A ``redis://`` or ``rediss://`` URL; a password may be embedded. With ``sentinels`` set,
    only its scheme, user name, password and database are used."""
    key_prefix: str = "stackmcp"
    """First segment of every key."""
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 256
    """Most connections a process opens; a command that finds all of them busy waits for one
    (up to ``pool_timeout``) instead of failing."""
    pool_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """Seconds a command waits for a free pooled connection before failing."""
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    """Seconds allowed for opening one connection (TCP connect and handshake)."""
    socket_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """Seconds allowed for one reply to arrive on an open connection."""
    retries: Annotated[int, msgspec.Meta(ge=0)] = 12
    """How often a command, or the connection it needs, is tried again after a connection error
    or timeout (with exponential backoff from 0.1 s up to ``retry_backoff_cap``)."""
    retry_backoff_cap: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Longest pause, in seconds, between two tries."""
    retry_budget: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Seconds after which a command stops retrying and its error reaches the caller (who
    answers 503): the outage, restart or failover a caller rides through unnoticed."""
    health_check_interval: Annotated[int, msgspec.Meta(ge=0)] = 15
    """Seconds a pooled connection may stay idle before it is checked with ``PING`` on its next
    use (0 = never)."""
    sentinels: tuple[Annotated[str, msgspec.Meta(pattern=r"^\S+:[0-9]+$")], ...] = ()
    """Comma-separated ``host:port`` list of Sentinels. Empty: connect to ``url`` directly; set:
    ask the Sentinels for the current primary of ``sentinel_master`` and follow failovers."""
    sentinel_master: str = "stackmcp"
    """Name under which the Sentinels monitor the primary."""
    sentinel_password: str = ""
    """Password of the Sentinels themselves (their ``requirepass``); empty for none."""
    wait_replicas: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Replicas that must acknowledge a provisioning write (``WAIT``) before the admin API
    answers; 0 = do not wait."""
    wait_timeout: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Seconds a provisioning write waits for ``wait_replicas`` acknowledgements; on expiry the
    write stands and a warning is logged."""

    def __post_init__(self) -> None:
        """Refuse a ``wait_timeout`` the socket timeout would cut short (and retry)."""
        if self.wait_timeout >= self.socket_timeout:
            raise ValueError(
                "STACKMCP_REDIS_WAIT_TIMEOUT must be shorter than STACKMCP_REDIS_SOCKET_TIMEOUT"
            )


class AuditConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The audit trail and server history (section ``AUDIT``), the same in every service."""

    max_age_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Days the audit stream keeps tool-call and admin-change records."""
    max_bytes: Annotated[int, msgspec.Meta(ge=1_048_576)] = 1024**3
    """Bytes the audit stream may hold; the oldest records go first beyond it. JetStream
    reserves this much of its storage for the stream when it is created."""
    history_days: Annotated[float, msgspec.Meta(gt=0)] = 90.0
    """Days a revoked or expired MCP server stays listed (its URL stays dead regardless)."""
    buffer: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    """Records a gateway holds while JetStream is slow or away; more are dropped and counted,
    never delaying a call."""


class LogConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Logging (section ``LOG``)."""

    level: str = "INFO"
    """Python level name: DEBUG, INFO, WARNING, ERROR."""
    format: typing.Literal["text", "json"] = "text"
    """``json`` for one JSON object per line (clusters), ``text`` for terminals."""
    tracebacks: bool = False
    """Include masked tracebacks; off so that no stack trace reaches a log by default."""


def load_section(cls: type[T], section: str, environ: Mapping[str, str] | None = None) -> T:
    """Build ``cls`` from the variables named ``STACKMCP_<SECTION>_<FIELD>``.

    Args:
        cls: a frozen msgspec Struct whose fields have defaults or must be set.
        section: the section name, e.g. ``"NATS"``.
        environ: where to read variables from; ``os.environ`` when omitted (tests pass a dict).

    Returns:
        The populated Struct.

    Raises:
        ConfigError: a value has the wrong type, a variable is unknown or a required one is
            missing. The message names the variable.
    """
    env = os.environ if environ is None else environ
    prefix = f"{ENV_PREFIX}{section.upper()}_"
    sequence_fields = _sequence_fields(cls)
    raw: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(prefix):
            continue
        field = name[len(prefix) :].lower()
        raw[field] = _split(value) if field in sequence_fields else value
    try:
        return msgspec.convert(raw, type=cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, cls, prefix, env)) from None


def _sequence_fields(cls: type[msgspec.Struct]) -> set[str]:
    hints = typing.get_type_hints(cls)
    names = set()
    for field in msgspec.structs.fields(cls):
        origin = typing.get_origin(hints[field.name])
        if origin in (list, tuple, set, frozenset):
            names.add(field.name)
    return names


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _explain(
    exc: msgspec.ValidationError, cls: type[msgspec.Struct], prefix: str, env: Mapping[str, str]
) -> str:
    message = str(exc)
    unknown = _UNKNOWN_RE.search(message)
    if unknown:
        known = ", ".join(prefix + f.upper() for f in cls.__struct_fields__)
        return f"{prefix}{unknown.group(1).upper()} is not a known setting (known: {known})"
    missing = _MISSING_RE.search(message)
    path = missing or _PATH_RE.search(message)
    if not path:
        return f"{prefix}*: {message}"
    field = path.group(1)
    variable = prefix + field.upper()
    expected = _describe(typing.get_type_hints(cls).get(field))
    if missing or variable not in env:
        return f"{variable} is required ({expected})"
    shown = "<redacted>" if any(w in field for w in _SECRET_WORDS) else repr(env[variable])
    return f"{variable}={shown} is not valid: expected {expected}"


def _describe(annotation: object) -> str:
    if annotation is None:
        return "a value"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    names = {
        int: "an integer",
        float: "a number",
        bool: "a boolean (true/false)",
        str: "a string",
    }
    if annotation in names:
        return names[annotation]
    if origin in (list, tuple, set, frozenset):
        return "a comma-separated list"
    return getattr(annotation, "__name__", str(annotation))
