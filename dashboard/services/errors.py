"""Errors services raise; the API and the pages turn them into 400 / 403 / 404 / 409 / 503."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: `str(err)` is a message safe to show to the user."""


class InvalidInput(ServiceError):
    """The request is malformed; `fields` maps field names to messages (HTTP 400)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


class NotAllowed(ServiceError):
    """The actor lacks the role, or four-eyes forbids this actor (HTTP 403)."""


class TransitionConflict(ServiceError):
    """The object is no longer in a state that allows this transition (HTTP 409)."""

    def __init__(self, message: str, *, current_state: str | None = None) -> None:
        self.current_state = current_state
        super().__init__(message)


class BrokerUnavailable(ServiceError):
    """The task broker did not take a message that no row records, so nothing could send it
    later: the caller must hear of it and retry (HTTP 503 with Retry-After)."""

    retry_after_seconds = 10
