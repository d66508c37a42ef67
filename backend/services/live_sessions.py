"""Organiser commands on live sessions: create, reschedule, and lifecycle transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.domain.errors import Conflict, InvalidValue, NotFound
from backend.domain.ids import qualified_id, split_qualified_id
from backend.domain.live_session import LiveSession, LiveSessionStatus, check_future_start
from backend.live.tokens import JoinClaims, Role, issue_join_token
from backend.ports import Reads, Store
from backend.services.catalog import require_scene


async def _check_tour(reads: Reads, session: LiveSession) -> None:
    if session.tour_key is None:
        return
    tour_id = qualified_id(session.scene_slug, session.tour_key)
    if tour_id not in await reads.tours_by_id([tour_id]):
        raise InvalidValue("input.tourKey", f"{session.tour_key!r} is not a tour of this scene")


async def create_live_session(
    store: Store, session: LiveSession, now: datetime | None = None
) -> LiveSession:
    check_future_start(session.starts_at, now or datetime.now(UTC))
    async with store.transaction() as tx:
        await require_scene(tx, session.scene_slug)
        await _check_tour(tx, session)
        await tx.insert_live_session(session)
    return session


async def _load(reads: Reads, session_id: str) -> LiveSession:
    split_qualified_id("id", session_id)
    session = (await reads.live_sessions_by_id([session_id])).get(session_id)
    if session is None:
        raise NotFound("live session", session_id)
    return session


async def reschedule_live_session(
    store: Store,
    session_id: str,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime | None = None,
) -> LiveSession:
    async with store.transaction() as tx:
        current = await _load(tx, session_id)
        updated = current.reschedule(starts_at, ends_at, now or datetime.now(UTC))
        await tx.update_live_session(updated, current.status)
    return updated


async def change_live_session_status(
    store: Store, session_id: str, target: LiveSessionStatus
) -> LiveSession:
    async with store.transaction() as tx:
        current = await _load(tx, session_id)
        updated = current.transition(target)
        await tx.update_live_session(updated, current.status)
    return updated


MAX_DISPLAY_NAME_CHARS = 40


def check_display_name(name: str) -> str:
    """A display name others will see: trimmed, 1..40 characters, no control characters."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidValue("name", "must not be empty")
    if len(cleaned) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidValue(
            "name", f"is {len(cleaned)} characters; at most {MAX_DISPLAY_NAME_CHARS}"
        )
    if any(ord(c) < 32 for c in cleaned):
        raise InvalidValue("name", "holds control characters")
    return cleaned


async def join_live_session(
    reads: Reads,
    session_id: str,
    name: str,
    role: Role,
    *,
    secret: str,
    ttl: timedelta,
    now: datetime | None = None,
) -> tuple[str, JoinClaims, LiveSession]:
    """A signed join token for a session that is scheduled or live (a ticket may be
    fetched before the start; the socket admits only while live)."""
    display_name = check_display_name(name)
    session = (await reads.live_sessions_by_id([session_id])).get(session_id)
    if session is None:
        raise NotFound("live session", session_id)
    if session.status not in (LiveSessionStatus.SCHEDULED, LiveSessionStatus.LIVE):
        raise Conflict(
            f"live session {session_id!r} is {session.status.value}; it cannot be joined"
        )
    token, claims = issue_join_token(
        secret, session_id, display_name, role, now=now or datetime.now(UTC), ttl=ttl
    )
    return token, claims, session
