"""Expected failures come back as typed errors naming the problem; nothing changes."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.test_queries import HAEDONG, NEAR

NOT_FOUND_SELECTION = "{ __typename ... on NotFoundError { code resource key } }"


@pytest.mark.parametrize(
    ("field", "call", "resource"),
    [
        ("region", 'region(slug: "atlantis")', "region"),
        ("scene", 'scene(slug: "atlantis")', "scene"),
        ("poi", 'poi(id: "gijang-osiria:nowhere")', "POI"),
        ("tour", 'tour(id: "gijang-osiria:nowhere")', "tour"),
        ("liveSession", 'liveSession(id: "gijang-osiria:nowhere")', "live session"),
        ("tours", 'tours(sceneSlug: "atlantis")', "scene"),
    ],
)
async def test_unknown_slugs_and_ids_give_a_typed_not_found(api: Api, field, call, resource):
    result = (await api.data(f"{{ {call} {NOT_FOUND_SELECTION} }}"))[field]
    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["resource"] == resource


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({**HAEDONG, "radius": 1000.0, "first": 101}, "first"),
        ({**HAEDONG, "radius": 1000.0, "first": 0}, "first"),
        ({**HAEDONG, "radius": -5.0}, "filter.near.radiusM"),
        ({"lat": 91.0, "lon": 129.0, "radius": 1000.0}, "filter.near.lat"),
        ({"lat": 35.0, "lon": 181.0, "radius": 1000.0}, "filter.near.lon"),
        ({**HAEDONG, "radius": 1000.0, "after": "not-a-cursor"}, "after"),
    ],
)
async def test_invalid_arguments_are_rejected_naming_the_argument(api: Api, variables, argument):
    result = (await api.data(NEAR, variables))["pois"]
    assert result["__typename"] == "InvalidArgumentError"
    assert result["code"] == "INVALID_ARGUMENT"
    assert result["argument"] == argument


async def test_an_unknown_language_is_rejected_naming_the_argument(api: Api):
    result = await api.data(
        """{ pois(filter: {lang: "fr"}) {
            __typename ... on InvalidArgumentError { argument message } } }"""
    )
    assert result["pois"]["argument"] == "filter.lang"
    assert "fr" in result["pois"]["message"]
    body = await api.query(
        '{ poi(id: "gijang-osiria:haedong-yonggungsa") '
        '{ ... on Poi { name(lang: "xx") { text } } } }'
    )
    assert "lang" in body["errors"][0]["message"]


async def test_an_unknown_category_is_rejected_naming_the_argument(api: Api):
    body = await api.query(
        "query($c: [PoiCategory!]) { pois(filter: {categories: $c}) { __typename } }",
        {"c": ["CASINO"]},
    )
    # GraphQL validation rejects it before execution, naming the variable and the path.
    message = body["errors"][0]["message"]
    assert "$c" in message
    assert "CASINO" in message
    assert "PoiCategory" in message
    assert body.get("data") is None


async def test_a_scene_filter_naming_an_unknown_scene_is_not_found(api: Api):
    result = await api.data(
        '{ pois(filter: {sceneSlug: "atlantis"}) { __typename ... on NotFoundError { key } } }'
    )
    assert result["pois"] == {"__typename": "NotFoundError", "key": "atlantis"}


async def test_malformed_ids_are_invalid_arguments(api: Api):
    result = await api.data(
        '{ poi(id: "no-colon") { __typename ... on InvalidArgumentError { argument } } }'
    )
    assert result["poi"] == {"__typename": "InvalidArgumentError", "argument": "id"}


async def test_a_query_nested_beyond_the_depth_limit_is_refused_every_time(api: Api):
    nested = "slug"
    for _ in range(8):  # region → scenes → region → … : 16 levels
        nested = f"scenes {{ region {{ {nested} }} }}"
    document = f"{{ regions {{ {nested} }} }}"

    for _ in range(2):  # the second time comes from the validation cache
        body = await api.query(document)
        assert body.get("data") is None
        assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(api: Api):
    aliases = " ".join(f"a{i}: regions {{ slug }}" for i in range(40))

    body = await api.query(f"{{ {aliases} }}")

    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"].lower()
