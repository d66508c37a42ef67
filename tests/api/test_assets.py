"""/assets served like a CDN: encodings, validators, ranges, HEAD, CORS, path safety."""

from __future__ import annotations

import brotli
import pytest

from backend.http.assets import accepted_encodings
from tests.api.conftest import Api

SCENE_ASSET = """{ scene(slug: "gokseong") { ... on Scene { layers { asset { url sha256 } } } } }"""


async def _glb(api: Api) -> tuple[str, str]:
    asset = (await api.data(SCENE_ASSET))["scene"]["layers"][0]["asset"]
    return asset["url"].removeprefix("http://twinland.test"), asset["sha256"]


async def test_brotli_is_sent_to_clients_that_accept_it_as_its_own_representation(api: Api):
    path, sha = await _glb(api)

    plain = await api.http.get(path, headers={"accept-encoding": "identity"})
    packed = await api.http.get(path, headers={"accept-encoding": "gzip, br"})

    assert plain.headers.get("content-encoding") is None
    assert packed.headers["content-encoding"] == "br"
    assert packed.content == plain.content  # httpx decoded it: the same GLB
    assert int(packed.headers["content-length"]) < int(plain.headers["content-length"])
    assert packed.headers["etag"] == f'"{sha}-br"'
    assert plain.headers["etag"] == f'"{sha}"'
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-type"] == "model/gltf-binary"


