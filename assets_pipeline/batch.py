"""Many assets at once: one worker process per asset (at most ``jobs`` at a time),
content-hash caching, atomic outputs and a manifest.

Each asset runs in its own process, so a native decoder that crashes (Draco, an image
codec) fails that asset, not the run. Outputs are written to a temporary folder and
renamed into place, so a failed or killed build leaves no partial files.
"""

from __future__ import annotations

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

from assets_pipeline.build import PIPELINE_VERSION, CodecChoice, Profile
from assets_pipeline.mesh import MeshError

INPUT_SUFFIXES = {".glb", ".gltf", ".obj", ".ply", ".stl"}
SIDECAR_SUFFIXES = {".mtl", ".png", ".jpg", ".jpeg", ".webp"}
ProgressCallback = Callable[[str, str], None]  # (asset name, step or final state)


@dataclass
class AssetOutcome:
    name: str
    status: str  # "built" | "cached" | "failed"
    folder: Path | None = None
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


def cache_key(path: Path, profile: str, codec: str) -> str:
    """Input bytes, the sidecar files an OBJ/glTF may use, options and pipeline version."""
    digest = hashlib.sha256(f"{PIPELINE_VERSION}|{profile}|{codec}|".encode())
    digest.update(path.read_bytes())
    if path.suffix.lower() in {".obj", ".gltf"}:
        for sibling in sorted(path.parent.iterdir()):
            if sibling.suffix.lower() in SIDECAR_SUFFIXES and sibling.is_file():
                digest.update(sibling.name.encode())
                digest.update(sibling.read_bytes())
    return digest.hexdigest()


def _worker(path: str, folder: str, profile: Profile, codec: CodecChoice, pipe: Connection) -> None:
    """Runs in a child process: build one asset into ``folder``, report through ``pipe``."""
    from assets_pipeline.build import build_scene
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
        )
        out = Path(folder)
        for lod in built.lods:
            (out / f"lod{lod.level}.glb").write_bytes(lod.glb)
        pipe.send(("done", built.summary()))
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
    target: Path
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
) -> BatchReport:
    """Build every input into ``out_dir/<stem>/lod<k>.glb`` and write ``manifest.json``."""
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
        target = out_dir / stem
        key = cache_key(path, profile, codec)
        previous = target / "asset.json"
        if previous.is_file():
            recorded = json.loads(previous.read_text(encoding="utf-8"))
            if recorded.get("cache_key") == key:
                report.outcomes.append(AssetOutcome(name, "cached", target, summary=recorded))
                if progress:
                    progress(name, "cached")
                continue
        pending.append((path, target, key))

    running: list[_Running] = []
    while pending or running:
        while pending and len(running) < jobs:
            path, target, key = pending.pop(0)
            temp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=out_dir))
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker, args=(str(path), str(temp), profile, codec, send), daemon=True
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
    (job.temp / "asset.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if job.target.exists():
        shutil.rmtree(job.target)
    job.temp.rename(job.target)  # atomic on one filesystem: old or new, never a mix
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
        if outcome.folder is not None:
            entry["folder"] = outcome.folder.name
            entry["files"] = sorted(p.name for p in outcome.folder.glob("*.glb"))
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
    temp = out_dir / ".manifest.json.tmp"
    temp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    temp.replace(out_dir / "manifest.json")
