"""Shared test support: real-server fixtures and process helpers for the whole test suite."""

from tests.support.processes import pid_alive, wait_pid_gone

__all__ = ["pid_alive", "wait_pid_gone"]
