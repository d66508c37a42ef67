"""Staged uploads: a content team's model file, kept by content hash until a job uses it.

An upload is streamed to disk with its size counted as it arrives (the cap holds even
when ``Content-Length`` lies or is absent), then its format is sniffed from its bytes.
The extension the client gave must name the same format: a PSD renamed ``.glb`` is
refused here, long before a parser sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from backend.asset_store import write_atomically
from backend.domain.errors import DomainError, InvalidValue

# Model formats the pipeline reads (assets_pipeline.readers), by extension.
MODEL_EXTENSIONS = ("glb", "gltf", "obj", "ply", "stl")
DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
SNIFF_BYTES = 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,150}$")


class UploadRejected(DomainError):
    """The upload is refused; ``code`` says why (too large, wrong type, bad name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Upload:
    sha256: str
    file_name: str  # as the client named it; its extension picks the reader
    format: str  # sniffed: one of MODEL_EXTENSIONS
    byte_size: int


def check_file_name(file_name: str) -> str:
    """A plain file name with a model extension; returns the extension."""
    if not _NAME.match(file_name) or ".." in file_name:
        raise InvalidValue("fileName", "must be a plain file name (letters, digits, . _ - space)")
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if extension not in MODEL_EXTENSIONS:
        raise UploadRejected(
            "unsupported_type",
            f"{file_name!r}: models must be one of .{', .'.join(MODEL_EXTENSIONS)}",
        )
    return extension


def sniff_model(head: bytes, total_bytes: int) -> str | None:
    """The model format the first bytes show (None: none we read). ``total_bytes`` lets
    a binary STL be recognised by its exact size (84 + 50 bytes per triangle)."""
    if head[:4] == b"glTF":
        return "glb"
    if head[:4] == b"ply\n" or head[:5] == b"ply\r\n":
        return "ply"
    if len(head) >= 84:
        (triangles,) = struct.unpack_from("<I", head, 80)
        if 84 + 50 * triangles == total_bytes:
            return "stl"
    if b"\x00" in head:
        return None  # binary, and none of the binary formats above
    text = head.decode("utf-8", errors="replace")
    if "\ufffd" in text[:-2]:  # not text (the head may end inside a character)
        return None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("solid"):
        return "stl"
    if stripped.startswith("{"):
        return "gltf" if _looks_like_gltf(stripped) else None
    return "obj" if _looks_like_obj(stripped) else None


def _looks_like_gltf(text: str) -> bool:
    return '"asset"' in text or '"buffers"' in text or '"meshes"' in text or '"scenes"' in text


def _looks_like_obj(text: str) -> bool:
    """Every non-blank line of the head is an OBJ statement or a comment."""
    statements = ("#", "v ", "vt ", "vn ", "f ", "o ", "g ", "s ", "mtllib ", "usemtl ", "l ")
    lines = [line.strip() for line in text.splitlines()[:-1] if line.strip()]
    return bool(lines) and all(line.startswith(statements) for line in lines)


class UploadStore:
    """Uploads on local disk under ``root``, named by content (``<sha256>``)."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path | None:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            return None
        path = self.root / sha256
        return path if path.is_file() else None

    def find(self, sha256: str) -> Upload | None:
        """A kept upload by its hash, with the name it was last uploaded under."""
        path = self.path_for(sha256)
        if path is None:
            return None
        try:
            meta = json.loads((self.root / f"{sha256}.json").read_text())
            return Upload(sha256, meta["fileName"], meta["format"], path.stat().st_size)
        except (OSError, ValueError, KeyError):
            return None

    async def receive(
        self, file_name: str, chunks: AsyncIterator[bytes], declared_bytes: int | None
    ) -> Upload:
        """Stream ``chunks`` to disk and keep them if they are a model of the named type.
        Nothing is kept on any error."""
        extension = check_file_name(file_name)
        if declared_bytes is not None and declared_bytes > self.max_bytes:
            raise UploadRejected("too_large", f"uploads are limited to {self.max_bytes} bytes")
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            head = b""
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadRejected(
                            "too_large", f"uploads are limited to {self.max_bytes} bytes"
                        )
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    digest.update(chunk)
                    out.write(chunk)  # into the page cache: quick; the fsync is threaded
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            if size == 0:
                raise UploadRejected("empty", "the upload is empty")
            found = sniff_model(head, size)
            if found != extension:
                what = f"a .{found} model" if found else "no model format twinland reads"
                raise UploadRejected(
                    "type_mismatch",
                    f"{file_name!r} is named .{extension} but its content is {what}",
                )
            upload = Upload(digest.hexdigest(), file_name, found, size)
            await asyncio.to_thread(self._keep, tmp, upload)
            return upload
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)

    def _keep(self, received: Path, upload: Upload) -> None:
        # the name first: an upload file is only ever found with its name beside it
        meta = {"fileName": upload.file_name, "format": upload.format}
        write_atomically(self.root / f"{upload.sha256}.json", json.dumps(meta).encode())
        os.replace(received, self.root / upload.sha256)
