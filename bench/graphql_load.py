"""Load test: mixed visitor traffic against GraphQL at a fixed rate (open loop).

    .venv/bin/python -m bench.graphql_load [--rate 500] [--duration 120] [--visitors 400]
        [--no-cache] [--engines embedded|distributed] [--workers 2] [--warmup-s 15]

Starts ``twinland serve --scenes scenes`` on its embedded defaults (SQLite, in-process
hub), or with ``--engines distributed`` on PostgreSQL (a database of its own) and Redis
with ``--workers`` processes, on a free port; mints a visitor token per simulated
visitor, then sends requests on a fixed schedule: request i leaves at
``start + i / rate`` whether or not earlier ones have come back, and its latency counts
from that scheduled moment, so a server that falls behind shows it (no coordinated
omission). Each visitor sends its own token, so the cost budget and quotas are per
visitor as in production; the server runs with
``TWINLAND_QUOTA_SCALE=100`` only so that all visitors may mint their tokens from one
address (loopback).

The mix is a visit's: the viewer's scene document once (a scene with all its POIs, tours
and live sessions: 10 %), then POI details (20 %), comment pages (15 %), POI searches by
distance and text, scenes, tours, regions, live sessions, scenario comparisons, badge
checks, and comments written by visitors (2 %); the shipped documents of
graphql/operations, with variables as different visitors send them: any of the demo
POIs, where each stands (to ~100 m), a handful of search words, four languages, badge
codes all different.
A request counts as an error unless the answer is HTTP 200 with GraphQL ``data`` and no
``errors``. The client is raw asyncio HTTP/1.1 on uvloop (keep-alive, 64 connections) and
shares the machine's two cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import uvloop

from bench.live_vs_socketio import free_port, process_stats

REPO = Path(__file__).resolve().parents[1]
OPERATIONS = REPO / "graphql" / "operations"
SCENES = ["gijang-osiria", "namhae-coast", "gokseong", "jeju-seongsan", "wanju-innovation-city"]
TIERS = ["DESKTOP", "MOBILE", "VR"]
LANGS = ["ko", "en", "ja", "zh"]
CONNECTIONS = 64


POSTGRES_ADMIN_DSN = os.environ.get(
    "TWINLAND_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TWINLAND_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class Server:
    """``twinland serve`` with the demo scenes: on its embedded defaults, or on PostgreSQL
    (a database of its own, dropped afterwards) and Redis with ``workers`` processes."""

    def __init__(self, *, cache: bool = True, distributed: bool = False, workers: int = 1):
        self.port = free_port()
        self.data = tempfile.TemporaryDirectory()
        self.database: str | None = None
        env = {
            **os.environ,
            "TWINLAND_DATA_DIR": self.data.name,
            "TWINLAND_LOG_LEVEL": "warning",
            "TWINLAND_QUOTA_SCALE": "100",
        }
        if not cache:
            env["TWINLAND_GRAPHQL_CACHE_MAX_AGE_S"] = "0"
        if distributed:
            self.database = f"twinland_bench_{uuid.uuid4().hex[:12]}"
            asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
            base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+asyncpg://"
            )
            env["TWINLAND_DATABASE_URL"] = f"{base}/{self.database}"
            env["TWINLAND_REDIS_URL"] = REDIS_URL
        command = [sys.executable, "-m", "backend.cli", "serve", "--scenes", "scenes"]
        command += ["--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 600  # a cold build cache builds the demo scenes first
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url("/readyz"), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("twinland did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stats(self) -> tuple[float, int]:
        """(CPU seconds, RSS bytes) of the server and its worker processes together."""
        pids = [self.process.pid, *_children(self.process.pid)]
        stats = [process_stats(pid) for pid in pids]
        return sum(cpu for cpu, _ in stats), sum(rss for _, rss in stats)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.data.cleanup()
        if self.database is not None:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class Request:
    kind: str
    body: bytes
    token: str


def request_bytes(port: int, body: bytes, token: str) -> bytes:
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nX-Visitor-Token: {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def demo_pois() -> list[tuple[str, float, float]]:
    """(id, lat, lon) of every POI of the demo scenes."""
    found = []
    for path in sorted((REPO / "scenes").glob("*/pois.toml")):
        for poi in tomllib.loads(path.read_text())["poi"]:
            found.append((f"{path.parent.name}:{poi['key']}", poi["lat"], poi["lon"]))
    return found


POIS = demo_pois()
SEARCH_WORDS = ["해변", "사찰", "시장", "카페", "beach", "temple", "market", "view", "섬", "공원"]


def visitor_variables(kind: str, rng: random.Random) -> dict[str, object]:
    """What different visitors ask: their POI, where they stand, their language (so the
    response cache sees as many distinct requests as a real crowd sends)."""
    lang = rng.choice(LANGS)
    poi_id, lat, lon = rng.choice(POIS)
    if kind == "poi":
        return {"id": poi_id}
    if kind == "pois-near":  # where a visitor stands, to ~100 m
        return {"lat": round(lat + rng.uniform(-0.01, 0.01), 3), "lon": round(lon, 3), "lang": lang}
    if kind == "search-pois":
        return {"text": rng.choice(SEARCH_WORDS)}
    if kind == "tours":
        return {"sceneSlug": rng.choice(SCENES), "lang": lang}
    if kind == "scene":
        return {"slug": rng.choice(SCENES), "tier": rng.choice(TIERS), "lang": lang}
    if kind == "regions":
        return {"lang": lang}
    if kind == "verify-badge":  # every badge code is its own: never the same request twice
        return {"code": "TL-" + "-".join(f"{rng.randrange(36**4):04X}"[:4] for _ in range(3))}
    return {}


def workload(tokens: list[str], count: int, seed: int = 7) -> list[Request]:
    """``count`` requests of the mix, each from a random visitor."""
    documents = {p.stem: p.read_text() for p in OPERATIONS.glob("*.graphql")}
    viewer = (REPO / "web" / "operations" / "viewer-scene.graphql").read_text()
    comments_page = (
        "query($s: String!) { comments(sceneSlug: $s, first: 20) { id body createdAt } }"
    )
    rng = random.Random(seed)
    # a visit loads the scene once, then looks at places, comments and plans
    mix = [
        ("viewer-scene", 10),
        ("scene", 8),
        ("poi", 20),
        ("pois-near", 12),
        ("search-pois", 8),
        ("tours", 6),
        ("regions", 4),
        ("live-sessions", 3),
        ("compare-scenarios", 5),
        ("comments", 15),
        ("verify-badge", 3),
        ("create-comment", 2),
    ]
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    requests = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        if kind == "viewer-scene":
            payload = {
                "query": viewer,
                "variables": {
                    "slug": rng.choice(SCENES),
                    "tier": rng.choice(TIERS),
                    "lang": rng.choice(LANGS),
                },
            }
        elif kind == "comments":
            payload = {"query": comments_page, "variables": {"s": rng.choice(SCENES)}}
        elif kind == "create-comment":
            payload = {
                "query": documents["comment-on-scenario"],
                "variables": {"key": f"load-{uuid.uuid4().hex[:16]}"},
            }
        else:
            payload = {"query": documents[kind], "variables": visitor_variables(kind, rng)}
        requests.append(Request(kind, json.dumps(payload).encode(), rng.choice(tokens)))
    return requests


@dataclass
class Results:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    by_due_s: list[tuple[float, float]] = field(default_factory=list)  # (due, latency ms)
    start: float = 0.0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return status, await reader.readexactly(length)


async def connection(
    port: int, queue: asyncio.Queue[tuple[float, Request] | None], results: Results
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while (item := await queue.get()) is not None:
        scheduled, request = item
        writer.write(request_bytes(port, request.body, request.token))
        try:
            status, body = await read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            results.errors[f"{request.kind}: connection {type(error).__name__}"] += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        elapsed_ms = (time.perf_counter() - scheduled) * 1000
        answer = json.loads(body)
        if status != 200 or "errors" in answer or not answer.get("data"):
            detail = (answer.get("errors") or [{}])[0].get("message", "")[:80]
            results.errors[f"{request.kind}: {status} {detail}"] += 1
        else:
            results.latencies_ms.setdefault(request.kind, []).append(elapsed_ms)
            results.by_due_s.append((scheduled - results.start, elapsed_ms))
        results.completed += 1
    writer.close()


async def run(port: int, requests: list[Request], rate: float) -> tuple[Results, float]:
    results = Results()
    queue: asyncio.Queue[tuple[float, Request] | None] = asyncio.Queue()
    workers = [asyncio.create_task(connection(port, queue, results)) for _ in range(CONNECTIONS)]
    start = time.perf_counter() + 0.5
    results.start = start
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results, time.perf_counter() - start


def cache_counts(metrics: str) -> dict[str, float]:
    """twinland_graphql_cache_total by result, from the /metrics text."""
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("twinland_graphql_cache_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('result="', 1)[1].split('"', 1)[0]] = float(value)
    return counts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds")
    parser.add_argument("--visitors", type=int, default=400)
    parser.add_argument(
        "--no-cache", action="store_true", help="turn the GraphQL response cache off"
    )
    parser.add_argument(
        "--engines",
        choices=["embedded", "distributed"],
        default="embedded",
        help="SQLite and in-process (default), or PostgreSQL and Redis",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (distributed)")
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=15.0,
        help="also report latencies of requests due after this many seconds",
    )
    args = parser.parse_args()

    print(f"starting twinland ({args.engines}, {args.workers} worker(s), demo scenes)", flush=True)
    server = Server(
        cache=not args.no_cache, distributed=args.engines == "distributed", workers=args.workers
    )
    try:
        mint = '{"query": "mutation { issueVisitorToken { token } }"}'
        with httpx.Client(timeout=30) as http:
            tokens = [
                http.post(
                    server.url("/graphql"),
                    content=mint,
                    headers={"content-type": "application/json"},
                ).json()["data"]["issueVisitorToken"]["token"]
                for _ in range(args.visitors)
            ]
        count = int(args.rate * args.duration)
        requests = workload(tokens, count)
        print(f"{count:,} requests at {args.rate:g}/s from {args.visitors} visitors", flush=True)
        cpu_before, _ = server.stats()
        results, elapsed = uvloop.run(run(server.port, requests, args.rate))
        cpu_after, rss = server.stats()
        cache = cache_counts(httpx.get(server.url("/metrics"), timeout=10).text)
    finally:
        server.stop()

    every = [v for values in results.latencies_ms.values() for v in values]
    print()
    print("| kind | requests | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, values in sorted(results.latencies_ms.items(), key=lambda kv: -len(kv[1])):
        print(
            f"| {kind} | {len(values):,} | {statistics.median(values):.1f} | "
            f"{percentile(values, 0.99):.1f} | {max(values):.1f} |"
        )
    print(
        f"| **all** | {len(every):,} | {statistics.median(every):.1f} | "
        f"{percentile(every, 0.99):.1f} | {max(every):.1f} |"
    )
    print()
    print(
        f"sent {len(requests):,} in {elapsed:.1f} s ({len(requests) / elapsed:.0f}/s), "
        f"completed {results.completed:,}, errors {sum(results.errors.values())}; "
        f"server CPU {100 * (cpu_after - cpu_before) / elapsed:.0f} % of one core "
        "(PostgreSQL and Redis not counted), "
        f"RSS {rss / 2**20:.0f} MB"
    )
    warm = [ms for due_s, ms in results.by_due_s if due_s >= args.warmup_s]
    if warm and args.warmup_s > 0:
        print(
            f"after the first {args.warmup_s:g} s (caches cold): {len(warm):,} requests, "
            f"p50 {statistics.median(warm):.1f} ms, p99 {percentile(warm, 0.99):.1f} ms"
        )
    print("response cache: " + ", ".join(f"{n:,.0f} {r}" for r, n in sorted(cache.items())))
    for error, times in results.errors.most_common(10):
        print(f"  {times} × {error}")


if __name__ == "__main__":
    main()
