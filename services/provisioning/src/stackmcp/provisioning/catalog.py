"""The worker's tool catalogue, as provisioning needs it: to check filters and count tools.

The worker owns the catalogue (DESIGN §1); provisioning asks for it over NATS and keeps the
answer, asking again with the version it holds once ``max_age`` has passed.
"""

from __future__ import annotations

import time

from nats.aio.client import Client

from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, CatalogResponse, ToolDescriptor
from stackmcp.runtime.errors import DeadlineExceeded, Unavailable
from stackmcp.runtime.natsx import request

__all__ = ["CatalogSource"]


class CatalogSource:
    """Fetches and caches the catalogue from the betterstack-worker."""

    def __init__(
        self, nc: Client, subjects: Subjects, *, timeout: float = 5.0, max_age: float = 30.0
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._timeout = timeout
        self._max_age = max_age
        self._tools: tuple[ToolDescriptor, ...] = ()
        self._version = ""
        self._fetched_at = float("-inf")

    @property
    def loaded(self) -> bool:
        """Whether a catalogue has been fetched at least once."""
        return bool(self._version)

    async def tools(self) -> tuple[ToolDescriptor, ...]:
        """The current catalogue.

        Raises:
            Unavailable: no worker answered and no catalogue was fetched before.
        """
        if time.monotonic() - self._fetched_at < self._max_age:
            return self._tools
        try:
            answer = await request(
                self._nc,
                self._subjects.catalog_get,
                CatalogRequest(known_version=self._version),
                CatalogResponse,
                timeout=self._timeout,
            )
        except (Unavailable, DeadlineExceeded):
            if self._version:
                return self._tools  # a slightly old catalogue beats refusing the request
            raise Unavailable(
                "no betterstack-worker answered for the tool catalogue; is the worker running?"
            ) from None
        if not answer.unchanged:
            self._tools, self._version = answer.tools, answer.version
        self._fetched_at = time.monotonic()
        return self._tools
