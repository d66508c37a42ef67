"""Signed join tokens for live sessions (JWT, HS256).

An attendee gets one from ``joinLiveSession``; hosts, guides and moderators get a role
token through organiser authentication. The token names the session, the member (a
random 31-bit id, so pose frames can carry it in four bytes), the display name and the
role; it expires, and a token for one session is worthless for another.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import jwt

ALGORITHM = "HS256"
AUDIENCE = "twinland-live"
MAX_NAME_CHARS = 40


class Role(str, Enum):
    HOST = "host"  # runs the session: everything below, plus polls, answers and ending it
    GUIDE = "guide"  # leads: camera, spotlight, scene switches, announcements
    MODERATOR = "moderator"  # keeps it civil: mute, kick, ban, answer questions
    ATTENDEE = "attendee"

    @property
    def is_staff(self) -> bool:
        return self is not Role.ATTENDEE


class TokenError(Exception):
    """The token is missing, malformed, forged, expired or for another session."""


@dataclass(frozen=True, slots=True)
class JoinClaims:
    session_id: str
    member_id: int
    name: str
    role: Role
    expires_at: datetime


def issue_join_token(
    secret: str,
    session_id: str,
    name: str,
    role: Role,
    *,
    now: datetime,
    ttl: timedelta,
    member_id: int | None = None,
) -> tuple[str, JoinClaims]:
    claims = JoinClaims(
        session_id=session_id,
        member_id=member_id if member_id is not None else secrets.randbelow(2**31 - 1) + 1,
        name=name,
        role=role,
        expires_at=now + ttl,
    )
    token = jwt.encode(
        {
            "aud": AUDIENCE,
            "sid": claims.session_id,
            "sub": str(claims.member_id),
            "name": claims.name,
            "role": claims.role.value,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        },
        secret,
        algorithm=ALGORITHM,
    )
    return token, claims


def verify_join_token(secret: str, token: str, session_id: str, *, now: datetime) -> JoinClaims:
    """The claims of a valid token for ``session_id``; TokenError naming the reason."""
    if not isinstance(token, str) or not token:
        raise TokenError("no token")
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={
                "require": ["exp", "sid", "sub", "role"],
                # times are checked against the caller's clock below, not the library's
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as error:
        raise TokenError(f"invalid token: {error}") from error
    expires_at = datetime.fromtimestamp(int(payload["exp"]), UTC)
    if expires_at <= now:
        raise TokenError("token expired")  # checked against our clock, not the library's
    if payload["sid"] != session_id:
        raise TokenError("token is for another session")
    try:
        role = Role(payload["role"])
        member_id = int(payload["sub"])
    except (ValueError, TypeError) as error:
        raise TokenError("token has a bad role or member id") from error
    if not 0 < member_id < 2**31:
        raise TokenError("token has a bad member id")
    return JoinClaims(
        session_id, member_id, str(payload.get("name", ""))[:MAX_NAME_CHARS], role, expires_at
    )
