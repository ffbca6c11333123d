"""One spelling per catalogue tag, with the old spellings still accepted.

Every tag is written with underscores (``on_call``, like ``status_pages`` and
``escalation_policies``). ``on-call`` was the on-call tag's name before; grants stored with it,
filters typed with it and old catalogues carrying it keep working: every place that compares
tags compares their canonical names (:func:`canonical_tags`).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TAG_ALIASES", "canonical_tag", "canonical_tags"]

TAG_ALIASES: dict[str, str] = {"on-call": "on_call"}
"""Old or alternative tag spelling → the catalogue's tag."""


def canonical_tag(tag: str) -> str:
    """The catalogue's spelling of ``tag`` (``on-call`` → ``on_call``; others unchanged)."""
    return TAG_ALIASES.get(tag, tag)


def canonical_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """``tags`` in the catalogue's spelling, in order, each once."""
    return tuple(dict.fromkeys(TAG_ALIASES.get(tag, tag) for tag in tags))
