"""The ``stackmcp`` command: run the local system and manage it."""

__all__: list[str] = []
