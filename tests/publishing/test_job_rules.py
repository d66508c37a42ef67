"""The publish job's lifecycle rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.domain import publishing as p
from backend.domain.errors import IllegalTransition, InvalidValue
from backend.domain.publishing import JobFailure, JobKind, JobStatus, PublishJob

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def queued(**overrides: object) -> PublishJob:
    values: dict[str, object] = {
        "id": "job-1",
        "scene_slug": "namhae-coast",
        "kind": JobKind.LAYER_UPLOAD,
        "status": JobStatus.QUEUED,
        "created_at": T0,
        "updated_at": T0,
        "base_version": 3,
        "layer_key": "pier",
        "upload_sha256": "a" * 64,
        "upload_name": "pier.glb",
    }
    return PublishJob(**(values | overrides))  # type: ignore[arg-type]


def test_claiming_a_queued_job_runs_it_and_counts_the_attempt():
    job = p.claim(queued(), T0)
    assert (job.status, job.attempts, job.started_at) == (JobStatus.RUNNING, 1, T0)


def test_a_running_job_with_a_live_worker_cannot_be_claimed_twice():
    running = p.claim(queued(), T0)
    with pytest.raises(IllegalTransition):
        p.claim(running, T0 + p.LEASE)


def test_a_running_job_silent_for_a_lease_is_claimed_again():
    running = p.claim(queued(), T0)
    again = p.claim(running, T0 + p.LEASE + timedelta(seconds=1))
    assert (again.status, again.attempts) == (JobStatus.RUNNING, 2)


def test_progress_never_goes_backwards_and_needs_a_running_job():
    running = p.advance(p.claim(queued(), T0), "building desktop", 0.5, T0)
    assert p.advance(running, "heartbeat", 0.2, T0).progress == 0.5
    with pytest.raises(IllegalTransition):
        p.advance(queued(), "building", 0.1, T0)


def test_only_a_failed_job_can_be_retried_and_it_rebases_on_the_current_version():
    failed = p.fail(p.claim(queued(), T0), JobFailure("scene_changed", "moved", False), T0)
    again = p.retry(failed, current_version=4, now=T0)
    assert (again.status, again.base_version, again.failure) == (JobStatus.QUEUED, 4, None)
    with pytest.raises(IllegalTransition):
        p.retry(queued(), 4, T0)
    with pytest.raises(IllegalTransition):
        p.retry(p.succeed(p.claim(queued(), T0), 4, unchanged=False, now=T0), 4, T0)


def test_automatic_retries_are_for_retryable_failures_and_stop_after_three_attempts():
    crash = JobFailure("worker_crashed", "died", retryable=True)
    bad_input = JobFailure("invalid_model:empty_mesh", "nothing", retryable=False)
    first = p.fail(p.claim(queued(), T0), crash, T0)
    assert p.should_retry_automatically(first)
    assert not p.should_retry_automatically(p.fail(p.claim(queued(), T0), bad_input, T0))
    third = p.fail(p.claim(queued(attempts=2), T0), crash, T0)
    assert third.attempts == 3
    assert not p.should_retry_automatically(third)


def test_a_queued_or_live_job_blocks_another_publish_of_the_scene_but_a_dead_one_does_not():
    running = p.claim(queued(), T0)
    assert p.blocks_new_job(queued(), T0)
    assert p.blocks_new_job(running, T0 + timedelta(seconds=5))
    assert not p.blocks_new_job(running, T0 + p.LEASE + timedelta(seconds=1))
    assert not p.blocks_new_job(p.succeed(running, 4, unchanged=False, now=T0), T0)


def test_a_job_publishes_only_on_the_version_it_built_from():
    p.check_base(queued(base_version=3), 3)
    with pytest.raises(p.PublishConflict, match="moved from version 3 to 4"):
        p.check_base(queued(base_version=3), 4)


def test_an_upload_job_must_name_its_layer_and_upload():
    with pytest.raises(InvalidValue):
        queued(layer_key=None)


def test_error_messages_are_bounded():
    failed = p.fail(queued(), JobFailure("internal", "x" * 10_000, True), T0)
    assert failed.failure is not None
    assert len(failed.failure.message) == p.MAX_ERROR_MESSAGE_CHARS
