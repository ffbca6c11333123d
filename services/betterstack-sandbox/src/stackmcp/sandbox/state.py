"""Everything one sandbox app holds, kept on ``app.state.sandbox``."""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

from litestar import Request

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import SandboxConfig
from stackmcp.sandbox.knobs import ErrorInjector, Knobs, TokenBucket
from stackmcp.sandbox.store import Store

__all__ = ["RequestRecord", "SandboxState", "state_of"]

REQUEST_LOG_SIZE = 1000


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the sandbox saw it (for tests: what was sent, and how often)."""

    method: str
    path: str
    query: str
    traceparent: str | None


@dataclass
class SandboxState:
    """The store, the knobs and their counters for one app."""

    config: SandboxConfig
    store: Store = field(default_factory=Store)
    knobs: Knobs = field(default_factory=Knobs)
    bucket: TokenBucket = field(default_factory=TokenBucket)
    injector: ErrorInjector = field(default_factory=ErrorInjector)
    requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    """The most recent ``/api`` requests that reached the gate, oldest first."""

    @property
    def tokens(self) -> frozenset[str]:
        """Every accepted bearer token."""
        return frozenset(
            (self.config.token, *self.config.extra_tokens, *self.config.read_only_tokens)
        )

    def now(self) -> dt.datetime:
        """The current time (one place to change if the sandbox ever gets a fake clock)."""
        return clock.now()


def state_of(request: Request[Any, Any, Any]) -> SandboxState:
    """The sandbox state of the app serving ``request``."""
    return cast(SandboxState, request.app.state.sandbox)
