"""One asset through the whole pipeline: read → prepare (merge) → sanitize → LOD chain →
order → quantize/encode → measure. Pure: bytes in, bytes and measurements out; the CLI
(and later the upload jobs) decide where files go.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import brotli
import numpy as np
from numpy.typing import NDArray

from assets_pipeline._blas import one_blas_thread
from assets_pipeline.decode import decode_glb, surface_distance
from assets_pipeline.gltf_out import (
    Codec,
    EncodeOptions,
    OutputMesh,
    PendingGlb,
    enu_points,
    gltf_points,
    start_compressed_glb,
    to_gltf_matrix,
)
from assets_pipeline.mesh import MeshError, MeshPart, SourceScene, Texture
from assets_pipeline.readers import InputLimits, read_asset
from assets_pipeline.steps.lod import Level, grid_shape, lod_chain
from assets_pipeline.steps.optimize import optimize_order
from assets_pipeline.steps.prepare import Group, group_scene
from assets_pipeline.steps.sanitize import MeshLimits, SanitizeReport, sanitize
from assets_pipeline.textures import EncodedTexture, content_name, encode_texture

PIPELINE_VERSION = "8"  # part of every cache key: bump when outputs change
Profile = Literal["desktop", "mobile", "vr"]
CodecChoice = Literal["meshopt", "draco", "none", "auto"]
PROFILES: tuple[Profile, ...] = ("desktop", "mobile", "vr")
ERROR_SAMPLES = 40_000  # per direction; the mean is stable to ~1% at this count
# Fewer position bits where the client's screen cannot show the difference.
POSITION_BITS: dict[Profile, int] = {"desktop": 14, "mobile": 13, "vr": 13}
MAX_LEVELS: dict[Profile, int] = {"desktop": 5, "mobile": 4, "vr": 4}

StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class Lod:
    level: int
    glb: bytes
    triangle_count: int
    vertex_count: int
    error_mean_m: float
    error_p99_m: float
    error_mean_rel: float  # relative to the bounding-box diagonal of the source
    error_p99_rel: float
    # the GLB precompressed for serving (gzip -9, brotli q11), or None when not asked for
    glb_gzip: bytes | None
    glb_brotli: bytes | None
    simplifier: str
    codec: str
    # axis-aligned bounds of what a client decodes, in the scene's ENU frame (metres)
    bounds_min_enu_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    bounds_max_enu_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def file(self) -> str:
        """Content-addressed file name: immutable, so a CDN may cache it forever."""
        return content_name(self.glb, "glb")

    @property
    def bytes_gzip(self) -> int | None:
        return None if self.glb_gzip is None else len(self.glb_gzip)

    @property
    def bytes_brotli(self) -> int | None:
        return None if self.glb_brotli is None else len(self.glb_brotli)

    def summary(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "file": self.file,
            "triangles": self.triangle_count,
            "vertices": self.vertex_count,
            "bytes": len(self.glb),
            "bytes_gzip": self.bytes_gzip,
            "bytes_brotli": self.bytes_brotli,
            "error_mean_m": self.error_mean_m,
            "error_p99_m": self.error_p99_m,
            "error_mean_rel": self.error_mean_rel,
            "error_p99_rel": self.error_p99_rel,
            "simplifier": self.simplifier,
            "codec": self.codec,
            "bounds_min_enu_m": list(self.bounds_min_enu_m),
            "bounds_max_enu_m": list(self.bounds_max_enu_m),
        }


@dataclass(frozen=True)
class TextureReport:
    name: str
    source_bytes: int
    webp_bytes: int
    fallback_bytes: int
    width_px: int
    height_px: int
    psnr_db: float
    webp_file: str  # content-addressed names, the same whether embedded or not
    fallback_file: str


@dataclass
class BuiltAsset:
    name: str
    source_sha256: str
    profile: Profile
    codec: str
    source_bytes: int
    source_triangles: int
    diagonal_m: float
    lods: list[Lod]
    textures: list[TextureReport]
    sanitize: SanitizeReport
    instanced_meshes: int
    skipped_levels: int = 0  # simplified levels dropped for being larger after brotli
    step_seconds: dict[str, float] = field(default_factory=dict)
    # content-addressed texture files the GLBs refer to (empty when textures are embedded)
    texture_files: dict[str, bytes] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_sha256": self.source_sha256,
            "profile": self.profile,
            "codec": self.codec,
            "source_bytes": self.source_bytes,
            "source_triangles": self.source_triangles,
            "bbox_diagonal_m": self.diagonal_m,
            "instanced_meshes": self.instanced_meshes,
            "skipped_levels": self.skipped_levels,
            "sanitize": self.sanitize.__dict__,
            "lods": [lod.summary() for lod in self.lods],
            "textures": [t.__dict__ for t in self.textures],
            "step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
        }


class _Steps:
    def __init__(self, on_step: StepCallback | None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.on_step is not None:
            self.on_step(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - started)

    def record(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def _world_surface(
    groups: list[Group], levels: list[list[Level]], k: int
) -> tuple[NDArray[np.float64], NDArray[np.uint32]]:
    """Level ``k`` of every group, placed, in glTF's frame (as a decoder would see it)."""
    positions: list[NDArray[np.float64]] = []
    indices: list[NDArray[np.uint32]] = []
    offset = 0
    for group, chain in zip(groups, levels, strict=True):
        part = chain[min(k, len(chain) - 1)].part
        local = gltf_points(part.positions_m)
        for matrix in group.matrices:
            if np.array_equal(matrix, np.eye(4)):  # merged parts: already in the scene frame
                positions.append(local)
            else:
                world = to_gltf_matrix(matrix)
                positions.append(local @ world[:3, :3].T + world[:3, 3])
            indices.append(part.indices.astype(np.uint32) + offset)
            offset += part.vertex_count
    return np.concatenate(positions), np.concatenate(indices)


