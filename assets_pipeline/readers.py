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

trimesh (5.2) behaviour this module relies on or works around:

* Geometry, triangle strips, normals, Draco decoding and the scene graph come from
  trimesh, loaded with ``process=False`` so vertices are neither merged nor reordered.
* trimesh names glTF geometry per primitive and drops the link to the JSON. Before
  loading we tag every glTF mesh's ``extras`` with its index; trimesh copies ``extras``
  into ``geometry.metadata``, and the primitives of a mesh stay in order, which maps
  each geometry back to its primitive.
* Materials, textures, TEXCOORD and COLOR_0 of glTF are read from the JSON and buffers
  here, not from trimesh: trimesh stores ``baseColorFactor`` as uint8 (lossy), ignores
  accessor ``normalized`` (uint8/uint16 UVs come out as raw integers), wraps uint16
  colours through ``astype(uint8)``, ignores KHR_texture_transform, and only ever
  reads TEXCOORD_0. Draco-compressed primitives are the exception: their attributes
  exist only in trimesh's decoded arrays, so UVs (TEXCOORD_0) and colours come from it.
* UV convention: glTF's v grows downwards (origin top-left). trimesh flips glTF UVs on
  load to the OpenGL/OBJ convention (``v_trimesh = 1 - v_gltf``) and OBJ UVs are already
  in it, so every UV taken from trimesh is flipped back: ``v = 1 - v_trimesh``.
* OBJ: trimesh reads only the first ``mtllib``, splits geometry per ``usemtl``
  material, keeps ``Kd`` etc. as exact floats in ``SimpleMaterial.kwargs`` (its
  ``diffuse`` is uint8) and records the ``map_Kd`` reference in
  ``image.info["file_path"]``, which finds the original texture bytes again.
* A trimesh resolver that raises is swallowed by the OBJ loader (the material is then
  missing); we record refused, missing and over-budget references on our resolver.
* Whether a file carried vertex normals is read from ``mesh._cache`` (trimesh would
  otherwise compute them on access).
* trimesh's scene graph is a forest keyed by node name; ``nodes_geometry`` lists one
  node per drawn geometry, and a node drawing a multi-primitive glTF mesh gets one
  child per primitive with a random name, so placements are sorted by (part, matrix).
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import io
import json
import math
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image

from assets_pipeline.glb import CHUNK_BIN, CHUNK_JSON, GLB_MAGIC, GLB_VERSION, read_glb
from assets_pipeline.mesh import MeshError, MeshPart, Placement, Rgba, SourceScene, Texture

MAX_INPUT_BYTES = 512 * 1024 * 1024
SUPPORTED_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl")

# glTF y-up → ENU: (x, y, z) ↦ (x, -z, y); orthonormal with det +1, so C⁻¹ = Cᵀ.
Y_UP_TO_ENU = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

# Required glTF extensions we can honour (everything else is refused). Unlit and
# specular-glossiness degrade to a metallic-roughness material; texture transforms are
# baked into the UVs; Draco is decoded by trimesh when DracoPy is importable.
_READABLE_EXTENSIONS = frozenset(
    {
        "KHR_materials_pbrSpecularGlossiness",
        "KHR_materials_unlit",
        "KHR_texture_transform",
        "EXT_texture_webp",
    }
)
_DRACO = "KHR_draco_mesh_compression"
_MESH_TAG = "__twinland_mesh_index"
_TEXTURE_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_COMPONENTS: dict[int, type[np.generic]] = {
    5120: np.int8,
    5121: np.uint8,
    5122: np.int16,
    5123: np.uint16,
    5125: np.uint32,
    5126: np.float32,
}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_POINTS, _LINES, _TRIANGLES, _TRIANGLE_STRIP = 0, 1, 4, 5
_TRIMESH_MODES = (_POINTS, _LINES, _TRIANGLES, _TRIANGLE_STRIP)  # it skips the others
_NEWMTL = re.compile(r"^[ \t]*newmtl[ \t]+(.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")  # also catches drive letters (C:)


@dataclass(frozen=True)
class InputLimits:
    """What a reader accepts. Vertex and triangle counts are of the distinct geometry
    held in memory (an instanced mesh counts once); ``max_placements`` caps glTF nodes."""

    max_bytes: int = MAX_INPUT_BYTES
    max_triangles: int = 10_000_000
    max_vertices: int = 10_000_000
    max_placements: int = 1_000_000


@dataclass(frozen=True)
class ReadReport:
    """What a reader dropped or could not honour (the scene is still usable)."""

    non_finite_vertices: int = 0  # NaN/inf positions, dropped with their triangles
    non_finite_triangles: int = 0  # triangles dropped because they touched one
    skipped_geometries: int = 0  # points, lines and geometry without triangles
    warnings: tuple[str, ...] = ()


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


# ---------------------------------------------------------------------------- dispatch


@dataclass
class _Notes:
    """Mutable collector behind :class:`ReadReport`."""

    warnings: list[str] = field(default_factory=list)
    non_finite_vertices: int = 0
    non_finite_triangles: int = 0
    skipped_geometries: int = 0

    def report(self) -> ReadReport:
        return ReadReport(
            non_finite_vertices=self.non_finite_vertices,
            non_finite_triangles=self.non_finite_triangles,
            skipped_geometries=self.skipped_geometries,
            warnings=tuple(self.warnings),
        )


