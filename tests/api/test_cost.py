"""The cost estimate of GraphQL operations (backend.api.cost), on the real schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, parse, validate

from backend.api.cost import DEFAULT_LIST_SIZE, MAX_PAGE_SIZE, MUTATION_COST, operation_cost
from backend.api.schema import build_schema

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


def cost(schema: GraphQLSchema, document: str, **variables: object) -> int:
    parsed = parse(document)
    assert validate(schema, parsed) == []
    return operation_cost(schema, parsed, None, variables)


def test_scalars_are_free_and_an_object_costs_one(schema: GraphQLSchema) -> None:
    assert cost(schema, '{ verifyBadge(code: "TL-0000-0000-0000") { __typename } }') == 1


def test_a_list_without_a_page_size_counts_the_default_number_of_items(
    schema: GraphQLSchema,
) -> None:
    assert cost(schema, "{ regions { slug } }") == DEFAULT_LIST_SIZE * 1
    # nested lists multiply
    assert cost(schema, "{ regions { slug scenes { slug } } }") == DEFAULT_LIST_SIZE * (
        1 + DEFAULT_LIST_SIZE
    )


def test_a_page_size_comes_from_the_argument_a_variable_or_the_default(
    schema: GraphQLSchema,
) -> None:
    selection = "{ __typename ... on PoiConnection { edges { node { id } } } }"
    literal = cost(schema, f"{{ pois(first: 7) {selection} }}")
    from_variable = cost(schema, f"query($n: Int) {{ pois(first: $n) {selection} }}", n=7)
    by_default = cost(schema, f"{{ pois {selection} }}")
    # a connection: its page is counted once, not again for the edges list under it
    assert literal == from_variable == 7 * (1 + 1 * (1 + 1))
    assert by_default == 20 * (1 + 1 * (1 + 1))


def test_a_page_size_past_the_maximum_counts_as_the_maximum(schema: GraphQLSchema) -> None:
    huge = cost(schema, "{ pois(first: 99999999) { __typename } }")
    assert huge == MAX_PAGE_SIZE * 1


def test_fragments_count_wherever_they_are_spread(schema: GraphQLSchema) -> None:
    inline = cost(schema, "{ regions { scenes { slug } } }")
    spread = cost(
        schema,
        "query { regions { ...Scenes } } fragment Scenes on Region { scenes { slug } }",
    )
    twice = cost(
        schema,
        "query { regions { ...Scenes ...Scenes } } fragment Scenes on Region { scenes { slug } }",
    )
    assert inline == spread
    assert twice - spread == DEFAULT_LIST_SIZE * DEFAULT_LIST_SIZE


def test_every_mutation_field_adds_the_write_cost(schema: GraphQLSchema) -> None:
    one = cost(schema, "mutation { issueVisitorToken { token } }")
    two = cost(
        schema,
        "mutation { a: issueVisitorToken { token } b: issueVisitorToken { token } }",
    )
    assert one == MUTATION_COST + 1
    assert two == 2 * one


def test_the_named_operation_is_the_one_costed(schema: GraphQLSchema) -> None:
    document = parse("query Cheap { __typename } query Dear { regions { slug } }")
    assert operation_cost(schema, document, "Cheap") == 0
    assert operation_cost(schema, document, "Dear") == DEFAULT_LIST_SIZE
    assert operation_cost(schema, document, None) == 0  # ambiguous: execution refuses it


@pytest.mark.parametrize("path", sorted(OPERATIONS.glob("*.graphql")), ids=lambda p: p.stem)
def test_every_shipped_operation_is_well_within_the_default_maximum(
    schema: GraphQLSchema, path: Path
) -> None:
    # the default maximum is 5,000: half of it leaves room for richer clients
    assert cost(schema, path.read_text()) <= 5_000 / 2
