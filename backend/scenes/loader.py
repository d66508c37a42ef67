"""``twinland scenes load``: validate every scene given, then write them in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backend.asset_store import LocalAssetStore
from backend.domain.region import Region
from backend.domain.scene import Scene
from backend.ports import Store, Writes
from backend.publishing.versions import Published, publish_layers
from backend.scenes.layer_build import LayerBuilder
from backend.scenes.layers import build_layers
from backend.scenes.parse import ManifestError, ManifestErrors, ScenePackage, read_scene_folder


@dataclass(frozen=True, slots=True)
class LoadReport:
    scenes: list[str]
    versions: dict[str, int]  # each scene's current version after the load
    pois: int
    tours: int
    live_sessions_created: int
    pois_removed: int
    tours_removed: int


def scene_folders(path: Path) -> list[Path]:
    """``path`` itself when it is a scene folder, else its sub-folders holding a scene.toml."""
    if (path / "scene.toml").is_file():
        return [path]
    if not path.is_dir():
        raise ManifestErrors([ManifestError(path, "", "is not a directory")])
    found = sorted(p.parent for p in path.glob("*/scene.toml"))
    if not found:
        raise ManifestErrors([ManifestError(path, "", "holds no scene.toml")])
    return found


def read_packages(paths: list[Path]) -> list[ScenePackage]:
    """Parse every folder; raise one ManifestErrors with the problems of all of them."""
    packages: list[ScenePackage] = []
    problems: list[ManifestError] = []
    for folder in (f for p in paths for f in scene_folders(p)):
        try:
            packages.append(read_scene_folder(folder))
        except ManifestErrors as error:
            problems.extend(error.errors)
    regions: dict[str, tuple[Region, Path]] = {}
    for package in packages:
        seen = regions.setdefault(package.region.slug, (package.region, package.folder))
        if seen[0] != package.region:
            problems.append(
                ManifestError(
                    package.folder / "scene.toml",
                    "region",
                    f"region {package.region.slug!r} is defined differently in {seen[1]}",
                )
            )
    slugs = [p.scene.slug for p in packages]
    for slug in {s for s in slugs if slugs.count(s) > 1}:
        problems.append(ManifestError(Path(slug), "slug", "the same scene is given twice"))
    if problems:
        raise ManifestErrors(problems)
    return packages


async def load_scenes(
    store: Store, assets: LocalAssetStore, paths: list[Path], build_cache: Path | None = None
) -> LoadReport:
    """Read, build and store scenes, all or nothing. ``build_cache`` keeps finished layer
    builds (backend.scenes.layer_build) so that loading the same sources again is quick."""
    packages = read_packages(paths)
    builder = LayerBuilder(assets, build_cache)
    published = await store.reads.scenes_by_slug([p.scene.slug for p in packages])
    # Assets first: content-addressed files are harmless if the transaction then fails.
    try:
        built = [
            (package, build_layers(package, assets, builder, published.get(package.scene.slug)))
            for package in packages
        ]
    except ManifestError as error:
        raise ManifestErrors([error]) from None
    totals = StoredContent()
    versions: dict[str, int] = {}
    async with store.transaction() as tx:
        for package, scene in built:
            await tx.lock_scene(scene.slug)
            outcome = await store_package(tx, package, scene, None, totals)
            versions[scene.slug] = outcome.version
    return LoadReport(
        scenes=[package.scene.slug for package in packages],
        versions=versions,
        pois=totals.pois,
        tours=totals.tours,
        live_sessions_created=totals.live_sessions_created,
        pois_removed=totals.pois_removed,
        tours_removed=totals.tours_removed,
    )


@dataclass(slots=True)
class StoredContent:
    pois: int = 0
    tours: int = 0
    live_sessions_created: int = 0
    pois_removed: int = 0
    tours_removed: int = 0


async def store_package(
    tx: Writes, package: ScenePackage, scene: Scene, job_id: str | None, totals: StoredContent
) -> Published:
    """Inside ``tx`` (holding the scene's lock): the region, the built ``scene`` as the
    current version (if its layers changed), and the package's POIs, tours and sessions."""
    await tx.upsert_region(package.region)
    outcome = await publish_layers(tx, scene, scene.layers, job_id, datetime.now(UTC))
    for poi in package.pois:
        await tx.upsert_poi(poi, "manifest")
    for tour in package.tours:
        await tx.upsert_tour(tour, "manifest")
    totals.tours_removed += await tx.delete_tours(
        scene.slug, [t.key for t in package.tours], "manifest"
    )
    totals.pois_removed += await tx.delete_pois(
        scene.slug, [p.key for p in package.pois], "manifest"
    )
    await tx.sync_scenarios(scene.slug, package.scenarios)
    await tx.sync_polls(scene.slug, package.polls)
    await tx.sync_stamp_tours(scene.slug, package.stamp_tours)
    existing = await tx.live_sessions_by_id([s.id for s in package.live_sessions])
    for session in package.live_sessions:
        if session.id not in existing:
            await tx.insert_live_session(session)
            totals.live_sessions_created += 1
    totals.pois += len(package.pois)
    totals.tours += len(package.tours)
    return outcome