def _textures(
    parts: list[MeshPart], profile: Profile
) -> tuple[dict[int, EncodedTexture], list[TextureReport], float]:
    """Each distinct texture encoded once, keyed by the identity of its source (sanitizing
    and merging keep that identity), and the seconds it took."""
    started = time.perf_counter()
    encoded: dict[int, EncodedTexture] = {}
    reports: list[TextureReport] = []
    for part in parts:
        texture: Texture | None = part.base_color_texture
        if texture is None or id(texture) in encoded:
            continue
        result = encode_texture(texture, profile)
        encoded[id(texture)] = result
        reports.append(
            TextureReport(
                texture.name,
                len(texture.data),
                len(result.webp),
                len(result.fallback),
                result.width_px,
                result.height_px,
                result.psnr_db,
                result.webp_file,
                result.fallback_file,
            )
        )
    return encoded, reports, time.perf_counter() - started


def _late_texture(
    job: Future[tuple[dict[int, EncodedTexture], list[TextureReport], float]], source_id: int
) -> Callable[[], EncodedTexture]:
    """A call that waits for the texture job and returns one of its textures."""
    return lambda: job.result()[0][source_id]


def _ordered(level: Level) -> MeshPart:
    # grids keep row order: regular deltas compress far better than cache order
    if grid_shape(level.part) is not None:
        return level.part
    return optimize_order(level.part)


