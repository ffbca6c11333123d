"""Everything one sandbox app holds, kept on ``app.state.sandbox``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from litestar import Request

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import SandboxConfig
from stackmcp.sandbox.knobs import ErrorInjector, Knobs, TokenBucket
from stackmcp.sandbox.store import Store

__all__ = ["SandboxState", "state_of"]


@dataclass
class SandboxState:
    """The store, the knobs and their counters for one app."""

    config: SandboxConfig
    store: Store = field(default_factory=Store)
    knobs: Knobs = field(default_factory=Knobs)
    bucket: TokenBucket = field(default_factory=TokenBucket)
    injector: ErrorInjector = field(default_factory=ErrorInjector)

    @property
    def tokens(self) -> frozenset[str]:
        """Every accepted bearer token."""
        return frozenset((self.config.token, *self.config.extra_tokens))

    def now(self) -> dt.datetime:
        """The current time (one place to change if the sandbox ever gets a fake clock)."""
        return clock.now()


def state_of(request: Request[Any, Any, Any]) -> SandboxState:
    """The sandbox state of the app serving ``request``."""
    return cast(SandboxState, request.app.state.sandbox)
