"""The status ping over NATS: each service answers it, ``GET /status`` gathers the answers.

:func:`serve_status` subscribes a service to :attr:`Subjects.status` (no queue group, so every
replica answers) and replies with a :class:`~stackmcp.contracts.status.ServiceStatus` built from
the service's own readiness check, the same one its ``/readyz`` uses. :func:`gather_status`
publishes one ping and collects whatever answers within a short wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.status import ServiceStatus, StatusPing
from stackmcp.contracts.subjects import Subjects
from stackmcp.runtime.errors import Unavailable

__all__ = ["DEFAULT_WAIT", "Details", "ReadyCheck", "gather_status", "serve_status"]

logger = logging.getLogger(__name__)

DEFAULT_WAIT = 0.5
"""Seconds :func:`gather_status` waits for answers."""
CHECK_TIMEOUT = 0.25
"""Seconds a readiness check may take before the replica reports itself not ready."""

ReadyCheck = Callable[
    [], bool | Mapping[str, bool] | Awaitable[bool] | Awaitable[Mapping[str, bool]]
]
"""A readiness check: ``True``/``False``, or named parts that must all pass; sync or async."""
Details = Callable[[], Mapping[str, str | int | float | bool]]
"""A few figures a service adds to its answer."""

_STATUS_DECODER = msgspec.json.Decoder(ServiceStatus)
_PREFIX = "stackmcp-"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


async def _checks(ready: ReadyCheck) -> dict[str, bool]:
    """Run ``ready`` and name its parts; a failing or slow check is one failed part."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            result = ready()
            if inspect.isawaitable(result):
                result = await result
    except TimeoutError:
        return {"answers_in_time": False}
    except Exception as exc:  # a broken check must not stop the answer
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return {"check": False}
    if isinstance(result, Mapping):
        return {str(name): bool(value) for name, value in result.items()}
    return {"ready": bool(result)}


async def serve_status(
    nc: Client,
    subjects: Subjects,
    name: str,
    *,
    ready: ReadyCheck,
    details: Details | None = None,
    instance_id: str | None = None,
    stop: asyncio.Event | None = None,
) -> Subscription:
    """Answer status pings for this process until ``nc`` drains (or the subscription goes).

    Args:
        nc: the service's NATS client.
        subjects: the installation's subjects.
        name: the process name (``stackmcp-gateway``…); also its package, for the version.
        ready: the service's readiness check (what ``/readyz`` answers).
        details: a few figures to add to each answer.
        instance_id: the replica's id; a random one by default.
        stop: once set, the replica answers that it is stopping (not ready).

    Returns:
        The subscription (unsubscribe it to stop answering).
    """
    started_at = utcnow()
    service, version = name.removeprefix(_PREFIX), _version(name)
    instance, host = instance_id or secrets.token_hex(8), socket.gethostname()

    async def answer(msg: Msg) -> None:
        if not msg.reply:
            return
        checks = await _checks(ready)
        if stop is not None and stop.is_set():
            checks["serving"] = False
        status = ServiceStatus(
            service=service,
            version=version,
            instance_id=instance,
            host=host,
            started_at=started_at,
            ready=all(checks.values()),
            checks=checks,
            details=dict(details()) if details is not None else {},
        )
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(msgspec.json.encode(status))

    return await nc.subscribe(subjects.status, cb=answer)


async def gather_status(
    nc: Client, subjects: Subjects, *, wait: float = DEFAULT_WAIT
) -> list[ServiceStatus]:
    """Ping every service and return the answers that arrived within ``wait`` seconds.

    Raises:
        Unavailable: NATS is not connected.
    """
    if not nc.is_connected:
        raise Unavailable("NATS is not connected; no service can be asked")
    answers: list[ServiceStatus] = []

    async def collect(msg: Msg) -> None:
        try:
            answers.append(_STATUS_DECODER.decode(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.warning("ignored an unreadable status answer")

    inbox = nc.new_inbox()
    subscription = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(subjects.status, msgspec.json.encode(StatusPing()), reply=inbox)
        await asyncio.sleep(wait)
    except nats.errors.Error as exc:
        raise Unavailable(f"could not ask the services over NATS ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()
    return answers
