"""Content-addressed asset files (``<sha256>.<ext>``) in a local directory.

Files are immutable once written: the name is the hash of the bytes, so a URL can be
cached forever and two scenes sharing a mesh share one file. Compressible files get
``.br`` (brotli q11) and ``.gz`` (gzip -9) siblings when those are smaller, so the server
— or nginx/a CDN pointed at the same directory — sends them without compressing per
request. The asset pipeline's output folder has the same layout and can be served as is.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from pathlib import Path

import brotli

_NAME = re.compile(r"^[0-9a-f]{64}\.(glb|gltf|png|jpg|webp|json|bin)$")
# Images are compressed already; everything else shrinks under brotli or gzip.
COMPRESSIBLE = frozenset({"glb", "gltf", "json", "bin"})
ENCODINGS = {"br": "br", "gzip": "gz"}  # Content-Encoding → sibling file suffix
# Brotli's best quality costs ~1.6 s per MB here; above 1 MiB the store (which compresses
# while the service starts) takes quality 5: on a 3.9 MB terrain GLB 0.06 s instead of
# 6.2 s for 8 % more bytes. The offline asset pipeline always uses quality 11.
BROTLI_BEST_UP_TO_BYTES = 1024 * 1024


def _brotli_quality(size_bytes: int) -> int:
    return 11 if size_bytes <= BROTLI_BEST_UP_TO_BYTES else 5


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
        if ext in COMPRESSIBLE:
            # siblings first: once the file itself appears, its variants are there too
            for suffix, encoded in (
                ("br", brotli.compress(data, quality=_brotli_quality(len(data)))),
                ("gz", gzip.compress(data, 9, mtime=0)),
            ):
                if len(encoded) < len(data):
                    write_atomically(self.root / f"{sha}.{ext}.{suffix}", encoded)
        write_atomically(target, data)
        return sha

    def path_for(self, name: str, encoding: str | None = None) -> Path | None:
        """The file for an asset name like ``<sha256>.glb`` (its ``encoding`` variant:
        "br" or "gzip"); None for anything else. Only names that match the content-hash
        pattern are ever joined to the root, so no request can reach outside it."""
        if not _NAME.match(name):
            return None
        if encoding is not None:
            if encoding not in ENCODINGS:
                return None
            name = f"{name}.{ENCODINGS[encoding]}"
        path = self.root / name
        return path if path.is_file() else None


def write_atomically(target: Path, data: bytes) -> None:
    """Write beside the target, then rename: readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # public files: nginx or a CDN origin running as another user must read them
        # (mkstemp creates them 0600)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
