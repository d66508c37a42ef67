"""Serving assets: twinland's /assets against nginx on the same directory, side by side.

    .venv/bin/python -m bench.assets_vs_nginx            # ~2 min

Installs nginx-light, its brotli_static module and wrk from Debian's packages when they
are missing (apt-get; needs root, as on the CI machine). The asset store gets one 2 MB
GLB and 200 small tiles (~20 KB), written by backend.asset_store (so each has its .br and
.gz siblings). twinland runs as `twinland serve` (one uvicorn process); nginx runs the
configuration of docs/serving.md with one worker process, so both use one core; wrk
(one thread, 32 connections, 8 s per row) runs on the other. Conditional rows send the
server's own ETag for each file and expect 304s. Prints requests/s and MB/s (of bytes on
the wire) and the ratio twinland/nginx.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from backend.asset_store import LocalAssetStore

REPO = Path(__file__).resolve().parents[1]
SMALL_TILES = 200
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
load_module /usr/lib/nginx/modules/ngx_http_brotli_static_module.so;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location ~ "^/assets/[0-9a-f]{{64}}\\.(glb|gltf|json|bin|png|jpg|webp)$" {{
            root {data};
            types {{
                model/gltf-binary glb; model/gltf+json gltf; application/json json;
                application/octet-stream bin; image/png png; image/jpeg jpg; image/webp webp;
            }}
            brotli_static on;
            gzip_static on;
            gzip_vary on;
            etag on;
            add_header Cache-Control "public, max-age=31536000, immutable" always;
            add_header Access-Control-Allow-Origin "*" always;
            add_header Access-Control-Expose-Headers
                "Content-Length, Content-Range, Content-Encoding, ETag" always;
        }}
        location /assets/ {{ return 404; }}
    }}
}}
"""


def ensure_tools() -> None:
    missing = [
        pkg
        for pkg, path in (
            ("nginx-light", "/usr/sbin/nginx"),
            (
                "libnginx-mod-http-brotli-static",
                "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so",
            ),
            ("wrk", "/usr/bin/wrk"),
        )
        if not Path(path).exists()
    ]
    if missing:
        print(f"installing {' '.join(missing)} from Debian", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            check=True,
            env=env,
        )
    subprocess.run(["pkill", "-x", "nginx"], check=False)  # the package may have started one


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fill_store(store: LocalAssetStore) -> tuple[str, list[str]]:
    rng = np.random.default_rng(5)
    # mesh-like bytes: smooth quantised coordinates compress the way real GLBs do
    big = np.cumsum(rng.integers(-3, 4, size=1_000_000), dtype=np.int16).tobytes()
    big_name = f"{store.put(b'glTF' + big, 'glb')}.glb"
    small = []
    for i in range(SMALL_TILES):
        tile = np.cumsum(rng.integers(-3, 4, size=10_000), dtype=np.int16).tobytes()
        small.append(f"{store.put(b'glTF' + i.to_bytes(4, 'little') + tile, 'glb')}.glb")
    return big_name, small


@dataclass
class Row:
    scenario: str
    server: str
    requests_per_s: float
    mb_per_s: float
    non_2xx: int


def wrk(
    url_base: str,
    paths: list[str],
    headers: dict[str, str],
    etags: dict[str, str] | None,
    seconds: int,
) -> tuple[float, float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        lines = ["local paths = {" + ",".join(f'"{p}"' for p in paths) + "}"]
        if etags is not None:
            lines.append("local etags = {" + ",".join(f"['{p}']='{etags[p]}'" for p in paths) + "}")
        header_items = ",".join(f'["{k}"]="{v}"' for k, v in headers.items())
        lines.append("local i = 0")
        lines.append("request = function()")
        lines.append("  i = i % #paths + 1")
        lines.append("  local p = paths[i]")
        lines.append(f"  local h = {{{header_items}}}")
        if etags is not None:
            lines.append("  h['If-None-Match'] = etags[p]")
        lines.append("  return wrk.format('GET', p, h)")
        lines.append("end")
        script.write("\n".join(lines))
    done = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script.name, url_base],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(script.name)
    requests = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if requests is None:
        raise RuntimeError(f"wrk printed no request rate:\n{done.stdout}")
    rps = float(requests.group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", done.stdout)
    assert transfer is not None
    scale = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}[transfer.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    return rps, float(transfer.group(1)) * scale, int(non_2xx.group(1)) if non_2xx else 0


def main() -> None:
    ensure_tools()
    root = Path(tempfile.mkdtemp(prefix="twinland-serve-bench-"))
    root.chmod(0o755)  # nginx's workers run as www-data
    data = root / "data"
    (root / "tmp").mkdir(parents=True)
    store = LocalAssetStore(data / "assets")
    big, small = fill_store(store)
    ours_port, nginx_port = free_port(), free_port()
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=nginx_port, data=data))
    env = {**os.environ, "TWINLAND_DATA_DIR": str(data), "TWINLAND_LOG_LEVEL": "warning"}
    ours = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(ours_port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    nginx = subprocess.Popen(["nginx", "-c", str(root / "nginx.conf")])
    try:
        bases = {
            "twinland": f"http://127.0.0.1:{ours_port}",
            "nginx": f"http://127.0.0.1:{nginx_port}",
        }
        for base in bases.values():
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/assets/{big}", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
        scenarios = [
            ("2 MB GLB, identity", [big], {"Accept-Encoding": "identity"}, False),
            ("2 MB GLB, brotli", [big], {"Accept-Encoding": "br"}, False),
            ("200 small tiles, brotli", small, {"Accept-Encoding": "br"}, False),
            ("200 small tiles, conditional (304)", small, {"Accept-Encoding": "br"}, True),
            ("2 MB GLB, conditional (304)", [big], {"Accept-Encoding": "br"}, True),
        ]
        rows: list[Row] = []
        for scenario, names, headers, conditional in scenarios:
            paths = [f"/assets/{n}" for n in names]
            for server, base in bases.items():
                etags = None
                if conditional:
                    etags = {p: httpx.get(base + p, headers=headers).headers["etag"] for p in paths}
                rps, mbps, non_2xx = wrk(base, paths, headers, etags, seconds=8)
                rows.append(Row(scenario, server, rps, mbps, non_2xx))
                print(f"{scenario} / {server}: {rps:,.0f} req/s, {mbps:,.1f} MB/s", flush=True)
        print()
        print(
            "| scenario | twinland req/s | nginx req/s | twinland/nginx "
            "| twinland MB/s | nginx MB/s |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for i in range(0, len(rows), 2):
            a, b = rows[i], rows[i + 1]
            print(
                f"| {a.scenario} | {a.requests_per_s:,.0f} | {b.requests_per_s:,.0f} "
                f"| {a.requests_per_s / b.requests_per_s:.2f} "
                f"| {a.mb_per_s:,.1f} | {b.mb_per_s:,.1f} |"
            )
        errors = [r for r in rows if r.non_2xx]
        if errors:
            print(
                "\nnon-2xx/3xx responses:", {f"{r.scenario}/{r.server}": r.non_2xx for r in errors}
            )
    finally:
        ours.terminate()
        nginx.terminate()
        ours.wait(timeout=30)
        nginx.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
