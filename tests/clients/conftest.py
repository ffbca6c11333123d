"""Fixtures of the client matrix: the pinned real clients (:mod:`tests.support.clients`)."""

from tests.support.clients import client_tools

__all__ = ["client_tools"]