def _check_suffix(name: str) -> str:
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(
            "unsupported_format",
            f"{name}: unsupported file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    return suffix


def _too_large(name: str, size: int, limit: int) -> MeshError:
    return MeshError("too_large", f"{name}: {size:,} bytes exceed the limit of {limit:,}")


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


def _describe(error: BaseException) -> str:
    text = str(error).strip() or "no details"
    return f"{type(error).__name__}: {text[:300]}"


def _check_totals(name: str, parts: list[MeshPart], limits: InputLimits) -> None:
    triangles = sum(part.triangle_count for part in parts)
    vertices = sum(part.vertex_count for part in parts)
    if triangles > limits.max_triangles:
        raise MeshError(
            "too_large",
            f"{name}: {triangles:,} triangles exceed the limit of {limits.max_triangles:,}",
        )
    if vertices > limits.max_vertices:
        raise MeshError(
            "too_large",
            f"{name}: {vertices:,} vertices exceed the limit of {limits.max_vertices:,}",
        )


def _load_trimesh(
    name: str, data: bytes, file_type: str, resolver: _Resolver, **options: Any
) -> trimesh.Scene:
    """trimesh.load_scene from bytes; anything it raises becomes a MeshError."""
    try:
        scene = trimesh.load_scene(
            file_obj=io.BytesIO(data),
            file_type=file_type,
            resolver=resolver,
            process=False,  # keep vertices as stored: no merging, no reordering
            **options,
        )
    except MemoryError as error:
        raise MeshError("too_large", f"{name}: ran out of memory while reading") from error
    except Exception as error:
        raise MeshError(
            "bad_input", f"{name}: not a readable {file_type.upper()} file ({_describe(error)})"
        ) from error
    if resolver.error is not None:
        raise resolver.error
    return scene


# ---------------------------------------------------------------------------- sidecars


class _Files:
    """Where sidecars come from; ``find`` gets a reference already made safe."""

    def find(self, reference: str, budget: int) -> bytes | None:
        raise NotImplementedError


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


# ---------------------------------------------------------------------- OBJ, PLY, STL


def _read_simple(
    name: str, data: bytes, file_type: str, files: _Files, limits: InputLimits, notes: _Notes
) -> tuple[list[MeshPart], list[Placement]]:
    is_obj = file_type == "obj"
    resolver = _Resolver(name, files if is_obj else None, limits.max_bytes - len(data))
    # PLY can name a texture file ("comment TextureFile"): geometry only, never read it.
    options: dict[str, Any] = {"skip_materials": True} if file_type == "ply" else {}
    scene = _load_trimesh(name, data, file_type, resolver, **options)
    for reference in resolver.refused:
        notes.warnings.append(f"refused reference {reference!r}: outside the asset's folder")
    for reference in resolver.missing:
        notes.warnings.append(f"sidecar {reference!r} not found")
    _check_geometry_counts(name, scene, limits)
    mtl_names = _mtl_names(resolver.served)

    placed = _placed_geometry(name, scene, notes)
    parts: list[MeshPart] = []
    part_of: dict[str, int] = {}
    for geometry_name, geometry in scene.geometry.items():
        if not isinstance(geometry, trimesh.Trimesh):
            notes.skipped_geometries += 1
            continue
        if str(geometry_name) not in placed:
            continue
        colors = _trimesh_colors(geometry)
        part = _make_part(
            name,
            f"{geometry_name}",
            vertices=np.asarray(geometry.vertices),
            faces=np.asarray(geometry.faces),
            normals=_file_normals(geometry),
            uvs=_trimesh_uvs(geometry) if is_obj else None,
            colors=None if colors is None else _srgb_to_linear(colors),
            material=_obj_material(geometry, resolver, mtl_names, notes) if is_obj else _Material(),
            notes=notes,
        )
        if part is not None:
            part_of[str(geometry_name)] = len(parts)
            parts.append(part)
    return parts, _placements(name, scene, part_of)


def _check_geometry_counts(name: str, scene: trimesh.Scene, limits: InputLimits) -> None:
    """Fail before converting anything when the loaded geometry is over the limits."""
    triangles = 0
    for geometry in scene.geometry.values():
        if isinstance(geometry, trimesh.Trimesh):
            triangles += len(geometry.faces)
    if triangles > limits.max_triangles:
        raise MeshError(
            "too_large",
            f"{name}: {triangles:,} triangles exceed the limit of {limits.max_triangles:,}",
        )


def _mtl_names(served: Mapping[str, bytes]) -> set[str]:
    """Material names the served MTL files declare (trimesh keeps ``newmtl`` names)."""
    names: set[str] = set()
    for data in served.values():
        text = data.decode("utf-8", errors="replace")
        names.update(" ".join(m.split()) for m in _NEWMTL.findall(text))
    return names


def _obj_material(
    geometry: trimesh.Trimesh, resolver: _Resolver, mtl_names: set[str], notes: _Notes
) -> _Material:
    material = getattr(geometry.visual, "material", None)
    if not isinstance(material, trimesh.visual.material.SimpleMaterial) or (
        material.name not in mtl_names
    ):
        # no material, or trimesh's stand-in for UVs without one (a grey 2×2 image)
        return _Material()
    options: dict[str, Any] = material.kwargs if isinstance(material.kwargs, dict) else {}
    kd = options.get("kd")
    if isinstance(kd, (int, float)):
        kd = [kd, kd, kd]
    # Without Kd the texture alone gives the colour: white, not trimesh's grey default.
    rgb = [1.0, 1.0, 1.0]
    if isinstance(kd, list) and len(kd) >= 3:
        rgb = [_unit(value, 1.0) for value in kd[:3]]
    alpha = 1.0
    if "d" in options:
        alpha = _unit(_first_number(options["d"]), 1.0)
    elif "tr" in options:
        alpha = 1.0 - _unit(_first_number(options["tr"]), 0.0)
    roughness = 0.9
    if "pr" in options:  # the PBR extension of MTL
        roughness = _unit(_first_number(options["pr"]), 0.9)
    elif "ns" in options:
        # Blinn-Phong exponent → roughness, the same mapping as trimesh's to_pbr()
        shininess = _first_number(options["ns"])
        if shininess is not None and math.isfinite(shininess) and shininess >= 0:
            roughness = _unit((2.0 / (shininess + 2.0)) ** 0.25, 0.9)
    texture = None
    image = getattr(material, "image", None)
    reference = image.info.get("file_path") if isinstance(image, Image.Image) else None
    if isinstance(image, Image.Image) and isinstance(reference, str):
        texture = _texture(reference, resolver.served.get(reference), image, notes)
    return _Material(
        name=str(material.name),
        base_color_rgba=(rgb[0], rgb[1], rgb[2], alpha),
        roughness=roughness,
        metallic=_unit(_first_number(options.get("pm")), 0.0),
        texture=texture,
    )


def _first_number(value: object) -> float | None:
    """An MTL value (trimesh keeps unknown keys as lists of strings) as a float."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- glTF


@dataclass
class _Gltf:
    """A glTF document that passed the pre-flight checks, with its buffers."""

    name: str
    document: dict[str, Any]
    buffers: list[bytes]
    bin_chunk: bytes | None  # GLB only

    def items(self, key: str) -> list[Any]:
        value = self.document.get(key, [])
        if not isinstance(value, list):
            raise MeshError("bad_input", f"{self.name}: {key!r} is not a list")
        return value


def _read_gltf(
    name: str, data: bytes, binary: bool, limits: InputLimits, notes: _Notes
) -> tuple[list[MeshPart], list[Placement]]:
    gltf = _parse_glb(name, data) if binary else _parse_gltf_json(name, data)
    _preflight(gltf, limits)
    # a GLB without a BIN chunk holds only data: URIs, which trimesh reads as .gltf
    file_type = "glb" if gltf.bin_chunk is not None else "gltf"
    scene = _load_trimesh(name, _for_trimesh(gltf), file_type, _Resolver(name, None, 0))
    _check_geometry_counts(name, scene, limits)
    for m, mesh in enumerate(gltf.items("meshes")):
        for p, primitive in enumerate(mesh["primitives"]):
            if primitive.get("mode", _TRIANGLES) not in _TRIMESH_MODES:
                notes.skipped_geometries += 1
                notes.warnings.append(
                    f"meshes[{m}].primitives[{p}]: trimesh does not read triangle fans, "
                    "line loops or line strips"
                )
    materials = _GltfMaterials(gltf, notes)
    primitives = _geometry_primitives(gltf, scene)
    placed = _placed_geometry(name, scene, notes)

    parts: list[MeshPart] = []
    part_of: dict[str, int] = {}
    part_of_key: dict[str, int] = {}
    for geometry_name, geometry in scene.geometry.items():
        if not isinstance(geometry, trimesh.Trimesh):
            notes.skipped_geometries += 1
            continue
        if str(geometry_name) not in placed:
            continue
        mesh_index, primitive_index = primitives[str(geometry_name)]
        primitive = gltf.items("meshes")[mesh_index]["primitives"][primitive_index]
        # Meshes that repeat another's primitive exactly (trimesh's own exporter writes
        # copies that way) share one part, so they become instances.
        key = json.dumps(
            [
                primitive.get("mode", _TRIANGLES),
                primitive.get("attributes"),
                primitive.get("indices"),
                primitive.get("material"),
                primitive.get("extensions"),
            ],
            sort_keys=True,
        )
        if key in part_of_key:
            part_of[str(geometry_name)] = part_of_key[key]
            continue
        part = _gltf_part(gltf, str(geometry_name), geometry, primitive, materials, notes)
        if part is not None:
            part_of[str(geometry_name)] = part_of_key[key] = len(parts)
            parts.append(part)
    return parts, _placements(name, scene, part_of)


def _parse_glb(name: str, data: bytes) -> _Gltf:
    """Validate the GLB container (header, chunk sizes) and split it."""
    if len(data) < 12:
        if GLB_MAGIC.startswith(data[:4]):
            raise MeshError("truncated", f"{name}: truncated GLB ({len(data)} bytes)")
        raise MeshError("bad_input", f"{name}: not a GLB file (bad magic)")
    if data[:4] != GLB_MAGIC:
        raise MeshError("bad_input", f"{name}: not a GLB file (bad magic)")
    _, version, total = struct.unpack_from("<4sII", data, 0)
    if version != GLB_VERSION:
        raise MeshError("unsupported_format", f"{name}: GLB version {version}, only 2 is read")
    if total > len(data):
        raise MeshError(
            "truncated", f"{name}: truncated GLB: header says {total:,} bytes, got {len(data):,}"
        )
    if total < len(data):
        raise MeshError(
            "bad_input", f"{name}: GLB header says {total:,} bytes but the file has {len(data):,}"
        )
    if total < 20:
        raise MeshError("bad_input", f"{name}: GLB has no JSON chunk")
    json_length, json_kind = struct.unpack_from("<II", data, 12)
    if json_kind != CHUNK_JSON:
        raise MeshError("bad_input", f"{name}: GLB does not start with a JSON chunk")
    offset = 20 + json_length
    if offset > total:
        raise MeshError("bad_input", f"{name}: GLB JSON chunk runs past the end of the file")
    bin_chunk: bytes | None = None
    while offset < total:  # chunks after JSON: at most one BIN, unknown ones are skipped
        if offset + 8 > total:
            raise MeshError("bad_input", f"{name}: GLB chunk header cut short")
        length, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + length > total:
            raise MeshError("bad_input", f"{name}: GLB chunk runs past the end of the file")
        if kind == CHUNK_BIN and bin_chunk is None:
            bin_chunk = data[offset + 8 : offset + 8 + length]
        offset += 8 + length
    try:
        document, _ = read_glb(data)
    except MeshError as error:
        raise MeshError("bad_input", f"{name}: {error.message}") from error
    except ValueError as error:  # JSON or UTF-8 errors
        raise MeshError("bad_input", f"{name}: GLB JSON chunk: {_describe(error)}") from error
    if not isinstance(document, dict):
        raise MeshError("bad_input", f"{name}: the glTF JSON is not an object")
    return _Gltf(name, document, [], bin_chunk)


def _parse_gltf_json(name: str, data: bytes) -> _Gltf:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise MeshError("bad_input", f"{name}: not glTF JSON ({_describe(error)})") from error
    if not isinstance(document, dict):
        raise MeshError("bad_input", f"{name}: the glTF JSON is not an object")
    return _Gltf(name, document, [], None)


def _preflight(gltf: _Gltf, limits: InputLimits) -> None:
    """Everything we check before trimesh sees the file: version, URIs, extensions,
    buffer and accessor bounds, node hierarchy and sizes (so trimesh can neither read
    elsewhere nor allocate what the limits forbid)."""
    name, document = gltf.name, gltf.document
    asset = document.get("asset")
    version = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version, str) or not version.startswith("2."):
        raise MeshError("unsupported_format", f"{name}: glTF version {version!r}, only 2.x is read")
    _check_uris(gltf)
    _check_extensions(gltf)
    gltf.buffers = _buffers(gltf)
    _check_views_and_accessors(gltf, limits)
    _check_nodes(gltf, limits)
    _check_meshes(gltf, limits)


def _check_uris(gltf: _Gltf) -> None:
    for key in ("buffers", "images"):
        for index, item in enumerate(gltf.items(key)):
            if not isinstance(item, dict):
                raise MeshError("bad_input", f"{gltf.name}: {key}[{index}] is not an object")
            uri = item.get("uri")
            if uri is None:
                continue
            if not isinstance(uri, str) or uri[:5].lower() != "data:":
                shown = repr(uri)[:200]
                raise MeshError(
                    "external_uri",
                    f"{gltf.name}: {key}[{index}].uri {shown} points outside the file; "
                    "only embedded data: URIs are read",
                )


def _check_extensions(gltf: _Gltf) -> None:
    required = gltf.document.get("extensionsRequired", [])
    if not isinstance(required, list):
        raise MeshError("bad_input", f"{gltf.name}: extensionsRequired is not a list")
    readable = set(_READABLE_EXTENSIONS)
    if importlib.util.find_spec("DracoPy") is not None:
        readable.add(_DRACO)
    unreadable = sorted(str(ext) for ext in required if ext not in readable)
    if unreadable:
        raise MeshError(
            "unsupported_extension",
            f"{gltf.name}: requires glTF extensions we cannot read: {', '.join(unreadable)}",
        )


def _data_uri(name: str, uri: str, what: str) -> tuple[str, bytes]:
    """(media type, bytes) of a base64 data: URI."""
    header, _, payload = uri.partition(",")
    if not header.lower().endswith(";base64"):
        raise MeshError("bad_input", f"{name}: {what} has a data: URI that is not base64")
    try:
        decoded = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MeshError("bad_input", f"{name}: {what} has a malformed base64 data: URI") from error
    return header[5:-7].strip().lower(), decoded


def _buffers(gltf: _Gltf) -> list[bytes]:
    buffers: list[bytes] = []
    for index, buffer in enumerate(gltf.items("buffers")):
        length = _count(gltf.name, buffer.get("byteLength"), f"buffers[{index}].byteLength")
        if "uri" in buffer:
            _, data = _data_uri(gltf.name, buffer["uri"], f"buffers[{index}]")
        elif index == 0 and gltf.bin_chunk is not None:
            data = gltf.bin_chunk
        else:
            raise MeshError("bad_input", f"{gltf.name}: buffers[{index}] has no data")
        if len(data) < length:
            raise MeshError(
                "bad_input",
                f"{gltf.name}: buffers[{index}] holds {len(data):,} bytes, declares {length:,}",
            )
        buffers.append(data[:length])
    return buffers


def _count(name: str, value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MeshError("bad_input", f"{name}: {what} must be a non-negative integer")
    return value


def _index(name: str, value: object, size: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size:
        raise MeshError("bad_input", f"{name}: {what} = {value!r} is out of range (0..{size - 1})")
    return value


def _check_views_and_accessors(gltf: _Gltf, limits: InputLimits) -> None:
    name = gltf.name
    views = gltf.items("bufferViews")
    for index, view in enumerate(views):
        if not isinstance(view, dict):
            raise MeshError("bad_input", f"{name}: bufferViews[{index}] is not an object")
        buffer = _index(name, view.get("buffer"), len(gltf.buffers), f"bufferViews[{index}].buffer")
        start = _count(name, view.get("byteOffset", 0), f"bufferViews[{index}].byteOffset")
        length = _count(name, view.get("byteLength"), f"bufferViews[{index}].byteLength")
        if start + length > len(gltf.buffers[buffer]):
            raise MeshError("bad_input", f"{name}: bufferViews[{index}] runs past its buffer")
        if "byteStride" in view:
            stride = _count(name, view["byteStride"], f"bufferViews[{index}].byteStride")
            if not 4 <= stride <= 252:
                raise MeshError("bad_input", f"{name}: bufferViews[{index}].byteStride {stride}")
    # Accessors without a bufferView are zero-filled by trimesh (Draco fills them later):
    # cap what they allocate at what the limits could ever need.
    max_count = max(limits.max_vertices, 3 * limits.max_triangles)
    budget = 48 * limits.max_vertices + 12 * limits.max_triangles
    for index, accessor in enumerate(gltf.items("accessors")):
        what = f"accessors[{index}]"
        if not isinstance(accessor, dict):
            raise MeshError("bad_input", f"{name}: {what} is not an object")
        component = accessor.get("componentType")
        kind = accessor.get("type")
        if component not in _COMPONENTS or kind not in _WIDTHS:
            raise MeshError("bad_input", f"{name}: {what} has an unknown component type or type")
        count = _count(name, accessor.get("count"), f"{what}.count")
        if count > max_count:
            raise MeshError("too_large", f"{name}: {what} holds {count:,} elements")
        element = np.dtype(_COMPONENTS[component]).itemsize * _WIDTHS[kind]
        offset = _count(name, accessor.get("byteOffset", 0), f"{what}.byteOffset")
        if "bufferView" not in accessor:
            budget -= count * element
            if budget < 0:
                raise MeshError("too_large", f"{name}: accessors without data are too large")
            continue
        view = views[_index(name, accessor["bufferView"], len(views), f"{what}.bufferView")]
        stride = view.get("byteStride", element)
        needed = offset + (stride * (count - 1) + element if count else 0)
        if needed > view.get("byteLength", 0):
            raise MeshError("bad_input", f"{name}: {what} runs past its bufferView")


def _check_nodes(gltf: _Gltf, limits: InputLimits) -> None:
    """The node hierarchy must be a forest: trimesh's graph would loop on a cycle."""
    name = gltf.name
    nodes = gltf.items("nodes")
    if len(nodes) > limits.max_placements:
        raise MeshError(
            "too_large",
            f"{name}: {len(nodes):,} nodes exceed the limit of {limits.max_placements:,}",
        )
    meshes = len(gltf.items("meshes"))
    parent = [-1] * len(nodes)
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise MeshError("bad_input", f"{name}: nodes[{index}] is not an object")
        if "mesh" in node:
            _index(name, node["mesh"], meshes, f"nodes[{index}].mesh")
        children = node.get("children", [])
        if not isinstance(children, list):
            raise MeshError("bad_input", f"{name}: nodes[{index}].children is not a list")
        for child in children:
            child = _index(name, child, len(nodes), f"nodes[{index}].children")
            if parent[child] != -1 or child == index:
                raise MeshError("bad_input", f"{name}: node {child} has more than one parent")
            parent[child] = index
    state = [0] * len(nodes)  # 0 unseen, 1 on the current path, 2 known to reach a root
    for start in range(len(nodes)):
        path = []
        node = start
        while node != -1 and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node != -1 and state[node] == 1:
            raise MeshError("bad_input", f"{name}: the node hierarchy has a cycle")
        for visited in path:
            state[visited] = 2
    scenes = gltf.items("scenes")
    if "scene" in gltf.document:
        _index(name, gltf.document["scene"], len(scenes), "scene")
    for number, scene in enumerate(scenes):
        roots = scene.get("nodes", []) if isinstance(scene, dict) else None
        if not isinstance(roots, list):
            raise MeshError("bad_input", f"{name}: scenes[{number}].nodes is not a list")
        for root in roots:
            if parent[_index(name, root, len(nodes), f"scenes[{number}].nodes")] != -1:
                raise MeshError("bad_input", f"{name}: scene root {root} is a child node")


def _check_meshes(gltf: _Gltf, limits: InputLimits) -> None:
    """Refuse what trimesh would read wrongly, and count before decoding anything."""
    name = gltf.name
    accessors = gltf.items("accessors")
    materials = len(gltf.items("materials"))
    vertices = triangles = 0
    seen: set[str] = set()
    for m, mesh in enumerate(gltf.items("meshes")):
        primitives = mesh.get("primitives") if isinstance(mesh, dict) else None
        if not isinstance(primitives, list):
            raise MeshError("bad_input", f"{name}: meshes[{m}].primitives is not a list")
        for p, primitive in enumerate(primitives):
            what = f"meshes[{m}].primitives[{p}]"
            attributes = primitive.get("attributes") if isinstance(primitive, dict) else None
            if not isinstance(attributes, dict) or "POSITION" not in attributes:
                raise MeshError("bad_input", f"{name}: {what} has no POSITION")
            used = [*attributes.values()]
            if "indices" in primitive:
                used.append(primitive["indices"])
            for accessor in used:
                _index(name, accessor, len(accessors), f"{what} accessor")
                if "sparse" in accessors[accessor]:
                    raise MeshError("unsupported_feature", f"{name}: {what} uses a sparse accessor")
            if "material" in primitive:
                _index(name, primitive["material"], materials, f"{what}.material")
            extensions = primitive.get("extensions")
            if not (isinstance(extensions, dict) and _DRACO in extensions):
                # trimesh zero-fills an accessor without data (it only logs): a mesh of
                # zeros would pass every later check
                for accessor in (attributes["POSITION"], primitive.get("indices")):
                    if accessor is not None and "bufferView" not in accessors[accessor]:
                        raise MeshError("bad_input", f"{name}: {what} has an accessor without data")
            mode = primitive.get("mode", _TRIANGLES)
            key = json.dumps([mode, attributes, primitive.get("indices")], sort_keys=True)
            if mode not in (_TRIANGLES, _TRIANGLE_STRIP) or key in seen:
                continue
            seen.add(key)
            position = accessors[attributes["POSITION"]]
            if position.get("componentType") != 5126 or position.get("type") != "VEC3":
                raise MeshError("bad_input", f"{name}: {what} POSITION is not float VEC3")
            count = position["count"]
            if "indices" in primitive:
                count = accessors[primitive["indices"]]["count"]
            vertices += position["count"]
            triangles += count // 3 if mode == _TRIANGLES else max(count - 2, 0)
    if triangles > limits.max_triangles:
        raise MeshError(
            "too_large",
            f"{name}: {triangles:,} triangles exceed the limit of {limits.max_triangles:,}",
        )
    if vertices > limits.max_vertices:
        raise MeshError(
            "too_large",
            f"{name}: {vertices:,} vertices exceed the limit of {limits.max_vertices:,}",
        )


def _for_trimesh(gltf: _Gltf) -> bytes:
    """The file as trimesh should read it: every mesh tagged with its index in
    ``extras`` (trimesh copies extras into geometry.metadata)."""
    document = dict(gltf.document)
    meshes = []
    for index, mesh in enumerate(gltf.items("meshes")):
        extras = mesh.get("extras")
        meshes.append(
            {**mesh, "extras": {**(extras if isinstance(extras, dict) else {}), _MESH_TAG: index}}
        )
    document["meshes"] = meshes
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    if gltf.bin_chunk is None:
        return text
    text += b" " * (-len(text) % 4)
    blob = gltf.bin_chunk + b"\0" * (-len(gltf.bin_chunk) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, total),
            struct.pack("<II", len(text), CHUNK_JSON),
            text,
            struct.pack("<II", len(blob), CHUNK_BIN),
            blob,
        ]
    )


