"""Scenarios in SQL: the row codec and mixins of the SQL store's reads and writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.domain.scenario import (
    ChangeKind,
    Figure,
    LayerChange,
    Phase,
    Scenario,
    ScenarioStatus,
    Unit,
)
from backend.store.codec import required_text_in, text_in, text_out
from backend.store.tables import scenarios


def body_out(scenario: Scenario) -> dict[str, Any]:
    """Everything but identity, version and status: equal bodies, equal content."""
    return {
        "name": text_out(scenario.name),
        "description": text_out(scenario.description),
        "text_alternative": text_out(scenario.text_alternative),
        "fallback_image_url": scenario.fallback_image_url,
        "phases": [
            {
                "key": phase.key,
                "name": text_out(phase.name),
                "description": text_out(phase.description),
                "starts_on": phase.starts_on.isoformat(),
                "ends_on": phase.ends_on.isoformat() if phase.ends_on else None,
                "changes": [
                    {"kind": c.kind.value, "layer": c.layer_key, "replaces": c.replaces}
                    for c in phase.changes
                ],
            }
            for phase in scenario.phases
        ],
        "figures": [
            {"key": f.key, "label": text_out(f.label), "value": f.value, "unit": f.unit.value}
            for f in scenario.figures
        ],
    }


def scenario_from(row: Mapping[Any, Any]) -> Scenario:
    body = row["body"]
    return Scenario(
        scene_slug=row["scene_slug"],
        key=row["key"],
        version=row["version"],
        status=ScenarioStatus(row["status"]),
        name=required_text_in(body["name"]),
        description=text_in(body["description"]),
        text_alternative=required_text_in(body["text_alternative"]),
        fallback_image_url=body["fallback_image_url"],
        phases=tuple(
            Phase(
                key=p["key"],
                name=required_text_in(p["name"]),
                description=text_in(p["description"]),
                starts_on=date.fromisoformat(p["starts_on"]),
                ends_on=date.fromisoformat(p["ends_on"]) if p["ends_on"] else None,
                changes=tuple(
                    LayerChange(ChangeKind(c["kind"]), c["layer"], c["replaces"])
                    for c in p["changes"]
                ),
            )
            for p in body["phases"]
        ),
        figures=tuple(
            Figure(f["key"], required_text_in(f["label"]), f["value"], Unit(f["unit"]))
            for f in body["figures"]
        ),
    )


def _latest_published() -> sa.Select[Any]:
    """The newest published version of each scenario that is still offered."""
    newest = (
        sa.select(
            scenarios.c.scene_slug,
            scenarios.c.key,
            sa.func.max(scenarios.c.version).label("version"),
        )
        .where(scenarios.c.status == ScenarioStatus.PUBLISHED.value)
        .group_by(scenarios.c.scene_slug, scenarios.c.key)
        .subquery()
    )
    return (
        sa.select(scenarios)
        .join(
            newest,
            (scenarios.c.scene_slug == newest.c.scene_slug)
            & (scenarios.c.key == newest.c.key)
            & (scenarios.c.version == newest.c.version),
        )
        .where(scenarios.c.withdrawn_at.is_(None))
    )


class ScenarioReads:
    async def _rows(
        self, statement: sa.Executable, values: dict[str, Any] | None = None
    ) -> Sequence[sa.RowMapping]:
        raise NotImplementedError  # provided by SqlReads

    async def scenarios_by_scene(self, scene_slugs: Sequence[str]) -> dict[str, list[Scenario]]:
        """Each scene's offered scenarios (newest published versions), by key."""
        rows = await self._rows(
            _latest_published()
            .where(scenarios.c.scene_slug.in_(list(scene_slugs)))
            .order_by(scenarios.c.scene_slug, scenarios.c.row)
        )
        out: dict[str, list[Scenario]] = defaultdict(list)
        for row in rows:
            out[row["scene_slug"]].append(scenario_from(row))
        return out

    async def scenarios_by_id(self, ids: Sequence[str]) -> dict[str, Scenario]:
        """Newest published version per ``<scene>:<key>`` id (withdrawn ones included:
        an old link still resolves)."""
        pairs = [tuple(i.split(":", 1)) for i in ids if ":" in i]
        if not pairs:
            return {}
        newest = (
            sa.select(
                scenarios.c.scene_slug,
                scenarios.c.key,
                sa.func.max(scenarios.c.version).label("version"),
            )
            .where(
                scenarios.c.status == ScenarioStatus.PUBLISHED.value,
                sa.tuple_(scenarios.c.scene_slug, scenarios.c.key).in_(pairs),
            )
            .group_by(scenarios.c.scene_slug, scenarios.c.key)
            .subquery()
        )
        rows = await self._rows(
            sa.select(scenarios).join(
                newest,
                (scenarios.c.scene_slug == newest.c.scene_slug)
                & (scenarios.c.key == newest.c.key)
                & (scenarios.c.version == newest.c.version),
            )
        )
        return {f"{row['scene_slug']}:{row['key']}": scenario_from(row) for row in rows}

    async def scenario_versions(self, scene_slug: str, key: str) -> list[Scenario]:
        """Every version of one scenario, newest first."""
        rows = await self._rows(
            sa.select(scenarios)
            .where(scenarios.c.scene_slug == scene_slug, scenarios.c.key == key)
            .order_by(scenarios.c.version.desc())
        )
        return [scenario_from(row) for row in rows]


class ScenarioWrites:
    _tx: AsyncConnection

    async def sync_scenarios(self, scene_slug: str, offered: Sequence[Scenario]) -> list[str]:
        """Make ``offered`` (from a manifest) the scene's scenarios: a changed one gets a
        new version, a new one version 1, one no longer offered is withdrawn; versions are
        never rewritten. Returns the ids that got a new version."""
        now = datetime.now(UTC)
        rows = (
            (
                await self._tx.execute(
                    sa.select(scenarios).where(scenarios.c.scene_slug == scene_slug)
                )
            )
            .mappings()
            .all()
        )
        latest: dict[str, sa.RowMapping] = {}
        for row in rows:
            if row["key"] not in latest or row["version"] > latest[row["key"]]["version"]:
                latest[row["key"]] = row
        changed = []
        for scenario in offered:
            body = body_out(scenario)
            current = latest.get(scenario.key)
            if current is not None and current["body"] == body:
                if current["withdrawn_at"] is not None:
                    await self._set_withdrawn(scene_slug, scenario.key, None)
                continue
            version = current["version"] + 1 if current is not None else 1
            await self._tx.execute(
                sa.insert(scenarios).values(
                    scene_slug=scene_slug,
                    key=scenario.key,
                    version=version,
                    status=ScenarioStatus.PUBLISHED.value,
                    body=body,
                    created_at=now,
                    withdrawn_at=None,
                )
            )
            await self._set_withdrawn(scene_slug, scenario.key, None)
            changed.append(scenario.id)
        keep = {s.key for s in offered}
        for key, row in latest.items():
            if key not in keep and row["withdrawn_at"] is None:
                await self._set_withdrawn(scene_slug, key, now)
        return changed

    async def _set_withdrawn(self, scene_slug: str, key: str, at: datetime | None) -> None:
        await self._tx.execute(
            sa.update(scenarios)
            .where(scenarios.c.scene_slug == scene_slug, scenarios.c.key == key)
            .values(withdrawn_at=at)
        )
