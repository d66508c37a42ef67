"""The GraphQL schema, and its SDL as committed in graphql/schema.graphql."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)

from backend.api.error_mask import InternalErrorMask
from backend.api.errors import (
    ConflictError,
    IllegalTransitionError,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
)
from backend.api.limits import (
    DOCUMENT_CACHE_SIZE,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_TOKENS,
    depth_limit_rules,
)
from backend.api.mutation import Mutation
from backend.api.query import Query
from backend.api.subscription import Subscription
from backend.api.text_guard import NoNulInText


def build_schema(
    *,
    introspection: bool = True,
    guards: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The schema; ``introspection=False`` (production mode) refuses ``__schema`` and
    ``__type`` queries, so the public API does not hand out its own map. ``guards`` are
    extension factories run on every operation after validation (the cost limit)."""
    # The depth and alias limits are validation rule *classes*; build them once so every
    # request validates with the same rules and the validation cache can hit.
    limit_rules = [
        *depth_limit_rules(MAX_DEPTH),
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
    limits.append(NoNulInText)
    limits.extend(guards)
    limits.append(InternalErrorMask)
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
