"""Content-addressed asset files over HTTP, cacheable forever.

The scene-delivery issue extends this into full CDN semantics (ranges, precompressed
variants); what is here is already correct for immutable files: strong ETags, 304s,
long-lived caching, and no way to name a path outside the asset store.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from backend.asset_store import MEDIA_TYPES, LocalAssetStore

router = APIRouter()

IMMUTABLE = "public, max-age=31536000, immutable"


@router.api_route("/assets/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def asset(name: str, request: Request) -> Response:
    store: LocalAssetStore = request.app.state.asset_store
    path = store.path_for(name)
    if path is None:
        return Response(status_code=404)
    etag = '"' + name.split(".")[0] + '"'  # the name is the content hash: a strong validator
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    media_type = MEDIA_TYPES[name.rsplit(".", 1)[1]]
    return FileResponse(path, media_type=media_type, headers=headers)
