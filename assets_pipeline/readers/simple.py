"""OBJ (with its MTL and textures as sidecars), PLY and STL, all through trimesh.

trimesh (5.2) behaviour this module relies on or works around:

* OBJ: trimesh reads only the first ``mtllib``, splits geometry per ``usemtl``
  material, keeps ``Kd`` etc. as exact floats in ``SimpleMaterial.kwargs`` (its
  ``diffuse`` is uint8) and records the ``map_Kd`` reference in
  ``image.info["file_path"]``, which finds the original texture bytes again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import trimesh
from PIL import Image

from assets_pipeline.mesh import MeshPart, Placement
from assets_pipeline.readers.common import (
    InputLimits,
    _check_geometry_counts,
    _file_normals,
    _load_trimesh,
    _make_part,
    _Material,
    _Notes,
    _placed_meshes,
    _placements,
    _srgb_to_linear,
    _texture,
    _trimesh_colors,
    _trimesh_uvs,
    _unit,
)
from assets_pipeline.readers.sidecars import _Files, _Resolver

_NEWMTL = re.compile(r"^[ \t]*newmtl[ \t]+(.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


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

    parts: list[MeshPart] = []
    part_of: dict[str, int] = {}
    for geometry_name, geometry in _placed_meshes(name, scene, notes):
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
