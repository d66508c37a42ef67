"""Staged uploads: size caps while streaming, the type sniffed from the bytes, nothing
kept on any error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.domain.errors import InvalidValue
from backend.publishing.uploads import UploadRejected, UploadStore, sniff_model
from tests.publishing.models import box_glb, box_obj, box_stl_binary, psd_header


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def kept(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (box_glb(), "glb"),
        (box_stl_binary(), "stl"),
        (b"solid cube\n facet normal 0 0 1\n", "stl"),
        (box_obj(), "obj"),
        (b'{"asset": {"version": "2.0"}, "meshes": []}', "gltf"),
        (b"ply\nformat ascii 1.0\nelement vertex 3\n", "ply"),
        (psd_header(), None),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, None),
        (b"<html><body>not a model</body></html>\n", None),
    ],
)
def test_the_format_is_sniffed_from_the_content(data: bytes, expected: str | None):
    assert sniff_model(data[:4096], len(data)) == expected


async def test_a_model_is_kept_by_content_hash_with_its_name(tmp_path: Path):
    store = UploadStore(tmp_path)
    data = box_glb()
    upload = await store.receive("pier.glb", chunks(data), len(data))
    assert (upload.format, upload.byte_size) == ("glb", len(data))
    assert store.find(upload.sha256) == upload
    path = store.path_for(upload.sha256)
    assert path is not None
    assert path.read_bytes() == data


async def test_a_psd_renamed_to_glb_is_refused_and_nothing_kept(tmp_path: Path):
    store = UploadStore(tmp_path)
    with pytest.raises(UploadRejected, match="no model format") as caught:
        await store.receive("plan.glb", chunks(psd_header()), None)
    assert caught.value.code == "type_mismatch"
    assert kept(tmp_path) == []


async def test_a_glb_named_stl_is_refused(tmp_path: Path):
    with pytest.raises(UploadRejected, match=r"content is a \.glb model"):
        await UploadStore(tmp_path).receive("pier.stl", chunks(box_glb()), None)


async def test_the_size_cap_holds_while_streaming_even_without_a_length(tmp_path: Path):
    store = UploadStore(tmp_path, max_bytes=5000)
    with pytest.raises(UploadRejected) as caught:
        await store.receive("big.glb", chunks(b"glTF" + b"\x00" * 10_000), None)
    assert caught.value.code == "too_large"
    assert kept(tmp_path) == []


async def test_a_declared_length_over_the_cap_is_refused_before_reading(tmp_path: Path):
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""

    with pytest.raises(UploadRejected, match="limited to 5000 bytes"):
        await UploadStore(tmp_path, max_bytes=5000).receive("big.glb", never(), 10**9)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("../../etc/passwd.glb", InvalidValue),
        ("/etc/passwd.glb", InvalidValue),
        ("model.exe", UploadRejected),
        ("model.png", UploadRejected),
        ("noextension", UploadRejected),
    ],
)
async def test_bad_file_names_are_refused_before_reading(
    tmp_path: Path, name: str, error: type[Exception]
):
    with pytest.raises(error):
        await UploadStore(tmp_path).receive(name, chunks(box_glb()), None)
    assert kept(tmp_path) == []


async def test_an_empty_upload_is_refused(tmp_path: Path):
    with pytest.raises(UploadRejected, match="empty"):
        await UploadStore(tmp_path).receive("pier.glb", chunks(b""), 0)
