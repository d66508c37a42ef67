"""POI search as SQL: index-driven candidates, exact checks, ordering and keyset paging.

SQLite answers bbox/radius prefilters from an R*Tree and text from FTS5; PostgreSQL from
a GiST index on ``point(lon, lat)`` and a GIN index on the token array. Both then apply
the same exact conditions, so results are identical.

Statements are built once per *shape* of query (which filters, how many boxes and
words, which page) with every value a bind parameter, and cached: building the
haversine expression tree anew cost more than running the query it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from backend.domain.geo import EARTH_MEAN_RADIUS_M, BoundingBox
from backend.domain.poi_query import PoiFilter
from backend.domain.text_search import TextQuery
from backend.store.tables import pois

_sqlite_only = sa.MetaData()
poi_rtree = sa.Table(
    "poi_rtree",
    _sqlite_only,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("min_lon", sa.Float),
    sa.Column("max_lon", sa.Float),
    sa.Column("min_lat", sa.Float),
    sa.Column("max_lat", sa.Float),
)
_poi_fts = sa.table("poi_fts", sa.column("rowid", sa.Integer))
_fts_match = sa.literal_column("poi_fts").op("MATCH")


def _float(name: str) -> sa.BindParameter[float]:
    return sa.bindparam(name, type_=sa.Float)


def haversine_m(lat: ColumnElement[float], lon: ColumnElement[float]) -> ColumnElement[float]:
    """Great-circle distance from each POI to (lat, lon), in SQL both databases evaluate."""
    half_dlat = sa.func.sin(sa.func.radians(pois.c.lat_deg - lat) / 2)
    half_dlon = sa.func.sin(sa.func.radians(pois.c.lon_deg - lon) / 2)
    h = half_dlat * half_dlat + (
        sa.func.cos(sa.func.radians(lat))
        * sa.func.cos(sa.func.radians(pois.c.lat_deg))
        * half_dlon
        * half_dlon
    )
    return (2 * EARTH_MEAN_RADIUS_M) * sa.func.asin(sa.func.sqrt(h))


DISTANCE_M = haversine_m(_float("near_lat"), _float("near_lon"))


@dataclass(frozen=True, slots=True)
class Shape:
    """Everything about a search that changes its SQL (values never do)."""

    dialect: str
    scene: bool
    categories: bool
    boxes: int  # 0, 1, or 2 when a box crosses the antimeridian
    near: bool
    words: int
    order: str  # "distance" | "row"
    after: bool
    rank: str | None = None  # relevance pass: "name" matches, or "other" matches


def shape_of(dialect: str, where: PoiFilter, **page: Any) -> Shape:
    return Shape(
        dialect=dialect,
        scene=where.scene_slug is not None,
        categories=bool(where.categories),
        boxes=len(_boxes(where)),
        near=where.near is not None,
        words=len(where.text.words) if where.text is not None else 0,
        **page,
    )


def _boxes(where: PoiFilter) -> list[BoundingBox]:
    if where.bbox is not None:
        return where.bbox.split_at_antimeridian()
    if where.near is not None:
        return where.near.bounding_box().split_at_antimeridian()
    return []


def bind_values(where: PoiFilter) -> dict[str, Any]:
    """The values for a statement of ``shape_of(where)``."""
    values: dict[str, Any] = {}
    if where.scene_slug is not None:
        values["scene_slug"] = where.scene_slug
    if where.categories:
        values["categories"] = sorted(c.value for c in where.categories)
    for i, box in enumerate(_boxes(where)):
        values |= {
            f"b{i}_south": box.south_deg,
            f"b{i}_west": box.west_deg,
            f"b{i}_north": box.north_deg,
            f"b{i}_east": box.east_deg,
        }
    if where.near is not None:
        values |= {
            "near_lat": where.near.lat_deg,
            "near_lon": where.near.lon_deg,
            "radius_m": where.near.radius_m,
        }
    if where.text is not None:
        values |= {f"w{i}": word for i, word in enumerate(where.text.words)}
        values["tokens"] = where.text.index_tokens()
        values["fts_query"] = _fts_query(where.text)
    return values


def _fts_query(query: TextQuery) -> str:
    # Tokens are runs of letters/digits, so quoting them cannot inject FTS5 syntax.
    return " AND ".join(f'"{token}"' for token in query.index_tokens())


def _box(i: int) -> tuple[sa.BindParameter[float], ...]:
    return tuple(_float(f"b{i}_{side}") for side in ("south", "west", "north", "east"))


def _bbox_exact(boxes: int) -> ColumnElement[bool]:
    # The R*Tree stores float32 boxes rounded outwards: a prefilter, never the answer.
    exact = []
    for i in range(boxes):
        south, west, north, east = _box(i)
        exact.append(
            sa.and_(pois.c.lat_deg.between(south, north), pois.c.lon_deg.between(west, east))
        )
    return sa.or_(*exact)


def _rtree_overlaps(boxes: int) -> ColumnElement[bool]:
    overlaps = []
    for i in range(boxes):
        south, west, north, east = _box(i)
        overlaps.append(
            sa.and_(
                poi_rtree.c.min_lon <= east,
                poi_rtree.c.max_lon >= west,
                poi_rtree.c.min_lat <= north,
                poi_rtree.c.max_lat >= south,
            )
        )
    return sa.or_(*overlaps)


def _gist_contains(boxes: int) -> ColumnElement[bool]:
    location = sa.func.point(pois.c.lon_deg, pois.c.lat_deg)
    inside = []
    for i in range(boxes):
        south, west, north, east = _box(i)
        corner_sw = sa.func.point(west, south)
        corner_ne = sa.func.point(east, north)
        inside.append(location.op("<@")(sa.func.box(corner_sw, corner_ne)))
    return sa.or_(*inside)


def _contains(dialect: str, haystack: ColumnElement[str], word: int) -> ColumnElement[bool]:
    position = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    return position(haystack, sa.bindparam(f"w{word}", type_=sa.Text)) > 0


def _name_match(shape: Shape) -> ColumnElement[bool]:
    return sa.and_(*(_contains(shape.dialect, pois.c.name_text, i) for i in range(shape.words)))


@dataclass(frozen=True)
class Source:
    """Where candidate rows come from, and the conditions that make them exact.

    On SQLite the index that answers the filter *drives* the query (a join from the
    R*Tree or FTS5 table) rather than being probed once per POI row; ``row`` is the
    driver's row id, so ``ORDER BY row`` can stream in FTS5's rowid order and stop early.
    """

    from_clause: FromClause
    where: list[ColumnElement[bool]]
    row: ColumnElement[int]


def source(shape: Shape) -> Source:
    out: list[ColumnElement[bool]] = []
    if shape.scene:
        out.append(pois.c.scene_slug == sa.bindparam("scene_slug", type_=sa.String))
    if shape.categories:
        out.append(pois.c.category.in_(sa.bindparam("categories", expanding=True)))
    if shape.near:
        out.append(_float("radius_m") >= DISTANCE_M)
    if shape.boxes:
        out.append(_bbox_exact(shape.boxes))
    from_clause: FromClause = pois
    row: ColumnElement[int] = pois.c.row
    text_drives = False
    if shape.dialect == "sqlite" and shape.boxes == 1:
        from_clause = poi_rtree.join(pois, pois.c.row == poi_rtree.c.id)
        out.append(_rtree_overlaps(1))
    elif shape.dialect == "sqlite" and not shape.boxes and shape.words:
        from_clause = _poi_fts.join(pois, pois.c.row == _poi_fts.c.rowid)
        out.append(_fts_match(sa.bindparam("fts_query", type_=sa.Text)))
        row = _poi_fts.c.rowid
        text_drives = True
    elif shape.boxes and shape.dialect == "postgresql":
        out.append(_gist_contains(shape.boxes))
    elif shape.boxes:
        rtree = sa.select(poi_rtree.c.id).where(_rtree_overlaps(shape.boxes))
        out.append(pois.c.row.in_(rtree))
    if shape.words:
        if text_drives:
            pass
        elif shape.dialect == "postgresql":
            token_type = pois.c.search_tokens.type
            out.append(pois.c.search_tokens.op("@>")(sa.bindparam("tokens", type_=token_type)))
        else:
            fts = sa.select(_poi_fts.c.rowid).where(
                _fts_match(sa.bindparam("fts_query", type_=sa.Text))
            )
            out.append(pois.c.row.in_(fts))
        # the indexes find candidates by tokens; a real substring test makes them exact
        out += [_contains(shape.dialect, pois.c.search_text, i) for i in range(shape.words)]
    return Source(from_clause, out, row)


@lru_cache(maxsize=256)
def page_statement(shape: Shape) -> sa.Select[Any]:
    """Narrow page query: row ids and sort keys only, so sorting never carries the wide
    JSON columns; the caller fetches the full rows of the page afterwards.

    Binds: the filter's values (``bind_values``), ``page_limit``, and with a cursor
    ``after_key``/``after_row``. ``order`` "row" is stored order (the sort key is the row).
    """
    src = source(shape)
    key: ColumnElement[Any] = DISTANCE_M if shape.order == "distance" else src.row
    stmt = (
        sa.select(src.row.label("row"), key.label("sort_key"))
        .select_from(src.from_clause)
        .where(*src.where)
    )
    if shape.rank == "name":
        stmt = stmt.where(_name_match(shape))
    elif shape.rank == "other":
        stmt = stmt.where(sa.not_(_name_match(shape)))
    after_row = sa.bindparam("after_row", type_=sa.Integer)
    if shape.after and shape.order == "distance":
        after_key = _float("after_key")
        stmt = stmt.where(sa.or_(key > after_key, sa.and_(key == after_key, src.row > after_row)))
    elif shape.after:
        stmt = stmt.where(src.row > after_row)
    order = [key, src.row] if shape.order == "distance" else [src.row]
    return stmt.order_by(*order).limit(sa.bindparam("page_limit", type_=sa.Integer))


@lru_cache(maxsize=64)
def count_statement(shape: Shape) -> sa.Select[Any]:
    src = source(shape)
    return sa.select(sa.func.count()).select_from(src.from_clause).where(*src.where)
