"""Domain errors: one small hierarchy, each with a stable ``code`` clients can switch on."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected failure; ``code`` is stable, ``message`` is for people."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(DomainError):
    """A value breaks a rule. ``field`` names the offending argument or field path."""

    code = "invalid_value"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def under(self, prefix: str) -> InvalidValue:
        """The same error with its field path nested under ``prefix`` (e.g. ``stops[2]``)."""
        return InvalidValue(f"{prefix}.{self.field}" if self.field else prefix, self.reason)


class NotFound(DomainError):
    """The resource named by ``key`` does not exist."""

    code = "not_found"

    def __init__(self, resource: str, key: str) -> None:
        super().__init__(f"{resource} {key!r} does not exist")
        self.resource = resource
        self.key = key


class Conflict(DomainError):
    """The change collides with existing state (duplicate id, concurrent edit)."""

    code = "conflict"


class IllegalTransition(DomainError):
    """A lifecycle change that the state machine does not allow from the current state."""

    code = "illegal_transition"

    def __init__(self, resource: str, current: str, requested: str) -> None:
        super().__init__(f"{resource} cannot go from {current} to {requested}")
        self.current = current
        self.requested = requested


class NotAuthorized(DomainError):
    """The caller lacks the role the operation needs."""

    code = "not_authorized"


class RateLimited(DomainError):
    """Over a quota (backend.domain.quotas); ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
