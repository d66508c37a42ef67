"""Publishing scenes: versions of a scene's layers, and the jobs that build them.

A scene version is immutable: the layers (and their content-addressed assets) clients get
while it is current. Publishing makes a new version current in one transaction, so a
client sees the old layers or the new ones, never a mix. A publish job builds a version's
assets first (that work is idempotent: assets are content-addressed) and only then asks
to publish; a job that fails or dies before that step has published nothing.

The job's lifecycle, as pure transitions:

    queued ──claim──▶ running ──succeed──▶ succeeded
       ▲                 │  └───fail─────▶ failed ──retry──▶ queued
       └──claim (abandoned: no heartbeat for a lease)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from backend.domain.errors import Conflict, IllegalTransition, InvalidValue
from backend.domain.ids import validate_slug
from backend.domain.scene import Layer

# A running job refreshes its heartbeat every LEASE / 6; one silent for LEASE is presumed
# dead (worker killed, machine gone) and may be claimed again.
LEASE = timedelta(seconds=60)
# Automatic attempts before a job stays failed (a person can still retry it).
MAX_ATTEMPTS = 3
MAX_ERROR_MESSAGE_CHARS = 2000


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobKind(str, Enum):
    SCENE_BUILD = "scene-build"  # a scene folder's sources (twinland scenes build)
    LAYER_UPLOAD = "layer-upload"  # one layer's uploaded mesh, on top of the current version


class PublishConflict(Conflict):
    """Another publish of the scene is in progress, or the scene moved under a job."""

    code = "publish_conflict"


@dataclass(frozen=True, slots=True)
class JobFailure:
    """Why a job failed: ``code`` is stable (clients switch on it), ``message`` is for people.
    ``retryable`` says whether running it again could succeed without changing its input."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class PublishJob:
    id: str
    scene_slug: str
    kind: JobKind
    status: JobStatus
    created_at: datetime
    updated_at: datetime  # the heartbeat while running
    base_version: int  # the version the job builds on; it publishes only if still current
    layer_key: str | None = None
    upload_sha256: str | None = None
    upload_name: str | None = None  # the uploaded file's name: its extension picks the reader
    source_path: str | None = None  # a scene folder, for SCENE_BUILD
    step: str = "queued"
    progress: float = 0.0
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failure: JobFailure | None = None
    result_version: int | None = None
    unchanged: bool = False  # succeeded without publishing: the sources were already current

    def __post_init__(self) -> None:
        validate_slug("job.sceneSlug", self.scene_slug)
        if self.kind is JobKind.LAYER_UPLOAD and (
            self.layer_key is None or self.upload_sha256 is None or self.upload_name is None
        ):
            raise InvalidValue("job", "a layer upload names its layer, upload and file name")
        if self.kind is JobKind.SCENE_BUILD and self.source_path is None:
            raise InvalidValue("job", "a scene build names its scene folder")
        if not 0.0 <= self.progress <= 1.0:
            raise InvalidValue("job.progress", f"{self.progress} must be in [0, 1]")

    @property
    def active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    def abandoned(self, now: datetime, lease: timedelta = LEASE) -> bool:
        """Running, but its worker has not been heard of for a lease."""
        return self.status is JobStatus.RUNNING and now - self.updated_at > lease


def blocks_new_job(job: PublishJob, now: datetime, lease: timedelta = LEASE) -> bool:
    """One publish per scene at a time; a dead one (abandoned) does not block forever."""
    return job.status is JobStatus.QUEUED or (
        job.status is JobStatus.RUNNING and not job.abandoned(now, lease)
    )


def claim(job: PublishJob, now: datetime, lease: timedelta = LEASE) -> PublishJob:
    """A worker takes the job: queued, or running but abandoned by a dead worker."""
    if job.status is JobStatus.QUEUED or job.abandoned(now, lease):
        return replace(
            job,
            status=JobStatus.RUNNING,
            attempts=job.attempts + 1,
            started_at=now,
            updated_at=now,
            step="starting",
            progress=0.0,
            failure=None,
        )
    raise IllegalTransition("publish job", job.status.value, JobStatus.RUNNING.value)


def advance(job: PublishJob, step: str, progress: float, now: datetime) -> PublishJob:
    """Progress of a running job (also its heartbeat); progress never goes backwards."""
    if job.status is not JobStatus.RUNNING:
        raise IllegalTransition("publish job", job.status.value, "progress")
    return replace(job, step=step, progress=min(1.0, max(job.progress, progress)), updated_at=now)


def succeed(job: PublishJob, version: int, *, unchanged: bool, now: datetime) -> PublishJob:
    if job.status is not JobStatus.RUNNING:
        raise IllegalTransition("publish job", job.status.value, JobStatus.SUCCEEDED.value)
    return replace(
        job,
        status=JobStatus.SUCCEEDED,
        step="published" if not unchanged else "unchanged",
        progress=1.0,
        result_version=version,
        unchanged=unchanged,
        updated_at=now,
        finished_at=now,
    )


def fail(job: PublishJob, failure: JobFailure, now: datetime) -> PublishJob:
    """A failed job; queued jobs fail too (e.g. their upload vanished before a worker came)."""
    if job.status not in (JobStatus.RUNNING, JobStatus.QUEUED):
        raise IllegalTransition("publish job", job.status.value, JobStatus.FAILED.value)
    message = failure.message[:MAX_ERROR_MESSAGE_CHARS]
    return replace(
        job,
        status=JobStatus.FAILED,
        failure=replace(failure, message=message),
        updated_at=now,
        finished_at=now,
    )


def retry(job: PublishJob, current_version: int, now: datetime) -> PublishJob:
    """Queue a failed job again, on top of the scene's version as it is now."""
    if job.status is not JobStatus.FAILED:
        raise IllegalTransition("publish job", job.status.value, JobStatus.QUEUED.value)
    return replace(
        job,
        status=JobStatus.QUEUED,
        base_version=current_version,
        step="queued",
        progress=0.0,
        failure=None,
        updated_at=now,
        started_at=None,
        finished_at=None,
    )


def should_retry_automatically(job: PublishJob) -> bool:
    """A failed attempt is run again by the queue while attempts remain and it may help."""
    return (
        job.status is JobStatus.FAILED
        and job.failure is not None
        and job.failure.retryable
        and job.attempts < MAX_ATTEMPTS
    )


@dataclass(frozen=True, slots=True)
class SceneVersion:
    """One published state of a scene's layers. ``version`` counts from 1."""

    scene_slug: str
    version: int
    layers: tuple[Layer, ...]
    published_at: datetime
    job_id: str | None  # None: published by ``twinland scenes load`` at start-up

    def __post_init__(self) -> None:
        if self.version < 1:
            raise InvalidValue("version", "must be >= 1")


def layers_changed(current: tuple[Layer, ...] | None, new: tuple[Layer, ...]) -> bool:
    """Whether publishing ``new`` makes a new version (any layer, asset or order differs)."""
    return current != new


def check_base(job: PublishJob, current_version: int) -> None:
    """A job publishes only on top of the version it built from; otherwise a newer
    version would be silently overwritten."""
    if current_version != job.base_version:
        raise PublishConflict(
            f"scene {job.scene_slug!r} moved from version {job.base_version} to "
            f"{current_version} while job {job.id} was building; retry the job to rebuild "
            "on top of the new version"
        )
