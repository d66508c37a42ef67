"""The CPU-heavy part of a publish job, run in a worker process (one call per unit of work,
so the job reports progress between units and a native crash or memory blow-up in the
pipeline takes down that process, not the service).

Everything here takes and returns plain picklable values and writes only content-
addressed files into the asset store, which is harmless if the job then fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from assets_pipeline.build import PIPELINE_VERSION
from assets_pipeline.readers import read_asset
from backend.asset_store import LocalAssetStore
from backend.domain.scene import ClientTier, Layer, LayerAsset, Scene
from backend.scenes.layer_build import LayerBuilder
from backend.scenes.layers import build_layer
from backend.scenes.parse import read_scene_folder


def upload_digest(scene: Scene, upload_sha256: str, file_name: str) -> str:
    """The source digest of a layer built from an upload (see Layer.source_digest)."""
    extension = file_name.rsplit(".", 1)[-1].lower()
    text = f"{PIPELINE_VERSION}|upload|{upload_sha256}|{extension}|{scene.georeference!r}"
    return hashlib.sha256(text.encode()).hexdigest()


def build_folder_layer(
    folder: str, layer_key: str, published: Scene | None, asset_dir: str, cache_dir: str | None
) -> Layer:
    """One layer of a scene folder, built into the asset store (or reused from
    ``published`` when its source digest is unchanged)."""
    package = read_scene_folder(Path(folder))
    store = LocalAssetStore(Path(asset_dir))
    builder = LayerBuilder(store, Path(cache_dir) if cache_dir else None)
    return build_layer(package, store, builder, layer_key, published)


def build_upload_tier(
    upload_path: str,
    file_name: str,
    scene: Scene,
    layer_key: str,
    tier: ClientTier,
    asset_dir: str,
    cache_dir: str | None,
) -> LayerAsset:
    """An uploaded model through the pipeline for one client tier. The model is y-up
    metres with its origin at the scene's origin (assets_pipeline.readers)."""
    data = Path(upload_path).read_bytes()
    store = LocalAssetStore(Path(asset_dir))
    builder = LayerBuilder(store, Path(cache_dir) if cache_dir else None)
    return builder.build(tier, read_asset(file_name, data), scene, layer_key)
