"""The version switch: the one place a scene's published layers change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from backend.domain.publishing import SceneVersion, layers_changed
from backend.domain.scene import Layer, Scene
from backend.ports import Writes


@dataclass(frozen=True, slots=True)
class Published:
    version: int
    unchanged: bool  # the layers were already current: no version was made


async def publish_layers(
    tx: Writes, scene: Scene, layers: tuple[Layer, ...], job_id: str | None, now: datetime
) -> Published:
    """Inside ``tx`` (holding the scene's lock): make ``layers`` the scene's current
    version, unless they already are. The scene's other fields are written either way.
    Clients read a scene row with its layers in one statement, so they see the old
    version's layers or the new one's, never a mix."""
    current = (await tx.scenes_by_slug([scene.slug])).get(scene.slug)
    if current is not None and not layers_changed(current.layers, layers):
        await tx.upsert_scene(replace(scene, layers=current.layers, version=current.version))
        return Published(current.version, unchanged=True)
    number = (current.version if current is not None else 0) + 1
    if current is None:
        # the row first (versions reference it), with no layers until the switch below
        await tx.upsert_scene(replace(scene, layers=(), version=0))
    else:
        await tx.upsert_scene(replace(scene, layers=current.layers, version=current.version))
    await tx.publish_scene_version(SceneVersion(scene.slug, number, layers, now, job_id))
    return Published(number, unchanged=False)
