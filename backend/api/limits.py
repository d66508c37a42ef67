"""Shape limits of GraphQL documents, checked before the cost estimate (backend.api.cost):
a real client never nests deeper than ~10 or sends hundreds of aliases."""

from __future__ import annotations

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    ValidationContext,
    Visitor,
    visit,
)
from strawberry.extensions import QueryDepthLimiter

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000
DOCUMENT_CACHE_SIZE = 512  # parsed and validated documents kept, and allow-list hashes


def depth_limit_rules(max_depth: int = MAX_DEPTH) -> list[type[ASTValidationRule]]:
    """strawberry's depth limiter, except on documents that spread a fragment they never
    define: it looks the fragment up and fails with KeyError (an unmasked, code-less
    error, found by fuzzing). graphql-core's own rule answers those, naming the fragment."""
    rules = QueryDepthLimiter(max_depth=max_depth).validation_rules
    return [_unless_unknown_fragments(rule) for rule in rules]


def _unless_unknown_fragments(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    # a subclass of a class built at run time: mypy cannot check the base
    class UnlessUnknownFragments(rule):  # type: ignore[misc]
        def __init__(self, context: ValidationContext) -> None:
            if _spreads_unknown_fragments(context.document):
                ASTValidationRule.__init__(self, context)
            else:
                super().__init__(context)

    return UnlessUnknownFragments


def _spreads_unknown_fragments(document: DocumentNode) -> bool:
    defined = {d.name.value for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    spread: set[str] = set()

    class Spreads(Visitor):
        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
            spread.add(node.name.value)

    visit(document, Spreads())
    return not spread <= defined
