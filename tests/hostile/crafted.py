"""Hostile files, crafted byte by byte: tiny, and each wrong in exactly one way.

The glTF files hold one textured square (two triangles, y-up metres), so a file that is
not refused publishes a real layer. Nothing here writes anything large: the decompression
bomb is a PNG whose header claims 50,000 × 50,000 pixels over a few hundred bytes.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from typing import Any

import numpy as np
from PIL import Image

POSITIONS = np.array([[0, 0, 0], [10, 0, 0], [10, 0, -10], [0, 0, -10]], dtype=np.float32)
UVS = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], dtype=np.float32)
INDICES = np.array([0, 1, 2, 0, 2, 3], dtype=np.uint16)
FLOAT, USHORT = 5126, 5123


def png(width_px: int = 8, height_px: int = 8) -> bytes:
    """A real PNG (a gradient), small enough to publish."""
    pixels = np.zeros((height_px, width_px, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width_px, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width_px: int = 50_000, height_px: int = 50_000) -> bytes:
    """A well-formed PNG whose IHDR says ``width_px`` × ``height_px`` (8-bit RGB): decoded,
    50,000² is 7.5 GB of pixels. Its IDAT is a little zlib-compressed zero data (the first
    rows), so the file is a few hundred bytes and every chunk's CRC is right."""
    header = struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * width_px) * 4, 9)
    chunks = _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def truncated_jpeg() -> bytes:
    """A real 64 × 64 JPEG cut in the middle of its image data (no end-of-image marker)."""
    pixels = np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    whole = buffer.getvalue()
    return whole[: len(whole) // 2]


def psd(width_px: int = 4, height_px: int = 4) -> bytes:
    """A complete Photoshop file (RGB, 8 bits, raw planes): what a designer's texture
    looks like when it was renamed ``.png`` instead of exported."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height_px, width_px, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers
    planes = bytes(range(256)) * (3 * width_px * height_px // 256 + 1)
    return header + sections + struct.pack(">H", 0) + planes[: 3 * width_px * height_px]


def zip_bomb(inflated_mib: int = 16) -> bytes:
    """A zip whose one member, ``model.glb``, inflates about 1,000-fold (to
    ``inflated_mib`` MiB of zeros): anything that opened it would pay for that."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("model.glb", bytes(inflated_mib * 1024 * 1024))
    return buffer.getvalue()


def glb(document: dict[str, Any], binary: bytes) -> bytes:
    """A GLB container around ``document`` and its BIN chunk (both padded to 4 bytes)."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    chunks = struct.pack("<I4s", len(text), b"JSON") + text
    if binary:
        chunks += struct.pack("<I4s", len(binary), b"BIN\x00") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def square(
    *,
    positions: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    image: bytes | None = None,
    image_mime: str = "image/png",
    image_uri: str | None = None,
    buffer_uri: str | None = None,
    index_count: int | None = None,
) -> tuple[dict[str, Any], bytes]:
    """(glTF document, buffer bytes) of a textured square. ``image`` goes in a bufferView
    (or ``image_uri`` is the image's URI); ``buffer_uri`` replaces the buffer's data by a
    URI; ``index_count`` overrides the index accessor's count."""
    positions = POSITIONS if positions is None else positions
    indices = INDICES if indices is None else indices
    parts = [positions.tobytes(), UVS.tobytes(), indices.tobytes()]
    views = []
    offset = 0
    for part in parts:
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(part)})
        offset += len(part) + (-len(part) % 4)
    binary = b"".join(part + b"\x00" * (-len(part) % 4) for part in parts)
    lower, upper = positions.min(axis=0).tolist(), positions.max(axis=0).tolist()
    accessors = [
        {"bufferView": 0, "componentType": FLOAT, "count": len(positions), "type": "VEC3",
         "min": lower, "max": upper},
        {"bufferView": 1, "componentType": FLOAT, "count": len(UVS), "type": "VEC2"},
        {"bufferView": 2, "componentType": USHORT, "type": "SCALAR",
         "count": len(indices) if index_count is None else index_count},
    ]  # fmt: skip
    images: list[dict[str, Any]] = []
    if image is not None:
        views.append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(image)})
        images.append({"bufferView": len(views) - 1, "mimeType": image_mime})
        binary += image + b"\x00" * (-len(image) % 4)
    elif image_uri is not None:
        images.append({"uri": image_uri})
    buffer: dict[str, Any] = {"byteLength": len(binary)}
    if buffer_uri is not None:
        buffer["uri"] = buffer_uri
    material: dict[str, Any] = {"pbrMetallicRoughness": {"metallicFactor": 0.0}}
    if images:
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    document: dict[str, Any] = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "TEXCOORD_0": 1},
                        "indices": 2,
                        "material": 0,
                    }
                ]
            }
        ],
        "materials": [material],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [buffer],
    }
    if images:
        document["textures"] = [{"source": 0}]
        document["images"] = images
    return document, binary


def square_glb(**options: Any) -> bytes:
    document, binary = square(**options)
    return glb(document, b"" if options.get("buffer_uri") else binary)


def square_gltf(**options: Any) -> bytes:
    """The square as a .gltf: its buffer embedded as a base64 ``data:`` URI unless
    ``buffer_uri`` names another place."""
    document, binary = square(**options)
    if "buffer_uri" not in options:
        encoded = base64.b64encode(binary).decode()
        document["buffers"][0]["uri"] = "data:application/octet-stream;base64," + encoded
    return json.dumps(document).encode()