def _geometry_primitives(gltf: _Gltf, scene: trimesh.Scene) -> dict[str, tuple[int, int]]:
    """trimesh geometry name → (mesh index, primitive index)."""
    by_mesh: dict[int, list[str]] = {}
    for geometry_name, geometry in scene.geometry.items():
        if isinstance(geometry, trimesh.Trimesh):
            tag = geometry.metadata.get(_MESH_TAG)
            if not isinstance(tag, int):
                raise MeshError("bad_input", f"{gltf.name}: cannot match geometry to its mesh")
            by_mesh.setdefault(tag, []).append(str(geometry_name))
    found: dict[str, tuple[int, int]] = {}
    meshes = gltf.items("meshes")
    for mesh_index, names in by_mesh.items():
        triangle_primitives = [
            p
            for p, primitive in enumerate(meshes[mesh_index]["primitives"])
            if primitive.get("mode", _TRIANGLES) in (_TRIANGLES, _TRIANGLE_STRIP)
        ]
        if len(triangle_primitives) != len(names):
            raise MeshError("bad_input", f"{gltf.name}: cannot match geometry to primitives")
        for geometry_name, p in zip(names, triangle_primitives, strict=True):
            found[geometry_name] = (mesh_index, p)
    return found


def _gltf_part(
    gltf: _Gltf,
    geometry_name: str,
    geometry: trimesh.Trimesh,
    primitive: dict[str, Any],
    materials: _GltfMaterials,
    notes: _Notes,
) -> MeshPart | None:
    name = gltf.name
    vertices = np.asarray(geometry.vertices)
    attributes: dict[str, int] = primitive["attributes"]
    accessors = gltf.items("accessors")
    draco = _DRACO in (primitive.get("extensions") or {})
    if draco and "bufferView" not in accessors[attributes["POSITION"]] and not vertices.any():
        # trimesh leaves zero placeholders (and only logs) when Draco fails to decode
        raise MeshError("bad_input", f"{name}: {geometry_name}: Draco data did not decode")
    if not draco and len(vertices) != accessors[attributes["POSITION"]]["count"]:
        raise MeshError("bad_input", f"{name}: {geometry_name}: geometry does not match its mesh")
    material, tex_coord, transform = materials.get(primitive.get("material"))
    uvs: NDArray[np.float64] | None
    colors: NDArray[np.uint8] | None
    if draco:
        # Draco attributes exist only in trimesh's decoded arrays (TEXCOORD_0 only).
        uvs = _trimesh_uvs(geometry) if tex_coord == 0 else None
        colors = _trimesh_colors(geometry)
    else:
        uvs = _gltf_uvs(gltf, attributes.get(f"TEXCOORD_{tex_coord}"), len(vertices))
        colors = _gltf_colors(gltf, attributes.get("COLOR_0"), len(vertices))
    if uvs is not None and transform is not None:
        uvs = _texture_transform(uvs, transform)
    if material.texture is not None and uvs is None:
        notes.warnings.append(
            f"{geometry_name}: texture left out, TEXCOORD_{tex_coord} is not available"
        )
    return _make_part(
        name,
        geometry_name,
        vertices=vertices,
        faces=np.asarray(geometry.faces),
        normals=_file_normals(geometry) if "NORMAL" in attributes else None,
        uvs=uvs,
        colors=colors,
        material=material,
        notes=notes,
    )


