"""Unexpected failures are not shown to clients: a resolver that raises anything but a
domain error or a GraphQL error answers "internal error" with the request id, and the
original (message and traceback) goes to the log under that same id, where an operator
finds it. Expected errors (validation, refusals with a code, domain errors) pass as they
are: their messages are written for people.
"""

from __future__ import annotations

import structlog
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from backend.domain.errors import DomainError


def _unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (DomainError, GraphQLError))


class InternalErrorMask(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = structlog.contextvars.get_contextvars().get("request_id", "")
        return GraphQLError(
            message=f"internal error; quote request id {request_id or 'unknown'} to the operator",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )
