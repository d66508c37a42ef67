"""Content-addressed asset files (``<sha256>.<ext>``) in a local directory.

Files are immutable once written: the name is the hash of the bytes, so a URL can be
cached forever and two scenes sharing a mesh share one file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_NAME = re.compile(r"^[0-9a-f]{64}\.(glb|gltf|png|jpg|webp|json|bin)$")

MEDIA_TYPES = {
    "glb": "model/gltf-binary",
    "gltf": "model/gltf+json",
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "json": "application/json",
    "bin": "application/octet-stream",
}


class LocalAssetStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, ext: str) -> str:
        """Store ``data`` under its SHA-256 and return the hash (idempotent, atomic)."""
        if ext not in MEDIA_TYPES:
            raise ValueError(f"unsupported asset extension {ext!r}")
        sha = hashlib.sha256(data).hexdigest()
        target = self.root / f"{sha}.{ext}"
        if target.exists():
            return sha
        self.root.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: readers never see a partial file.
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def path_for(self, name: str) -> Path | None:
        """The file for an asset name like ``<sha256>.glb``; None for anything else."""
        if not _NAME.match(name):
            return None
        path = self.root / name
        return path if path.is_file() else None
