"""Runs the real Khronos glTF validator (npm gltf-validator, tools/node) on GLB bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "node"
SCRIPT = TOOLS / "validate-gltf.mjs"


def validate_glbs(
    glbs: dict[str, bytes], resources: dict[str, bytes] | None = None
) -> dict[str, dict[str, Any]]:
    """Validator report per name. ``resources`` are files the GLBs refer to by bare name
    (external textures), written beside them. Fails loudly (never skips) when the
    validator is missing: ``npm ci --prefix tools/node`` (run by scripts/test) installs it."""
    node = shutil.which("node")
    assert node, "node is not installed; the glTF validator needs it"
    assert (TOOLS / "node_modules" / "gltf-validator").is_dir(), (
        "gltf-validator is missing: run `npm ci --prefix tools/node`"
    )
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, data in (resources or {}).items():
            (Path(folder) / name).write_bytes(data)
        for name, data in glbs.items():
            path = Path(folder) / f"{name}.glb"
            path.write_bytes(data)
            paths.append(str(path))
        done = subprocess.run(
            [node, str(SCRIPT), *paths], capture_output=True, check=True, timeout=300
        )
    results = json.loads(done.stdout)
    return {Path(r["file"]).stem: r["report"] for r in results}


def validate_glb(data: bytes) -> dict[str, Any]:
    return validate_glbs({"asset": data})["asset"]


def problems(report: dict[str, Any]) -> list[str]:
    """Errors and warnings, as readable lines (infos and hints are not defects)."""
    return [
        f"{m['code']} {m.get('pointer', '')}: {m['message']}"
        for m in report["issues"]["messages"]
        if m["severity"] <= 1
    ]
