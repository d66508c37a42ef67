"""The CPU-heavy part of a publish job, run in a worker process (one call per unit of work,
so the job reports progress between units and a native crash or memory blow-up in the
pipeline takes down that process, not the service).

Everything here takes and returns plain picklable values and writes only content-
addressed files into the asset store, which is harmless if the job then fails. Expected
failures come back as :class:`BuildRefused`, which survives the trip between processes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from assets_pipeline.build import PIPELINE_VERSION
from assets_pipeline.mesh import MeshError
from assets_pipeline.readers import read_asset
from backend.asset_store import LocalAssetStore
from backend.domain.errors import DomainError, NotFound
from backend.domain.publishing import JobFailure
from backend.domain.scene import ClientTier, Layer, LayerAsset, Scene
from backend.scenes.layer_build import LayerBuilder
from backend.scenes.layers import build_layer
from backend.scenes.parse import ManifestError, ManifestErrors, read_scene_folder

_P = ParamSpec("_P")
_R = TypeVar("_R")


def refusal(error: Exception) -> JobFailure | None:
    """The job failure an expected error stands for; None for anything unexpected."""
    if isinstance(error, ManifestErrors | ManifestError):
        return JobFailure("invalid_source", error.message, retryable=False)
    if isinstance(error, MeshError):
        return JobFailure(f"invalid_model:{error.code}", str(error), retryable=False)
    if isinstance(error, NotFound):
        return JobFailure("not_found", error.message, retryable=False)
    if isinstance(error, DomainError):
        return JobFailure(error.code, error.message, retryable=False)
    return None


class BuildRefused(Exception):
    """An expected failure of a build process, as the job failure it stands for.

    MeshError and the manifest errors cannot cross back from a build process: their
    ``__init__`` takes other arguments than their ``args``, so unpickling them fails, and
    a result that fails to unpickle breaks the whole process pool. Every model the
    pipeline refused used to fail its job as ``worker_crashed`` and be retried twice.
    """

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(failure)
        self.failure = failure

    def __str__(self) -> str:
        return self.failure.message


def _refusals_cross_processes(build: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(build)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return build(*args, **kwargs)
        except (MeshError, DomainError) as error:
            failure = refusal(error)
            assert failure is not None  # every MeshError and DomainError has one
            raise BuildRefused(failure) from error

    return run


def upload_digest(scene: Scene, upload_sha256: str, file_name: str) -> str:
    """The source digest of a layer built from an upload (see Layer.source_digest)."""
    extension = file_name.rsplit(".", 1)[-1].lower()
    text = f"{PIPELINE_VERSION}|upload|{upload_sha256}|{extension}|{scene.georeference!r}"
    return hashlib.sha256(text.encode()).hexdigest()


@_refusals_cross_processes
def build_folder_layer(
    folder: str, layer_key: str, published: Scene | None, asset_dir: str, cache_dir: str | None
) -> Layer:
    """One layer of a scene folder, built into the asset store (or reused from
    ``published`` when its source digest is unchanged)."""
    package = read_scene_folder(Path(folder))
    store = LocalAssetStore(Path(asset_dir))
    builder = LayerBuilder(store, Path(cache_dir) if cache_dir else None)
    return build_layer(package, store, builder, layer_key, published)


@_refusals_cross_processes
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
