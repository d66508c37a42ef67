"""Content-addressed asset files over HTTP, the way a CDN serves them.

``/assets/<sha256>.<ext>``: the name is the hash of the bytes, so every response is
cacheable forever (``immutable``) with a strong ETag, ``304`` for ``If-None-Match``,
``206`` for ``Range`` (and ``If-Range``), ``HEAD``, and open CORS (the files are public
and browsers load them from other origins). Compressible files are sent as their
precompressed ``.br``/``.gz`` sibling when the client accepts it (``Vary:
Accept-Encoding``; each encoding is its own representation with its own ETag). Only names
matching the content-hash pattern are looked up, so no request reaches outside the
store. docs/serving.md has the equivalent nginx configuration.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from backend.asset_store import COMPRESSIBLE, MEDIA_TYPES, LocalAssetStore

router = APIRouter()

IMMUTABLE = "public, max-age=31536000, immutable"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Content-Encoding, ETag",
}
PREFERENCE = ("br", "gzip")  # when the client likes both equally: brotli is smaller


def accepted_encodings(header: str | None) -> list[str]:
    """Content codings from ``Accept-Encoding`` the client accepts, best first
    (q-values honoured, ties broken by PREFERENCE); "identity" is last unless refused."""
    weights: dict[str, float] = {}
    for part in (header or "").split(","):
        token, _, params = part.strip().partition(";")
        token = token.strip().lower()
        if not token:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[token] = q
    star = weights.get("*")
    ranked = []
    for coding in PREFERENCE:
        q = weights.get(coding, star if star is not None else 0.0)
        if q > 0:
            ranked.append((q, -PREFERENCE.index(coding), coding))
    ranked.sort(reverse=True)
    result = [coding for _, _, coding in ranked]
    identity = weights.get("identity", star if star is not None and star == 0 else 1.0)
    if identity > 0:
        result.append("identity")
    return result


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags  # weak comparison, as If-None-Match asks


@router.api_route("/assets/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def asset(name: str, request: Request) -> Response:
    store: LocalAssetStore = request.app.state.asset_store
    path = store.path_for(name)
    if path is None:
        return Response(status_code=404, headers=CORS)
    sha, ext = name.split(".", 1)
    headers = {"Cache-Control": IMMUTABLE, **CORS}
    encoding = None
    if ext in COMPRESSIBLE:
        headers["Vary"] = "Accept-Encoding"
        for coding in accepted_encodings(request.headers.get("accept-encoding")):
            if coding == "identity":
                break
            variant = store.path_for(name, coding)
            if variant is not None:
                path, encoding = variant, coding
                headers["Content-Encoding"] = coding
                break
    # one strong validator per representation: the hash, plus the coding when encoded
    etag = f'"{sha}-{encoding}"' if encoding else f'"{sha}"'
    headers["ETag"] = etag
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=MEDIA_TYPES[ext], headers=headers)


@router.options("/assets/{name}", include_in_schema=False)
async def asset_preflight(name: str) -> Response:
    """CORS preflight: browsers ask before sending Range or conditional headers."""
    return Response(
        status_code=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "Range, If-None-Match, If-Range",
            "Access-Control-Max-Age": "86400",
        },
    )
