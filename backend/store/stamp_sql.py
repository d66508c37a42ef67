"""Stamp tours, trackers, stamps, badges and transfer codes in SQL (store mixins)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.domain.geo import GeoPoint
from backend.domain.stamps import StampStop, StampTour, Tracker
from backend.store.codec import required_text_in, text_in, text_out
from backend.store.tables import badges, stamp_tours, stamp_trackers, stamps, transfer_codes


def _body(tour: StampTour) -> dict[str, Any]:
    return {
        "name": text_out(tour.name),
        "description": text_out(tour.description),
        "badge_name": text_out(tour.badge_name),
        "stops": [
            {
                "poi_key": s.poi_key,
                "location": [s.location.lat_deg, s.location.lon_deg, s.location.height_m],
                "radius_m": s.radius_m,
                "dwell_s": s.dwell_s,
                "riddle": text_out(s.riddle),
                "answers": list(s.answers),
                "hint": text_out(s.hint),
            }
            for s in tour.stops
        ],
    }


def _tour(row: Mapping[Any, Any]) -> StampTour:
    body = row["body"]
    return StampTour(
        scene_slug=row["scene_slug"],
        key=row["key"],
        name=required_text_in(body["name"]),
        description=text_in(body["description"]),
        badge_name=required_text_in(body["badge_name"]),
        stops=tuple(
            StampStop(
                poi_key=s["poi_key"],
                location=GeoPoint(*s["location"]),
                radius_m=s["radius_m"],
                dwell_s=s["dwell_s"],
                riddle=text_in(s["riddle"]),
                answers=tuple(s["answers"]),
                hint=text_in(s["hint"]),
            )
            for s in body["stops"]
        ),
    )


class StampReads:
    async def _rows(
        self, statement: sa.Executable, values: dict[str, Any] | None = None
    ) -> Sequence[sa.RowMapping]:
        raise NotImplementedError  # provided by SqlReads

    async def stamp_tours_by_scene(self, scene_slug: str) -> list[StampTour]:
        rows = await self._rows(
            sa.select(stamp_tours)
            .where(stamp_tours.c.scene_slug == scene_slug)
            .order_by(stamp_tours.c.id)
        )
        return [_tour(row) for row in rows]

    async def stamp_tours_by_id(self, ids: Sequence[str]) -> dict[str, StampTour]:
        rows = await self._rows(sa.select(stamp_tours).where(stamp_tours.c.id.in_(list(ids))))
        return {row["id"]: _tour(row) for row in rows}

    async def tracker(self, visitor_id: str, tour_id: str) -> Tracker | None:
        rows = await self._rows(
            sa.select(stamp_trackers).where(
                stamp_trackers.c.visitor_id == visitor_id, stamp_trackers.c.tour_id == tour_id
            )
        )
        if not rows:
            return None
        row = rows[0]
        return Tracker(
            GeoPoint(row["lat_deg"], row["lon_deg"], row["height_m"]),
            row["at"],
            row["dwell_stop"],
            row["dwell_s"],
        )

    async def stamps_of(self, visitor_id: str, tour_id: str) -> dict[int, datetime]:
        rows = await self._rows(
            sa.select(stamps.c.stop_index, stamps.c.earned_at).where(
                stamps.c.visitor_id == visitor_id, stamps.c.tour_id == tour_id
            )
        )
        return {row["stop_index"]: row["earned_at"] for row in rows}

    async def badge_of(self, visitor_id: str, tour_id: str) -> tuple[str, datetime] | None:
        rows = await self._rows(
            sa.select(badges.c.code, badges.c.issued_at).where(
                badges.c.visitor_id == visitor_id, badges.c.tour_id == tour_id
            )
        )
        return (rows[0]["code"], rows[0]["issued_at"]) if rows else None

    async def badge(self, code: str) -> tuple[str, datetime] | None:
        """(tour id, issued at) of a badge code."""
        rows = await self._rows(
            sa.select(badges.c.tour_id, badges.c.issued_at).where(badges.c.code == code)
        )
        return (rows[0]["tour_id"], rows[0]["issued_at"]) if rows else None


class StampWrites:
    _tx: AsyncConnection
    _dialect: str

    async def sync_stamp_tours(self, scene_slug: str, offered: Sequence[StampTour]) -> None:
        now = datetime.now(UTC)
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        for tour in offered:
            stmt = insert(stamp_tours).values(
                id=tour.id, scene_slug=scene_slug, key=tour.key, body=_body(tour), updated_at=now
            )
            await self._tx.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={"body": stmt.excluded.body, "updated_at": stmt.excluded.updated_at},
                )
            )

    async def save_tracker(self, visitor_id: str, tour_id: str, tracker: Tracker) -> None:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        values = {
            "visitor_id": visitor_id,
            "tour_id": tour_id,
            "lat_deg": tracker.position.lat_deg,
            "lon_deg": tracker.position.lon_deg,
            "height_m": tracker.position.height_m,
            "at": tracker.at,
            "dwell_stop": tracker.dwell_stop,
            "dwell_s": tracker.dwell_s,
        }
        stmt = insert(stamp_trackers).values(**values)
        changed = {k: stmt.excluded[k] for k in values if k not in ("visitor_id", "tour_id")}
        await self._tx.execute(
            stmt.on_conflict_do_update(index_elements=["visitor_id", "tour_id"], set_=changed)
        )

    async def add_stamp(self, visitor_id: str, tour_id: str, stop: int, now: datetime) -> bool:
        """False when the stamp was already earned (the first time stands)."""
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(stamps).values(
                        visitor_id=visitor_id, tour_id=tour_id, stop_index=stop, earned_at=now
                    )
                )
        except IntegrityError:
            return False
        return True

    async def add_badge(self, code: str, visitor_id: str, tour_id: str, now: datetime) -> bool:
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(badges).values(
                        code=code, visitor_id=visitor_id, tour_id=tour_id, issued_at=now
                    )
                )
        except IntegrityError:
            return False
        return True

    async def add_transfer_code(self, code: str, visitor_id: str, expires_at: datetime) -> None:
        await self._tx.execute(
            sa.insert(transfer_codes).values(
                code=code, visitor_id=visitor_id, expires_at=expires_at, used_at=None
            )
        )

    async def use_transfer_code(self, code: str, now: datetime) -> str | None:
        """The visitor id of an unused, unexpired code, marking it used (once only)."""
        result = await self._tx.execute(
            sa.update(transfer_codes)
            .where(
                transfer_codes.c.code == code,
                transfer_codes.c.used_at.is_(None),
                transfer_codes.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(transfer_codes.c.visitor_id)
        )
        row = result.first()
        return str(row[0]) if row is not None else None
