"""No NUL characters in text: PostgreSQL's text types cannot hold U+0000 (the driver fails
on it), and no name, comment or id has a use for one. Documents and variables carrying one
are refused before anything runs, with the same error on every database.

Found by the schema fuzzer (tests/hostile/test_fuzz.py): an ID argument of "\\x00" made
PostgreSQL raise inside a resolver.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension


class _FindNul(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found = True


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class NoNulInText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        finder = _FindNul()
        if context.graphql_document is not None:
            visit(context.graphql_document, finder)
        if context.result is None and (finder.found or _has_nul(context.variables)):
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