def _read_accessor(gltf: _Gltf, index: int) -> NDArray[Any] | None:
    """The typed (count, width) array of a vector accessor (None without a bufferView);
    bounds were checked by the pre-flight."""
    accessor = gltf.items("accessors")[index]
    if "bufferView" not in accessor:
        return None
    view = gltf.items("bufferViews")[accessor["bufferView"]]
    dtype = np.dtype(_COMPONENTS[accessor["componentType"]]).newbyteorder("<")
    width = _WIDTHS[accessor["type"]]
    element = dtype.itemsize * width
    stride = view.get("byteStride", element)
    count = accessor["count"]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    raw = np.frombuffer(gltf.buffers[view["buffer"]], dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(
        raw[start:], shape=(count, element), strides=(stride, 1), writeable=False
    )
    return np.ascontiguousarray(rows).view(dtype).reshape(count, width)


def _normalized(values: NDArray[Any]) -> NDArray[np.float64]:
    """Unsigned normalized integers or floats as float64 in their nominal range."""
    if values.dtype == np.uint8:
        return values.astype(np.float64) / 255.0
    if values.dtype == np.uint16:
        return values.astype(np.float64) / 65535.0
    return values.astype(np.float64)


def _gltf_uvs(gltf: _Gltf, accessor: int | None, count: int) -> NDArray[np.float64] | None:
    if accessor is None:
        return None
    values = _read_accessor(gltf, accessor)
    if values is None or values.shape != (count, 2):
        raise MeshError("bad_input", f"{gltf.name}: texture coordinates do not fit the mesh")
    if values.dtype not in (np.float32, np.uint8, np.uint16):
        raise MeshError("bad_input", f"{gltf.name}: texture coordinates are {values.dtype}")
    return _normalized(values)  # already glTF convention: read from the file, not trimesh


def _gltf_colors(gltf: _Gltf, accessor: int | None, count: int) -> NDArray[np.uint8] | None:
    if accessor is None:
        return None
    values = _read_accessor(gltf, accessor)
    if values is None or values.shape[0] != count or values.shape[1] not in (3, 4):
        raise MeshError("bad_input", f"{gltf.name}: COLOR_0 does not fit the mesh")
    if values.dtype not in (np.float32, np.uint8, np.uint16):
        raise MeshError("bad_input", f"{gltf.name}: COLOR_0 is {values.dtype}")
    return _rgba8(_normalized(values))


def _texture_transform(uvs: NDArray[np.float64], transform: dict[str, Any]) -> NDArray[np.float64]:
    """Bake KHR_texture_transform into the UVs: uv' = T · R · S · uv."""
    offset = np.asarray(transform.get("offset", [0.0, 0.0]), dtype=np.float64).reshape(2)
    scale = np.asarray(transform.get("scale", [1.0, 1.0]), dtype=np.float64).reshape(2)
    rotation = float(transform.get("rotation", 0.0))
    cos, sin = math.cos(rotation), math.sin(rotation)
    u, v = uvs[:, 0] * scale[0], uvs[:, 1] * scale[1]
    return np.column_stack((cos * u + sin * v + offset[0], -sin * u + cos * v + offset[1]))


class _GltfMaterials:
    """glTF materials read from the JSON, with textures from the original image bytes."""

    def __init__(self, gltf: _Gltf, notes: _Notes) -> None:
        self._gltf = gltf
        self._notes = notes
        self._materials: dict[int | None, tuple[_Material, int, dict[str, Any] | None]] = {}
        self._images: dict[int, Texture | None] = {}

    def get(self, index: int | None) -> tuple[_Material, int, dict[str, Any] | None]:
        """(material, TEXCOORD set of its base colour texture, KHR_texture_transform)."""
        if index not in self._materials:
            self._materials[index] = self._read(index)
        return self._materials[index]

    def _read(self, index: int | None) -> tuple[_Material, int, dict[str, Any] | None]:
        if index is None:
            # the spec's default material: no properties, so metallic = roughness = 1
            return _Material(roughness=1.0, metallic=1.0), 0, None
        gltf = self._gltf
        material = gltf.items("materials")[index]
        if not isinstance(material, dict):
            raise MeshError("bad_input", f"{gltf.name}: materials[{index}] is not an object")
        extensions = material.get("extensions") or {}
        spec_gloss = extensions.get("KHR_materials_pbrSpecularGlossiness")
        pbr = material.get("pbrMetallicRoughness") or {}
        if isinstance(spec_gloss, dict) and "pbrMetallicRoughness" not in material:
            # approximation: diffuse as base colour, a dielectric, roughness = 1 - gloss
            factor = spec_gloss.get("diffuseFactor", [1.0, 1.0, 1.0, 1.0])
            texture_info = spec_gloss.get("diffuseTexture")
            roughness = 1.0 - _unit(spec_gloss.get("glossinessFactor"), 1.0)
            metallic = 0.0
        else:
            factor = pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0])
            texture_info = pbr.get("baseColorTexture")
            roughness = _unit(pbr.get("roughnessFactor"), 1.0)
            metallic = _unit(pbr.get("metallicFactor"), 1.0)
        if not isinstance(factor, list) or len(factor) != 4:
            factor = [1.0, 1.0, 1.0, 1.0]
        rgba = (
            _unit(factor[0], 1.0),
            _unit(factor[1], 1.0),
            _unit(factor[2], 1.0),
            _unit(factor[3], 1.0),
        )
        texture, tex_coord, transform = self._texture_info(texture_info)
        name = material.get("name")
        return (
            _Material(
                name=name if isinstance(name, str) else f"material{index}",
                base_color_rgba=rgba,
                roughness=roughness,
                metallic=metallic,
                texture=texture,
                double_sided=material.get("doubleSided") is True,
            ),
            tex_coord,
            transform,
        )

    def _texture_info(self, info: object) -> tuple[Texture | None, int, dict[str, Any] | None]:
        if not isinstance(info, dict) or "index" not in info:
            return None, 0, None
        gltf = self._gltf
        textures = gltf.items("textures")
        texture = textures[_index(gltf.name, info["index"], len(textures), "texture index")]
        tex_coord = info.get("texCoord", 0)
        transform = (info.get("extensions") or {}).get("KHR_texture_transform")
        if isinstance(transform, dict):
            tex_coord = transform.get("texCoord", tex_coord)
        else:
            transform = None
        if not isinstance(tex_coord, int) or isinstance(tex_coord, bool) or tex_coord < 0:
            tex_coord = 0
        # prefer the core source (PNG/JPEG); EXT_texture_webp's source otherwise
        source = texture.get("source") if isinstance(texture, dict) else None
        if source is None and isinstance(texture, dict):
            webp = (texture.get("extensions") or {}).get("EXT_texture_webp") or {}
            source = webp.get("source")
        if source is None:
            self._notes.warnings.append(f"texture {info['index']} has no image we can read")
            return None, tex_coord, transform
        images = gltf.items("images")
        image_index = _index(gltf.name, source, len(images), "texture source")
        if image_index not in self._images:
            self._images[image_index] = self._image(image_index)
        return self._images[image_index], tex_coord, transform

    def _image(self, index: int) -> Texture | None:
        gltf = self._gltf
        image = gltf.items("images")[index]
        label = image.get("name") if isinstance(image.get("name"), str) else f"image{index}"
        if "bufferView" in image:
            views = gltf.items("bufferViews")
            view = views[_index(gltf.name, image["bufferView"], len(views), "image bufferView")]
            start = view.get("byteOffset", 0)
            data = gltf.buffers[view["buffer"]][start : start + view["byteLength"]]
        elif "uri" in image:
            _, data = _data_uri(gltf.name, image["uri"], f"images[{index}]")
        else:
            self._notes.warnings.append(f"images[{index}] holds no data")
            return None
        return _texture(label, data, None, self._notes)


