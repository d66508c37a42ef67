"""The SQL store: the ``Store`` port over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.domain.errors import Conflict
from backend.domain.live_session import (
    LiveSession,
    LiveSessionStatus,
    ModerationRecord,
    Visibility,
)
from backend.domain.poi import Poi
from backend.domain.poi_query import Cursor, PageRequest, PoiFilter, PoiOrder
from backend.domain.region import Region
from backend.domain.scene import Scene
from backend.domain.tour import Tour
from backend.ports import Origin, PoiHit, PoiPage
from backend.store import codec
from backend.store.changes import CHANGES_NOTHING
from backend.store.identity_sql import SqlIdentityStore
from backend.store.participation_sql import ParticipationReads, ParticipationWrites
from backend.store.poi_search import bind_values, count_statement, page_statement, shape_of
from backend.store.poll_sql import PollReads, PollWrites
from backend.store.publishing_sql import PublishingReads, PublishingWrites
from backend.store.scenario_sql import ScenarioReads, ScenarioWrites
from backend.store.stamp_sql import StampReads, StampWrites
from backend.store.tables import (
    live_moderation,
    live_sessions,
    pois,
    regions,
    scenes,
    tour_stops,
    tours,
)


def _now() -> datetime:
    return datetime.now(UTC)


# Radius search starts with this circle and grows it until a page is full.
FIRST_RING_M = 250.0
RING_GROWTH = 4.0


class SqlReads(PublishingReads, ScenarioReads, ParticipationReads, PollReads, StampReads):
    """Queries; each runs on its own pooled connection unless bound to a transaction."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection | None = None) -> None:
        self._engine = engine
        self._connection = connection
        self._dialect = engine.dialect.name

    async def _rows(
        self, statement: sa.Executable, values: dict[str, Any] | None = None
    ) -> Sequence[sa.RowMapping]:
        if self._connection is not None:
            return (await self._connection.execute(statement, values)).mappings().all()
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, values)).mappings().all()

    async def regions(self) -> list[Region]:
        rows = await self._rows(sa.select(regions).order_by(regions.c.slug))
        return [codec.region_from(row) for row in rows]

    async def regions_by_slug(self, slugs: Sequence[str]) -> dict[str, Region]:
        rows = await self._rows(sa.select(regions).where(regions.c.slug.in_(list(slugs))))
        return {row["slug"]: codec.region_from(row) for row in rows}

    async def scenes_by_slug(self, slugs: Sequence[str]) -> dict[str, Scene]:
        rows = await self._rows(sa.select(scenes).where(scenes.c.slug.in_(list(slugs))))
        return {row["slug"]: codec.scene_from(row) for row in rows}

    async def scenes_by_region(self, region_slugs: Sequence[str]) -> dict[str, list[Scene]]:
        rows = await self._rows(
            sa.select(scenes)
            .where(scenes.c.region_slug.in_(list(region_slugs)))
            .order_by(scenes.c.slug)
        )
        out: dict[str, list[Scene]] = defaultdict(list)
        for row in rows:
            out[row["region_slug"]].append(codec.scene_from(row))
        return out

    async def pois_by_id(self, ids: Sequence[str]) -> dict[str, Poi]:
        rows = await self._rows(sa.select(pois).where(pois.c.id.in_(list(ids))))
        return {row["id"]: codec.poi_from(row) for row in rows}

    async def search_pois(self, where: PoiFilter, page: PageRequest) -> PoiPage:
        limit = page.first + 1  # one more than the page: is there a next page?
        after = (page.after.sort_key, page.after.row) if page.after is not None else None
        if where.order is PoiOrder.DISTANCE:
            keys = await self._nearest(where, after, limit)
        elif where.order is PoiOrder.RELEVANCE:
            keys = await self._by_relevance(where, after, limit)
        else:
            keys = await self._page(where, "row", after, limit)
        shown = keys[: page.first]
        full = await self._rows(sa.select(pois).where(pois.c.row.in_([row for _, row in shown])))
        by_row = {r["row"]: r for r in full}
        hits = [
            PoiHit(
                poi=codec.poi_from(by_row[row]),
                cursor=Cursor(where.order, key, row).encode(),
                distance_m=key if where.order is PoiOrder.DISTANCE else None,
            )
            for key, row in shown
        ]
        return PoiPage(hits=hits, has_next_page=len(keys) > page.first)

    async def _page(
        self,
        where: PoiFilter,
        order: str,
        after: tuple[float, int] | None,
        limit: int,
        rank: str | None = None,
    ) -> list[tuple[float, int]]:
        """(sort key, row) of up to ``limit`` matches after the cursor."""
        shape = shape_of(self._dialect, where, order=order, after=after is not None, rank=rank)
        values = bind_values(where) | {"page_limit": limit}
        if after is not None:
            values |= {"after_key": after[0], "after_row": after[1]}
        rows = await self._rows(page_statement(shape), values)
        return [(float(r["sort_key"]), int(r["row"])) for r in rows]

    async def _nearest(
        self, where: PoiFilter, after: tuple[float, int] | None, limit: int
    ) -> list[tuple[float, int]]:
        """Nearest first, searched in growing circles: in a dense city the first small
        circle already holds a page, so the index hands over tens of candidates, not the
        thousands inside a large radius. Exact: when a circle of radius r holds ``limit``
        rows, everything outside it is farther than all of them."""
        assert where.near is not None
        radius_m = where.near.radius_m
        ring_m = max(FIRST_RING_M, 2.0 * after[0]) if after else FIRST_RING_M
        while True:
            ring_m = min(ring_m, radius_m)
            ring = replace(where, near=replace(where.near, radius_m=ring_m))
            keys = await self._page(ring, "distance", after, limit)
            if len(keys) >= limit or ring_m >= radius_m:
                return keys
            ring_m *= RING_GROWTH

    async def _by_relevance(
        self, where: PoiFilter, after: tuple[float, int] | None, limit: int
    ) -> list[tuple[float, int]]:
        """Name matches (key 0) before other matches (key 1), each in stored order: two
        streaming passes that stop at a page, instead of ranking every match."""
        keys: list[tuple[float, int]] = []
        for rank_key, rank in ((0.0, "name"), (1.0, "other")):
            if after is not None and after[0] > rank_key:
                continue
            resume = after if after is not None and after[0] == rank_key else None
            found = await self._page(where, "row", resume, limit - len(keys), rank)
            keys += [(rank_key, row) for _, row in found]
            if len(keys) >= limit:
                break
        return keys

    async def count_pois(self, where: PoiFilter) -> int:
        shape = shape_of(self._dialect, where, order="row", after=False)
        rows = await self._rows(count_statement(shape), bind_values(where))
        return int(next(iter(rows[0].values())))

    async def _tours(self, condition: sa.ColumnElement[bool]) -> list[Tour]:
        tour_rows = await self._rows(sa.select(tours).where(condition).order_by(tours.c.row))
        if not tour_rows:
            return []
        stop_rows = await self._rows(
            sa.select(tour_stops, pois.c.key.label("poi_key"))
            .join(pois, pois.c.row == tour_stops.c.poi_row)
            .where(tour_stops.c.tour_row.in_([row["row"] for row in tour_rows]))
            .order_by(tour_stops.c.tour_row, tour_stops.c.position)
        )
        stops_by_tour: dict[int, list[Any]] = defaultdict(list)
        for stop in stop_rows:
            stops_by_tour[stop["tour_row"]].append(codec.stop_from(stop, stop["poi_key"]))
        return [
            Tour(
                scene_slug=row["scene_slug"],
                key=row["key"],
                name=codec.required_text_in(row["name"]),
                description=codec.text_in(row["description"]),
                estimated_duration_min=row["estimated_duration_min"],
                stops=tuple(stops_by_tour[row["row"]]),
            )
            for row in tour_rows
        ]

    async def tours_by_id(self, ids: Sequence[str]) -> dict[str, Tour]:
        return {tour.id: tour for tour in await self._tours(tours.c.id.in_(list(ids)))}

    async def tours_by_scene(self, scene_slugs: Sequence[str]) -> dict[str, list[Tour]]:
        out: dict[str, list[Tour]] = defaultdict(list)
        for tour in await self._tours(tours.c.scene_slug.in_(list(scene_slugs))):
            out[tour.scene_slug].append(tour)
        return out

    async def live_sessions_by_id(self, ids: Sequence[str]) -> dict[str, LiveSession]:
        rows = await self._rows(sa.select(live_sessions).where(live_sessions.c.id.in_(list(ids))))
        return {row["id"]: codec.live_session_from(row) for row in rows}

    async def live_bans(self, session_id: str) -> set[int]:
        rows = await self._rows(
            sa.select(live_moderation.c.member_id, live_moderation.c.action)
            .where(
                (live_moderation.c.session_id == session_id)
                & live_moderation.c.action.in_(["ban", "unban"])
            )
            .order_by(live_moderation.c.row)
        )
        banned: set[int] = set()
        for row in rows:  # replay in order: the latest word on each member wins
            (banned.add if row["action"] == "ban" else banned.discard)(int(row["member_id"]))
        return banned

    async def live_moderation_log(self, session_id: str) -> list[ModerationRecord]:
        rows = await self._rows(
            sa.select(live_moderation)
            .where(live_moderation.c.session_id == session_id)
            .order_by(live_moderation.c.row)
        )
        return [
            ModerationRecord(
                session_id=row["session_id"],
                member_id=int(row["member_id"]),
                action=row["action"],
                actor_id=int(row["actor_id"]),
                actor_name=row["actor_name"],
                actor_role=row["actor_role"],
                reason=row["reason"],
                at=row["at"],
            )
            for row in rows
        ]

    async def list_live_sessions(
        self,
        *,
        statuses: Sequence[LiveSessionStatus] | None,
        scene_slug: str | None,
        include_unlisted: bool,
    ) -> list[LiveSession]:
        stmt = sa.select(live_sessions).order_by(live_sessions.c.starts_at, live_sessions.c.row)
        if statuses:
            stmt = stmt.where(live_sessions.c.status.in_([s.value for s in statuses]))
        if scene_slug is not None:
            stmt = stmt.where(live_sessions.c.scene_slug == scene_slug)
        if not include_unlisted:
            stmt = stmt.where(live_sessions.c.visibility == Visibility.PUBLIC.value)
        return [codec.live_session_from(row) for row in await self._rows(stmt)]