@one_blas_thread
def build_scene(
    name: str,
    scene: SourceScene,
    *,
    profile: Profile = "desktop",
    codec: CodecChoice = "meshopt",
    source_bytes: int = 0,
    source_sha256: str = "",
    limits: MeshLimits | None = None,
    on_step: StepCallback | None = None,
    max_levels: int | None = None,
    measure: bool = True,
    precompress: bool = True,
    external_textures: bool = False,
) -> BuiltAsset:
    """The LOD chain of a scene already read into memory.

    ``external_textures`` writes textures as separate content-addressed files
    (``BuiltAsset.texture_files``) that every level refers to by URI; otherwise each GLB
    embeds them. ``max_levels=1`` builds the full-detail level only; ``measure=False``
    skips the error measurement (errors are NaN) and ``precompress=False`` the gzip/brotli
    bodies (sizes are None, and no level is dropped for its size) — for benchmarks that
    time the encoder alone."""
    if profile not in PROFILES:
        raise MeshError("bad_profile", f"unknown profile {profile!r}; use one of {PROFILES}")
    if codec not in ("meshopt", "draco", "none", "auto"):
        raise MeshError("bad_codec", f"unknown codec {codec!r}; use meshopt, draco, none or auto")
    steps = _Steps(on_step)
    # Textures depend only on the source images: encode them on a thread while the geometry
    # is cleaned and simplified (Pillow's codecs and the simplifiers release the GIL). A
    # geometry error still wins, as when the steps ran in order.
    texture_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textures")
    texture_job = texture_thread.submit(_textures, list(scene.parts), profile)
    texture_thread.shutdown(wait=False)
    try:
        with steps.step("merge"):
            groups = group_scene(scene)
        with steps.step("sanitize"):
            # after merging: one vectorised pass per material, not one per source part
            report = SanitizeReport()
            for g, group in enumerate(groups):
                cleaned, found = sanitize(group.part, limits)
                groups[g] = Group(cleaned, group.matrices)
                report = report + found
        with steps.step("simplify"):
            levels_wanted = MAX_LEVELS[profile] if max_levels is None else max_levels
            chains = [lod_chain(g.part, max_levels=levels_wanted) for g in groups]
        with steps.step("optimize"):  # level 0's, while the textures may still be encoding
            full_detail = [_ordered(chain[0]) for chain in chains]
        reference = _world_surface(groups, chains, 0)
    except BaseException:
        texture_job.cancel()
        raise
    if on_step is not None:
        on_step("textures")
    # Level 0's GLB is written while the textures may still be encoding: the writer waits
    # for a texture only after every geometry stream is encoded.
    late_textures = {
        id(texture): _late_texture(texture_job, id(texture))
        for group in groups
        if (texture := group.part.base_color_texture) is not None
    }
    texture_reports: list[TextureReport] = []
    texture_files: dict[str, bytes] | None = None  # known once level 0 is written
    # errors are measured against the sanitized, merged source at full float precision
    diagonal = float(np.linalg.norm(np.ptp(reference[0], axis=0))) or 1.0
    lods: list[Lod] = []
    skipped = 0
    background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sizes")
    for k in range(max(len(chain) for chain in chains)):
        with steps.step("optimize"):
            meshes = [
                OutputMesh(
                    full_detail[g] if k == 0 else _ordered(chain[min(k, len(chain) - 1)]),
                    group.matrices,
                    late_textures.get(id(group.part.base_color_texture)),
                )
                for g, (group, chain) in enumerate(zip(groups, chains, strict=True))
            ]
        with steps.step("encode"):
            glb, used_codec = _encode(
                meshes,
                profile,
                codec,
                name,
                len(lods),
                external_textures=external_textures,
            )
            if texture_files is None:  # writing level 0 waited for every texture
                textures, texture_reports, texture_s = texture_job.result()
                steps.record("textures", texture_s)
                texture_files = {n: b for t in textures.values() for n, b in t.files().items()}
            # gzip and brotli release the GIL: compress the level while it is being measured
            gzip_body = background.submit(_gzip, glb) if precompress else None
            brotli_body = background.submit(_brotli, glb) if precompress else None
        mean_m = p99_m = float("nan")
        if measure:
            with steps.step("measure"):
                decoded = decode_glb(glb, texture_files).merged()
                mean_m, p99_m = surface_distance(
                    reference[0], reference[1], decoded[0], decoded[1], samples=ERROR_SAMPLES
                )
                bounds = _enu_bounds(decoded[0], pad_m=0.0)
        else:
            # the source level's extent, padded by a quantization step's worth
            level_positions = (reference if k == 0 else _world_surface(groups, chains, k))[0]
            bounds = _enu_bounds(level_positions, pad_m=diagonal * 2.0**-12)
        with steps.step("encode"):
            glb_gzip = gzip_body.result() if gzip_body is not None else None
            glb_brotli = brotli_body.result() if brotli_body is not None else None
        previous = lods[-1].bytes_brotli if lods else None
        if glb_brotli is not None and previous is not None and len(glb_brotli) >= previous:
            # fewer triangles but more bytes on the wire (free simplification of a very
            # regular mesh can do that): a level no client should ever download
            skipped += 1
            continue
        lods.append(
            Lod(
                level=len(lods),
                glb=glb,
                triangle_count=sum(m.part.triangle_count * len(m.matrices) for m in meshes),
                vertex_count=sum(m.part.vertex_count for m in meshes),
                error_mean_m=mean_m,
                error_p99_m=p99_m,
                error_mean_rel=mean_m / diagonal,
                error_p99_rel=p99_m / diagonal,
                glb_gzip=glb_gzip,
                glb_brotli=glb_brotli,
                # e.g. "meshopt" or "meshopt+quadric" when groups of the asset differ
                bounds_min_enu_m=bounds[0],
                bounds_max_enu_m=bounds[1],
                simplifier="+".join(
                    sorted({chain[min(k, len(chain) - 1)].simplifier for chain in chains})
                ),
                codec=used_codec,
            )
        )
    background.shutdown()
    return BuiltAsset(
        name=name,
        source_sha256=source_sha256,
        profile=profile,
        codec=codec,
        source_bytes=source_bytes,
        source_triangles=scene.triangle_count,
        diagonal_m=diagonal,
        lods=lods,
        textures=texture_reports,
        sanitize=report,
        instanced_meshes=sum(1 for g in groups if g.instanced),
        skipped_levels=skipped,
        step_seconds=steps.seconds,
        texture_files=texture_files if external_textures and texture_files else {},
    )


