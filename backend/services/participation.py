"""Participation use cases: create and moderate comments, idempotently and rate-limited."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime

from backend.domain import participation as rules
from backend.domain.errors import InvalidValue, NotAuthorized, NotFound
from backend.domain.geo import GeoPoint
from backend.domain.participation import (
    Anchor,
    Comment,
    CommentStatus,
    IdempotencyConflict,
    ModerationMode,
    Reaction,
)
from backend.domain.poll import Poll, check_ballot
from backend.domain.quotas import COMMENTS, VOTES
from backend.ports import Reads, Store
from backend.quota_stores import QuotaStore, spend

# A comment pinned to a place must lie on the scene (with a margin around its extent).
EXTENT_MARGIN = 1.25


@dataclass(frozen=True, slots=True)
class Author:
    id: str  # a visitor id, or the principal id of an official author
    official: bool


@dataclass(frozen=True, slots=True)
class CommentRequest:
    scene_slug: str
    body: str
    location: GeoPoint | None = None
    poi_id: str | None = None
    scenario_id: str | None = None
    scenario_version: int | None = None
    on_date: date | None = None
    parent_id: str | None = None
    author_name: str | None = None


class _LostRace(Exception):
    """A concurrent request with the same idempotency key committed first."""


async def create_comment(
    store: Store,
    request: CommentRequest,
    author: Author,
    idempotency_key: str,
    quotas: QuotaStore,
    now: datetime,
) -> Comment:
    """Validate and store a comment. The same key again returns the first result (even
    when the caller is rate limited by then); with another body it is a conflict. Nothing
    is stored on any error."""
    key = rules.check_idempotency_key(idempotency_key)
    fingerprint = rules.request_hash("createComment", asdict(request))
    replay = await _replay(store.reads, author.id, key, fingerprint)
    if replay is not None:
        return replay
    body = rules.clean_body(request.body)
    name = rules.clean_name(request.author_name)
    try:
        async with store.transaction() as tx:
            await tx.lock_scene(request.scene_slug)  # first: reads below are current
            again = await _replay(tx, author.id, key, fingerprint)
            if again is not None:
                return again  # a concurrent retry of the same request: not counted again
            if not author.official:
                await spend(quotas, COMMENTS, author.id, "comments")
            comment = await _comment(tx, request, author, body, name, now)
            await tx.insert_comment(comment)
            if not await tx.record_idempotency(author.id, key, fingerprint, comment.id, now):
                raise _LostRace
    except _LostRace:
        replay = await _replay(store.reads, author.id, key, fingerprint)
        assert replay is not None, "the winning request recorded its result"
        return replay
    return comment


async def _replay(reads: Reads, scope: str, key: str, fingerprint: str) -> Comment | None:
    found = await reads.idempotent_result(scope, key)
    if found is None:
        return None
    recorded, result_id = found
    if recorded != fingerprint:
        raise IdempotencyConflict(
            "this idempotency key was already used for a different comment; use a new key"
        )
    return (await reads.comments_by_id([result_id]))[result_id]


async def _comment(
    reads: Reads,
    request: CommentRequest,
    author: Author,
    body: str,
    name: str | None,
    now: datetime,
) -> Comment:
    scene = (await reads.scenes_by_slug([request.scene_slug])).get(request.scene_slug)
    if scene is None:
        raise NotFound("scene", request.scene_slug)
    version = await _scenario_version(reads, request)
    if request.on_date is not None and request.scenario_id is None:
        raise InvalidValue("onDate", "a timeline date needs a scenario")
    if request.poi_id is not None:
        poi = (await reads.pois_by_id([request.poi_id])).get(request.poi_id)
        if poi is None or poi.scene_slug != scene.slug:
            raise NotFound("POI", request.poi_id)
    if request.location is not None:
        east, north, _ = scene.georeference.frame.to_enu(request.location)
        geo = scene.georeference
        if (
            abs(east) > geo.extent_east_m / 2 * EXTENT_MARGIN
            or abs(north) > geo.extent_north_m / 2 * EXTENT_MARGIN
        ):
            raise InvalidValue("location", f"is outside scene {scene.slug!r}")
    if request.parent_id is not None:
        parent = (await reads.comments_by_id([request.parent_id])).get(request.parent_id)
        if (
            parent is None
            or parent.scene_slug != scene.slug
            or parent.status is not CommentStatus.APPROVED
        ):
            raise NotFound("comment", request.parent_id)
    return Comment(
        id=str(uuid.uuid4()),
        scene_slug=scene.slug,
        scenario_id=request.scenario_id,
        scenario_version=version,
        anchor=Anchor(request.location, request.poi_id),
        on_date=request.on_date,
        parent_id=request.parent_id,
        body=body,
        author_id=author.id,
        author_name=name,
        official=author.official,
        status=rules.initial_status(ModerationMode(scene.moderation), author.official),
        created_at=now,
    )


async def _scenario_version(reads: Reads, request: CommentRequest) -> int | None:
    """The scenario version the comment pins to: the one given, else the current one."""
    if request.scenario_id is None:
        if request.scenario_version is not None:
            raise InvalidValue("scenarioVersion", "needs a scenario")
        return None
    scene_slug, _, key = request.scenario_id.partition(":")
    if scene_slug != request.scene_slug:
        raise NotFound("scenario", request.scenario_id)
    versions = await reads.scenario_versions(scene_slug, key)
    if not versions:
        raise NotFound("scenario", request.scenario_id)
    if request.scenario_version is None:
        return versions[0].version
    if all(v.version != request.scenario_version for v in versions):
        raise NotFound("scenario version", f"{request.scenario_id}@{request.scenario_version}")
    return request.scenario_version


async def moderate_comment(
    store: Store, comment_id: str, approve: bool, reason: str | None, now: datetime
) -> Comment:
    async with store.transaction() as tx:
        comment = (await tx.comments_by_id([comment_id])).get(comment_id)
        if comment is None:
            raise NotFound("comment", comment_id)
        decided = rules.moderate(comment, approve, reason, now)
        await tx.update_comment(decided, comment.status)
    return decided


async def cast_vote(
    store: Store,
    poll_id: str,
    choices: list[int],
    author: Author,
    idempotency_key: str,
    today: date,
    now: datetime,
    quotas: QuotaStore,
) -> Poll:
    """One ballot per visitor and poll. The same key again is answered as before; a second
    ballot is AlreadyVoted; a closed poll PollClosed; an unknown option names its index;
    more than the VOTES quota is RateLimited."""
    if author.official:
        raise NotAuthorized("organisers do not vote; visitors do (X-Visitor-Token)")
    key = rules.check_idempotency_key(idempotency_key)
    fingerprint = rules.request_hash("vote", {"poll": poll_id, "choices": sorted(choices)})
    if await _replayed_vote(store.reads, author.id, key, fingerprint):
        return (await store.reads.polls_by_id([poll_id]))[poll_id]
    poll = (await store.reads.polls_by_id([poll_id])).get(poll_id)
    if poll is None:
        raise NotFound("poll", poll_id)
    ballot = check_ballot(poll, choices, today)
    await spend(quotas, VOTES, author.id, "votes")
    try:
        async with store.transaction() as tx:
            await tx.lock_scene(poll.scene_slug)
            if await _replayed_vote(tx, author.id, key, fingerprint):
                return poll
            await tx.insert_ballot(poll.id, author.id, ballot, now)
            if not await tx.record_idempotency(author.id, key, fingerprint, poll.id, now):
                raise _LostRace
    except _LostRace:
        pass  # the same request, committed by a concurrent retry: its ballot stands
    return poll


async def _replayed_vote(reads: Reads, scope: str, key: str, fingerprint: str) -> bool:
    found = await reads.idempotent_result(scope, key)
    if found is None:
        return False
    if found[0] != fingerprint:
        raise IdempotencyConflict("this idempotency key was already used for another vote")
    return True


async def react(
    store: Store, comment_id: str, author: Author, reaction: Reaction, on: bool, now: datetime
) -> Comment:
    """A visitor's reaction to an approved comment, added or taken back (both idempotent
    by nature: the reaction either exists or not)."""
    if author.official:
        raise NotAuthorized("organisers reply rather than react; visitors react")
    async with store.transaction() as tx:
        comment = (await tx.comments_by_id([comment_id])).get(comment_id)
        if comment is None or comment.status is not CommentStatus.APPROVED:
            raise NotFound("comment", comment_id)
        await tx.set_reaction(comment_id, author.id, reaction.value, on, now)
    return comment
