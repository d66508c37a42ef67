"""Layer sources → delivered assets, one per client tier where the source allows.

Procedural sources (height-field terrain, extruded footprints) stand in for what a
content team would upload; each mesh goes through the asset pipeline
(``backend.scenes.layer_build``): a LOD chain of compressed GLBs and a 3D Tiles tileset.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from assets_pipeline.build import PIPELINE_VERSION
from assets_pipeline.mesh import MeshError
from assets_pipeline.procedural.footprints import Footprint, extrude_footprints
from assets_pipeline.procedural.terrain import Heightfield, heightfield, terrain_mesh
from assets_pipeline.readers import read_asset
from backend.asset_store import LocalAssetStore
from backend.domain.geo import GeoPoint
from backend.domain.scene import ClientTier, Layer, LayerAsset, Scene
from backend.scenes import manifest as m
from backend.scenes.layer_build import LayerBuilder
from backend.scenes.parse import ManifestError, ScenePackage

# Grid samples per side for terrain by tier: desktop renders the full grid; phones and
# standalone headsets get a quarter of the triangles (their frame and memory budgets).
TERRAIN_SAMPLES = {ClientTier.DESKTOP: 257, ClientTier.MOBILE: 129, ClientTier.VR: 129}
MAX_SOURCE_BYTES = 64 * 1024 * 1024


def _color(
    hex_color: str | None, default: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    if not hex_color or len(hex_color) != 7 or not hex_color.startswith("#"):
        return default
    try:
        r, g, b = (int(hex_color[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    except ValueError:
        return default
    return (r, g, b, 1.0)


def _source_file(package: ScenePackage, layer_key: str, relative: str) -> Path:
    path = (package.folder / relative).resolve()
    if package.folder.resolve() not in path.parents:
        raise ManifestError(
            package.folder / "scene.toml",
            f"layers.{layer_key}.source",
            f"{relative!r} points outside the scene folder",
        )
    if not path.is_file():
        raise ManifestError(
            package.folder / "scene.toml", f"layers.{layer_key}.source", f"{relative!r} is missing"
        )
    if path.stat().st_size > MAX_SOURCE_BYTES:
        raise ManifestError(path, "", "is larger than 64 MiB")
    return path


def _footprints(package: ScenePackage, path: Path, ground: Heightfield | None) -> list[Footprint]:
    try:
        collection: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ManifestError(path, "", f"is not valid GeoJSON: {error}") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ManifestError(path, "type", "must be a FeatureCollection")
    frame = package.scene.georeference.frame
    out: list[Footprint] = []
    for i, feature in enumerate(collection.get("features", [])):
        where = f"features[{i}]"
        geometry = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        if geometry.get("type") != "Polygon" or not geometry.get("coordinates"):
            raise ManifestError(path, f"{where}.geometry", "must be a Polygon")
        height = props.get("height_m")
        if not isinstance(height, int | float) or not 0 < height <= 1000:
            raise ManifestError(path, f"{where}.properties.height_m", "must be in (0, 1000] m")
        try:
            ring = np.array(
                [
                    frame.to_enu(GeoPoint.of("coordinates", float(lat), float(lon)))[:2]
                    for lon, lat in geometry["coordinates"][0]
                ],
                dtype=np.float64,
            )
        except Exception as error:
            raise ManifestError(path, f"{where}.geometry.coordinates", str(error)) from None
        base = (
            float(min(ground.height_at(float(e), float(n)) for e, n in ring))
            if ground is not None
            else 0.0
        )
        out.append(
            Footprint(
                ring_m=ring,
                height_m=float(height),
                base_m=max(base, 0.0),
                color_rgba=_color(props.get("color"), (0.82, 0.80, 0.76, 1.0)),
            )
        )
    return out


def _ground_points(package: ScenePackage) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """POI positions (ENU) with their heights: the procedural ground passes through them."""
    frame = package.scene.georeference.frame
    points = [frame.to_enu(poi.location) for poi in package.pois]
    return np.array(points, dtype=np.float64) if points else None


def layer_source_digest(package: ScenePackage, layer_key: str) -> str:
    """What a layer's assets are a function of, hashed: the pipeline version, where the
    scene stands, every layer source of the scene and the files they name (footprints sit
    on the terrain), and the POIs (the procedural ground passes through them). Equal
    digests: the published assets can be reused as they are."""
    scene = package.scene
    digest = hashlib.sha256(f"{PIPELINE_VERSION}|{layer_key}|".encode())
    digest.update(repr(scene.georeference).encode())
    digest.update(repr(sorted(TERRAIN_SAMPLES.items())).encode())
    for key, source in sorted(package.layer_sources.items()):
        digest.update(f"|{key}|{source.model_dump_json()}".encode())
        named = getattr(source, "footprints", None) or getattr(source, "file", None)
        if named is not None:
            digest.update(_source_file(package, key, named).read_bytes())
    if any(isinstance(s, m.HeightfieldSource) for s in package.layer_sources.values()):
        digest.update(repr([poi.location for poi in package.pois]).encode())
    return digest.hexdigest()


def build_layers(
    package: ScenePackage,
    store: LocalAssetStore,
    builder: LayerBuilder | None = None,
    published: Scene | None = None,
) -> Scene:
    """Generate every layer's assets into ``store`` through the asset pipeline (a LOD
    chain and a 3D Tiles tileset per tier); the scene with its layers' assets. A layer of
    ``published`` (the scene's current version) with the same source digest is reused."""
    builder = builder or LayerBuilder(store)
    layers = [
        build_layer(package, store, builder, layer.key, published) for layer in package.scene.layers
    ]
    return replace(package.scene, layers=tuple(layers))


def build_layer(
    package: ScenePackage,
    store: LocalAssetStore,
    builder: LayerBuilder,
    layer_key: str,
    published: Scene | None = None,
) -> Layer:
    """One layer of the package, built (or reused from ``published``) with its digest."""
    layer = next(layer for layer in package.scene.layers if layer.key == layer_key)
    digest = layer_source_digest(package, layer_key)
    if published is not None:
        for old in published.layers:
            if old.key == layer_key and old.source_digest == digest:
                return replace(layer, assets=old.assets, source_digest=digest)
    source = package.layer_sources[layer.key]
    try:
        assets = _layer_assets(package, store, builder, layer, source, _ground(package))
    except MeshError as error:
        raise ManifestError(
            package.folder / "scene.toml", f"layers.{layer.key}.source", str(error)
        ) from None
    return replace(layer, assets=tuple(assets), source_digest=digest)


def _ground(package: ScenePackage) -> Heightfield | None:
    """The terrain at full detail, which footprints stand on (None: no terrain layer)."""
    geo = package.scene.georeference
    terrain_source = next(
        (s for s in package.layer_sources.values() if isinstance(s, m.HeightfieldSource)), None
    )
    if terrain_source is None:
        return None
    return heightfield(
        geo.extent_east_m,
        geo.extent_north_m,
        TERRAIN_SAMPLES[ClientTier.DESKTOP],
        seed=terrain_source.seed,
        relief_m=terrain_source.relief_m,
        sea_level_m=terrain_source.sea_level_m,
        coast=terrain_source.coast,
        land_fraction=terrain_source.land_fraction,
        ground_points_m=_ground_points(package),
    )


def _layer_assets(
    package: ScenePackage,
    store: LocalAssetStore,
    builder: LayerBuilder,
    layer: Layer,
    source: m.LayerSource | m.FileSource,
    ground: Heightfield | None,
) -> list[LayerAsset]:
    scene = package.scene
    geo = scene.georeference
    if isinstance(source, m.HeightfieldSource):
        assets = []
        for tier, samples in TERRAIN_SAMPLES.items():
            field = heightfield(
                geo.extent_east_m,
                geo.extent_north_m,
                samples,
                seed=source.seed,
                relief_m=source.relief_m,
                sea_level_m=source.sea_level_m,
                coast=source.coast,
                land_fraction=source.land_fraction,
                ground_points_m=_ground_points(package),
            )
            mesh = terrain_mesh(field, name=layer.key)
            assets.append(builder.build(tier, mesh, scene, layer.key))
        return assets
    if isinstance(source, m.FootprintsSource):
        path = _source_file(package, layer.key, source.footprints)
        footprints = _footprints(package, path, ground)
        if not footprints:
            raise ManifestError(path, "features", "has no buildings")
        part = extrude_footprints(footprints, name=layer.key)
        return [builder.build(ClientTier.DESKTOP, part, scene, layer.key)]
    path = _source_file(package, layer.key, source.file)
    return model_assets(builder, scene, layer.key, path.name, path.read_bytes())


def model_assets(
    builder: LayerBuilder, scene: Scene, layer_key: str, file_name: str, data: bytes
) -> list[LayerAsset]:
    """A content team's model (GLB, glTF, OBJ, PLY, STL; y-up, metres, its origin at the
    scene's) through the pipeline for every tier: each gets its own LOD chain and tiles."""
    source = read_asset(file_name, data)
    return [builder.build(tier, source, scene, layer_key) for tier in ClientTier]