# ---------------------------------------------------------------------------- shared


@dataclass(frozen=True)
class _Material:
    name: str = ""
    base_color_rgba: Rgba = (1.0, 1.0, 1.0, 1.0)
    roughness: float = 0.9
    metallic: float = 0.0
    texture: Texture | None = None
    double_sided: bool = False


def _unit(value: object, default: float) -> float:
    """A material factor clamped into [0, 1]; missing or not finite → ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    number = float(value)
    if not math.isfinite(number):
        return default
    return min(max(number, 0.0), 1.0)


def _texture(
    label: str, original: bytes | None, decoded: Image.Image | None, notes: _Notes
) -> Texture | None:
    """A Texture from the original encoded bytes when they are PNG, JPEG or WebP;
    otherwise the image re-encoded as PNG (lossless)."""
    image = decoded
    if original is not None:
        try:
            image = Image.open(io.BytesIO(original))  # reads the header only
            mime = _TEXTURE_MIME.get(str(image.format))
            if mime is not None:
                return Texture(name=label, data=original, mime_type=mime)
        except Exception:
            image = decoded
    if image is None:
        notes.warnings.append(f"texture {label!r} left out: not a readable image")
        return None
    try:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    except Exception as error:
        notes.warnings.append(f"texture {label!r} left out: {_describe(error)}")
        return None
    return Texture(name=label, data=buffer.getvalue(), mime_type="image/png")


def _file_normals(geometry: trimesh.Trimesh) -> NDArray[np.float64] | None:
    """The normals the file carried; trimesh computes them on access otherwise."""
    if "vertex_normals" not in geometry._cache:
        return None
    return np.asarray(geometry.vertex_normals, dtype=np.float64)


def _trimesh_uvs(geometry: trimesh.Trimesh) -> NDArray[np.float64] | None:
    """trimesh's UVs (v up, OpenGL/OBJ) in glTF convention (v down)."""
    uv = getattr(geometry.visual, "uv", None)
    if uv is None:
        return None
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[0] != len(geometry.vertices) or uv.shape[1] < 2:
        return None
    return np.column_stack((uv[:, 0], 1.0 - uv[:, 1]))


