"""Sidecar files (an OBJ's MTL and textures) and the trimesh resolver that serves them.

trimesh (5.2) behaviour this module relies on or works around:

* A trimesh resolver that raises is swallowed by the OBJ loader (the material is then
  missing); we record refused, missing and over-budget references on our resolver.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import trimesh

from assets_pipeline.mesh import MeshError

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")  # also catches drive letters (C:)


def safe_reference(reference: str) -> str | None:
    """A sidecar reference as a clean relative POSIX path, or None when it could reach
    outside the asset's folder (``..``, absolute, drive letter, URL scheme, NUL)."""
    text = reference.strip().replace("\\", "/")
    if not text or "\0" in text or text.startswith("/") or _URL_SCHEME.match(text):
        return None
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class _Files(ABC):
    """Where sidecars come from; ``find`` gets a reference already made safe."""

    @abstractmethod
    def find(self, reference: str, budget: int) -> bytes | None: ...


class _MappingFiles(_Files):
    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files
        self._folded = {key.casefold(): key for key in files}

    def find(self, reference: str, budget: int) -> bytes | None:
        # Exact name first, then case-insensitively: assets authored on Windows or macOS
        # often spell a texture differently from the file on disk.
        key = reference if reference in self._files else self._folded.get(reference.casefold())
        return None if key is None else self._files[key]


class _FolderFiles(_Files):
    """Files at or below one folder, read lazily; symlinks leading out are refused."""

    def __init__(self, folder: Path) -> None:
        self._root = folder.resolve()

    def find(self, reference: str, budget: int) -> bytes | None:
        candidate = self._root / reference
        if not candidate.is_file():
            candidate = self._case_insensitive(candidate) or candidate
        try:
            resolved = candidate.resolve(strict=True)
        except OSError:
            return None
        if not resolved.is_relative_to(self._root) or not resolved.is_file():
            return None
        size = resolved.stat().st_size
        if size > budget:
            # report the size without reading the file
            raise _BudgetExceeded(size)
        return resolved.read_bytes()

    def _case_insensitive(self, candidate: Path) -> Path | None:
        try:
            if not candidate.parent.resolve().is_relative_to(self._root):
                return None  # not even a directory listing outside the folder
            with os.scandir(candidate.parent) as entries:
                for entry in entries:
                    if entry.name.casefold() == candidate.name.casefold():
                        return candidate.parent / entry.name
        except OSError:
            return None
        return None


class _BudgetExceeded(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Resolver(trimesh.resolvers.Resolver):
    """trimesh's only way to other files: serves safe sidecar references, refuses the
    rest, and keeps the total of input and sidecar bytes within ``max_bytes``."""

    def __init__(self, name: str, files: _Files | None, budget: int) -> None:
        self.file_name = PurePosixPath(name.replace("\\", "/")).stem  # OBJ geometry name
        self._name = name
        self._files = files
        self._budget = budget
        self.served: dict[str, bytes] = {}
        self.refused: list[str] = []
        self.missing: list[str] = []
        self.error: MeshError | None = None

    def get(self, key: str) -> bytes:
        reference = str(key)
        if reference in self.served:
            return self.served[reference]
        if self._files is None:
            self.refused.append(reference)
            raise KeyError(f"{reference!r}: this format reads no other files")
        data = self._find(self._files, reference)
        if data is None:
            raise KeyError(f"{reference!r}: not available")
        self._budget -= len(data)
        self.served[reference] = data
        return data

    def _find(self, files: _Files, reference: str) -> bytes | None:
        clean = safe_reference(reference)
        if clean is None:
            self.refused.append(reference)
            # Absolute paths from the author's machine ("C:\\maps\\wall.png") are common;
            # the same file name next to the asset is the one meant.
            clean = safe_reference(reference.replace("\\", "/").rsplit("/", 1)[-1])
            if clean is None:
                return None
        try:
            data = files.find(clean, self._budget)
            if data is None and clean.startswith("-"):
                # "map_Kd -s 1 1 1 wall.png": options before the name, which trimesh
                # passes along whole
                last = safe_reference(clean.split()[-1])
                data = None if last is None else files.find(last, self._budget)
        except _BudgetExceeded as exceeded:
            self._over_budget(reference, exceeded.size)
            return None
        except OSError:
            data = None
        if data is None:
            self.missing.append(reference)
        elif len(data) > self._budget:
            self._over_budget(reference, len(data))
            return None
        return data

    def _over_budget(self, reference: str, size: int) -> None:
        self.error = MeshError(
            "too_large",
            f"{self._name}: sidecar {reference!r} ({size:,} bytes) takes the input past "
            "its byte limit",
        )

    def write(self, name: str, data: object) -> None:
        raise OSError("sidecars are read-only")

    def namespaced(self, namespace: str) -> _Resolver:
        raise OSError("sidecars have no namespaces")

    def keys(self) -> Iterator[str]:
        return iter(())
