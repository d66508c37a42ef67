"""Small model files for publishing tests, made with trimesh (y-up metres)."""

from __future__ import annotations

import struct

import trimesh


def box_glb(size_m: float = 20.0) -> bytes:
    data: bytes = trimesh.creation.box(extents=(size_m, size_m / 2, size_m)).export(file_type="glb")
    return data


def box_stl_binary() -> bytes:
    data: bytes = trimesh.creation.box(extents=(4.0, 4.0, 4.0)).export(file_type="stl")
    return data


def box_obj() -> bytes:
    text: str = trimesh.creation.box(extents=(4.0, 4.0, 4.0)).export(file_type="obj")
    return text.encode()


def psd_header() -> bytes:
    """The start of a Photoshop file: what a renamed image looks like."""
    return b"8BPS" + struct.pack(">HIHHIIHH", 1, 0, 0, 3, 64, 64, 8, 3) + b"\x00" * 200