def _enu_bounds(
    gltf_positions: NDArray[np.float64], pad_m: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(min, max) in ENU of glTF-frame points (x east, y up, z south)."""
    enu = enu_points(gltf_positions)
    low, high = enu.min(axis=0) - pad_m, enu.max(axis=0) + pad_m
    return (
        (float(low[0]), float(low[1]), float(low[2])),
        (float(high[0]), float(high[1]), float(high[2])),
    )


def _gzip(data: bytes) -> bytes:
    """What a CDN sends with gzip -9 (brotli q11 below): served as ``.gz``/``.br`` siblings
    and reported in the manifest. Deterministic (no timestamp), like the GLB itself."""
    return gzip.compress(data, 9, mtime=0)


def _brotli(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=11))


RANKING_BROTLI_QUALITY = 9  # ranks codecs like q11 does, ~10x faster on multi-MB GLBs
# A first, rough ranking drops every candidate that cannot win: brotli at a low quality
# (the first number) overstates a candidate's q11 size by at most a known factor, so a
# candidate whose rough size divided by its margin (the second number, that factor with
# 15-30 % to spare) still exceeds another's rough size is larger after q11 too. Measured on
# the bench inputs' level 0, q11 shrinks meshopt streams at most 1.09x below their q5 size,
# Draco 1.02x, and the uncompressed candidate 1.93x below its q2 size (the city). q2 on the
# 6-9 MB uncompressed candidate costs 0.03-0.05 s where q5 cost 0.14-0.23 s and q9 1-1.6 s;
# q5 on the others costs 0.01-0.02 s. Only candidates within their margins go on to q9.
PRE_RANKING: dict[Codec, tuple[int, float]] = {
    # codec: (brotli quality, margin)
    "meshopt": (5, 1.25),
    "draco": (5, 1.25),
    "none": (2, 2.5),
}


# ``auto`` leaves the uncompressed candidate out of levels with more vertices than this:
# it loses to meshopt after brotli on everything but a handful of vertices (a 24-vertex box
# 569 B against 703 B; from a 32-sided cylinder up, meshopt wins, and by more as meshes
# grow: 1.9x on a 10k-vertex sphere, 1.3-2.2x on the bench inputs), and Draco was smaller
# than both on every mesh measured. Writing and pre-ranking it cost the bench sphere and
# terrain ~0.1 s each.
AUTO_UNCOMPRESSED_MAX_VERTICES = 65_536


def _codec_workers(candidates: int, textures_pending: bool) -> int:
    """Threads for writing codec candidates: one per core, less the one a texture still
    being encoded needs (on two cores, two candidates beside the texture encode slowed it
    more than they gained: the bench sphere's level 0 took 0.85-0.88 s, not 0.78 s)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(candidates, (cores or 1) - (1 if textures_pending else 0)))


def _encode(
    meshes: list[OutputMesh],
    profile: Profile,
    codec: CodecChoice,
    name: str,
    level: int,
    *,
    external_textures: bool,
) -> tuple[bytes, str]:
    """The level's GLB with the chosen codec; ``auto`` keeps the smallest after brotli
    (what travels), not the smallest raw file.

    ``auto`` ranks the candidates without their images: a texture is the same WebP and
    fallback bytes whatever the codec, so ranking on the vertex and index streams gives
    the same order, needs no wait for a texture still being encoded, and spares brotli
    megabytes of incompressible image data per candidate."""
    extras = {"source": name, "level": level, "profile": profile}
    candidates: list[Codec] = [codec] if codec != "auto" else ["meshopt", "draco"]
    if (
        codec == "auto"
        and sum(m.part.vertex_count for m in meshes) <= AUTO_UNCOMPRESSED_MAX_VERTICES
    ):
        candidates.append("none")

    def start(candidate: Codec) -> PendingGlb:
        options = EncodeOptions(
            codec=candidate,
            position_bits=POSITION_BITS[profile],
            external_textures=external_textures,
        )
        return start_compressed_glb(meshes, options, extras=extras)

    if len(candidates) == 1:
        return start(candidates[0]).finish(), candidates[0]

    def start_and_rank(candidate: Codec) -> tuple[PendingGlb, bytes, int]:
        """The candidate's pending GLB, its image-less bytes and their rough brotli size."""
        pending = start(candidate)
        geometry = pending.geometry_glb()
        quality = PRE_RANKING[candidate][0]
        return pending, geometry, len(brotli.compress(geometry, quality=quality))

    textures_pending = any(callable(mesh.texture) for mesh in meshes)
    workers = _codec_workers(len(candidates), textures_pending)
    # DracoPy's encoder, meshopt's and brotli release the GIL: candidates run on real cores
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codecs") as pool:
        written = dict(zip(candidates, pool.map(start_and_rank, candidates), strict=True))
    smallest = min(rough for _, _, rough in written.values())
    close = [c for c in candidates if written[c][2] / PRE_RANKING[c][1] <= smallest]
    best = (
        close[0]
        if len(close) == 1
        else min(
            close,
            key=lambda c: len(brotli.compress(written[c][1], quality=RANKING_BROTLI_QUALITY)),
        )
    )
    return written[best][0].finish(), best


def build_asset(
    name: str,
    data: bytes,
    *,
    profile: Profile = "desktop",
    codec: CodecChoice = "meshopt",
    sidecars: Mapping[str, bytes] | None = None,
    input_limits: InputLimits | None = None,
    on_step: StepCallback | None = None,
    max_levels: int | None = None,
    measure: bool = True,
    precompress: bool = True,
    external_textures: bool = False,
) -> BuiltAsset:
    """Read ``data`` (named like its file, for the format) and build its LOD chain."""
    steps_read = time.perf_counter()
    if on_step is not None:
        on_step("read")
    # hashlib releases the GIL: hash a large input beside the build, not before it
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
    digest = hashing.submit(lambda: hashlib.sha256(data).hexdigest())
    hashing.shutdown(wait=False)
    scene = read_asset(name, data, sidecars=sidecars, limits=input_limits or InputLimits())
    read_seconds = time.perf_counter() - steps_read
    built = build_scene(
        name,
        scene,
        profile=profile,
        codec=codec,
        source_bytes=len(data),
        on_step=on_step,
        max_levels=max_levels,
        measure=measure,
        precompress=precompress,
        external_textures=external_textures,
    )
    built.source_sha256 = digest.result()
    built.step_seconds = {"read": read_seconds, **built.step_seconds}
    return built
