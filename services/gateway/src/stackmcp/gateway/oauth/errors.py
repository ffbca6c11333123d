"""OAuth protocol errors (RFC 6749 §4.1.2.1 and §5.2)."""

from __future__ import annotations

__all__ = ["OAuthError"]


class OAuthError(Exception):
    """An error the client is told as ``error`` / ``error_description``.

    Args:
        error: the RFC 6749 error code, e.g. ``invalid_grant``.
        description: a sentence for the person or developer; never a secret.
        status: the HTTP status at the token and registration endpoints.
    """

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "error_description": self.description}
