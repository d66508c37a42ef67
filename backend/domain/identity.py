"""Who may do what: roles granted per scene, principals that hold them, and the policy
table that says which role each privileged action needs.

Pure: no hashing, no tokens, no I/O (backend.services.identity does those).

Roles, from most to least powerful:
  - ``admin``: everything, on every scene; manages accounts and API keys;
  - ``organiser`` of a scene: its content, live sessions, official replies, exports,
    publishing and moderation;
  - ``moderator`` of a scene: its comment queue and live-session moderation tickets;
  - ``content`` of a scene: uploads and publish jobs (content teams' API keys);
  - visitors hold no role: they participate with visitor tokens.
A grant without a scene (``scene_slug=None``) holds on every scene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from backend.domain.errors import InvalidValue, NotAuthorized


class Role(Enum):
    ADMIN = "admin"
    ORGANISER = "organiser"
    MODERATOR = "moderator"
    CONTENT = "content"


class Action(Enum):
    MANAGE_IDENTITIES = "manage_identities"  # accounts, grants, API keys
    EDIT_CONTENT = "edit_content"  # POIs, tours
    RUN_LIVE_SESSIONS = "run_live_sessions"  # create, change status, staff tickets
    MODERATE = "moderate"  # comment queue, decisions
    REPLY_OFFICIALLY = "reply_officially"
    EXPORT = "export"  # comments and polls exports
    PUBLISH = "publish"  # uploads, publish jobs and their progress
    SEE_UNLISTED = "see_unlisted"  # unlisted scenes and sessions in listings


# Which roles may take each action (admin may take every action).
POLICY: dict[Action, frozenset[Role]] = {
    Action.MANAGE_IDENTITIES: frozenset({Role.ADMIN}),
    Action.EDIT_CONTENT: frozenset({Role.ORGANISER}),
    Action.RUN_LIVE_SESSIONS: frozenset({Role.ORGANISER}),
    Action.MODERATE: frozenset({Role.ORGANISER, Role.MODERATOR}),
    Action.REPLY_OFFICIALLY: frozenset({Role.ORGANISER}),
    Action.EXPORT: frozenset({Role.ORGANISER}),
    Action.PUBLISH: frozenset({Role.ORGANISER, Role.CONTENT}),
    Action.SEE_UNLISTED: frozenset({Role.ORGANISER, Role.MODERATOR, Role.CONTENT}),
}

_GRANT = re.compile(r"^(admin|organiser|moderator|content)(?::([a-z0-9][a-z0-9-]{0,62}))?$")


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    scene_slug: str | None = None  # None: every scene

    @classmethod
    def parse(cls, text: str, field: str = "grants") -> Grant:
        """``"organiser:gokseong"``, ``"moderator:jeju-seongsan"`` or ``"admin"``."""
        match = _GRANT.match(text.strip())
        if match is None:
            raise InvalidValue(
                field,
                f"{text!r} is not a grant: use role or role:scene-slug with role one of "
                "admin, organiser, moderator, content",
            )
        role, scene = Role(match.group(1)), match.group(2)
        if role is Role.ADMIN and scene is not None:
            raise InvalidValue(field, "admin holds on every scene: grant it without a scene")
        return cls(role, scene)

    def __str__(self) -> str:
        return (
            self.role.value if self.scene_slug is None else f"{self.role.value}:{self.scene_slug}"
        )

    def covers(self, scene_slug: str | None) -> bool:
        return self.scene_slug is None or self.scene_slug == scene_slug


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an account, an API key, an external (OIDC) subject or the
    bootstrap admin token."""

    id: str  # "account:<uuid>", "key:<id>", "oidc:<digest>", "admin-token" (≤ 64 chars)
    kind: str  # account | api_key | oidc | admin_token
    name: str  # for people: an e-mail, a key's name
    grants: tuple[Grant, ...]

    def may(self, action: Action, scene_slug: str | None = None) -> bool:
        """Whether a grant allows ``action`` on ``scene_slug``. For actions on no particular
        scene (``None``), only grants on every scene count."""
        allowed = POLICY[action]
        for grant in self.grants:
            if grant.role is Role.ADMIN:
                return True
            if grant.role in allowed and (
                grant.scene_slug is None or (scene_slug is not None and grant.covers(scene_slug))
            ):
                return True
        return False

    def scenes_for(self, action: Action) -> frozenset[str] | None:
        """The scenes on which ``action`` is allowed; None means every scene."""
        scenes: set[str] = set()
        for grant in self.grants:
            if grant.role is Role.ADMIN or (
                grant.role in POLICY[action] and grant.scene_slug is None
            ):
                return None
            if grant.role in POLICY[action] and grant.scene_slug is not None:
                scenes.add(grant.scene_slug)
        return frozenset(scenes)


def require(
    principal: Principal | None, action: Action, scene_slug: str | None = None
) -> Principal:
    """The principal, or NotAuthorized naming what is missing."""
    if principal is None:
        raise NotAuthorized(
            f"{_describe(action)} needs a signed-in organiser, moderator or API key "
            "(Authorization: Bearer …)"
        )
    if not principal.may(action, scene_slug):
        where = f" on scene {scene_slug!r}" if scene_slug else ""
        roles = ", ".join(sorted(r.value for r in POLICY[action] | {Role.ADMIN}))
        raise NotAuthorized(f"{_describe(action)}{where} needs one of the roles: {roles}")
    return principal


def _describe(action: Action) -> str:
    return action.value.replace("_", " ").capitalize()


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256


def check_email(email: str) -> str:
    folded = email.strip().lower()
    if not EMAIL.match(folded):
        raise InvalidValue("email", f"{email!r} is not an e-mail address")
    return folded


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidValue(
            "password",
            f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
        )
    return password
