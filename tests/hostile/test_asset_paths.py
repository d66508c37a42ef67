"""Path attacks on the file-serving routes of a real ``twinland serve`` (uvicorn with the
protocol-level asset path, then the ASGI fast path, then the ``/assets/{name}`` route).

The requests go out as raw bytes: an HTTP client would normalise ``..`` and re-encode
what it sends. Next to the asset store lie files an attacker would like: a secret, a
file named like an asset one folder up, the SQLite database; and ``/etc/passwd`` beyond.
Every attack must be refused (404, or 400 where uvicorn refuses the request line
itself) and no response may carry a byte of those files. The one real asset is read
once first, so it sits in memory and the protocol-level path looks at every attack too;
a ``Range`` header sends the same attacks to the ordinary route, which no fast path
answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from backend.asset_store import LocalAssetStore
from tests.conftest import REPO
from tests.live.server import free_port

SECRET = b"twinland-secret-7f3a91"
ASSET = json.dumps({"asset": {"version": "1.1"}, "root": {"padding": "x" * 4000}}).encode()
ASSET_SHA = hashlib.sha256(ASSET).hexdigest()
# a name the asset store would accept, for a file one folder above it
BESIDE = hashlib.sha256(b"outside the store").hexdigest() + ".json"


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]

    def request(self, target: bytes, *headers: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
        """(status, whole response) of one raw request on its own connection."""
        lines = [method + b" " + target + b" HTTP/1.1", b"Host: twinland.test", *headers]
        lines.append(b"Connection: close")
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
            connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
            received = b""
            while chunk := connection.recv(1 << 16):
                received += chunk
        return int(received.split(b" ", 2)[1]), received


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("asset-paths")
    LocalAssetStore(data_dir / "assets").put(ASSET, "json")  # with its .gz and .br
    (data_dir / "secret.txt").write_bytes(SECRET)
    (data_dir / BESIDE).write_bytes(SECRET)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env={**os.environ, "TWINLAND_DATA_DIR": str(data_dir), "TWINLAND_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"twinland serve exited with {process.returncode}"
            assert time.monotonic() < deadline, "twinland serve did not become ready"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        running = Server(port, process)
        status, _ = running.request(f"/assets/{ASSET_SHA}.json".encode())
        assert status == 200  # now in memory: the protocol-level path sees every attack
        yield running
    finally:
        process.terminate()
        process.wait(timeout=20)


def assert_still_serves(server: Server) -> None:
    for extra in ((), (b"Accept-Encoding: br",), (b"Range: bytes=0-9",)):
        status, response = server.request(f"/assets/{ASSET_SHA}.json".encode(), *extra)
        assert status in (200, 206), response[:200]
    assert server.request(b"/healthz")[0] == 200


def assert_nothing_leaked(response: bytes) -> None:
    assert SECRET not in response
    assert b"root:x:0:0" not in response  # /etc/passwd
    assert b"SQLite format 3" not in response


ASSET_ATTACKS = [
    "/assets/../secret.txt",
    "/assets/../../../../../../etc/passwd",
    "/assets/%2e%2e/secret.txt",
    "/assets/%2e%2e%2fsecret.txt",
    "/assets/%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/assets/%2e%2e%2ftwinland.db",
    f"/assets/..%2f{BESIDE}",
    f"/assets/..%5c{BESIDE}",
    f"/assets/..\\{BESIDE}",
    f"/assets/{ASSET_SHA}.json%2f..%2f..%2fsecret.txt",
    "/assets/%252e%252e%252fsecret.txt",  # double encoded
    f"/assets/{ASSET_SHA}.json%00",
    f"/assets/{ASSET_SHA}.json%00.png",
    f"/assets/{ASSET_SHA}.json%0a",  # `$` of a regular expression matches before "\n"
    "/assets/%00",
    "/assets/%c0%ae%c0%ae%c0%afsecret.txt",  # overlong UTF-8 for "../"
    "/assets/%e0%80%ae%e0%80%ae/secret.txt",  # overlong UTF-8 for ".."
    "/assets/%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt",  # fullwidth "../"
    "/assets/%e2%80%a5/secret.txt",  # two dot leader
    f"/assets/{ASSET_SHA.upper()}.json",
    f"/assets/{ASSET_SHA}.JSON",
    f"/assets/{ASSET_SHA}.db",
]
WEB_ATTACKS = [
    "/web/../pyproject.toml",
    "/web/%2e%2e/pyproject.toml",
    "/web/%2e%2e%2fpyproject.toml",
    "/web/..%5cpyproject.toml",
    "/web/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/web/%c0%ae%c0%ae/pyproject.toml",
    "/web/index.html%00",
    "/web/%00",
]


@pytest.mark.parametrize("target", ASSET_ATTACKS)
def test_asset_paths_outside_the_store_are_not_found(server: Server, target: str):
    for method, extra in ((b"GET", ()), (b"HEAD", ()), (b"GET", (b"Range: bytes=0-99",))):
        status, response = server.request(target.encode(), *extra, method=method)
        assert status == 404, response[:300]
        assert_nothing_leaked(response)
    assert_still_serves(server)


@pytest.mark.parametrize("target", WEB_ATTACKS)
def test_viewer_paths_outside_the_web_folder_are_not_found(server: Server, target: str):
    status, response = server.request(target.encode())
    assert status == 404, response[:300]
    assert_nothing_leaked(response)
    assert b"[project]" not in response  # pyproject.toml
    assert_still_serves(server)


@pytest.mark.parametrize(
    "target",
    [b"/assets/\x00", b"/assets/..\x00/secret.txt", b"/web/\xc0\xae\xc0\xae/pyproject.toml"],
)
def test_raw_nul_and_invalid_bytes_in_the_path_are_a_bad_request(server: Server, target: bytes):
    status, response = server.request(target)
    assert status == 400, response[:300]
    assert_nothing_leaked(response)
    assert_still_serves(server)


def test_a_query_string_cannot_steer_the_file_served(server: Server):
    status, response = server.request(f"/assets/{ASSET_SHA}.json?name=../secret.txt".encode())
    assert status == 200
    assert response.endswith(ASSET)
    assert_nothing_leaked(response)
