"""Our asset pipeline against gltfpack 1.3 (meshoptimizer) on three generated inputs.

    .venv/bin/python -m bench.assets_vs_gltfpack                     # all inputs, ~9 min
    .venv/bin/python -m bench.assets_vs_gltfpack --inputs city --our-runs 3 --out /tmp/a

Needs gltfpack: ``npm ci --prefix bench/gltfpack`` (pinned to 1.3.0). Inputs come from
bench/bench_inputs.py (deterministic); each tool's output and results.json land in --out.

gltfpack runs with ``-cc`` (``-cc -mi`` for the city, to instance the trees); its npm
(WASM) build cannot compress textures, so it keeps them as they are. Ours is
``assets_pipeline.build.build_asset`` in four variants (OUR_VARIANTS): the default
meshopt codec and ``--codec auto`` building, measuring and precompressing the whole LOD
chain (what the CLI does), and both codecs building level 0 only (gltfpack's job). The
full-detail level 0 is what is compared; the whole-chain variants run once unless
--our-runs says otherwise, the level-0 ones as often as gltfpack (--runs). Every output is
decoded by ``assets_pipeline.decode`` and measured the same way: bytes raw / gzip -9 /
brotli q11, symmetric surface distance to the decoded input (mean, p99; metres and
relative to the input's bounding-box diagonal), wall time (median of --runs), and for
textures PSNR against the source image (an output of another size is resized to the
source's first).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import brotli
import numpy as np
from PIL import Image

from assets_pipeline.decode import DecodedScene, decode_glb, surface_distance
from assets_pipeline.glb import read_glb
from bench.bench_inputs import INPUTS

if TYPE_CHECKING:
    from assets_pipeline.build import CodecChoice

REPO = Path(__file__).resolve().parents[1]
GLTFPACK = REPO / "bench" / "gltfpack" / "node_modules" / "gltfpack" / "cli.js"
DEFAULT_OUT = REPO / "bench" / "out" / "assets"
GLTFPACK_FLAGS: dict[str, list[str]] = {"city": ["-cc", "-mi"]}
DEFAULT_FLAGS = ["-cc"]
MESHOPT = ("EXT_meshopt_compression", "KHR_meshopt_compression")

Runner = Callable[[str, bytes], bytes]


@dataclass
class Measured:
    tool: str
    ok: bool
    note: str = ""
    wall_s: list[float] = field(default_factory=list)
    raw: int = 0
    gzip9: int = 0
    brotli11: int = 0
    triangles: int = 0
    error_mean_m: float = float("nan")
    error_p99_m: float = float("nan")
    error_mean_rel: float = float("nan")
    error_p99_rel: float = float("nan")
    texture_psnr_db: float | None = None
    texture_bytes: int | None = None
    extensions: list[str] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)

    @property
    def wall_median_s(self) -> float:
        return statistics.median(self.wall_s) if self.wall_s else float("nan")


# --- tools -------------------------------------------------------------------------------


def gltfpack_command() -> list[str]:
    node = shutil.which("node")
    if node is None or not GLTFPACK.is_file():
        raise SystemExit(
            "gltfpack is not installed: run `npm ci --prefix bench/gltfpack` (needs node)"
        )
    return [node, str(GLTFPACK)]


def run_gltfpack(name: str, data: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.glb", Path(folder) / "out.glb"
        source.write_bytes(data)
        flags = GLTFPACK_FLAGS.get(name, DEFAULT_FLAGS)
        command = [*gltfpack_command(), "-i", str(source), "-o", str(target), *flags]
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        return target.read_bytes()


OUR_VARIANTS: dict[str, tuple[CodecChoice, bool]] = {
    # tool name: (codec, full LOD chain with error measurement?)
    "ours meshopt": ("meshopt", True),
    "ours auto": ("auto", True),
    "ours meshopt, LOD0 only": ("meshopt", False),
    "ours auto, LOD0 only": ("auto", False),
}


def our_runner(codec: CodecChoice = "meshopt", chain: bool = True) -> tuple[Runner | None, str]:
    """build_asset's full-detail GLB, or None and why not (the pipeline may be absent).
    With ``chain`` the timed run builds and measures the whole LOD chain (what the CLI
    does, .gz/.br bodies included); without it, only level 0, no measurement and no
    precompression — the same job gltfpack does (ours still transcodes textures)."""
    try:
        from assets_pipeline.build import build_asset
    except ImportError as error:
        return None, f"not available ({error})"

    def run(name: str, data: bytes) -> bytes:
        built = build_asset(
            f"{name}.glb",
            data,
            profile="desktop",
            codec=codec,
            max_levels=None if chain else 1,
            measure=chain,
            precompress=chain,
        )
        glb: bytes = built.lods[0].glb
        return glb

    return run, ""


def timed_runs(runner: Runner, name: str, data: bytes, runs: int) -> tuple[bytes, list[float]]:
    output, times = b"", []
    for _ in range(runs):
        started = time.perf_counter()
        output = runner(name, data)
        times.append(time.perf_counter() - started)
    return output, times


# --- measurements ------------------------------------------------------------------------


def compressed_sizes(data: bytes) -> tuple[int, int, int]:
    """(raw, gzip -9, brotli q11) byte counts."""
    return len(data), len(gzip.compress(data, 9, mtime=0)), len(brotli.compress(data, quality=11))


def meshopt_streams(data: bytes) -> list[str]:
    """One line per compressed bufferView: mode/filter, stride and codec version."""
    document, blob = read_glb(data)
    lines = []
    for view in document.get("bufferViews", []):
        extensions = view.get("extensions", {})
        found = next(((n, extensions[n]) for n in MESHOPT if n in extensions), None)
        if found is None:
            continue
        name, ext = found
        # Each stream starts with a header byte: 0xA0 (vertex), 0xE0 (index) or 0xD0
        # (index sequence), OR-ed with the codec version.
        in_glb = ext.get("buffer", 0) == 0 and int(ext.get("byteOffset", 0)) < len(blob)
        version = f"v{blob[int(ext.get('byteOffset', 0))] & 0x0F}" if in_glb else "?"
        lines.append(
            f"{ext['mode']}/{ext.get('filter', 'NONE')} stride {ext['byteStride']} "
            f"codec {version}" + ("" if name == MESHOPT[0] else f" ({name})")
        )
    return sorted(set(lines))


def primary_image(scene: DecodedScene) -> tuple[str, bytes] | None:
    """The image a client would load: WebP when present (EXT_texture_webp), else the first."""
    for image in scene.images:
        if image[0] == "image/webp":
            return image
    return scene.images[0] if scene.images else None


def psnr_db(source: bytes, output: bytes) -> float:
    reference = Image.open(BytesIO(source)).convert("RGB")
    test = Image.open(BytesIO(output)).convert("RGB")
    if test.size != reference.size:
        test = test.resize(reference.size, Image.Resampling.LANCZOS)
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(test, dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def measure_output(
    measured: Measured, output: bytes, reference: DecodedScene, samples: int
) -> Measured:
    """Decode ``output`` and fill in its error, texture and format facts (sizes: later)."""
    scene = decode_glb(output)
    positions, indices = scene.merged()
    ref_positions, ref_indices = reference.merged()
    diagonal = float(np.linalg.norm(np.ptp(ref_positions, axis=0)))
    mean, p99 = surface_distance(ref_positions, ref_indices, positions, indices, samples=samples)
    measured.triangles = len(indices)
    measured.error_mean_m, measured.error_p99_m = mean, p99
    measured.error_mean_rel, measured.error_p99_rel = mean / diagonal, p99 / diagonal
    measured.extensions = sorted(scene.extensions_used)
    measured.streams = meshopt_streams(output)
    source_image = primary_image(reference)
    out_image = primary_image(scene)
    if source_image is not None and out_image is not None:
        measured.texture_psnr_db = psnr_db(source_image[1], out_image[1])
        measured.texture_bytes = sum(len(d) for _, d in scene.images)
    return measured


# --- report -------------------------------------------------------------------------------


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1048576:,.1f} MiB"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and np.isfinite(a) and np.isfinite(b) else "–"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| input | tool | triangles | raw | gzip -9 | brotli q11 | source ÷ brotli "
        "| mean err m (rel) | p99 err m (rel) | wall s | texture PSNR dB | texture bytes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        s = r["source"]
        texture = f"{kib(s['texture_bytes'])} (source)" if s.get("texture_bytes") else "–"
        lines.append(
            f"| {r['input']} | source | {s['triangles']:,} | {kib(s['raw'])} "
            f"| {kib(s['gzip9'])} | {kib(s['brotli11'])} | 1.0× | – | – | – | – | {texture} |"
        )
        for m in r["tools"]:
            if not m["ok"]:
                lines.append(f"| {r['input']} | {m['tool']} | {m['note']} |" + " |" * 9)
                continue
            psnr = m["texture_psnr_db"]
            lines.append(
                f"| {r['input']} | {m['tool']} | {m['triangles']:,} | {kib(m['raw'])} "
                f"| {kib(m['gzip9'])} | {kib(m['brotli11'])} "
                f"| {s['raw'] / m['brotli11']:.1f}× "
                f"| {m['error_mean_m']:.3g} ({m['error_mean_rel']:.2e}) "
                f"| {m['error_p99_m']:.3g} ({m['error_p99_rel']:.2e}) "
                f"| {m['wall_median_s']:.2f} "
                f"| {'–' if psnr is None else f'{psnr:.1f}'} "
                f"| {'–' if m['texture_bytes'] is None else kib(m['texture_bytes'])} |"
            )
    lines += [
        "",
        "| input | brotli bytes ours/gltfpack | mean error ours/gltfpack "
        "| p99 error ours/gltfpack | wall time ours/gltfpack |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        tools = {m["tool"]: m for m in r["tools"] if m["ok"]}
        for variant in OUR_VARIANTS:
            if variant not in tools or "gltfpack" not in tools:
                lines.append(f"| {r['input']} | {variant}: not available | | | |")
                continue
            o, g = tools[variant], tools["gltfpack"]
            lines.append(
                f"| {r['input']}, {variant} | {ratio(o['brotli11'], g['brotli11'])} "
                f"| {ratio(o['error_mean_m'], g['error_mean_m'])} "
                f"| {ratio(o['error_p99_m'], g['error_p99_m'])} "
                f"| {ratio(o['wall_median_s'], g['wall_median_s'])} |"
            )
    lines.append("")
    for r in results:
        for m in r["tools"]:
            if m["ok"]:
                lines.append(f"- {r['input']} / {m['tool']}: {', '.join(m['extensions'])}")
                lines += [f"    - {stream}" for stream in m["streams"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated names")
    parser.add_argument("--runs", type=int, default=3, help="timed gltfpack runs (median)")
    parser.add_argument("--our-runs", type=int, default=1, help="timed runs of ours (median)")
    parser.add_argument("--samples", type=int, default=200_000, help="error samples per side")
    args = parser.parse_args()
    names = [n for n in args.inputs.split(",") if n]
    unknown = set(names) - set(INPUTS)
    if unknown:
        raise SystemExit(f"unknown inputs {sorted(unknown)}; choose from {sorted(INPUTS)}")
    gltfpack_command()  # fail before any work when gltfpack is missing
    args.out.mkdir(parents=True, exist_ok=True)
    variants = {tool: our_runner(*options) for tool, options in OUR_VARIANTS.items()}
    for tool, (runner, why_not) in variants.items():
        if runner is None:
            print(f"{tool}: {why_not}", flush=True)
    started = time.perf_counter()

    sources: dict[str, bytes] = {}
    outputs: dict[tuple[str, str], bytes] = {}
    measured: dict[tuple[str, str], Measured] = {}
    for name in names:
        print(f"{name}: generating input", flush=True)
        sources[name] = INPUTS[name]()
        (args.out / f"{name}.glb").write_bytes(sources[name])
        tools: list[tuple[str, Runner | None, str]] = [("gltfpack", run_gltfpack, "")]
        tools += [(tool, runner, why) for tool, (runner, why) in variants.items()]
        for tool, runner, why_not in tools:
            if runner is None:
                measured[name, tool] = Measured(tool, ok=False, note=f"{tool}: {why_not}")
                continue
            whole_chain = OUR_VARIANTS.get(tool, ("", False))[1]
            runs = args.our_runs if whole_chain else args.runs
            print(f"{name}: {tool} × {runs}", flush=True)
            try:
                output, times = timed_runs(runner, name, sources[name], runs)
            except Exception as error:  # a failing tool is a result, not a crash
                traceback.print_exc()
                measured[name, tool] = Measured(tool, ok=False, note=f"failed: {error!r}"[:200])
                continue
            outputs[name, tool] = output
            measured[name, tool] = Measured(tool, ok=True, wall_s=times)
            (args.out / f"{name}.{tool.replace(' ', '-').replace(',', '')}.glb").write_bytes(output)

    print("measuring sizes (brotli q11 is slow on multi-MB files) and errors", flush=True)
    blobs = {**{(n, "source"): d for n, d in sources.items()}, **outputs}
    with ProcessPoolExecutor(max_workers=2) as pool:
        sizes = dict(zip(blobs, pool.map(compressed_sizes, blobs.values()), strict=True))
        results = []
        for name in names:
            reference = decode_glb(sources[name])
            ref_image = primary_image(reference)
            raw, gz, br = sizes[name, "source"]
            row: dict[str, Any] = {
                "input": name,
                "source": {
                    "raw": raw,
                    "gzip9": gz,
                    "brotli11": br,
                    "triangles": reference.triangle_count,
                    "texture_bytes": None if ref_image is None else len(ref_image[1]),
                },
                "tools": [],
            }
            for tool in ("gltfpack", *OUR_VARIANTS):
                m = measured[name, tool]
                if m.ok:
                    try:
                        measure_output(m, outputs[name, tool], reference, args.samples)
                        m.raw, m.gzip9, m.brotli11 = sizes[name, tool]
                    except ValueError as error:
                        m.ok, m.note = False, f"output does not decode: {error}"
                row["tools"].append({**asdict(m), "wall_median_s": m.wall_median_s})
            results.append(row)

    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print()
    print(table(results))
    print()
    print(f"total {time.perf_counter() - started:.0f} s; outputs and results.json in {args.out}")


if __name__ == "__main__":
    main()