class SqlWrites(
    SqlReads, PublishingWrites, ScenarioWrites, ParticipationWrites, PollWrites, StampWrites
):
    """Changes on one transaction's connection; the caller commits or rolls back."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection) -> None:
        super().__init__(engine, connection)
        self._tx = connection

    def _insert(self, table: sa.Table) -> Any:
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        return dialect_insert(table)

    async def _upsert(self, table: sa.Table, values: dict[str, Any], keys: list[str]) -> None:
        values = {**values, "updated_at": _now()}
        stmt = self._insert(table).values(**values)
        changed = {name: stmt.excluded[name] for name in values if name not in keys}
        await self._tx.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changed))

    async def _upsert_owned(
        self, table: sa.Table, values: dict[str, Any], keys: list[str], what: str
    ) -> None:
        """Upsert that only replaces a row of the same origin: a manifest load never
        overwrites what organisers made through the API, nor the API a manifest's row."""
        values = {**values, "updated_at": _now()}
        stmt = self._insert(table).values(**values)
        changed = {name: stmt.excluded[name] for name in values if name not in keys}
        result = await self._tx.execute(
            stmt.on_conflict_do_update(
                index_elements=keys, set_=changed, where=table.c.origin == stmt.excluded.origin
            )
        )
        if result.rowcount == 0:
            owner = "the API" if values["origin"] == "manifest" else "its scene manifest"
            raise Conflict(f"{what} {values['id']!r} already exists and is managed by {owner}")

    async def lock_scene(self, scene_slug: str) -> None:
        """Serialises transactions on one scene until commit; call it before any read
        that the transaction's writes depend on."""
        if self._dialect == "postgresql":
            await self._tx.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:slug))"), {"slug": scene_slug}
            )
        else:
            # SQLite has one writer at a time, but a transaction only becomes the writer at
            # its first write: two could read "no job yet" and both insert one. A write
            # (matching a row or not) takes the write lock now; the other waits
            # (busy_timeout) and then reads what this one committed.
            lock = sa.update(scenes).where(scenes.c.slug == scene_slug).values(slug=scenes.c.slug)
            await self._tx.execute(lock.execution_options(**CHANGES_NOTHING))

    async def upsert_region(self, region: Region) -> None:
        await self._upsert(regions, codec.region_row(region), ["slug"])

    async def upsert_scene(self, scene: Scene) -> None:
        await self._upsert(scenes, codec.scene_row(scene), ["slug"])

    async def upsert_poi(self, poi: Poi, origin: Origin) -> None:
        await self._upsert_owned(pois, codec.poi_row(poi, origin), ["scene_slug", "key"], "POI")

    async def insert_poi(self, poi: Poi, origin: Origin) -> None:
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(pois).values(**codec.poi_row(poi, origin), updated_at=_now())
                )
        except IntegrityError:
            raise Conflict(f"POI {poi.id!r} already exists") from None

    async def delete_poi(self, poi_id: str) -> bool:
        return await self._delete_pois(pois.c.id == poi_id) == 1

    async def delete_pois(self, scene_slug: str, keep_keys: Sequence[str], origin: Origin) -> int:
        return await self._delete_pois(
            (pois.c.scene_slug == scene_slug)
            & (pois.c.origin == origin)
            & pois.c.key.not_in(list(keep_keys))
        )

    async def _delete_pois(self, doomed: sa.ColumnElement[bool]) -> int:
        # Checked first so the error names the tour, rather than a bare FK violation.
        visited = await self._rows(
            sa.select(pois.c.id, tours.c.id.label("tour_id"))
            .join(tour_stops, tour_stops.c.poi_row == pois.c.row)
            .join(tours, tours.c.row == tour_stops.c.tour_row)
            .where(doomed)
            .limit(1)
        )
        if visited:
            raise Conflict(
                f"POI {visited[0]['id']!r} cannot be removed: tour {visited[0]['tour_id']!r} "
                "visits it"
            )
        result = await self._tx.execute(sa.delete(pois).where(doomed))
        return int(result.rowcount)

    async def upsert_tour(self, tour: Tour, origin: Origin) -> None:
        await self._upsert_owned(
            tours,
            {
                "id": tour.id,
                "scene_slug": tour.scene_slug,
                "key": tour.key,
                "name": codec.text_out(tour.name),
                "description": codec.text_out(tour.description),
                "estimated_duration_min": tour.estimated_duration_min,
                "origin": origin,
            },
            ["scene_slug", "key"],
            "tour",
        )
        tour_row = (
            await self._tx.execute(sa.select(tours.c.row).where(tours.c.id == tour.id))
        ).scalar_one()
        found = await self._tx.execute(
            sa.select(pois.c.key, pois.c.row).where(
                pois.c.scene_slug == tour.scene_slug,
                pois.c.key.in_([stop.poi_key for stop in tour.stops]),
            )
        )
        poi_rows: dict[str, int] = {key: row for key, row in found}
        await self._tx.execute(sa.delete(tour_stops).where(tour_stops.c.tour_row == tour_row))
        await self._tx.execute(
            sa.insert(tour_stops),
            [
                {
                    "tour_row": tour_row,
                    "position": position,
                    "poi_row": poi_rows[stop.poi_key],
                    "dwell_min": stop.dwell_min,
                    "camera": codec.camera_out(stop.camera),
                    "narration": codec.text_out(stop.narration),
                    "text_alternative": codec.text_out(stop.text_alternative),
                    "fallback_image_url": stop.fallback_image_url,
                }
                for position, stop in enumerate(tour.stops)
            ],
        )

    async def delete_tours(self, scene_slug: str, keep_keys: Sequence[str], origin: Origin) -> int:
        result = await self._tx.execute(
            sa.delete(tours).where(
                (tours.c.scene_slug == scene_slug)
                & (tours.c.origin == origin)
                & tours.c.key.not_in(list(keep_keys))
            )
        )
        return int(result.rowcount)

    async def record_live_moderation(self, record: ModerationRecord) -> None:
        await self._tx.execute(
            sa.insert(live_moderation).values(
                session_id=record.session_id,
                member_id=record.member_id,
                action=record.action,
                actor_id=record.actor_id,
                actor_name=record.actor_name[:64],
                actor_role=record.actor_role,
                reason=record.reason,
                at=record.at,
            )
        )

    async def insert_live_session(self, session: LiveSession) -> None:
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(live_sessions).values(
                        **codec.live_session_row(session), version=1, updated_at=_now()
                    )
                )
        except IntegrityError:
            raise Conflict(f"live session {session.id!r} already exists") from None

    async def update_live_session(
        self, session: LiveSession, expected_status: LiveSessionStatus
    ) -> None:
        """Compare-and-set on status: of two concurrent transitions, exactly one lands."""
        result = await self._tx.execute(
            sa.update(live_sessions)
            .where(
                live_sessions.c.id == session.id,
                live_sessions.c.status == expected_status.value,
            )
            .values(
                **codec.live_session_row(session),
                version=live_sessions.c.version + 1,
                updated_at=_now(),
            )
        )
        if result.rowcount != 1:
            raise Conflict(f"live session {session.id!r} was changed concurrently; reload it")


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reads = SqlReads(engine)
        self._identities = SqlIdentityStore(engine)

    @property
    def reads(self) -> SqlReads:
        return self._reads

    @property
    def identities(self) -> SqlIdentityStore:
        return self._identities

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlWrites]:
        async with self.engine.begin() as connection:
            yield SqlWrites(self.engine, connection)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
