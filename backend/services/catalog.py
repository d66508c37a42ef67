"""Organiser commands on POIs and tours: check references, then write in one transaction."""

from __future__ import annotations

from dataclasses import replace

from backend.domain.errors import Conflict, NotFound
from backend.domain.ids import qualified_id, split_qualified_id
from backend.domain.poi import Poi
from backend.domain.scene import Scene
from backend.domain.tour import Tour
from backend.ports import Reads, Store


async def require_scene(reads: Reads, scene_slug: str) -> Scene:
    scene = (await reads.scenes_by_slug([scene_slug])).get(scene_slug)
    if scene is None:
        raise NotFound("scene", scene_slug)
    return scene


async def check_tour_stops(reads: Reads, tour: Tour) -> None:
    """Stops must name POIs of the tour's own scene (domain rule, fed from the store)."""
    ids = [qualified_id(tour.scene_slug, stop.poi_key) for stop in tour.stops]
    found = await reads.pois_by_id(ids)
    tour.check_stops({poi.key: poi for poi in found.values()})


async def create_poi(store: Store, poi: Poi) -> Poi:
    async with store.transaction() as tx:
        scene = await require_scene(tx, poi.scene_slug)
        if poi.anchor_m is None:  # clients place markers in scene coordinates
            poi = replace(poi, anchor_m=scene.georeference.frame.to_enu(poi.location))
        await tx.insert_poi(poi, "api")
    return poi


async def update_poi(store: Store, poi_id: str, updated: Poi) -> Poi:
    """Replace a POI's content; its id (scene and key) never changes."""
    split_qualified_id("id", poi_id)
    async with store.transaction() as tx:
        current = (await tx.pois_by_id([poi_id])).get(poi_id)
        if current is None:
            raise NotFound("POI", poi_id)
        poi = replace(updated, scene_slug=current.scene_slug, key=current.key)
        if poi.anchor_m is None:
            scene = await require_scene(tx, poi.scene_slug)
            poi = replace(poi, anchor_m=scene.georeference.frame.to_enu(poi.location))
        await tx.upsert_poi(poi, "api")
    return poi


async def delete_poi(store: Store, poi_id: str) -> None:
    split_qualified_id("id", poi_id)
    async with store.transaction() as tx:
        if not await tx.delete_poi(poi_id):
            raise NotFound("POI", poi_id)


async def create_tour(store: Store, tour: Tour) -> Tour:
    async with store.transaction() as tx:
        await require_scene(tx, tour.scene_slug)
        if tour.id in await tx.tours_by_id([tour.id]):
            raise Conflict(f"tour {tour.id!r} already exists")
        await check_tour_stops(tx, tour)
        await tx.upsert_tour(tour, "api")
    return tour


async def update_tour(store: Store, tour_id: str, updated: Tour) -> Tour:
    split_qualified_id("id", tour_id)
    async with store.transaction() as tx:
        current = (await tx.tours_by_id([tour_id])).get(tour_id)
        if current is None:
            raise NotFound("tour", tour_id)
        tour = replace(updated, scene_slug=current.scene_slug, key=current.key)
        await check_tour_stops(tx, tour)
        await tx.upsert_tour(tour, "api")
    return tour
