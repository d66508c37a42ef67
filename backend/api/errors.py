"""Typed errors for union results: clients switch on ``__typename`` or ``code``."""

from __future__ import annotations

from enum import Enum

import strawberry

from backend.domain import errors as domain


@strawberry.enum(description="Stable error codes; the message is for people, the code for code.")
class ErrorCode(Enum):
    NOT_FOUND = "not_found"
    INVALID_ARGUMENT = "invalid_value"
    CONFLICT = "conflict"
    ILLEGAL_TRANSITION = "illegal_transition"
    NOT_AUTHORIZED = "not_authorized"
    RATE_LIMITED = "rate_limited"
    POLL_CLOSED = "poll_closed"
    CONDITION_NOT_MET = "condition_not_met"
    IMPLAUSIBLE_MOVEMENT = "implausible_movement"


@strawberry.interface(description="An expected failure, returned as data rather than thrown.")
class Error:
    code: ErrorCode
    message: str


@strawberry.type(description="The resource named by `resource` and `key` does not exist.")
class NotFoundError(Error):
    resource: str
    key: str


@strawberry.type(description="An argument breaks a rule; `argument` names it (a field path).")
class InvalidArgumentError(Error):
    argument: str
    reason: str


@strawberry.type(description="The change collides with existing state; reload and retry.")
class ConflictError(Error):
    pass


@strawberry.type(description="The lifecycle does not allow this change from the current status.")
class IllegalTransitionError(Error):
    current_status: str
    requested_status: str


@strawberry.type(description="The caller lacks the role this operation needs.")
class NotAuthorizedError(Error):
    pass


@strawberry.type(description="Too many requests: wait `retryAfterS` seconds.")
class RateLimitedError(Error):
    retry_after_s: float


AnyError = (
    NotFoundError
    | InvalidArgumentError
    | ConflictError
    | IllegalTransitionError
    | NotAuthorizedError
)


def from_domain(error: domain.DomainError) -> AnyError:
    """Render a domain error as its GraphQL type (the one place that mapping lives)."""
    if isinstance(error, domain.NotFound):
        return NotFoundError(
            code=ErrorCode.NOT_FOUND, message=error.message, resource=error.resource, key=error.key
        )
    if isinstance(error, domain.InvalidValue):
        return InvalidArgumentError(
            code=ErrorCode.INVALID_ARGUMENT,
            message=error.message,
            argument=error.field,
            reason=error.reason,
        )
    if isinstance(error, domain.IllegalTransition):
        return IllegalTransitionError(
            code=ErrorCode.ILLEGAL_TRANSITION,
            message=error.message,
            current_status=error.current,
            requested_status=error.requested,
        )
    if isinstance(error, domain.NotAuthorized):
        return NotAuthorizedError(code=ErrorCode.NOT_AUTHORIZED, message=error.message)
    return ConflictError(code=ErrorCode.CONFLICT, message=error.message)


def not_authorized() -> NotAuthorizedError:
    return NotAuthorizedError(
        code=ErrorCode.NOT_AUTHORIZED,
        message="this mutation needs an organiser token: Authorization: Bearer <token>",
    )
