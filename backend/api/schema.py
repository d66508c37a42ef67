"""The GraphQL schema, and its SDL as committed in graphql/schema.graphql."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from backend.api.errors import (
    ConflictError,
    IllegalTransitionError,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
)
from backend.api.mutation import Mutation
from backend.api.query import Query

# Coarse guards until the hardening issue adds cost limits: a real client never nests
# deeper than ~10 or sends hundreds of aliases.
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000


def build_schema() -> strawberry.Schema:
    # Factories, so that every request gets fresh extension state.
    limits: list[Callable[[], SchemaExtension]] = [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[
            NotFoundError,
            InvalidArgumentError,
            ConflictError,
            IllegalTransitionError,
            NotAuthorizedError,
        ],
        extensions=limits,
    )


def schema_sdl() -> str:
    return build_schema().as_str() + "\n"
