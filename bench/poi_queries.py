"""POI query latency on 1,000,000 POIs: bbox, radius and text, at the store and through
GraphQL, on SQLite (embedded default) and PostgreSQL, in one run on one machine.

    .venv/bin/python -m bench.poi_queries                 # 1M POIs, both backends
    .venv/bin/python -m bench.poi_queries --pois 100000 --backends sqlite

Seeded databases are kept (bench/out/ for SQLite, database ``twinland_bench_<n>`` on
PostgreSQL) so later runs skip the seeding. GraphQL requests go through the full ASGI
app (FastAPI, strawberry, DataLoaders, JSON) in process, without a socket, so they
measure our stack rather than the loopback network.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa

from backend.app import create_app
from backend.domain.geo import BoundingBox, GeoPoint, NearCircle
from backend.domain.i18n import Locale, LocalizedText
from backend.domain.poi import Poi, PoiCategory
from backend.domain.poi_query import PageRequest, PoiFilter
from backend.domain.region import Region
from backend.domain.scene import Georeference, Scene
from backend.domain.text_search import TextQuery
from backend.settings import Settings
from backend.store import codec
from backend.store.engine import create_engine, migrate
from backend.store.sql_store import SqlStore
from backend.store.tables import pois

OUT = Path(__file__).resolve().parent / "out"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PAGE = 20
CHUNK = 5_000

# Population centres of South Korea (lat, lon, share): POIs cluster like real ones do.
CITIES = [
    (37.5665, 126.9780, 0.30),  # Seoul
    (35.1796, 129.0756, 0.12),  # Busan
    (35.8714, 128.6014, 0.08),  # Daegu
    (37.4563, 126.7052, 0.08),  # Incheon
    (35.1595, 126.8526, 0.05),  # Gwangju
    (36.3504, 127.3845, 0.05),  # Daejeon
    (35.5384, 129.3114, 0.04),  # Ulsan
    (33.4996, 126.5312, 0.05),  # Jeju
    (34.8375, 128.4236, 0.03),  # Namhae / Tongyeong coast
    (35.2823, 127.2929, 0.02),  # Gokseong
]
RURAL_SHARE = 1.0 - sum(share for _, _, share in CITIES)
KOREA = BoundingBox(33.1, 125.0, 38.6, 129.6)
SYLLABLES = "가나다라마바사아자차카타파하강남동서북산해바다섬숲들빛솔정원용궁사성문교"
SUFFIXES = ["식당", "카페", "공원", "해변", "전망대", "시장", "박물관", "사찰", "호텔", "역"]
EN_WORDS = ["Sea", "Hill", "Garden", "Bay", "Pine", "Stone", "River", "Light", "Moon", "Gate"]
CATEGORIES = list(PoiCategory)


def synthetic_pois(count: int, seed: int) -> list[dict[str, Any]]:
    """Rows for ``count`` POIs with Korean/English names, clustered around cities."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    weights = [share for _, _, share in CITIES] + [RURAL_SHARE]
    rows: list[dict[str, Any]] = []
    for i in range(count):
        centre = rng.choices(range(len(CITIES) + 1), weights)[0]
        if centre == len(CITIES):
            lat = rng.uniform(KOREA.south_deg, KOREA.north_deg)
            lon = rng.uniform(KOREA.west_deg, KOREA.east_deg)
        else:
            c_lat, c_lon, _ = CITIES[centre]
            lat = min(max(rng.gauss(c_lat, 0.08), KOREA.south_deg), KOREA.north_deg)
            lon = min(max(rng.gauss(c_lon, 0.10), KOREA.west_deg), KOREA.east_deg)
        stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        ko = f"{stem} {rng.choice(SUFFIXES)}"
        en = f"{rng.choice(EN_WORDS)} {rng.choice(EN_WORDS)} {i}"
        poi = Poi(
            scene_slug="korea",
            key=f"p{i}",
            category=rng.choice(CATEGORIES),
            location=GeoPoint(lat, lon, 0.0),
            name=LocalizedText.of("name", {"ko": ko, "en": en}),
        )
        row = codec.poi_row(poi, "manifest")
        row["updated_at"] = now
        rows.append(row)
    return rows


async def seed(url: str, count: int, seed_value: int) -> None:
    engine = create_engine(url)
    await migrate(engine)
    store = SqlStore(engine)
    async with engine.connect() as connection:
        have = (await connection.execute(sa.select(sa.func.count()).select_from(pois))).scalar()
    if have == count:
        await engine.dispose()
        return
    print(f"  seeding {count:,} POIs into {engine.dialect.name} ...", flush=True)
    started = time.perf_counter()
    async with store.transaction() as tx:
        await tx.upsert_region(
            Region(
                slug="korea",
                name=LocalizedText.of("name", {"ko": "대한민국", "en": "Korea"}),
                province=None,
                bounds=KOREA,
                default_locales=(Locale.KO, Locale.EN),
            )
        )
        await tx.upsert_scene(
            Scene(
                slug="korea",
                region_slug="korea",
                name=LocalizedText.of("name", {"ko": "전국", "en": "Nationwide"}),
                description=None,
                georeference=Georeference(GeoPoint(36.0, 127.8, 0.0), 200_000.0, 200_000.0),
            )
        )
    for start in range(0, count, CHUNK):
        rows = synthetic_pois(min(CHUNK, count - start), seed_value + start)
        for offset, row in enumerate(rows):  # unique keys across chunks
            key = f"p{start + offset}"
            row["key"], row["id"] = key, f"korea:{key}"
        async with engine.begin() as connection:
            await connection.execute(sa.insert(pois), rows)
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.exec_driver_sql("ANALYZE pois")
        else:
            await connection.exec_driver_sql("ANALYZE")
    print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
    await engine.dispose()