async def test_gzip_when_brotli_is_not_accepted(api: Api):
    path, sha = await _glb(api)

    response = await api.http.get(path, headers={"accept-encoding": "gzip;q=1, br;q=0"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"] == f'"{sha}-gzip"'


async def test_a_conditional_request_gets_304_for_the_same_representation_only(api: Api):
    path, sha = await _glb(api)
    br = {"accept-encoding": "br"}

    same = await api.http.get(path, headers={**br, "if-none-match": f'"{sha}-br"'})
    other = await api.http.get(
        path, headers={"accept-encoding": "identity", "if-none-match": f'"{sha}-br"'}
    )

    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert other.status_code == 200


async def test_ranges_return_206_with_the_exact_bytes_and_416_past_the_end(api: Api):
    path, _ = await _glb(api)
    identity = {"accept-encoding": "identity"}
    whole = (await api.http.get(path, headers=identity)).content

    first = await api.http.get(path, headers={**identity, "range": "bytes=0-99"})
    tail = await api.http.get(path, headers={**identity, "range": "bytes=-10"})
    beyond = await api.http.get(path, headers={**identity, "range": f"bytes={len(whole) + 5}-"})
    stale = await api.http.get(
        path, headers={**identity, "range": "bytes=0-9", "if-range": '"another"'}
    )

    assert first.status_code == 206
    assert first.content == whole[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(whole)}"
    assert tail.content == whole[-10:]
    assert beyond.status_code == 416
    assert stale.status_code == 200  # If-Range did not match: the whole file
    assert stale.content == whole


async def _raw(api: Api, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Status and body as sent, not decoded by httpx."""
    async with api.http.stream("GET", path, headers=headers) as response:
        return response.status_code, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_a_range_of_the_brotli_representation_is_a_range_of_its_bytes(api: Api):
    path, _ = await _glb(api)
    whole = (await api.http.get(path, headers={"accept-encoding": "identity"})).content

    status, packed = await _raw(api, path, {"accept-encoding": "br"})
    partial_status, head = await _raw(api, path, {"accept-encoding": "br", "range": "bytes=0-9"})

    assert status == 200
    assert brotli.decompress(packed) == whole
    assert partial_status == 206
    assert head == packed[:10]


async def test_head_has_the_headers_and_no_body(api: Api):
    path, _ = await _glb(api)
    identity = {"accept-encoding": "identity"}

    head = await api.http.head(path, headers=identity)
    get = await api.http.get(path, headers=identity)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["etag"] == get.headers["etag"]


async def test_browsers_on_other_origins_may_load_assets(api: Api):
    path, _ = await _glb(api)

    simple = await api.http.get(path, headers={"origin": "https://viewer.example"})
    preflight = await api.http.options(
        path,
        headers={
            "origin": "https://viewer.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": "range",
        },
    )

    assert simple.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in simple.headers["access-control-expose-headers"]
    assert preflight.status_code == 204
    assert "Range" in preflight.headers["access-control-allow-headers"]


@pytest.mark.parametrize(
    "name",
    [
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "0" * 64 + ".glb%00.png",
        "0" * 64 + ".glb.br",  # siblings are reached only through Accept-Encoding
        "0" * 64 + ".GLB",
    ],
)
async def test_encoded_traversal_nul_and_sibling_names_are_not_found(api: Api, name: str):
    response = await api.http.get(f"/assets/{name}")

    assert response.status_code == 404


def test_accept_encoding_is_read_with_its_q_values():
    assert accepted_encodings("gzip, deflate, br") == ["br", "gzip", "identity"]
    assert accepted_encodings("gzip;q=1.0, br;q=0.5") == ["gzip", "br", "identity"]
    assert accepted_encodings("br;q=0, *;q=0.5") == ["gzip", "identity"]
    assert accepted_encodings("identity;q=0, gzip") == ["gzip"]
    assert accepted_encodings(None) == ["identity"]


def test_the_store_writes_smaller_precompressed_siblings_for_compressible_files_only(tmp_path):
    import gzip

    from backend.asset_store import LocalAssetStore

    store = LocalAssetStore(tmp_path)
    mesh = b"glTF" + bytes(range(256)) * 400
    image = bytes(range(256))  # images are compressed already: no siblings

    mesh_sha = store.put(mesh, "glb")
    image_sha = store.put(image, "png")

    assert brotli.decompress((tmp_path / f"{mesh_sha}.glb.br").read_bytes()) == mesh
    assert gzip.decompress((tmp_path / f"{mesh_sha}.glb.gz").read_bytes()) == mesh
    assert store.path_for(f"{mesh_sha}.glb", "br") == tmp_path / f"{mesh_sha}.glb.br"
    assert store.path_for(f"{mesh_sha}.glb", "deflate") is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(image_sha)) == [
        f"{image_sha}.png"
    ]


def test_stored_files_are_readable_by_other_users_such_as_nginx(tmp_path):
    from backend.asset_store import LocalAssetStore

    store = LocalAssetStore(tmp_path)
    sha = store.put(b"glTF" + bytes(1000), "glb")

    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path.name
    assert (tmp_path / f"{sha}.glb").is_file()


async def test_the_memory_cache_of_the_fast_path_stays_within_its_byte_budget(tmp_path):
    from backend.asset_store import LocalAssetStore
    from backend.http.asset_fast_path import AssetFastPath, AssetMemory
    from backend.observability import Metrics

    store = LocalAssetStore(tmp_path)
    names = [f"{store.put(bytes([i]) * 3000, 'png')}.png" for i in range(5)]

    async def route(scope, receive, send):  # not reached for cached, known names
        raise AssertionError("the fast path should have answered")

    memory = AssetMemory(store, cache_bytes=7000, metrics=Metrics())
    fast = AssetFastPath(route, memory=memory)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    for name in names + names[:1]:
        scope = {"type": "http", "method": "GET", "path": f"/assets/{name}", "headers": []}
        await fast(scope, None, send)

    assert memory._cached_bytes <= 7000
    assert len(memory._cache) == 2  # the two most recent 3,000-byte files
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert bodies[-1] == bytes([0]) * 3000  # evicted, read again, still right


async def test_each_layer_has_a_tileset_whose_tiles_are_served(api: Api):
    data = await api.data(
        """{ scene(slug: "namhae-coast", tier: MOBILE) { ... on Scene {
            layers { key asset { url tilesetUrl tier } } } } }"""
    )

    for layer in data["scene"]["layers"]:
        asset = layer["asset"]
        tileset_path = asset["tilesetUrl"].removeprefix("http://twinland.test")
        response = await api.http.get(tileset_path)
        assert response.status_code == 200, layer["key"]
        assert response.headers["content-type"] == "application/json"
        tileset = response.json()
        assert tileset["asset"]["version"] == "1.1"
        pending = [tileset["root"]]
        while pending:  # every tile is there, next to the tileset
            tile = pending.pop()
            assert (await api.http.head(f"/assets/{tile['content']['uri']}")).status_code == 200
            pending += tile.get("children", [])
        fallback = asset["url"].removeprefix("http://twinland.test")
        assert (await api.http.head(fallback)).status_code == 200  # the single-file fallback