def _trimesh_colors(geometry: trimesh.Trimesh) -> NDArray[np.uint8] | None:
    visual = geometry.visual
    if isinstance(visual, trimesh.visual.ColorVisuals):
        if visual.kind != "vertex":
            return None
        return _rgba8(np.asarray(visual.vertex_colors))
    attributes = getattr(visual, "vertex_attributes", None)
    colors = attributes.get("color") if attributes is not None else None
    if colors is None:
        return None
    return _rgba8(_normalized(np.asarray(colors)))


def _rgba8(colors: NDArray[Any]) -> NDArray[np.uint8] | None:
    """(n, 3|4) colours → (n, 4) uint8; floats are taken as 0..1."""
    if colors.ndim != 2 or colors.shape[1] not in (3, 4):
        return None
    if colors.dtype != np.uint8:
        scaled = np.nan_to_num(colors.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        colors = np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
    if colors.shape[1] == 3:
        colors = np.column_stack((colors, np.full(len(colors), 255, dtype=np.uint8)))
    return np.ascontiguousarray(colors, dtype=np.uint8)


def _srgb_to_linear(colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """OBJ and PLY vertex colours are display (sRGB) values; MeshPart holds linear ones.
    Alpha is linear already."""
    c = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    table = np.round(linear * 255.0).astype(np.uint8)
    out = colors.copy()
    out[:, :3] = table[colors[:, :3]]
    return out


def _to_enu(xyz: NDArray[Any]) -> NDArray[np.float32]:
    out = np.empty((len(xyz), 3), dtype=np.float32)
    out[:, 0] = xyz[:, 0]
    out[:, 1] = 0.0 - xyz[:, 2]  # not -z: that turns 0.0 into -0.0, which hashes differently
    out[:, 2] = xyz[:, 1]
    return out


def _make_part(
    file_name: str,
    name: str,
    *,
    vertices: NDArray[Any],
    faces: NDArray[Any],
    normals: NDArray[Any] | None,
    uvs: NDArray[Any] | None,
    colors: NDArray[np.uint8] | None,
    material: _Material,
    notes: _Notes,
) -> MeshPart | None:
    """A MeshPart from y-up arrays: checks indices, drops non-finite vertices with the
    triangles touching them, converts to ENU. None (and a note) when nothing remains."""
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise MeshError("bad_input", f"{file_name}: {name}: vertices are not (n, 3)")
    count = len(vertices)
    faces = faces.reshape(-1, 3) if faces.size else np.zeros((0, 3), dtype=np.int64)
    if len(faces) and (int(faces.min()) < 0 or int(faces.max()) >= count):
        raise MeshError(
            "bad_input",
            f"{file_name}: {name}: index out of range, a triangle points at vertex "
            f"{int(faces.max())} of {count}",
        )
    positions = _to_enu(vertices)  # float32 now: values beyond its range become inf
    keep: dict[str, NDArray[Any] | None] = {
        "normals": None if normals is None else _to_enu(np.asarray(normals)),
        "uvs": None if uvs is None else np.asarray(uvs, dtype=np.float32),
        "colors": colors,
    }
    for key, array in keep.items():
        if array is not None and len(array) != count:
            notes.warnings.append(f"{name}: {key} left out, they do not match the vertices")
            keep[key] = None
    finite = np.asarray(np.isfinite(positions).all(axis=1), dtype=bool)
    if not finite.all():
        touching = ~finite[faces].all(axis=1) if len(faces) else np.zeros(0, dtype=bool)
        notes.non_finite_vertices += int((~finite).sum())
        notes.non_finite_triangles += int(touching.sum())
        remap = np.cumsum(finite, dtype=np.int64) - 1
        faces = remap[faces[~touching]]
        positions = positions[finite]
        keep = {k: None if a is None else a[finite] for k, a in keep.items()}
    if len(faces) == 0:
        notes.skipped_geometries += 1
        notes.warnings.append(f"{name}: no usable triangles")
        return None
    normals_out = keep["normals"]
    if normals_out is not None and not np.isfinite(normals_out).all():
        notes.warnings.append(f"{name}: normals left out, some are NaN or infinite")
        normals_out = None
    texture = material.texture if keep["uvs"] is not None else None
    try:
        return MeshPart(
            name=name,
            positions_m=np.ascontiguousarray(positions),
            indices=np.ascontiguousarray(faces, dtype=np.uint32),
            normals=None if normals_out is None else np.ascontiguousarray(normals_out),
            uvs=None if keep["uvs"] is None else np.ascontiguousarray(keep["uvs"]),
            colors_rgba=None if keep["colors"] is None else np.ascontiguousarray(keep["colors"]),
            base_color_rgba=material.base_color_rgba,
            roughness=material.roughness,
            metallic=material.metallic,
            base_color_texture=texture,
            double_sided=material.double_sided,
            material_name=material.name,
        )
    except MeshError as error:
        raise MeshError("bad_input", f"{file_name}: {error.message}") from error


def _placed_geometry(name: str, scene: trimesh.Scene, notes: _Notes) -> set[str]:
    """Names of the geometry some scene-graph node draws; the rest is not converted."""
    graph = scene.graph
    placed = {str(graph[node][1]) for node in graph.nodes_geometry}
    unplaced = sum(
        1
        for geometry_name, geometry in scene.geometry.items()
        if isinstance(geometry, trimesh.Trimesh) and str(geometry_name) not in placed
    )
    if unplaced and not placed:
        raise MeshError("empty", f"{name}: no node of the scene places a mesh")
    if unplaced:
        notes.warnings.append(f"{unplaced} mesh(es) that no node of the scene places left out")
    return placed


def _placements(name: str, scene: trimesh.Scene, part_of: dict[str, int]) -> list[Placement]:
    """One placement per scene-graph node drawing a part, world matrix in ENU."""
    found: list[tuple[int, tuple[float, ...], NDArray[np.float64]]] = []
    graph = scene.graph
    for node in graph.nodes_geometry:
        matrix, geometry_name = graph[node]
        part = part_of.get(str(geometry_name))
        if part is None:
            continue
        world = Y_UP_TO_ENU @ np.asarray(matrix, dtype=np.float64) @ Y_UP_TO_ENU.T
        if world.shape != (4, 4) or not np.isfinite(world).all():
            raise MeshError("bad_input", f"{name}: node {node!r} has a non-finite transform")
        found.append((part, tuple(world.ravel().tolist()), world))
    # trimesh's node order and names (random for multi-primitive meshes) are not stable
    found.sort(key=lambda item: (item[0], item[1]))
    return [Placement(part=part, matrix=world) for part, _, world in found]