@dataclass(frozen=True)
class Workload:
    bboxes: list[BoundingBox]
    circles: list[NearCircle]
    texts: list[str]


def workload(queries: int, seed_value: int) -> Workload:
    """Queries where people are: city centres ± a few km; texts are name fragments."""
    rng = random.Random(seed_value)

    def spot() -> tuple[float, float]:
        lat, lon, _ = rng.choices(CITIES, [s for _, _, s in CITIES])[0]
        return rng.gauss(lat, 0.05), rng.gauss(lon, 0.06)

    bboxes = []
    circles = []
    for _ in range(queries):
        lat, lon = spot()
        half = rng.uniform(0.005, 0.02)  # ~1–4 km boxes: a map view
        bboxes.append(BoundingBox(lat - half, lon - half, lat + half, lon + half))
        lat, lon = spot()
        circles.append(NearCircle(lat, lon, rng.choice([500.0, 1000.0, 2000.0])))
    fragments = [a + b for a in "강남해산바용" for b in "동산원다사궁"] + SUFFIXES
    texts = [rng.choice(fragments) for _ in range(queries)]
    return Workload(bboxes, circles, texts)


GRAPHQL = """query($filter: PoiFilterInput!, $first: Int!) {
  pois(filter: $filter, first: $first) {
    __typename
    ... on PoiConnection { edges { distanceM node { id category name { text } } } }
  }
}"""


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    for call in calls[:10]:  # warm caches and connection pools
        await call()
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


async def run_backend(name: str, url: str, data_dir: Path, work: Workload) -> list[tuple]:
    rows: list[tuple] = []
    engine = create_engine(url)
    store = SqlStore(engine)
    page = PageRequest(first=PAGE)
    store_calls = {
        "bbox": [
            (lambda b=b: store.reads.search_pois(PoiFilter(bbox=b), page)) for b in work.bboxes
        ],
        "radius": [
            (lambda c=c: store.reads.search_pois(PoiFilter(near=c), page)) for c in work.circles
        ],
        "text": [
            (lambda t=t: store.reads.search_pois(PoiFilter(text=TextQuery.parse("t", t)), page))
            for t in work.texts
        ],
    }
    hits: dict[str, float] = {}
    for kind, calls in store_calls.items():
        counts = [len((await call()).hits) for call in calls[:50]]
        hits[kind] = statistics.mean(counts)
        p50, p99 = summary(await timed(calls))
        rows.append((name, "store", kind, p50, p99, hits[kind]))
    await engine.dispose()

    settings = Settings(data_dir=data_dir, database_url=url, log_level="warning")
    app = create_app(settings)
    filters = {
        "bbox": [
            {
                "bbox": {
                    "south": b.south_deg,
                    "west": b.west_deg,
                    "north": b.north_deg,
                    "east": b.east_deg,
                }
            }
            for b in work.bboxes
        ],
        "radius": [
            {"near": {"lat": c.lat_deg, "lon": c.lon_deg, "radiusM": c.radius_m}}
            for c in work.circles
        ],
        "text": [{"text": t} for t in work.texts],
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def post(variables: dict[str, Any]) -> None:
                response = await http.post(
                    "/graphql", json={"query": GRAPHQL, "variables": {**variables, "first": PAGE}}
                )
                body = response.json()
                assert body["data"]["pois"]["__typename"] == "PoiConnection", body

            for kind, variables in filters.items():
                calls = [(lambda v=v: post({"filter": v})) for v in variables]
                p50, p99 = summary(await timed(calls))
                rows.append((name, "graphql", kind, p50, p99, hits[kind]))
    return rows


async def postgres_url(count: int) -> str:
    name = f"twinland_bench_{count}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pois", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500, help="per query kind")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = workload(args.queries, args.seed)
    rows: list[tuple] = []
    for backend in args.backends.split(","):
        data_dir = OUT / f"{backend}-{args.pois}"
        data_dir.mkdir(parents=True, exist_ok=True)
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{data_dir / 'twinland.db'}"
        else:
            url = await postgres_url(args.pois)
        print(f"{backend}:", flush=True)
        await seed(url, args.pois, args.seed)
        rows.extend(await run_backend(backend, url, data_dir, work))
    print()
    print(f"{args.pois:,} POIs, {args.queries} queries per kind, page size {PAGE}")
    print("| backend | via | query | p50 ms | p99 ms | mean hits |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for backend, via, kind, p50, p99, mean_hits in rows:
        print(f"| {backend} | {via} | {kind} | {p50:.2f} | {p99:.2f} | {mean_hits:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
