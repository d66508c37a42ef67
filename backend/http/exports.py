"""Exports for the county's records (organisers): comments as CSV or GeoJSON, poll results
as CSV.

    GET /exports/{scene}/comments.csv       every comment, with its moderation state
    GET /exports/{scene}/comments.geojson   comments with a location, as Point features
    GET /exports/{scene}/polls.csv          each option's votes, per poll

CSV starts with a UTF-8 byte-order mark so spreadsheet programs read Korean correctly.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from backend.domain.identity import Action
from backend.domain.participation import Comment, CommentStatus
from backend.http.auth import authorised
from backend.ports import Reads

router = APIRouter()
MAX_EXPORT_ROWS = 1_000_000
COMMENT_COLUMNS = [
    "id",
    "created_at",
    "status",
    "rejection_reason",
    "official",
    "author_name",
    "scenario_id",
    "scenario_version",
    "on_date",
    "poi_id",
    "lat",
    "lon",
    "height_m",
    "parent_id",
    "body",
]


async def _refusal(request: Request, scene: str) -> JSONResponse | None:
    """The error response for a caller without the role or an unknown scene, else None."""
    allowed = await authorised(request, Action.EXPORT, scene)
    if isinstance(allowed, JSONResponse):
        return allowed
    if scene not in await request.app.state.store.reads.scenes_by_slug([scene]):
        return JSONResponse(
            {"error": {"code": "not_found", "message": f"scene {scene!r} does not exist"}},
            status_code=404,
        )
    return None


async def _comments(reads: Reads, scene: str) -> list[Comment]:
    found = await reads.list_comments(scene, statuses=list(CommentStatus), limit=MAX_EXPORT_ROWS)
    return [comment for _, comment in found]


def _comment_row(comment: Comment) -> dict[str, Any]:
    where = comment.anchor.location
    return {
        "id": comment.id,
        "created_at": comment.created_at.isoformat(),
        "status": comment.status.value,
        "rejection_reason": comment.rejection_reason or "",
        "official": "yes" if comment.official else "no",
        "author_name": comment.author_name or "",
        "scenario_id": comment.scenario_id or "",
        "scenario_version": comment.scenario_version or "",
        "on_date": comment.on_date.isoformat() if comment.on_date else "",
        "poi_id": comment.anchor.poi_id or "",
        "lat": where.lat_deg if where else "",
        "lon": where.lon_deg if where else "",
        "height_m": where.height_m if where else "",
        "parent_id": comment.parent_id or "",
        "body": comment.body,
    }


def _csv(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/exports/{scene}/comments.csv", include_in_schema=False)
async def comments_csv(request: Request, scene: str) -> Response:
    if refused := await _refusal(request, scene):
        return refused
    reads: Reads = request.app.state.store.reads
    rows = [_comment_row(c) for c in await _comments(reads, scene)]
    return _csv(rows, COMMENT_COLUMNS, f"{scene}-comments.csv")


@router.get("/exports/{scene}/comments.geojson", include_in_schema=False)
async def comments_geojson(request: Request, scene: str) -> Response:
    if refused := await _refusal(request, scene):
        return refused
    reads: Reads = request.app.state.store.reads
    features = []
    for comment in await _comments(reads, scene):
        where = comment.anchor.location
        if where is None:
            continue
        properties = _comment_row(comment)
        for key in ("lat", "lon", "height_m"):
            properties.pop(key)
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [where.lon_deg, where.lat_deg, where.height_m],
                },
                "properties": properties,
            }
        )
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    return Response(
        body.encode("utf-8"),
        media_type="application/geo+json",
        headers={"content-disposition": f'attachment; filename="{scene}-comments.geojson"'},
    )


@router.get("/exports/{scene}/polls.csv", include_in_schema=False)
async def polls_csv(request: Request, scene: str) -> Response:
    if refused := await _refusal(request, scene):
        return refused
    reads: Reads = request.app.state.store.reads
    rows = []
    for scenario in (await reads.scenarios_by_scene([scene])).get(scene, []):
        for poll in await reads.polls_by_scenario(scenario.id):
            tally, ballots = await reads.poll_tally(poll.id, len(poll.options))
            for index, option in enumerate(poll.options):
                rows.append(
                    {
                        "poll_id": poll.id,
                        "question": poll.question.as_dict().get("ko")
                        or next(iter(poll.question.as_dict().values())),
                        "option_index": index,
                        "option": option.as_dict().get("ko")
                        or next(iter(option.as_dict().values())),
                        "votes": tally[index],
                        "ballots": ballots,
                    }
                )
    columns = ["poll_id", "question", "option_index", "option", "votes", "ballots"]
    return _csv(rows, columns, f"{scene}-polls.csv")
