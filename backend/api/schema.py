"""The GraphQL schema, and its SDL as committed in graphql/schema.graphql."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
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
from backend.api.subscription import Subscription

# Coarse guards until the hardening issue adds cost limits: a real client never nests
# deeper than ~10 or sends hundreds of aliases.
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000
DOCUMENT_CACHE_SIZE = 512


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    """The schema; ``introspection=False`` (production mode) refuses ``__schema`` and
    ``__type`` queries, so the public API does not hand out its own map."""
    # The depth and alias limits are validation rule *classes*; build them once so every
    # request validates with the same rules and the validation cache can hit.
    limit_rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    # Factories, so that every request gets fresh extension state.
    limits: list[Callable[[], SchemaExtension]] = [
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Clients repeat a handful of documents: parse and validate each once (LRU,
        # bounded so unique junk queries cannot grow memory).
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ]
    if not introspection:
        limits.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
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
