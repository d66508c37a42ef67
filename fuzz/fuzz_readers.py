"""Coverage-guided fuzzing of what reads uploaded files: the mesh readers (GLB, glTF, OBJ,
PLY, STL) and the texture transcoder (PNG, JPEG, WebP), under atheris and libFuzzer.

    .tools/bin/uv sync --frozen --inexact --group fuzz   # once: atheris into .venv
    .venv/bin/python fuzz/fuzz_readers.py -max_total_time=600

An input's first byte picks the target, the rest is the file. Loading, or a ``MeshError``
with a code, is the only acceptable outcome: any other exception, an input slower than
``-timeout`` or memory over ``-rss_limit_mb`` is a finding (``fuzz/harness.py`` has the
defaults and where findings go). Coverage is measured in ``assets_pipeline``, trimesh's
file loaders and Pillow's Python plugins; the seeds are small valid files of every format.
The limits on meshes are smaller than production's, so the fuzzer spends its time on
parsing rather than on building big arrays; the checks are the same.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import atheris
from harness import run

with atheris.instrument_imports(include=["assets_pipeline", "trimesh.exchange", "PIL"]):
    import trimesh
    from PIL import Image

    Image.init()  # Pillow imports its format plugins on first use: now, to instrument them
    from assets_pipeline.mesh import MeshError, Texture
    from assets_pipeline.readers import InputLimits, read_asset
    from assets_pipeline.textures import encode_texture

logging.disable(logging.ERROR)  # trimesh logs a traceback for every file it cannot read
LIMITS = InputLimits(
    max_bytes=1 << 20, max_triangles=100_000, max_vertices=100_000, max_placements=10_000
)


def _mesh(extension: str) -> Callable[[bytes], object]:
    return lambda data: read_asset(f"fuzz.{extension}", data, limits=LIMITS)


def _texture(mime_type: str) -> Callable[[bytes], object]:
    return lambda data: encode_texture(Texture("fuzz", data, mime_type), "mobile")


TARGETS: list[tuple[str, Callable[[bytes], object]]] = [
    *((extension, _mesh(extension)) for extension in ("glb", "gltf", "obj", "ply", "stl")),
    *((mime, _texture(mime)) for mime in ("image/png", "image/jpeg", "image/webp")),
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    _, read = TARGETS[data[0] % len(TARGETS)]
    try:
        read(data[1:])
    except MeshError as error:
        if not error.code:
            raise


def _image(kind: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (24, 16), (200, 120, 40, 128)[: len(mode)]).save(buffer, kind)
    return buffer.getvalue()


def seeds() -> Iterator[bytes]:
    """Small valid files of each target's format, behind the byte that picks the target."""
    from tests.hostile import crafted  # importable once harness has put the repo on the path

    box = trimesh.creation.box(extents=(2.0, 3.0, 4.0))
    files = {
        "glb": [crafted.square_glb(image=crafted.png()), box.export(file_type="glb")],
        "gltf": [crafted.square_gltf(), crafted.square_gltf(image_uri="data:image/png;base64,")],
        "obj": [box.export(file_type="obj").encode()],
        "ply": [box.export(file_type="ply"), box.export(file_type="ply", encoding="ascii")],
        "stl": [box.export(file_type="stl"), box.export(file_type="stl_ascii").encode()],
        "image/png": [crafted.png(), _image("PNG", "RGBA"), _image("PNG", "P")],
        "image/jpeg": [_image("JPEG"), crafted.truncated_jpeg()],
        "image/webp": [_image("WEBP"), _image("WEBP", "RGBA")],
    }
    for index, (name, _) in enumerate(TARGETS):
        for data in files[name]:
            yield bytes([index]) + data


if __name__ == "__main__":
    run("readers", test_one_input, seeds())
