"""Peak memory and wall time of ``twinland assets build`` on one big input.

    .venv/bin/python -m bench.assets_memory                 # 5.2M triangles, ~5 min
    .venv/bin/python -m bench.assets_memory --subdivisions 8  # 1.3M triangles

The input is bench_inputs' displaced, textured sphere at icosphere subdivision 9
(20 × 4⁹ = 5,242,880 triangles, 2048² texture). The build runs as the CLI does (one worker
process per asset, whole LOD chain, errors measured) under ``/usr/bin/time -v``, whose
"Maximum resident set size" covers the largest process of the run (the worker).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_inputs import textured_sphere_glb

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subdivisions", type=int, default=9)
    parser.add_argument("--codec", default="meshopt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "big_sphere.glb"
        source.write_bytes(textured_sphere_glb(subdivisions=args.subdivisions))
        out = Path(folder) / "out"
        started = time.perf_counter()
        done = subprocess.run(
            [
                "/usr/bin/time",
                "-v",
                sys.executable,
                "-m",
                "backend.cli",
                "assets",
                "build",
                str(source),
                "--out",
                str(out),
                "--codec",
                args.codec,
                "--jobs",
                "1",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        wall_s = time.perf_counter() - started
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        if done.returncode != 0 or peak is None:
            raise SystemExit(f"build failed ({done.returncode}):\n{done.stderr[-3000:]}")
        manifest = json.loads((out / "manifest.json").read_text())
        [asset] = manifest["assets"]
        print(
            "| input | triangles | source MiB | peak RSS GiB | wall s | levels | LOD0 brotli KiB |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        print(
            f"| sphere s{args.subdivisions} | {asset['source_triangles']:,} "
            f"| {source.stat().st_size / 2**20:.0f} | {int(peak.group(1)) / 2**20:.2f} "
            f"| {wall_s:.0f} | {len(asset['lods'])} "
            f"| {asset['lods'][0]['bytes_brotli'] / 1024:,.0f} |"
        )
        print("step seconds:", asset["step_seconds"])


if __name__ == "__main__":
    main()
