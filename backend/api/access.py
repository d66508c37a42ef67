"""Role checks for resolvers: every privileged field asks ``denied`` first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.api.errors import ErrorCode, NotAuthorizedError
from backend.domain.identity import Action

if TYPE_CHECKING:
    from backend.api.types.objects import CtxInfo


async def denied(
    info: CtxInfo, action: Action, scene_slug: str | None = None
) -> NotAuthorizedError | None:
    """None when the caller may take ``action`` on ``scene_slug``; else the typed error to
    return, naming the roles that would do (or what is wrong with the token sent)."""
    context = info.context
    if await context.may(action, scene_slug, info.field_name):
        return None
    refusal = await context.refusal(action, scene_slug)
    return NotAuthorizedError(code=ErrorCode.NOT_AUTHORIZED, message=refusal.message)


def scene_of(qualified_id: str) -> str | None:
    """The scene of an id like ``gokseong:poi-12`` (None when it has no scene part: then
    only grants on every scene can allow the action)."""
    scene, separator, _ = str(qualified_id).partition(":")
    return scene if separator and scene else None
