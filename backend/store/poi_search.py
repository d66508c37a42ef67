"""POI search as SQL: index prefilters per dialect, exact checks, ordering and keyset paging.

SQLite answers bbox/radius prefilters from an R*Tree and text from FTS5; PostgreSQL from
a GiST index on ``point(lon, lat)`` and a GIN index on the token array. Both then apply
the same exact conditions, so results are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    return pois.c.row.in_(sa.select(poi_rtree.c.id).where(_rtree_overlaps(boxes)))


def _rtree_overlaps(boxes: list[BoundingBox]) -> ColumnElement[bool]:
    return sa.or_(
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


def _fts_query(query: TextQuery) -> str:
    # Tokens are runs of letters/digits, so quoting them cannot inject FTS5 syntax.
    return " AND ".join(f'"{token}"' for token in query.index_tokens())


_poi_fts = sa.table("poi_fts", sa.column("rowid", sa.Integer))
_fts_match = sa.literal_column("poi_fts").op("MATCH")


def _text_conditions(dialect: str, query: TextQuery, prefilter: bool) -> list[ColumnElement[bool]]:
    recheck = [_contains(dialect, pois.c.search_text, w) for w in query.words]
    if not prefilter:
        return recheck
    if dialect == "postgresql":
        tokens = query.index_tokens()
        index: ColumnElement[bool] = pois.c.search_tokens.op("@>")(
            sa.cast(sa.literal(tokens, pois.c.search_tokens.type), pois.c.search_tokens.type)
        )
    else:
        index = pois.c.row.in_(
            sa.select(_poi_fts.c.rowid).where(_fts_match(sa.literal(_fts_query(query), sa.Text)))
        )
    return [index, *recheck]


@dataclass(frozen=True)
class Source:
    """Where candidate rows come from, and the conditions that make them exact.

    On SQLite the index that answers the filter *drives* the query (a join from the
    R*Tree or FTS5 table), rather than being probed once per POI row; ``row`` is the
    driver's row id, so ``ORDER BY row`` can stream in index order and stop early.
    """

    from_clause: FromClause
    where: list[ColumnElement[bool]]
    row: ColumnElement[int]


def source(dialect: str, where: PoiFilter) -> Source:
    out: list[ColumnElement[bool]] = []
    if where.scene_slug is not None:
        out.append(pois.c.scene_slug == where.scene_slug)
    if where.categories:
        out.append(pois.c.category.in_(sorted(c.value for c in where.categories)))
    boxes: list[BoundingBox] = []
    if where.bbox is not None:
        boxes = where.bbox.split_at_antimeridian()
    elif where.near is not None:
        boxes = where.near.bounding_box().split_at_antimeridian()
    if where.near is not None:
        out.append(haversine_m(where.near.lat_deg, where.near.lon_deg) <= where.near.radius_m)
    if boxes:
        out.append(_bbox_exact(boxes))
    from_clause: FromClause = pois
    row: ColumnElement[int] = pois.c.row
    text_drives = False
    if dialect == "sqlite" and len(boxes) == 1:
        from_clause = poi_rtree.join(pois, pois.c.row == poi_rtree.c.id)
        out.append(_rtree_overlaps(boxes))
    elif dialect == "sqlite" and not boxes and where.text is not None:
        # FTS5 yields rowids in ascending order: stored-order pages stream and stop early
        from_clause = _poi_fts.join(pois, pois.c.row == _poi_fts.c.rowid)
        out.append(_fts_match(sa.literal(_fts_query(where.text), sa.Text)))
        row = _poi_fts.c.rowid
        text_drives = True
    elif boxes:
        out.append(_bbox_prefilter(dialect, boxes))
    if where.text is not None:
        out += _text_conditions(dialect, where.text, prefilter=not text_drives)
    return Source(from_clause, out, row)


def name_match(dialect: str, query: TextQuery) -> ColumnElement[bool]:
    return sa.and_(*(_contains(dialect, pois.c.name_text, w) for w in query.words))


def sort_key(where: PoiFilter) -> ColumnElement[Any]:
    """The ordering ``PoiFilter.order`` names for DISTANCE and STORED (row breaks ties).
    RELEVANCE is two passes of stored order, name matches first (see SqlReads)."""
    if where.near is not None:  # PoiOrder.DISTANCE
        return haversine_m(where.near.lat_deg, where.near.lon_deg)
    return sa.cast(pois.c.row, sa.Float)


def page_statement(
    src: Source,
    key: ColumnElement[Any] | None,
    after: tuple[float, int] | None,
    limit: int,
    extra: list[ColumnElement[bool]] | None = None,
) -> sa.Select[Any]:
    """Narrow page query: row ids and sort keys only, so sorting never carries the wide
    JSON columns; the caller fetches the full rows of the page afterwards. ``key`` None
    means stored order (by row id); ``after`` is the keyset cursor (sort key, row)."""
    columns = [src.row.label("row")] + ([key.label("sort_key")] if key is not None else [])
    stmt = sa.select(*columns).select_from(src.from_clause).where(*src.where, *(extra or []))
    if after is not None:
        sort_after, row_after = after
        if key is None:
            stmt = stmt.where(src.row > row_after)
        else:
            stmt = stmt.where(
                sa.or_(key > sort_after, sa.and_(key == sort_after, src.row > row_after))
            )
    order = [src.row] if key is None else [key, src.row]
    return stmt.order_by(*order).limit(limit)


def count_statement(dialect: str, where: PoiFilter) -> sa.Select[Any]:
    src = source(dialect, where)
    return sa.select(sa.func.count()).select_from(src.from_clause).where(*src.where)
