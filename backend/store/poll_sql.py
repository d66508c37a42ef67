"""Polls and ballots in SQL: mixins of the SQL store's reads and writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.domain.poll import AlreadyVoted, Poll
from backend.store.codec import required_text_in, text_out
from backend.store.tables import ballots, polls


def _body(poll: Poll) -> dict[str, Any]:
    return {
        "question": text_out(poll.question),
        "options": [text_out(option) for option in poll.options],
        "multiple": poll.multiple,
        "closes_on": poll.closes_on.isoformat() if poll.closes_on else None,
    }


def _poll(row: Mapping[Any, Any]) -> Poll:
    body = row["body"]
    return Poll(
        scene_slug=row["scene_slug"],
        scenario_key=row["scenario_key"],
        key=row["key"],
        question=required_text_in(body["question"]),
        options=tuple(required_text_in(o) for o in body["options"]),
        multiple=body["multiple"],
        closes_on=date.fromisoformat(body["closes_on"]) if body["closes_on"] else None,
    )


class PollReads:
    async def _rows(
        self, statement: sa.Executable, values: dict[str, Any] | None = None
    ) -> Sequence[sa.RowMapping]:
        raise NotImplementedError  # provided by SqlReads

    async def polls_by_id(self, ids: Sequence[str]) -> dict[str, Poll]:
        rows = await self._rows(sa.select(polls).where(polls.c.id.in_(list(ids))))
        return {row["id"]: _poll(row) for row in rows}

    async def polls_by_scenario(self, scenario_id: str) -> list[Poll]:
        scene_slug, _, key = scenario_id.partition(":")
        rows = await self._rows(
            sa.select(polls)
            .where(polls.c.scene_slug == scene_slug, polls.c.scenario_key == key)
            .order_by(polls.c.id)
        )
        return [_poll(row) for row in rows]

    async def poll_tally(self, poll_id: str, option_count: int) -> tuple[list[int], int]:
        """Votes per option and the number of ballots."""
        rows = await self._rows(sa.select(ballots.c.choices).where(ballots.c.poll_id == poll_id))
        tally = [0] * option_count
        for row in rows:
            for choice in row["choices"]:
                if 0 <= choice < option_count:
                    tally[choice] += 1
        return tally, len(rows)

    async def ballot_of(self, poll_id: str, voter_id: str) -> tuple[int, ...] | None:
        rows = await self._rows(
            sa.select(ballots.c.choices).where(
                ballots.c.poll_id == poll_id, ballots.c.voter_id == voter_id
            )
        )
        return tuple(rows[0]["choices"]) if rows else None


class PollWrites:
    _tx: AsyncConnection

    async def sync_polls(self, scene_slug: str, offered: Sequence[Poll]) -> None:
        """Polls from a manifest: new ones are created; a poll with ballots keeps its
        question and options (changing them under cast votes would change what was
        voted for); one without ballots is updated."""
        now = datetime.now(UTC)
        for poll in offered:
            existing = (
                (await self._tx.execute(sa.select(polls.c.id).where(polls.c.id == poll.id)))
                .scalars()
                .first()
            )
            if existing is None:
                await self._tx.execute(
                    sa.insert(polls).values(
                        id=poll.id,
                        scene_slug=scene_slug,
                        scenario_key=poll.scenario_key,
                        key=poll.key,
                        body=_body(poll),
                        updated_at=now,
                    )
                )
                continue
            voted = (
                await self._tx.execute(
                    sa.select(sa.func.count())
                    .select_from(ballots)
                    .where(ballots.c.poll_id == poll.id)
                )
            ).scalar_one()
            if voted == 0:
                await self._tx.execute(
                    sa.update(polls)
                    .where(polls.c.id == poll.id)
                    .values(body=_body(poll), updated_at=now)
                )

    async def insert_ballot(
        self, poll_id: str, voter_id: str, choices: tuple[int, ...], now: datetime
    ) -> None:
        try:
            async with self._tx.begin_nested():
                await self._tx.execute(
                    sa.insert(ballots).values(
                        poll_id=poll_id, voter_id=voter_id, choices=list(choices), created_at=now
                    )
                )
        except IntegrityError:
            raise AlreadyVoted(f"you have already voted in poll {poll_id}") from None
