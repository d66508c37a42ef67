"""Visitor queries against the demo content, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import Api

HAEDONG = {"lat": 35.1883, "lon": 129.2233}

NEAR = """
query Near($lat: Float!, $lon: Float!, $radius: Float!, $first: Int, $after: String) {
  pois(filter: {near: {lat: $lat, lon: $lon, radiusM: $radius}}, first: $first, after: $after) {
    __typename
    ... on PoiConnection {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { distanceM node { id name(lang: "en") { text lang } category } }
    }
    ... on Error { code message }
    ... on InvalidArgumentError { argument }
  }
}
"""


async def test_regions_lists_the_three_demo_regions(api: Api):
    data = await api.data('{ regions { slug name(lang: "en") { text } scenes { slug } } }')
    slugs = {region["slug"] for region in data["regions"]}
    assert {"gijang", "namhae", "gokseong"} <= slugs
    for region in data["regions"]:
        assert region["scenes"], f"region {region['slug']} has no scene"


async def test_scene_returns_layers_with_assets_for_the_requested_tier(api: Api):
    query = """
      query Scene($tier: ClientTier!) {
        scene(slug: "gijang-osiria", tier: $tier) {
          __typename
          ... on Scene {
            slug tier origin { lat lon }
            region { slug }
            layers { key kind asset { url mediaType byteSize triangleCount tier } }
          }
        }
      }"""
    desktop = (await api.data(query, {"tier": "DESKTOP"}))["scene"]
    mobile = (await api.data(query, {"tier": "MOBILE"}))["scene"]
    assert desktop["region"]["slug"] == "gijang"
    assert abs(desktop["origin"]["lat"] - 35.19) < 0.05
    terrain = {layer["kind"]: layer for layer in desktop["layers"]}["TERRAIN"]["asset"]
    mobile_terrain = {layer["kind"]: layer for layer in mobile["layers"]}["TERRAIN"]["asset"]
    assert terrain["mediaType"] == "model/gltf-binary"
    assert mobile_terrain["tier"] == "MOBILE"
    assert mobile_terrain["triangleCount"] < terrain["triangleCount"]
    response = await api.http.get(terrain["url"].removeprefix("http://twinland.test"))
    assert response.status_code == 200
    assert response.content[:4] == b"glTF"
    assert len(response.content) == terrain["byteSize"]


async def test_pois_near_haedong_yonggungsa_are_real_and_ordered_by_distance(api: Api):
    data = await api.data(NEAR, {**HAEDONG, "radius": 3000.0, "first": 10})
    connection = data["pois"]
    assert connection["__typename"] == "PoiConnection"
    edges = connection["edges"]
    assert len(edges) >= 5
    assert edges[0]["node"]["id"] == "gijang-osiria:haedong-yonggungsa"
    assert edges[0]["distanceM"] < 100
    distances = [edge["distanceM"] for edge in edges]
    assert distances == sorted(distances)
    assert all(d <= 3000 for d in distances)
    assert connection["totalCount"] >= len(edges)


async def test_paging_through_a_radius_query_gives_each_poi_once(api: Api):
    seen: list[str] = []
    after = None
    while True:
        data = await api.data(NEAR, {**HAEDONG, "radius": 50_000.0, "first": 4, "after": after})
        connection = data["pois"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == connection["totalCount"]


async def test_bbox_category_and_text_filters_combine(api: Api):
    data = await api.data(
        """{ pois(filter: {bbox: {south: 35.1, west: 129.1, north: 35.3, east: 129.3},
                             text: "용궁", categories: [RELIGIOUS_SITE]}) {
               ... on PoiConnection { edges { node { id category } } } } }"""
    )
    ids = [edge["node"]["id"] for edge in data["pois"]["edges"]]
    assert ids == ["gijang-osiria:haedong-yonggungsa"]


async def test_localized_fields_follow_lang_then_accept_language_then_fallback(api: Api):
    query = """query($lang: String) { poi(id: "gijang-osiria:haedong-yonggungsa") {
                 ... on Poi { name(lang: $lang) { text lang translations { lang } } } } }"""
    english = (await api.data(query, {"lang": "en"}))["poi"]["name"]
    assert english["lang"] == "en"
    japanese = await api.data(query, {}, headers={"accept-language": "ja-JP,ja;q=0.9"})
    assert japanese["poi"]["name"]["lang"] == "ja"
    default = await api.data(query, {}, headers={"accept-language": "fr-FR"})
    assert default["poi"]["name"]["lang"] == "ko"  # the region's first default locale
    assert {t["lang"] for t in english["translations"]} == {"ko", "en", "ja", "zh"}


async def test_filter_lang_sets_the_language_of_every_result(api: Api):
    data = await api.data(
        """{ pois(filter: {sceneSlug: "namhae-coast", lang: "zh"}, first: 5) {
              ... on PoiConnection { edges { node { name { lang } } } } } }"""
    )
    assert {edge["node"]["name"]["lang"] for edge in data["pois"]["edges"]} == {"zh"}


async def test_tours_and_tour_return_ordered_stops_with_camera_poses(api: Api):
    data = await api.data(
        """{ tours(sceneSlug: "gijang-osiria") { ... on TourList { tours { id } } } }"""
    )
    tour_id = data["tours"]["tours"][0]["id"]
    tour = (
        await api.data(
            """query($id: ID!) { tour(id: $id) { ... on Tour {
                 estimatedDurationMin routeLengthM
                 stops { position poi { id scene { slug } } camera { headingDeg position { upM } }
                         narration(lang: "en") { text } } } } }""",
            {"id": tour_id},
        )
    )["tour"]
    assert [s["position"] for s in tour["stops"]] == list(range(len(tour["stops"])))
    assert {s["poi"]["scene"]["slug"] for s in tour["stops"]} == {"gijang-osiria"}
    assert tour["estimatedDurationMin"] > 0
    assert tour["routeLengthM"] > 0


async def test_each_demo_scene_has_a_scheduled_public_live_session(api: Api):
    data = await api.data(
        """{ liveSessions(status: [SCHEDULED]) { ... on LiveSessionList {
              liveSessions { id status visibility capacity startsAt scene { slug }
                             tour { id } } } } }"""
    )
    sessions = data["liveSessions"]["liveSessions"]
    scenes = {s["scene"]["slug"] for s in sessions}
    assert {"gijang-osiria", "namhae-coast", "gokseong"} <= scenes
    assert all(s["status"] == "SCHEDULED" and s["capacity"] > 0 for s in sessions)


async def test_a_page_of_pois_with_scenes_and_regions_costs_a_constant_number_of_queries(
    api: Api, statement_counter
):
    query = """query($first: Int) { pois(first: $first) { ... on PoiConnection { edges { node {
                  name { text } scene { slug region { slug name { text } } } } } } } }"""
    await api.data(query, {"first": 5})
    small = statement_counter.count
    statement_counter.count = 0
    await api.data(query, {"first": 50})
    assert statement_counter.count == small


async def test_a_scene_tells_each_client_tier_its_budget_and_formats(api: Api):
    document = """query($tier: ClientTier!) { scene(slug: "gijang-osiria", tier: $tier) {
      ... on Scene { budget { tier maxTriangles maxTexturePx tileCacheMb frameRateHz
        maxScreenSpaceErrorPx geometryCodec textureFormat textureFallbacks reasons } } } }"""

    budgets = {
        tier: (await api.data(document, {"tier": tier}))["scene"]["budget"]
        for tier in ("DESKTOP", "MOBILE", "VR")
    }

    assert budgets["MOBILE"]["tier"] == "MOBILE"
    assert budgets["MOBILE"]["tileCacheMb"] < budgets["DESKTOP"]["tileCacheMb"]
    assert (
        budgets["VR"]["maxTriangles"]
        < budgets["MOBILE"]["maxTriangles"]
        < budgets["DESKTOP"]["maxTriangles"]
    )
    assert budgets["VR"]["frameRateHz"] == 72
    assert all(b["geometryCodec"] == "EXT_meshopt_compression" for b in budgets.values())
    assert all(b["reasons"] for b in budgets.values())


def test_the_pipeline_builds_textures_to_each_tiers_budget():
    from assets_pipeline.textures import PROFILE_MAX_SIZE_PX
    from backend.domain.client_budget import BUDGETS

    assert {tier.value: b.max_texture_px for tier, b in BUDGETS.items()} == PROFILE_MAX_SIZE_PX
