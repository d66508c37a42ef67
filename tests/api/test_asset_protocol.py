"""The protocol-level asset path of ``twinland serve`` (backend/http/asset_protocol.py):
byte-for-byte the answers of the ASGI path, and correct HTTP/1.1 connection handling
(keep-alive, pipelining, HTTP/1.0, HEAD, 304) on a real uvicorn."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.live.server import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = LiveServer(tmp_path_factory.mktemp("asset-protocol"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def asset_path(server: LiveServer) -> str:
    data = server.graphql(
        '{ scene(slug: "namhae-coast", tier: MOBILE) '
        "{ ... on Scene { layers { asset { url } } } } }"
    )
    url: str = data["scene"]["layers"][0]["asset"]["url"]
    return "/" + url.split("/", 3)[3]


def without_date(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != "date"}


def raw_exchange(server: LiveServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes or stays quiet for a second."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=1) as connection:
        connection.sendall(request)
        received = b""
        while True:
            try:
                chunk = connection.recv(1 << 20)
            except TimeoutError:
                return received
            if not chunk:
                return received
            received += chunk


def responses(data: bytes, methods: list[bytes]) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Split a stream of HTTP/1.1 responses (one per request method, in order)."""
    out = []
    for method in methods:
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines)
        status = int(status_line.split(b" ")[1])
        length = 0 if method == b"HEAD" or status == 304 else int(headers[b"content-length"])
        out.append((status, headers, data[:length]))
        data = data[length:]
    assert data == b"", "bytes after the last response"
    return out


@pytest.mark.parametrize("encoding", ["identity", "br", "gzip"])
def test_answers_from_memory_equal_the_asgi_ones(
    server: LiveServer, asset_path: str, encoding: str
):
    with httpx.Client(base_url=server.base, headers={"accept-encoding": encoding}) as http:
        first = http.get(asset_path)  # a miss: the ASGI path reads it into memory
        second = http.get(asset_path)  # a hit: answered by the protocol
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert without_date(second.headers) == without_date(first.headers)
    assert second.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_conditional_and_head_requests_are_answered_like_the_route(
    server: LiveServer, asset_path: str
):
    with httpx.Client(base_url=server.base) as http:
        etag = http.get(asset_path).headers["etag"]
        not_modified = http.get(asset_path, headers={"if-none-match": etag})
        head = http.head(asset_path)
        ranged = http.get(asset_path, headers={"range": "bytes=0-3", "accept-encoding": "identity"})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert (
        "content-length" not in not_modified.headers
        or not_modified.headers["content-length"] == "0"
    )
    assert head.status_code == 200
    assert int(head.headers["content-length"]) > 0
    assert ranged.status_code == 206  # ranges still go to the route
    assert ranged.content == b"glTF"


def test_pipelined_requests_on_one_connection_are_all_answered_in_order(
    server: LiveServer, asset_path: str
):
    httpx.get(f"{server.base}{asset_path}")  # in memory now
    one = f"GET {asset_path} HTTP/1.1\r\nhost: x\r\naccept-encoding: identity\r\n\r\n".encode()
    missing = b"GET /assets/" + b"0" * 64 + b".glb HTTP/1.1\r\nhost: x\r\n\r\n"
    received = raw_exchange(server, one + missing + one + b"HEAD " + one[4:])
    answers = responses(received, [b"GET", b"GET", b"GET", b"HEAD"])
    assert [status for status, _, _ in answers] == [200, 404, 200, 200]
    assert answers[0][2] == answers[2][2]
    assert answers[0][2][:4] == b"glTF"


def test_http_1_0_and_connection_close_get_their_answer_and_the_connection_closes(
    server: LiveServer, asset_path: str
):
    httpx.get(f"{server.base}{asset_path}")
    for request in (
        f"GET {asset_path} HTTP/1.0\r\n\r\n".encode(),
        f"GET {asset_path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode(),
    ):
        [(status, headers, body)] = responses(raw_exchange(server, request), [b"GET"])
        assert status == 200
        assert headers[b"connection"] == b"close"
        assert body[:4] == b"glTF"


def test_the_service_still_answers_everything_else(server: LiveServer):
    assert httpx.get(f"{server.base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.base}/assets/..%2f..%2fetc%2fpasswd").status_code == 404
