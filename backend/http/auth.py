"""Role checks for plain HTTP endpoints (uploads, exports): the same principals and audit
log as GraphQL, answered with 401 (no or bad credentials) or 403 (a role is missing)."""

from __future__ import annotations

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse

from backend.domain.errors import NotAuthorized
from backend.domain.identity import Action, Principal, require

audit = structlog.get_logger("twinland.audit")


def bearer_token(authorization: str | None, *, scheme_optional: bool = False) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; ``scheme_optional`` also
    takes a bare token (graphql-transport-ws connection_init payloads carry either)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return token.strip() or None
    return authorization.strip() or None if scheme_optional else None


async def authorised(
    request: Request, action: Action, scene_slug: str | None, *, any_scene: bool = False
) -> Principal | JSONResponse:
    """The caller's principal when it may take ``action`` on ``scene_slug`` (with
    ``any_scene``: on at least one scene, for actions whose scene comes later), else the
    error response. Either way the attempt is audited."""
    token = bearer_token(request.headers.get("authorization"))
    principal: Principal | None = None
    problem: NotAuthorized | None = None
    if token is not None:
        try:
            principal = await request.app.state.authenticate(token)
        except NotAuthorized as error:
            problem = error
    allowed = principal is not None and (
        principal.scenes_for(action) != frozenset()
        if any_scene
        else principal.may(action, scene_slug)
    )
    audit.info(
        "allowed" if allowed else "refused",
        action=action.value,
        scene=scene_slug,
        operation=f"{request.method} {request.url.path}",
        principal=principal.id if principal else None,
        principal_kind=principal.kind if principal else None,
        token_problem=problem.message if problem else None,
    )
    if allowed:
        assert principal is not None
        return principal
    if principal is None:
        message = problem.message if problem else "send a bearer token (Authorization: Bearer …)"
        return JSONResponse({"error": {"code": "not_authorized", "message": message}}, 401)
    try:
        require(principal, action, scene_slug)
        message = f"{action.value} needs a role on some scene"
    except NotAuthorized as error:
        message = error.message
    return JSONResponse({"error": {"code": "forbidden", "message": message}}, 403)
