"""Layer meshes through the asset pipeline: per client tier, a LOD chain of compressed
GLBs (its full-detail level is the single-file fallback) and a 3D Tiles 1.1 tileset placed
at the scene's origin — of the chain, or for large layers a quadtree of tiles.

Builds are deterministic, so they are cached by content: the key hashes the mesh, the
tier, the origin and the pipeline version, and the record lists the files it made. A
scene loaded again (every start of the service) costs a lookup, not a build.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from assets_pipeline.build import PIPELINE_VERSION, Profile, build_scene
from assets_pipeline.mesh import MeshPart, Placement, SourceScene
from assets_pipeline.quadtree import QuadtreeOptions, build_quadtree
from assets_pipeline.textures import content_name
from assets_pipeline.tiles import chain_tileset, levels_from_summary
from backend.asset_store import MEDIA_TYPES, LocalAssetStore, write_atomically
from backend.domain.scene import ClientTier, LayerAsset, Scene

# Layers above this many triangles get a quadtree of tiles of at most this many; smaller
# ones the tileset of their LOD chain. 32k: one tile stays a few hundred KB over the wire.
TILE_TRIANGLES = 32_768
PROFILES: dict[ClientTier, Profile] = {
    ClientTier.DESKTOP: "desktop",
    ClientTier.MOBILE: "mobile",
    ClientTier.VR: "vr",
}


class LayerBuilder:
    """Builds layer assets into ``store``; ``cache_dir`` (optional, may be shared by
    several stores) remembers finished builds and their files."""

    def __init__(self, store: LocalAssetStore, cache_dir: Path | None = None) -> None:
        self.store = store
        self.cache_dir = cache_dir

    def build(
        self, tier: ClientTier, source: MeshPart | SourceScene, scene: Scene, name: str
    ) -> LayerAsset:
        """The layer asset of ``source`` (ENU metres around the scene's origin) for ``tier``."""
        if isinstance(source, MeshPart):
            source = SourceScene([source], [Placement(0, np.eye(4))])
        origin = scene.georeference.origin
        place = (origin.lat_deg, origin.lon_deg, origin.height_m)
        key = _key(tier, source, place, name)
        record = self._recall(key)
        if record is None:
            record, files = _build(tier, source, place, f"{scene.slug}/{name}")
            self._remember(key, record, files)
        else:
            files = {name: self._cached(name) for name in record["files"]}
        for name, data in files.items():
            if self.store.path_for(name) is None:
                self.store.put(data, name.rsplit(".", 1)[1])
        asset: dict[str, Any] = record["asset"]
        return LayerAsset(
            tier=tier,
            sha256=asset["sha256"],
            media_type=MEDIA_TYPES["glb"],
            byte_size=asset["byte_size"],
            triangle_count=asset["triangle_count"],
            tileset_sha256=asset["tileset_sha256"],
        )

    def _recall(self, key: str) -> dict[str, Any] | None:
        if self.cache_dir is None:
            return None
        try:
            record: dict[str, Any] = json.loads((self.cache_dir / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        if all((self.cache_dir / name).is_file() for name in record["files"]):
            return record
        return None

    def _cached(self, name: str) -> bytes:
        assert self.cache_dir is not None
        return (self.cache_dir / name).read_bytes()

    def _remember(self, key: str, record: dict[str, Any], files: dict[str, bytes]) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            if not (self.cache_dir / name).is_file():
                write_atomically(self.cache_dir / name, data)
        # the record last: it is only ever read with all of its files in place
        write_atomically(self.cache_dir / f"{key}.json", json.dumps(record).encode())


def _key(
    tier: ClientTier, source: SourceScene, place: tuple[float, float, float], name: str
) -> str:
    digest = hashlib.sha256(f"{PIPELINE_VERSION}|{tier.value}|{place}|{name}|".encode())
    for part in source.parts:
        for array in (part.positions_m, part.indices, part.normals, part.uvs, part.colors_rgba):
            digest.update(b"-" if array is None else np.ascontiguousarray(array).tobytes())
        digest.update(
            repr((part.name, part.base_color_rgba, part.roughness, part.metallic)).encode()
        )
        if part.base_color_texture is not None:
            digest.update(part.base_color_texture.data)
    for placement in source.placements:
        digest.update(f"{placement.part}|".encode())
        digest.update(np.ascontiguousarray(placement.matrix, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _build(
    tier: ClientTier, source: SourceScene, place: tuple[float, float, float], name: str
) -> tuple[dict[str, Any], dict[str, bytes]]:
    built = build_scene(
        name, source, profile=PROFILES[tier], codec="meshopt", external_textures=True
    )
    files = {lod.file: lod.glb for lod in built.lods} | built.texture_files
    if source.triangle_count > TILE_TRIANGLES:
        # large layers are split on the ground so a client loads only what it looks at
        tiled = build_quadtree(
            source,
            place,
            QuadtreeOptions(max_leaf_triangles=TILE_TRIANGLES, profile=PROFILES[tier]),
        )
        files |= tiled.files
        tileset = tiled.tileset
    else:
        tileset = chain_tileset(levels_from_summary(built.summary()), place)
    tileset_bytes = json.dumps(tileset, separators=(",", ":")).encode()
    tileset_name = content_name(tileset_bytes, "json")
    files[tileset_name] = tileset_bytes
    full = built.lods[0]
    record = {
        "asset": {
            "sha256": full.file.split(".")[0],
            "byte_size": len(full.glb),
            "triangle_count": full.triangle_count,
            "tileset_sha256": tileset_name.split(".")[0],
        },
        "files": sorted(files),
    }
    return record, files
