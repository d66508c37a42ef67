"""Input readers: content teams' mesh files → a :class:`SourceScene` in ENU metres.

Formats, by file extension: ``.glb`` and ``.gltf`` (glTF 2.0; a ``.gltf`` must embed its
buffers and images as ``data:`` URIs), ``.obj`` (with its MTL and textures as sidecars),
``.ply`` and ``.stl``.

Axes. glTF is y-up by specification (+x right, +y up, +z towards the viewer = south).
OBJ, PLY and STL declare no axes; we read them as y-up too, exactly like glTF. A file
authored z-up (common for STL out of CAD tools) therefore comes out lying on its side
and has to be re-exported y-up. A y-up position or normal (x, y, z) becomes ENU
(x, -z, y); node matrices are conjugated, ``M_enu = C @ M @ C.T``. The mapping is a
proper rotation, so triangle winding and handedness survive.

Safety. Nothing outside ``data`` and the sidecars the caller hands over is ever read:
glTF buffers and images must be ``data:`` URIs (anything else is refused before
trimesh sees the file), trimesh gets a resolver that serves sidecars only, and a
sidecar reference containing ``..``, an absolute path, a drive letter or a URL scheme
is refused (OBJ: the material or texture is left out, with a warning in the report).
Every failure is a :class:`MeshError` whose message starts with the file name.

The trimesh (5.2) behaviour the readers rely on or work around is documented in the
module that deals with it: :mod:`.common` (loading, normals, UVs, scene graph),
:mod:`.gltf`, :mod:`.simple` (OBJ) and :mod:`.sidecars`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from assets_pipeline.mesh import MeshError, SourceScene
from assets_pipeline.readers.common import (
    MAX_INPUT_BYTES,
    SUPPORTED_SUFFIXES,
    Y_UP_TO_ENU,
    InputLimits,
    ReadReport,
    _check_suffix,
    _check_totals,
    _describe,
    _Notes,
    _too_large,
)
from assets_pipeline.readers.gltf import _read_gltf
from assets_pipeline.readers.sidecars import _Files, _FolderFiles, _MappingFiles, safe_reference
from assets_pipeline.readers.simple import _read_simple

__all__ = [
    "MAX_INPUT_BYTES",
    "SUPPORTED_SUFFIXES",
    "Y_UP_TO_ENU",
    "InputLimits",
    "ReadReport",
    "read_asset",
    "read_asset_with_report",
    "read_path",
    "read_path_with_report",
    "safe_reference",
]


def read_asset(
    name: str,
    data: bytes,
    *,
    sidecars: Mapping[str, bytes] | None = None,
    limits: InputLimits = InputLimits(),
) -> SourceScene:
    """Read one mesh file from memory.

    Dispatches on the extension of ``name`` (.glb, .gltf, .obj, .ply, .stl; anything
    else → ``MeshError("unsupported_format")``). ``sidecars`` are other files next to
    the input, by relative name (an OBJ's .mtl and textures); only names without
    directory traversal are ever looked up. See :func:`read_asset_with_report`.
    """
    return read_asset_with_report(name, data, sidecars=sidecars, limits=limits)[0]


def read_asset_with_report(
    name: str,
    data: bytes,
    *,
    sidecars: Mapping[str, bytes] | None = None,
    limits: InputLimits = InputLimits(),
) -> tuple[SourceScene, ReadReport]:
    """:func:`read_asset`, plus what was dropped on the way.

    Error codes: ``unsupported_format``, ``too_large``, ``truncated``, ``external_uri``,
    ``unsupported_extension``, ``unsupported_feature``, ``bad_input``, ``empty``.
    """
    files: dict[str, bytes] = {}
    for key, value in (sidecars or {}).items():
        clean = safe_reference(key)
        if clean is not None:
            files.setdefault(clean, value)
    return _read(name, data, _MappingFiles(files), limits)


def read_path(path: Path, *, limits: InputLimits = InputLimits()) -> SourceScene:
    """Read a mesh file and, for OBJ, the sidecars it names (MTL, textures).

    Sidecars come from the file's folder (or below it) only: a reference containing
    ``..``, an absolute path, a drive letter or a URL scheme is refused, and so is a
    symbolic link leading out of the folder. See :func:`read_path_with_report`.
    """
    return read_path_with_report(path, limits=limits)[0]


def read_path_with_report(
    path: Path, *, limits: InputLimits = InputLimits()
) -> tuple[SourceScene, ReadReport]:
    """:func:`read_path`, plus what was dropped on the way."""
    name = path.name
    _check_suffix(name)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _too_large(name, size, limits.max_bytes)
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise MeshError("bad_input", f"{name}: cannot be read ({reason})") from error
    return _read(name, data, _FolderFiles(path.parent), limits)


def _read(
    name: str, data: bytes, files: _Files, limits: InputLimits
) -> tuple[SourceScene, ReadReport]:
    suffix = _check_suffix(name)
    if len(data) > limits.max_bytes:
        raise _too_large(name, len(data), limits.max_bytes)
    if not data:
        raise MeshError("empty", f"{name}: the file is empty")
    notes = _Notes()
    try:
        if suffix in (".glb", ".gltf"):
            parts, placements = _read_gltf(name, data, suffix == ".glb", limits, notes)
        else:
            parts, placements = _read_simple(name, data, suffix[1:], files, limits, notes)
    except MeshError:
        raise
    except MemoryError as error:
        raise MeshError("too_large", f"{name}: ran out of memory while reading") from error
    except Exception as error:  # our own parsing of hostile data, never a raw exception
        raise MeshError("bad_input", f"{name}: {_describe(error)}") from error
    if not parts:
        raise MeshError("empty", f"{name}: no triangles to read")
    if not placements:
        raise MeshError("empty", f"{name}: no node of the scene places a mesh")
    _check_totals(name, parts, limits)
    return SourceScene(parts=parts, placements=placements), notes.report()
