"""No NUL characters in text: PostgreSQL's text types cannot hold U+0000 (the driver fails
on it), and no name, comment or id has a use for one. Documents and variables carrying one
are refused before anything runs, with the same error on every database.

Found by the schema fuzzer (tests/hostile/test_fuzz.py): an ID argument of "\\x00" made
PostgreSQL raise inside a resolver.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from backend.api.limits import DOCUMENT_CACHE_SIZE


class _FindNul(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found = True


def _walk(document: DocumentNode) -> bool:
    finder = _FindNul()
    visit(document, finder)
    return finder.found


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


# query text -> whether its document holds a NUL; keyed by the text alone, because
# DocumentNode hashes its whole tree (slower than the walk it would save)
_SEEN: OrderedDict[str, bool] = OrderedDict()


def _document_has_nul(query: str, document: DocumentNode) -> bool:
    """Walking a document costs about a millisecond, and clients repeat a handful of
    documents: each distinct text is walked once (LRU, DOCUMENT_CACHE_SIZE texts)."""
    found = _SEEN.get(query)
    if found is None:
        found = _SEEN[query] = _walk(document)
        if len(_SEEN) > DOCUMENT_CACHE_SIZE:
            _SEEN.popitem(last=False)
    else:
        _SEEN.move_to_end(query)
    return found


class NoNulInText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        in_document = document is not None and (
            _document_has_nul(context.query, document)
            if context.query is not None
            else _walk(document)
        )
        if context.result is None and (in_document or _has_nul(context.variables)):
            context.result = GraphQLExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "text may not contain NUL characters (U+0000)",
                        extensions={"code": "INVALID_ARGUMENT"},
                    )
                ],
            )
        yield
