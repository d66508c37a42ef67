"""``twinland scenes load``: validate every scene given, then write them in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.asset_store import LocalAssetStore
from backend.domain.region import Region
from backend.ports import Store
from backend.scenes.layer_build import LayerBuilder
from backend.scenes.layers import build_layers
from backend.scenes.parse import ManifestError, ManifestErrors, ScenePackage, read_scene_folder


@dataclass(frozen=True, slots=True)
class LoadReport:
    scenes: list[str]
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
    # Assets first: content-addressed files are harmless if the transaction then fails.
    try:
        built = [(package, build_layers(package, assets, builder)) for package in packages]
    except ManifestError as error:
        raise ManifestErrors([error]) from None
    pois = tours = created = pois_removed = tours_removed = 0
    async with store.transaction() as tx:
        for package, scene in built:
            await tx.lock_scene(scene.slug)
            await tx.upsert_region(package.region)
            await tx.upsert_scene(scene)
            for poi in package.pois:
                await tx.upsert_poi(poi, "manifest")
            for tour in package.tours:
                await tx.upsert_tour(tour, "manifest")
            tours_removed += await tx.delete_tours(
                scene.slug, [t.key for t in package.tours], "manifest"
            )
            pois_removed += await tx.delete_pois(
                scene.slug, [p.key for p in package.pois], "manifest"
            )
            existing = await tx.live_sessions_by_id([s.id for s in package.live_sessions])
            for session in package.live_sessions:
                if session.id not in existing:
                    await tx.insert_live_session(session)
                    created += 1
            pois += len(package.pois)
            tours += len(package.tours)
    return LoadReport(
        scenes=[package.scene.slug for package in packages],
        pois=pois,
        tours=tours,
        live_sessions_created=created,
        pois_removed=pois_removed,
        tours_removed=tours_removed,
    )
