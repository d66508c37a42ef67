"""``POST /uploads``: content teams stage a model file; a publish job then uses it.

    curl -H "Authorization: Bearer $TOKEN" --data-binary @pier.glb \\
         "http://localhost:8000/uploads?fileName=pier.glb"
    → 201 {"uploadId": "<sha256>", "fileName": "pier.glb", "format": "glb", "bytes": 12345}

The body is the file itself (no multipart wrapping to parse), streamed to disk with its
size capped as it arrives. Then ``publishLayerUpload(sceneSlug, layerKey, uploadId)``.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.domain.errors import DomainError, RateLimited
from backend.domain.identity import Action
from backend.domain.quotas import UPLOADS
from backend.http.auth import authorised
from backend.publishing.uploads import UploadRejected, UploadStore
from backend.quota_stores import spend

router = APIRouter()

STATUS_FOR = {"too_large": 413, "unsupported_type": 415, "type_mismatch": 415, "empty": 400}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post("/uploads", include_in_schema=False)
async def upload(request: Request, fileName: str = "") -> JSONResponse:  # noqa: N803
    # the scene is named when the upload is published (publishLayerUpload checks it there)
    principal = await authorised(request, Action.PUBLISH, None, any_scene=True)
    if isinstance(principal, JSONResponse):
        return principal
    try:
        await spend(request.app.state.quotas, UPLOADS, principal.id, "uploads")
    except RateLimited as error:
        response = _error(429, error.code, error.message)
        response.headers["retry-after"] = str(math.ceil(error.retry_after_s))
        return response
    store: UploadStore = request.app.state.uploads
    declared = request.headers.get("content-length")
    try:
        declared_bytes = int(declared) if declared is not None else None
    except ValueError:
        return _error(400, "bad_request", "Content-Length is not a number")
    try:
        received = await store.receive(fileName, request.stream(), declared_bytes)
    except UploadRejected as error:
        return _error(STATUS_FOR.get(error.code, 400), error.code, error.message)
    except DomainError as error:
        return _error(400, error.code, error.message)
    return JSONResponse(
        {
            "uploadId": received.sha256,
            "fileName": received.file_name,
            "format": received.format,
            "bytes": received.byte_size,
        },
        status_code=201,
    )
