"""POI search as SQL: index prefilters per dialect, exact checks, ordering and keyset paging.

SQLite answers bbox/radius prefilters from an R*Tree and text from FTS5; PostgreSQL from
a GiST index on ``point(lon, lat)`` and a GIN index on the token array. Both then apply
the same exact conditions, so results are identical.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from backend.domain.geo import EARTH_MEAN_RADIUS_M, BoundingBox
from backend.domain.poi_query import PageRequest, PoiFilter
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


def haversine_m(lat_deg: float, lon_deg: float) -> ColumnElement[float]:
    """Great-circle distance from each POI to a point, in SQL both databases evaluate."""
    lat0 = sa.literal(lat_deg, sa.Float)
    lon0 = sa.literal(lon_deg, sa.Float)
    half_dlat = sa.func.sin(sa.func.radians(pois.c.lat_deg - lat0) / 2)
    half_dlon = sa.func.sin(sa.func.radians(pois.c.lon_deg - lon0) / 2)
    h = half_dlat * half_dlat + (
        sa.func.cos(sa.func.radians(lat0))
        * sa.func.cos(sa.func.radians(pois.c.lat_deg))
        * half_dlon
        * half_dlon
    )
    return (2 * EARTH_MEAN_RADIUS_M) * sa.func.asin(sa.func.sqrt(h))


def _contains(dialect: str, haystack: ColumnElement[str], needle: str) -> ColumnElement[bool]:
    position = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    return position(haystack, sa.literal(needle, sa.Text)) > 0


def _bbox_prefilter(dialect: str, boxes: list[BoundingBox]) -> ColumnElement[bool]:
    if dialect == "postgresql":
        location = sa.func.point(pois.c.lon_deg, pois.c.lat_deg)
        return sa.or_(
            *(
                location.op("<@")(
                    sa.func.box(
                        sa.func.point(
                            sa.literal(b.west_deg, sa.Float), sa.literal(b.south_deg, sa.Float)
                        ),
                        sa.func.point(
                            sa.literal(b.east_deg, sa.Float), sa.literal(b.north_deg, sa.Float)
                        ),
                    )
                )
                for b in boxes
            )
        )
    overlaps = sa.or_(
        *(
            sa.and_(
                poi_rtree.c.min_lon <= b.east_deg,
                poi_rtree.c.max_lon >= b.west_deg,
                poi_rtree.c.min_lat <= b.north_deg,
                poi_rtree.c.max_lat >= b.south_deg,
            )
            for b in boxes
        )
    )
    return pois.c.row.in_(sa.select(poi_rtree.c.id).where(overlaps))


def _bbox_exact(boxes: list[BoundingBox]) -> ColumnElement[bool]:
    # The R*Tree stores float32 boxes rounded outwards: a prefilter, never the answer.
    return sa.or_(
        *(
            sa.and_(
                pois.c.lat_deg.between(b.south_deg, b.north_deg),
                pois.c.lon_deg.between(b.west_deg, b.east_deg),
            )
            for b in boxes
        )
    )


def _text_conditions(dialect: str, query: TextQuery) -> list[ColumnElement[bool]]:
    tokens = query.index_tokens()
    if dialect == "postgresql":
        prefilter: ColumnElement[bool] = pois.c.search_tokens.op("@>")(
            sa.cast(sa.literal(tokens, pois.c.search_tokens.type), pois.c.search_tokens.type)
        )
    else:
        # Tokens are runs of letters/digits, so quoting them cannot inject FTS5 syntax.
        fts_query = " AND ".join(f'"{token}"' for token in tokens)
        prefilter = pois.c.row.in_(
            sa.select(sa.literal_column("rowid"))
            .select_from(sa.table("poi_fts"))
            .where(sa.literal_column("poi_fts").op("MATCH")(sa.literal(fts_query, sa.Text)))
        )
    return [prefilter, *(_contains(dialect, pois.c.search_text, w) for w in query.words)]


def conditions(dialect: str, where: PoiFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if where.scene_slug is not None:
        out.append(pois.c.scene_slug == where.scene_slug)
    if where.categories:
        out.append(pois.c.category.in_(sorted(c.value for c in where.categories)))
    boxes: list[BoundingBox] = []
    if where.bbox is not None:
        boxes = where.bbox.split_at_antimeridian()
        out += [_bbox_prefilter(dialect, boxes), _bbox_exact(boxes)]
    if where.near is not None:
        circle_boxes = where.near.bounding_box().split_at_antimeridian()
        out += [
            _bbox_prefilter(dialect, circle_boxes),
            _bbox_exact(circle_boxes),
            haversine_m(where.near.lat_deg, where.near.lon_deg) <= where.near.radius_m,
        ]
    if where.text is not None:
        out += _text_conditions(dialect, where.text)
    return out


def sort_key(dialect: str, where: PoiFilter) -> ColumnElement[Any]:
    """The ordering ``PoiFilter.order`` names, as an SQL expression (row number breaks ties)."""
    if where.near is not None:  # PoiOrder.DISTANCE
        return haversine_m(where.near.lat_deg, where.near.lon_deg)
    if where.text is not None:  # PoiOrder.RELEVANCE: name matches before description matches
        in_name = sa.and_(*(_contains(dialect, pois.c.name_text, w) for w in where.text.words))
        return sa.case((in_name, 0.0), else_=1.0)
    return sa.cast(pois.c.row, sa.Float)


def search_statement(dialect: str, where: PoiFilter, page: PageRequest) -> sa.Select[Any]:
    """Rows of ``pois`` plus ``sort_key``, one more than the page size (to see a next page)."""
    key = sort_key(dialect, where)
    stmt = sa.select(pois, key.label("sort_key")).where(*conditions(dialect, where))
    if page.after is not None:
        after = page.after
        stmt = stmt.where(
            sa.or_(key > after.sort_key, sa.and_(key == after.sort_key, pois.c.row > after.row))
        )
    return stmt.order_by(key, pois.c.row).limit(page.first + 1)


def count_statement(dialect: str, where: PoiFilter) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(pois).where(*conditions(dialect, where))
