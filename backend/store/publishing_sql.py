"""Scene versions and publish jobs in SQL: mixins of the SQL store's reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.domain.errors import Conflict
from backend.domain.publishing import JobStatus, PublishJob, SceneVersion
from backend.store import codec
from backend.store.tables import publish_jobs, scene_versions, scenes


class PublishingReads:
    async def _rows(
        self, statement: sa.Executable, values: dict[str, Any] | None = None
    ) -> Sequence[sa.RowMapping]:
        raise NotImplementedError  # provided by SqlReads

    async def scene_versions(self, scene_slug: str) -> list[SceneVersion]:
        """Every published version of the scene, newest first."""
        rows = await self._rows(
            sa.select(scene_versions)
            .where(scene_versions.c.scene_slug == scene_slug)
            .order_by(scene_versions.c.version.desc())
        )
        return [codec.scene_version_from(row) for row in rows]

    async def publish_jobs_by_id(self, ids: Sequence[str]) -> dict[str, PublishJob]:
        rows = await self._rows(sa.select(publish_jobs).where(publish_jobs.c.id.in_(list(ids))))
        return {row["id"]: codec.publish_job_from(row) for row in rows}

    async def publish_jobs_by_scene(self, scene_slug: str, limit: int) -> list[PublishJob]:
        """The scene's most recent jobs, newest first."""
        rows = await self._rows(
            sa.select(publish_jobs)
            .where(publish_jobs.c.scene_slug == scene_slug)
            .order_by(publish_jobs.c.created_at.desc(), publish_jobs.c.id)
            .limit(limit)
        )
        return [codec.publish_job_from(row) for row in rows]

    async def unfinished_publish_jobs(self) -> list[PublishJob]:
        """Queued and running jobs, oldest first: what a queue may have to deliver again."""
        rows = await self._rows(
            sa.select(publish_jobs)
            .where(publish_jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
            .order_by(publish_jobs.c.created_at)
        )
        return [codec.publish_job_from(row) for row in rows]


class PublishingWrites:
    _tx: AsyncConnection

    async def insert_publish_job(self, job: PublishJob) -> None:
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(sa.insert(publish_jobs).values(**codec.publish_job_row(job)))
        except IntegrityError:
            raise Conflict(f"publish job {job.id!r} already exists") from None

    async def update_publish_job(self, job: PublishJob, expected: PublishJob) -> None:
        """Compare-and-set on (status, attempts, heartbeat): of two workers claiming or
        finishing one job, exactly one lands; the other gets Conflict."""
        result = await self._tx.execute(
            sa.update(publish_jobs)
            .where(
                publish_jobs.c.id == job.id,
                publish_jobs.c.status == expected.status.value,
                publish_jobs.c.attempts == expected.attempts,
                publish_jobs.c.updated_at == expected.updated_at,
            )
            .values(**codec.publish_job_row(job))
        )
        if result.rowcount != 1:
            raise Conflict(f"publish job {job.id!r} was changed concurrently")

    async def publish_scene_version(self, version: SceneVersion) -> None:
        """Make ``version`` the scene's current one: its row, and the scene's copy of its
        layers, in this transaction (the scene row must exist; see ``upsert_scene``)."""
        await self._tx.execute(sa.insert(scene_versions).values(**codec.scene_version_row(version)))
        result = await self._tx.execute(
            sa.update(scenes)
            .where(scenes.c.slug == version.scene_slug)
            .values(
                layers=codec.layers_out(version.layers),
                version=version.version,
                updated_at=version.published_at,
            )
        )
        if result.rowcount != 1:
            raise Conflict(f"scene {version.scene_slug!r} does not exist")
