"""Building the errors of the LLM layer: one place that names endpoint, status and message."""

from __future__ import annotations

from core.errors import BackendError, Problem


class EndpointError(BackendError):
    """A :class:`core.errors.BackendError` that also carries its parts as attributes.

    The problem reads ``<endpoint>::HTTP <status>: <message>``, so the CLI and the pages show
    which endpoint failed, how, and why without a traceback.

    Attributes:
        endpoint: The URL or local model the call went to.
        status: HTTP status, or None (timeouts, connection errors, local model errors).
        detail: The failure message.
        retries: Retries made before giving up.
    """

    def __init__(self, endpoint: str, status: int | None, message: str, *, retries: int = 0) -> None:
        """Create the error."""
        self.endpoint = endpoint
        self.status = status
        self.detail = message
        self.retries = retries
        super().__init__(Problem(endpoint, None, f"HTTP {status}" if status else None, message))


def redact(text: str, secret: str | None) -> str:
    """Return ``text`` with every occurrence of ``secret`` (e.g. an API key) masked."""
    if secret:
        text = text.replace(secret, "***")
    return text
