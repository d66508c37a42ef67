"""GraphQL for publishing: publish jobs (organisers), their progress, scene versions."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from backend.api.access import denied
from backend.api.errors import (
    ConflictError,
    IllegalTransitionError,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
    from_domain,
)
from backend.api.types.objects import CtxInfo
from backend.domain.errors import DomainError
from backend.domain.identity import Action
from backend.domain.publishing import JobKind, JobStatus, PublishJob
from backend.publishing.service import PublishService


@strawberry.enum(description="Where a publish job is in its lifecycle.")
class PublishJobStatus(Enum):
    QUEUED = JobStatus.QUEUED.value
    RUNNING = JobStatus.RUNNING.value
    SUCCEEDED = JobStatus.SUCCEEDED.value
    FAILED = JobStatus.FAILED.value


@strawberry.enum(description="What a publish job builds.")
class PublishJobKind(Enum):
    SCENE_BUILD = JobKind.SCENE_BUILD.value
    LAYER_UPLOAD = JobKind.LAYER_UPLOAD.value


@strawberry.type(description="Why a publish job failed.")
class PublishJobError:
    code: str = strawberry.field(
        description="Stable: invalid_source, invalid_model:<reason>, not_found, "
        "scene_changed, worker_crashed, out_of_memory, internal."
    )
    message: str
    retryable: bool = strawberry.field(
        description="Whether running it again unchanged could succeed (it is then retried "
        "automatically, up to 3 attempts)."
    )


@strawberry.type(
    name="PublishJob", description="A build of scene assets that publishes a new scene version."
)
class PublishJobType:
    job: strawberry.Private[PublishJob]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.job.id)

    @strawberry.field
    def scene_slug(self) -> str:
        return self.job.scene_slug

    @strawberry.field
    def kind(self) -> PublishJobKind:
        return PublishJobKind(self.job.kind.value)

    @strawberry.field
    def status(self) -> PublishJobStatus:
        return PublishJobStatus(self.job.status.value)

    @strawberry.field(description="What the job is doing now, e.g. `building mobile`.")
    def step(self) -> str:
        return self.job.step

    @strawberry.field(description="0 to 1; never goes backwards within an attempt.")
    def progress(self) -> float:
        return self.job.progress

    @strawberry.field
    def layer_key(self) -> str | None:
        return self.job.layer_key

    @strawberry.field(description="The scene version the job builds on.")
    def base_version(self) -> int:
        return self.job.base_version

    @strawberry.field(description="The version current when the job succeeded.")
    def result_version(self) -> int | None:
        return self.job.result_version

    @strawberry.field(description="Succeeded without a new version: the sources were current.")
    def unchanged(self) -> bool:
        return self.job.unchanged

    @strawberry.field
    def attempts(self) -> int:
        return self.job.attempts

    @strawberry.field
    def error(self) -> PublishJobError | None:
        failure = self.job.failure
        if failure is None:
            return None
        return PublishJobError(
            code=failure.code, message=failure.message, retryable=failure.retryable
        )

    @strawberry.field
    def created_at(self) -> datetime:
        return self.job.created_at

    @strawberry.field(description="Last change; while running, the worker's heartbeat.")
    def updated_at(self) -> datetime:
        return self.job.updated_at

    @strawberry.field
    def finished_at(self) -> datetime | None:
        return self.job.finished_at


_Failure = NotFoundError | InvalidArgumentError | ConflictError | NotAuthorizedError
PublishJobResult = Annotated[
    PublishJobType | _Failure | IllegalTransitionError, strawberry.union("PublishJobResult")
]


def _service(info: CtxInfo) -> PublishService:
    service = info.context.publishing
    if service is None:
        raise RuntimeError("publishing is not configured in this process")
    return service


@strawberry.type
class PublishingMutation:
    @strawberry.mutation(
        description="Rebuild one layer of a scene from an uploaded model (POST /uploads) and "
        "publish it as a new version (organisers). Returns the queued job; follow it with "
        "`publishJobProgress`. One publish per scene at a time: a second gets ConflictError."
    )
    async def publish_layer_upload(
        self, info: CtxInfo, scene_slug: str, layer_key: str, upload_id: strawberry.ID
    ) -> PublishJobResult:
        if (refused := await denied(info, Action.PUBLISH, scene_slug)) is not None:
            return refused
        try:
            job = await _service(info).request_layer_upload(scene_slug, layer_key, str(upload_id))
        except DomainError as error:
            return from_domain(error)
        return PublishJobType(job=job)

    @strawberry.mutation(
        description="Queue a failed publish job again, on top of the scene's current "
        "version (organisers)."
    )
    async def retry_publish_job(self, info: CtxInfo, id: strawberry.ID) -> PublishJobResult:
        scene = await _scene_of_job(info, id)
        if (refused := await denied(info, Action.PUBLISH, scene)) is not None:
            return refused
        try:
            job = await _service(info).retry(str(id))
        except DomainError as error:
            return from_domain(error)
        return PublishJobType(job=job)


@strawberry.type
class PublishingQuery:
    @strawberry.field(description="A publish job (organisers; null for others or unknown ids).")
    async def publish_job(self, info: CtxInfo, id: strawberry.ID) -> PublishJobType | None:
        found = await info.context.store.reads.publish_jobs_by_id([str(id)])
        job = found.get(str(id))
        if job is None or not await info.context.may(Action.PUBLISH, job.scene_slug, "publishJob"):
            return None
        return PublishJobType(job=job)

    @strawberry.field(description="A scene's recent publish jobs, newest first (organisers).")
    async def publish_jobs(
        self, info: CtxInfo, scene_slug: str, first: int = 20
    ) -> list[PublishJobType]:
        if not await info.context.may(Action.PUBLISH, scene_slug, "publishJobs"):
            return []
        jobs = await info.context.store.reads.publish_jobs_by_scene(
            scene_slug, max(1, min(first, 100))
        )
        return [PublishJobType(job=job) for job in jobs]


@strawberry.type
class PublishingSubscription:
    @strawberry.subscription(
        description="A publish job now and at each change (step, progress, status) until it "
        "finishes (organisers: bearer token in the upgrade request or in connection_init's "
        "`authorization`). Completes at once for others or unknown ids."
    )
    async def publish_job_progress(
        self, info: CtxInfo, id: strawberry.ID
    ) -> AsyncGenerator[PublishJobType, None]:
        scene = await _scene_of_job(info, id)
        allowed = await info.context.may(Action.PUBLISH, scene, "publishJobProgress")
        if not allowed or scene is None or info.context.publishing is None:
            return
        try:
            async for job in info.context.publishing.watch(str(id)):
                yield PublishJobType(job=job)
        except DomainError:
            return


async def _scene_of_job(info: CtxInfo, job_id: strawberry.ID) -> str | None:
    found = await info.context.store.reads.publish_jobs_by_id([str(job_id)])
    job = found.get(str(job_id))
    return job.scene_slug if job is not None else None
