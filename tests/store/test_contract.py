"""The store contract: every test runs against SQLite and the real PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.errors import Conflict
from backend.domain.geo import BoundingBox, NearCircle, haversine_m
from backend.domain.i18n import LocalizedText
from backend.domain.live_session import LiveSessionStatus, ModerationRecord
from backend.domain.poi import PoiCategory
from backend.domain.poi_query import PageRequest, PoiFilter
from backend.domain.text_search import TextQuery
from backend.store.engine import migrate
from backend.store.sql_store import SqlStore
from tests import factories as f

HAEDONG = (35.1883, 129.2233)


async def seed_scene(store: SqlStore, scene_slug: str = "osiria") -> None:
    async with store.transaction() as tx:
        await tx.upsert_region(f.region())
        await tx.upsert_scene(f.scene(scene_slug))


async def all_pages(store: SqlStore, where: PoiFilter, first: int) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = await store.reads.search_pois(where, PageRequest.of(first, after, where.order))
        ids += [hit.poi.id for hit in page.hits]
        if not page.has_next_page:
            return ids
        after = page.hits[-1].cursor


async def test_migrations_are_idempotent(store: SqlStore):
    await migrate(store.engine)
    await migrate(store.engine)
    assert await store.reads.regions() == []


async def test_regions_and_scenes_round_trip(store: SqlStore):
    await seed_scene(store)
    assert await store.reads.regions() == [f.region()]
    assert (await store.reads.scenes_by_slug(["osiria"]))["osiria"] == f.scene()
    assert (await store.reads.scenes_by_region(["gijang"]))["gijang"] == [f.scene()]


async def test_a_poi_round_trips_with_every_field(store: SqlStore):
    from backend.domain.opening_hours import OpeningHours, WeeklyInterval, parse_days, parse_time
    from backend.domain.poi import MediaKind, MediaRef

    await seed_scene(store)
    rich = f.poi(
        "temple",
        *HAEDONG,
        category=PoiCategory.RELIGIOUS_SITE,
        description=LocalizedText.of("d", {"ko": "바닷가 사찰", "en": "A temple by the sea"}),
        anchor_m=(612.5, -350.25, 15.0),
        tags=("temple", "sea"),
        opening_hours=OpeningHours(
            False,
            (
                WeeklyInterval(
                    parse_days("d", "mo-su"), parse_time("o", "04:30"), parse_time("c", "19:20")
                ),
            ),
        ),
        accessibility=LocalizedText.of("a", {"en": "Steep steps"}),
        media=(MediaRef(MediaKind.IMAGE, "https://example.org/a.jpg", None, "K", "CC BY 4.0"),),
    )
    async with store.transaction() as tx:
        await tx.upsert_poi(rich, "manifest")
    assert (await store.reads.pois_by_id([rich.id]))[rich.id] == rich


async def test_radius_search_returns_only_pois_within_the_radius_nearest_first(store: SqlStore):
    await seed_scene(store)
    rng = random.Random(7)
    pois = [
        f.poi(f"p{i}", HAEDONG[0] + rng.uniform(-0.05, 0.05), HAEDONG[1] + rng.uniform(-0.05, 0.05))
        for i in range(200)
    ]
    async with store.transaction() as tx:
        for poi in pois:
            await tx.upsert_poi(poi, "api")
    where = PoiFilter(near=NearCircle.of("near", *HAEDONG, 3000.0))
    page = await store.reads.search_pois(where, PageRequest.of(100, None, where.order))
    expected = sorted(
        (haversine_m(*HAEDONG, p.location.lat_deg, p.location.lon_deg), p.id) for p in pois
    )
    expected = [(d, i) for d, i in expected if d <= 3000.0]
    assert [h.poi.id for h in page.hits] == [i for _, i in expected][:100]
    assert [h.distance_m for h in page.hits] == pytest.approx([d for d, _ in expected][:100])
    assert await store.reads.count_pois(where) == len(expected)


async def test_paging_with_cursors_visits_every_match_once_in_order(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        # Several POIs at the same spot: ties must be broken by a stable key, not dropped.
        for i in range(23):
            await tx.upsert_poi(f.poi(f"p{i}", 35.19 + (i % 5) * 0.001, 129.22), "api")
    where = PoiFilter(near=NearCircle.of("near", 35.19, 129.22, 5000.0))
    paged = await all_pages(store, where, first=4)
    single = await store.reads.search_pois(where, PageRequest.of(100, None, where.order))
    assert paged == [h.poi.id for h in single.hits]
    assert len(set(paged)) == 23


async def test_bbox_search_is_exact_at_the_edges(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        await tx.upsert_poi(f.poi("inside", 35.1, 129.1), "api")
        await tx.upsert_poi(f.poi("edge", 35.2, 129.2), "api")
        await tx.upsert_poi(f.poi("just-out", 35.2000001, 129.15), "api")
    where = PoiFilter(bbox=BoundingBox.of("bbox", 35.0, 129.0, 35.2, 129.2))
    assert sorted(await all_pages(store, where, 10)) == ["osiria:edge", "osiria:inside"]


async def test_bbox_across_the_antimeridian_finds_both_sides(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        await tx.upsert_poi(f.poi("east", -17.0, 179.5), "api")
        await tx.upsert_poi(f.poi("west", -17.0, -179.5), "api")
        await tx.upsert_poi(f.poi("far", -17.0, 0.0), "api")
    where = PoiFilter(bbox=BoundingBox.of("bbox", -20.0, 179.0, -10.0, -179.0))
    assert sorted(await all_pages(store, where, 10)) == ["osiria:east", "osiria:west"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("용궁", ["osiria:temple"]),  # a two-syllable Korean fragment
        ("궁", ["osiria:temple"]),  # a single syllable
        ("해동용궁사", ["osiria:temple"]),
        ("YONGGUNG", ["osiria:temple"]),  # case-insensitive
        ("海東", ["osiria:temple"]),
        ("루지 부산", ["osiria:luge"]),  # every word must match
        ("용궁 루지", []),
        ("바다", ["osiria:luge", "osiria:temple"]),  # a name match ranks before a description
    ],
)
async def test_text_search_finds_substrings_in_every_language(store: SqlStore, query, expected):
    await seed_scene(store)
    async with store.transaction() as tx:
        await tx.upsert_poi(
            f.poi(
                "temple",
                *HAEDONG,
                name=LocalizedText.of(
                    "n", {"ko": "해동용궁사", "en": "Haedong Yonggungsa", "ja": "海東龍宮寺"}
                ),
                description=LocalizedText.of("d", {"ko": "바다 옆 절"}),
            ),
            "api",
        )
        await tx.upsert_poi(
            f.poi(
                "luge",
                35.1934,
                129.2125,
                name=LocalizedText.of(
                    "n", {"ko": "스카이라인 루지 부산 바다", "en": "Skyline Luge Busan"}
                ),
            ),
            "api",
        )
    where = PoiFilter(text=TextQuery.parse("text", query))
    assert await all_pages(store, where, 10) == expected


async def test_text_search_follows_updates_and_deletes(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        await tx.upsert_poi(
            f.poi("x", 35.19, 129.21, name=LocalizedText.of("n", {"ko": "옛이름"})), "api"
        )
        await tx.upsert_poi(
            f.poi("x", 35.19, 129.21, name=LocalizedText.of("n", {"ko": "새이름"})), "api"
        )
    old = PoiFilter(text=TextQuery.parse("text", "옛이름"))
    new = PoiFilter(text=TextQuery.parse("text", "새이름"))
    assert await all_pages(store, old, 10) == []
    assert await all_pages(store, new, 10) == ["osiria:x"]
    async with store.transaction() as tx:
        assert await tx.delete_poi("osiria:x")
    assert await all_pages(store, new, 10) == []


async def test_filters_combine(store: SqlStore):
    await seed_scene(store)
    await seed_scene(store, "other")
    async with store.transaction() as tx:
        await tx.upsert_poi(f.poi("a", 35.19, 129.22, category=PoiCategory.FOOD), "api")
        await tx.upsert_poi(f.poi("b", 35.19, 129.22, category=PoiCategory.BEACH), "api")
        await tx.upsert_poi(
            f.poi("c", 35.19, 129.22, category=PoiCategory.FOOD, scene_slug="other"), "api"
        )
    where = PoiFilter(
        scene_slug="osiria",
        categories=frozenset({PoiCategory.FOOD}),
        near=NearCircle.of("near", 35.19, 129.22, 100.0),
    )
    assert await all_pages(store, where, 10) == ["osiria:a"]
    assert await store.reads.count_pois(where) == 1


async def test_a_poi_that_a_tour_visits_cannot_be_deleted(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        await tx.upsert_poi(f.poi("a", 35.19, 129.22), "api")
        await tx.upsert_tour(f.tour("walk", ["a"]), "api")
    with pytest.raises(Conflict, match="osiria:walk"):
        async with store.transaction() as tx:
            await tx.delete_poi("osiria:a")
    assert "osiria:a" in await store.reads.pois_by_id(["osiria:a"])


async def test_tours_keep_their_stop_order_and_replace_stops_on_update(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        for key in "abc":
            await tx.upsert_poi(f.poi(key, 35.19, 129.22), "api")
        await tx.upsert_tour(f.tour("walk", ["c", "a", "b"]), "api")
    tour = (await store.reads.tours_by_id(["osiria:walk"]))["osiria:walk"]
    assert [s.poi_key for s in tour.stops] == ["c", "a", "b"]
    async with store.transaction() as tx:
        await tx.upsert_tour(f.tour("walk", ["b"]), "api")
    tour = (await store.reads.tours_by_id(["osiria:walk"]))["osiria:walk"]
    assert [s.poi_key for s in tour.stops] == ["b"]
    assert (await store.reads.tours_by_scene(["osiria"]))["osiria"] == [tour]


async def test_a_failed_transaction_changes_nothing(store: SqlStore):
    await seed_scene(store)
    with pytest.raises(Conflict):  # noqa: PT012 - the whole transaction is what fails
        async with store.transaction() as tx:
            await tx.upsert_poi(f.poi("new", 35.19, 129.22), "api")
            await tx.insert_poi(f.poi("new", 35.19, 129.22), "api")
    assert await store.reads.pois_by_id(["osiria:new"]) == {}


async def test_live_session_status_changes_are_compare_and_set(store: SqlStore):
    await seed_scene(store)
    session = f.live_session()
    async with store.transaction() as tx:
        await tx.insert_live_session(session)
    async with store.transaction() as tx:
        await tx.update_live_session(
            session.transition(LiveSessionStatus.LIVE), LiveSessionStatus.SCHEDULED
        )
    # A second writer that read the session while it was still scheduled loses.
    with pytest.raises(Conflict):
        async with store.transaction() as tx:
            await tx.update_live_session(
                session.transition(LiveSessionStatus.CANCELLED), LiveSessionStatus.SCHEDULED
            )
    stored = (await store.reads.live_sessions_by_id([session.id]))[session.id]
    assert stored.status is LiveSessionStatus.LIVE
    assert stored.starts_at == session.starts_at


async def test_unlisted_sessions_are_listed_only_on_request(store: SqlStore):
    from backend.domain.live_session import Visibility

    await seed_scene(store)
    async with store.transaction() as tx:
        await tx.insert_live_session(f.live_session("open"))
        await tx.insert_live_session(f.live_session("quiet", visibility=Visibility.UNLISTED))
    public = await store.reads.list_live_sessions(
        statuses=None, scene_slug="osiria", include_unlisted=False
    )
    everything = await store.reads.list_live_sessions(
        statuses=[LiveSessionStatus.SCHEDULED], scene_slug=None, include_unlisted=True
    )
    assert [s.key for s in public] == ["open"]
    assert sorted(s.key for s in everything) == ["open", "quiet"]


async def test_nearest_pages_match_a_full_sort_in_dense_and_sparse_areas(store: SqlStore):
    # A dense cluster near the centre and a sparse scatter out to 20 km: paging must
    # cross from the first small search circle into the growing ones without gaps.
    await seed_scene(store)
    rng = random.Random(11)
    spots = [(rng.gauss(0, 0.002), rng.gauss(0, 0.002)) for _ in range(60)]
    spots += [(rng.uniform(-0.18, 0.18), rng.uniform(-0.2, 0.2)) for _ in range(60)]
    pois = [f.poi(f"p{i}", HAEDONG[0] + a, HAEDONG[1] + b) for i, (a, b) in enumerate(spots)]
    async with store.transaction() as tx:
        for poi in pois:
            await tx.upsert_poi(poi, "api")
    where = PoiFilter(near=NearCircle.of("near", *HAEDONG, 15_000.0))
    expected = sorted(
        (haversine_m(*HAEDONG, p.location.lat_deg, p.location.lon_deg), p.id) for p in pois
    )

    paged = await all_pages(store, where, first=7)

    assert paged == [i for d, i in expected if d <= 15_000.0]


async def test_text_results_put_name_matches_first_across_pages(store: SqlStore):
    await seed_scene(store)
    async with store.transaction() as tx:
        for i in range(9):
            named = i % 3 == 0  # every third POI has the word in its name
            poi = f.poi(
                f"p{i}",
                35.19,
                129.22,
                name=LocalizedText.of("n", {"ko": f"해변 {i}" if named else f"장소 {i}"}),
                description=None if named else LocalizedText.of("d", {"ko": "해변 근처"}),
            )
            await tx.upsert_poi(poi, "api")
    where = PoiFilter(text=TextQuery.parse("text", "해변"))

    paged = await all_pages(store, where, first=2)

    assert paged == [f"osiria:p{i}" for i in (0, 3, 6, 1, 2, 4, 5, 7, 8)]


async def test_moderation_is_logged_in_order_and_the_latest_ban_or_unban_wins(store: SqlStore):
    at = datetime(2027, 5, 1, 10, 0, tzinfo=UTC)

    def record(member: int, action: str, minutes: int) -> ModerationRecord:
        return ModerationRecord(
            "gijang:tour",
            member,
            action,
            1,
            "Mod",
            "moderator",
            "spam",
            at + timedelta(minutes=minutes),
        )

    async with store.transaction() as tx:
        for entry in (
            record(5, "ban", 0),
            record(6, "ban", 1),
            record(6, "unban", 2),
            record(7, "mute", 3),
        ):
            await tx.record_live_moderation(entry)
        await tx.record_live_moderation(
            ModerationRecord("other:session", 8, "ban", 1, "Mod", "moderator", None, at)
        )

    assert await store.reads.live_bans("gijang:tour") == {5}
    log = await store.reads.live_moderation_log("gijang:tour")
    assert [(r.member_id, r.action) for r in log] == [
        (5, "ban"),
        (6, "ban"),
        (6, "unban"),
        (7, "mute"),
    ]
    assert log[0].at == at
    assert log[0].reason == "spam"
