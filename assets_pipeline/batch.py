"""Many assets at once: one worker process per asset (at most ``jobs`` at a time),
content-hash caching, atomic outputs and a manifest.

The output folder is a flat, content-addressed store, ready to serve as ``/assets/``:

    DIR/manifest.json                 every asset of the last run: levels, sizes, errors
    DIR/<sha256>.glb (.glb.gz .glb.br) one file per level, precompressed siblings beside it
    DIR/<sha256>.webp (.jpg / .png)   textures and their fallbacks, shared by every level
    DIR/.records/<stem>.json          per-asset record with its cache key (incremental runs)

A file's name is the hash of its bytes, so it never changes once written and a CDN may
cache it forever; identical textures in two assets are stored once.

Each asset runs in its own process, so a native decoder that crashes (Draco, an image
codec) fails that asset, not the run. A worker writes into a temporary folder; only when
the asset succeeded are its files moved into the store and its record written, so a
failed or killed build adds nothing that a manifest or record points to.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import brotli

from assets_pipeline.build import PIPELINE_VERSION, CodecChoice, Profile
from assets_pipeline.mesh import MeshError
from assets_pipeline.tiles import chain_tileset, levels_from_summary

INPUT_SUFFIXES = {".glb", ".gltf", ".obj", ".ply", ".stl"}
SIDECAR_SUFFIXES = {".mtl", ".png", ".jpg", ".jpeg", ".webp"}
ProgressCallback = Callable[[str, str], None]  # (asset name, step or final state)
RECORDS = ".records"


@dataclass(frozen=True)
class Tiling:
    origin: tuple[float, float, float]  # WGS84 lat°, lon°, height m of the ENU origin
    max_leaf_triangles: int


@dataclass
class AssetOutcome:
    name: str
    status: str  # "built" | "cached" | "failed"
    record: Path | None = None  # the asset's record in the store
    error_code: str | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass
class BatchReport:
    outcomes: list[AssetOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[AssetOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def cache_key(path: Path, profile: str, codec: str, tiling: Tiling | None = None) -> str:
    """Input bytes, the sidecar files an OBJ/glTF may use, options and pipeline version."""
    digest = hashlib.sha256(f"{PIPELINE_VERSION}|{profile}|{codec}|{tiling}|".encode())
    digest.update(path.read_bytes())
    if path.suffix.lower() in {".obj", ".gltf"}:
        for sibling in sorted(path.parent.iterdir()):
            if sibling.suffix.lower() in SIDECAR_SUFFIXES and sibling.is_file():
                digest.update(sibling.name.encode())
                digest.update(sibling.read_bytes())
    return digest.hexdigest()


def _worker(
    path: str,
    folder: str,
    profile: Profile,
    codec: CodecChoice,
    tiling: Tiling | None,
    stem: str,
    pipe: Connection,
) -> None:
    """Runs in a child process: build one asset into ``folder``, report through ``pipe``."""
    from assets_pipeline.build import build_scene
    from assets_pipeline.quadtree import QuadtreeOptions, build_quadtree
    from assets_pipeline.readers import read_path

    try:
        source = Path(path)
        pipe.send(("step", "read"))
        scene = read_path(source)
        data = source.read_bytes()
        built = build_scene(
            source.name,
            scene,
            profile=profile,
            codec=codec,
            source_bytes=len(data),
            source_sha256=hashlib.sha256(data).hexdigest(),
            on_step=lambda step: pipe.send(("step", step)),
            external_textures=True,
        )
        out = Path(folder)
        for lod in built.lods:
            (out / lod.file).write_bytes(lod.glb)
            if lod.glb_gzip is not None:
                (out / f"{lod.file}.gz").write_bytes(lod.glb_gzip)
            if lod.glb_brotli is not None:
                (out / f"{lod.file}.br").write_bytes(lod.glb_brotli)
        for texture_name, data in built.texture_files.items():
            (out / texture_name).write_bytes(data)  # already compressed: no .gz/.br
        summary = built.summary()
        if tiling is not None and scene.triangle_count > tiling.max_leaf_triangles:
            pipe.send(("step", "tiles"))
            tiled = build_quadtree(
                scene,
                tiling.origin,
                QuadtreeOptions(
                    max_leaf_triangles=tiling.max_leaf_triangles,
                    profile=profile,
                    codec="meshopt" if codec == "auto" else codec,
                ),
            )
            for name, data in tiled.files.items():
                (out / name).write_bytes(data)
                if name.endswith(".glb"):
                    (out / f"{name}.gz").write_bytes(gzip.compress(data, 9, mtime=0))
                    (out / f"{name}.br").write_bytes(brotli.compress(data, quality=11))
            tileset_name = f"{stem}.tiles.json"
            (out / tileset_name).write_text(json.dumps(tiled.tileset, indent=1), encoding="utf-8")
            summary["quadtree"] = {
                "tileset": tileset_name,
                "tiles": tiled.tiles,
                "depth": tiled.depth,
                "max_leaf_triangles": tiling.max_leaf_triangles,
            }
        summary["files"] = sorted(p.name for p in out.iterdir())
        pipe.send(("done", summary))
    except MeshError as error:
        pipe.send(("failed", (error.code, error.message)))
    except MemoryError:
        pipe.send(("failed", ("out_of_memory", "the asset needs more memory than available")))
    except Exception as error:  # any other defect: report it, never hang the run
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        pipe.send(("failed", ("internal_error", detail)))
    finally:
        pipe.close()


@dataclass
class _Running:
    name: str
    process: mp.process.BaseProcess
    pipe: Connection
    temp: Path
    target: Path  # the asset's record, written last
    key: str
    started: float
    result: tuple[str, Any] | None = None


def run_batch(
    inputs: list[Path],
    out_dir: Path,
    *,
    profile: Profile = "desktop",
    codec: CodecChoice = "meshopt",
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
    origin: tuple[float, float, float] | None = None,
    tile_triangles: int | None = None,
) -> BatchReport:
    """Build every input into the content-addressed store ``out_dir`` (see the module
    docstring) and write ``manifest.json``; an unchanged input is not rebuilt. With an
    ``origin`` (WGS84 lat°, lon°, height m of the inputs' ENU origin) each asset also gets
    a 3D Tiles tileset, ``<stem>.tileset.json``, of its LOD chain (assets_pipeline.tiles),
    and with ``tile_triangles`` too, an asset larger than that is also split into a
    quadtree of tiles of at most that many triangles: ``<stem>.tiles.json``
    (assets_pipeline.quadtree)."""
    if tile_triangles is not None and origin is None:
        raise ValueError("tiling needs an origin to place the tiles")
    tiling = Tiling(origin, tile_triangles) if origin and tile_triangles else None
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    context = mp.get_context("spawn")  # no inherited threads or locks from the caller
    report = BatchReport()
    pending: list[tuple[Path, Path, str]] = []
    stems: set[str] = set()
    for path in inputs:
        name = path.name
        if path.suffix.lower() not in INPUT_SUFFIXES or not path.is_file():
            reason = "is not a file" if not path.is_file() else "has an unsupported format"
            report.outcomes.append(
                AssetOutcome(name, "failed", error_code="bad_input", error=f"{path} {reason}")
            )
            continue
        stem = path.stem if path.stem not in stems else f"{path.stem}-{path.suffix[1:]}"
        stems.add(stem)
        record = out_dir / RECORDS / f"{stem}.json"
        key = cache_key(path, profile, codec, tiling)
        recorded = _read_record(record)
        if (
            recorded is not None
            and recorded.get("cache_key") == key
            and all((out_dir / f).is_file() for f in recorded.get("files", []))
        ):
            report.outcomes.append(AssetOutcome(name, "cached", record, summary=recorded))
            if progress:
                progress(name, "cached")
            continue
        pending.append((path, record, key))

    running: list[_Running] = []
    while pending or running:
        while pending and len(running) < jobs:
            path, target, key = pending.pop(0)
            temp = Path(tempfile.mkdtemp(prefix=f".{target.stem}-", dir=out_dir))
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker,
                args=(str(path), str(temp), profile, codec, tiling, target.stem, send),
                daemon=True,
            )
            process.start()
            send.close()
            running.append(_Running(path.name, process, receive, temp, target, key, time.time()))
        for job in list(running):
            _drain(job, progress)
            if job.process.is_alive():
                continue
            job.process.join()
            _drain(job, progress)
            running.remove(job)
            report.outcomes.append(_finish(job, profile, codec, progress))
        time.sleep(0.05)
    if origin is not None:
        _write_tilesets(out_dir, report, origin)
    _write_manifest(out_dir, report, profile, codec)
    return report


def _drain(job: _Running, progress: ProgressCallback | None) -> None:
    try:
        while job.pipe.poll():
            kind, payload = job.pipe.recv()
            if kind == "step":
                if progress:
                    progress(job.name, str(payload))
            else:
                job.result = (kind, payload)
    except (EOFError, OSError):
        pass


def _finish(
    job: _Running, profile: str, codec: str, progress: ProgressCallback | None
) -> AssetOutcome:
    seconds = time.time() - job.started
    kind, payload = job.result or ("failed", ("worker_crashed", _crash(job.process.exitcode)))
    payload = cast(Any, payload)
    if kind != "done":
        shutil.rmtree(job.temp, ignore_errors=True)
        code, message = payload
        if progress:
            progress(job.name, "failed")
        return AssetOutcome(job.name, "failed", error_code=code, error=message, seconds=seconds)
    summary: dict[str, Any] = {"cache_key": job.key, **payload}
    store = job.temp.parent
    for name in summary["files"]:
        # same name, same bytes: replacing a file another asset already wrote is harmless
        os.replace(job.temp / name, store / name)
    shutil.rmtree(job.temp, ignore_errors=True)
    job.target.parent.mkdir(exist_ok=True)
    _write_atomically(job.target, json.dumps(summary, indent=2))
    if progress:
        progress(job.name, "built")
    return AssetOutcome(job.name, "built", job.target, summary=summary, seconds=seconds)


def _crash(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the worker process died from signal {-exitcode}"
    return f"the worker process exited with status {exitcode} without a result"


def _write_manifest(out_dir: Path, report: BatchReport, profile: str, codec: str) -> None:
    assets = []
    for outcome in report.outcomes:
        entry: dict[str, Any] = {"name": outcome.name, "status": outcome.status}
        if outcome.summary is not None:
            entry |= {k: v for k, v in outcome.summary.items() if k != "name"}
        if outcome.error is not None:
            entry["error"] = {"code": outcome.error_code, "message": outcome.error}
        assets.append(entry)
    manifest = {
        "pipeline_version": PIPELINE_VERSION,
        "profile": profile,
        "codec": codec,
        "assets": assets,
    }
    _write_atomically(out_dir / "manifest.json", json.dumps(manifest, indent=2))


def _write_tilesets(out_dir: Path, report: BatchReport, origin: tuple[float, float, float]) -> None:
    for outcome in report.outcomes:
        if outcome.summary is None or outcome.record is None:
            continue
        tileset = chain_tileset(levels_from_summary(outcome.summary), origin)
        name = f"{outcome.record.stem}.tileset.json"
        # not content-addressed: the name stays, the chain it points to changes
        _write_atomically(out_dir / name, json.dumps(tileset, indent=1))
        outcome.summary["tileset"] = name


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable: build again
    return recorded if isinstance(recorded, dict) else None


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
