"""Comments and idempotency keys in SQL: mixins of the SQL store's reads and writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.domain.errors import Conflict
from backend.domain.geo import GeoPoint
from backend.domain.participation import Anchor, Comment, CommentStatus
from backend.store.tables import comment_reactions, comments, idempotency_keys


def comment_row(comment: Comment) -> dict[str, Any]:
    where = comment.anchor.location
    return {
        "id": comment.id,
        "scene_slug": comment.scene_slug,
        "scenario_id": comment.scenario_id,
        "scenario_version": comment.scenario_version,
        "lat_deg": where.lat_deg if where else None,
        "lon_deg": where.lon_deg if where else None,
        "height_m": where.height_m if where else None,
        "poi_id": comment.anchor.poi_id,
        "on_date": comment.on_date,
        "parent_id": comment.parent_id,
        "body": comment.body,
        "author_id": comment.author_id,
        "author_name": comment.author_name,
        "official": comment.official,
        "status": comment.status.value,
        "rejection_reason": comment.rejection_reason,
        "created_at": comment.created_at,
        "moderated_at": comment.moderated_at,
    }


def comment_from(row: Mapping[Any, Any]) -> Comment:
    location = (
        GeoPoint(row["lat_deg"], row["lon_deg"], row["height_m"] or 0.0)
        if row["lat_deg"] is not None
        else None
    )
    return Comment(
        id=row["id"],
        scene_slug=row["scene_slug"],
        scenario_id=row["scenario_id"],
        scenario_version=row["scenario_version"],
        anchor=Anchor(location, row["poi_id"]),
        on_date=row["on_date"],
        parent_id=row["parent_id"],
        body=row["body"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        official=row["official"],
        status=CommentStatus(row["status"]),
        created_at=row["created_at"],
        moderated_at=row["moderated_at"],
        rejection_reason=row["rejection_reason"],
    )


class ParticipationReads:
    async def _rows(
        self, statement: sa.Executable, values: dict[str, Any] | None = None
    ) -> Sequence[sa.RowMapping]:
        raise NotImplementedError  # provided by SqlReads

    async def comments_by_id(self, ids: Sequence[str]) -> dict[str, Comment]:
        rows = await self._rows(sa.select(comments).where(comments.c.id.in_(list(ids))))
        return {row["id"]: comment_from(row) for row in rows}

    async def list_comments(
        self,
        scene_slug: str,
        *,
        statuses: Sequence[CommentStatus],
        scenario_id: str | None = None,
        limit: int = 50,
        after_row: int | None = None,
    ) -> list[tuple[int, Comment]]:
        """(row, comment) in the order written; ``after_row`` pages on."""
        stmt = (
            sa.select(comments)
            .where(
                comments.c.scene_slug == scene_slug,
                comments.c.status.in_([s.value for s in statuses]),
            )
            .order_by(comments.c.row)
            .limit(limit)
        )
        if scenario_id is not None:
            stmt = stmt.where(comments.c.scenario_id == scenario_id)
        if after_row is not None:
            stmt = stmt.where(comments.c.row > after_row)
        return [(row["row"], comment_from(row)) for row in await self._rows(stmt)]

    async def comment_position(self, comment_id: str) -> int | None:
        """Where a comment stands in the order written (a page cursor)."""
        rows = await self._rows(sa.select(comments.c.row).where(comments.c.id == comment_id))
        return int(rows[0]["row"]) if rows else None

    async def reaction_counts(self, comment_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per comment, how many visitors reacted with each kind."""
        rows = await self._rows(
            sa.select(
                comment_reactions.c.comment_id,
                comment_reactions.c.kind,
                sa.func.count().label("n"),
            )
            .where(comment_reactions.c.comment_id.in_(list(comment_ids)))
            .group_by(comment_reactions.c.comment_id, comment_reactions.c.kind)
        )
        out: dict[str, dict[str, int]] = {}
        for row in rows:
            out.setdefault(row["comment_id"], {})[row["kind"]] = int(row["n"])
        return out

    async def idempotent_result(self, scope: str, key: str) -> tuple[str, str] | None:
        """(request hash, result id) recorded for the key, if any."""
        rows = await self._rows(
            sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.result_id).where(
                idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
            )
        )
        return (rows[0]["request_hash"], rows[0]["result_id"]) if rows else None


class ParticipationWrites:
    _tx: AsyncConnection

    async def insert_comment(self, comment: Comment) -> None:
        await self._tx.execute(sa.insert(comments).values(**comment_row(comment)))

    async def update_comment(self, comment: Comment, expected: CommentStatus) -> None:
        """Compare-and-set on status: of two moderators deciding at once, one lands."""
        result = await self._tx.execute(
            sa.update(comments)
            .where(comments.c.id == comment.id, comments.c.status == expected.value)
            .values(**comment_row(comment))
        )
        if result.rowcount != 1:
            raise Conflict(f"comment {comment.id!r} was moderated concurrently; reload it")

    async def set_reaction(
        self, comment_id: str, visitor_id: str, kind: str, on: bool, now: datetime
    ) -> None:
        """Add (``on``) or take back a reaction; doing either twice changes nothing."""
        if not on:
            await self._tx.execute(
                sa.delete(comment_reactions).where(
                    comment_reactions.c.comment_id == comment_id,
                    comment_reactions.c.visitor_id == visitor_id,
                    comment_reactions.c.kind == kind,
                )
            )
            return
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(comment_reactions).values(
                        comment_id=comment_id, visitor_id=visitor_id, kind=kind, created_at=now
                    )
                )
        except IntegrityError:
            pass  # already there

    async def record_idempotency(
        self, scope: str, key: str, request_hash: str, result_id: str, now: datetime
    ) -> bool:
        """Record the key's result; False when another request recorded it first (the
        caller's transaction must then be rolled back and the first result returned)."""
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(idempotency_keys).values(
                        scope=scope,
                        key=key,
                        request_hash=request_hash,
                        result_id=result_id,
                        created_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True
