"""Stamp-tour use cases: position reports, stamp claims, badges, transfer codes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.domain.errors import NotFound
from backend.domain.geo import GeoPoint
from backend.domain.stamps import StampTour, Tracker, check_claim, track
from backend.ports import Reads, Store

TRANSFER_TTL = timedelta(minutes=15)
# Codes people type: no 0/O or 1/I/L to confuse.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class Progress:
    tour: StampTour
    stamps: dict[int, datetime]  # stop index → when earned
    badge_code: str | None
    badge_issued_at: datetime | None
    tracker: Tracker | None


def _code(groups: int) -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(groups))


async def _tour(reads: Reads, tour_id: str) -> StampTour:
    tour = (await reads.stamp_tours_by_id([tour_id])).get(tour_id)
    if tour is None:
        raise NotFound("stamp tour", tour_id)
    return tour


async def progress(reads: Reads, visitor_id: str, tour_id: str) -> Progress:
    tour = await _tour(reads, tour_id)
    badge = await reads.badge_of(visitor_id, tour_id)
    return Progress(
        tour,
        await reads.stamps_of(visitor_id, tour_id),
        badge[0] if badge else None,
        badge[1] if badge else None,
        await reads.tracker(visitor_id, tour_id),
    )


async def report_position(
    store: Store, visitor_id: str, tour_id: str, position: GeoPoint, now: datetime
) -> Progress:
    """Accept a camera position (ImplausibleMovement refuses it and keeps the last one)."""
    tour = await _tour(store.reads, tour_id)
    async with store.transaction() as tx:
        await tx.lock_scene(tour.scene_slug)
        tracker = track(tour, await tx.tracker(visitor_id, tour_id), position, now)
        await tx.save_tracker(visitor_id, tour_id, tracker)
    return await progress(store.reads, visitor_id, tour_id)


async def claim_stamp(
    store: Store, visitor_id: str, tour_id: str, stop_index: int, answer: str | None, now: datetime
) -> Progress:
    """Earn a stop's stamp when its conditions hold; the last one earns the badge. A
    stamp already earned is returned as it was (claims are naturally idempotent)."""
    tour = await _tour(store.reads, tour_id)
    async with store.transaction() as tx:
        await tx.lock_scene(tour.scene_slug)
        earned = await tx.stamps_of(visitor_id, tour_id)
        if stop_index not in earned:
            check_claim(tour, stop_index, await tx.tracker(visitor_id, tour_id), answer)
            await tx.add_stamp(visitor_id, tour_id, stop_index, now)
            earned[stop_index] = now
        if len(earned) == len(tour.stops) and await tx.badge_of(visitor_id, tour_id) is None:
            await tx.add_badge(f"TL-{_code(3)}", visitor_id, tour_id, now)
    return await progress(store.reads, visitor_id, tour_id)


async def create_transfer_code(
    store: Store, visitor_id: str, now: datetime
) -> tuple[str, datetime]:
    """A one-time code (valid TRANSFER_TTL) that gives another device this visitor id."""
    code = _code(2)
    expires = now + TRANSFER_TTL
    async with store.transaction() as tx:
        await tx.add_transfer_code(code, visitor_id, expires)
    return code, expires


async def redeem_transfer_code(store: Store, code: str, now: datetime) -> str:
    normalised = code.strip().upper().replace(" ", "")
    async with store.transaction() as tx:
        visitor_id = await tx.use_transfer_code(normalised, now)
    if visitor_id is None:
        raise NotFound("transfer code", code)
    return visitor_id
