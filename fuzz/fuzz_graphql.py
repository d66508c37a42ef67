"""Coverage-guided fuzzing of what a GraphQL document meets before anything runs, in the
service's own schema (backend/api/schema.py): the token limit, parsing, validation with
the depth and alias limits, the NUL guard, the error mask, and the cost estimate
(backend/api/cost.py) of every document that passed.

    .tools/bin/uv sync --frozen --inexact --group fuzz   # once: atheris into .venv
    .venv/bin/python fuzz/fuzz_graphql.py -max_total_time=600

An input is the document's text (UTF-8, undecodable bytes replaced). Expected refusals
are GraphQL errors of their own making (syntax, validation, a limit); an error that wraps
any other exception, or an ``INTERNAL`` one, is a finding, and so is a cost that is not
a whole number of at least 0. Resolvers never run (they need a database): the last guard
stops every operation once it has its cost. The schema fuzzer of tests/hostile/
test_fuzz.py runs generated operations against the whole app. Seeds are the documents
this project ships (graphql/operations, web/operations).
"""

from __future__ import annotations

from collections.abc import Iterator

import atheris
from harness import REPO, run

with atheris.instrument_imports(include=["graphql", "strawberry", "backend.api"]):
    from graphql import ExecutionResult, GraphQLError
    from strawberry.extensions import SchemaExtension

    from backend.api.cost import operation_cost
    from backend.api.schema import build_schema


class CostThenStop(SchemaExtension):
    """The cost estimate as the cost guard makes it, then an empty result instead of
    running the resolvers."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            cost = operation_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
            )
            if not isinstance(cost, int) or cost < 0:
                raise AssertionError(f"cost {cost!r} for a valid document")
            context.result = ExecutionResult(data=None, errors=None)
        yield


SCHEMA = build_schema(introspection=False, guards=[CostThenStop])


def test_one_input(data: bytes) -> None:
    result = SCHEMA.execute_sync(data.decode("utf-8", errors="replace"))
    for error in result.errors or []:
        if (error.extensions or {}).get("code") == "INTERNAL":
            raise AssertionError(f"masked internal error: {error.message}")
        cause = error.original_error
        if cause is not None and not isinstance(cause, GraphQLError):
            raise cause


def seeds() -> list[bytes]:
    folders = (REPO / "graphql" / "operations", REPO / "web" / "operations")
    return [path.read_bytes() for folder in folders for path in sorted(folder.glob("*.graphql"))]


if __name__ == "__main__":
    run("graphql", test_one_input, seeds())
