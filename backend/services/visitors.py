"""Visitor tokens: anonymous participation without an account.

A visitor token is an HS256 JWT the API issues (``issueVisitorToken``): a random visitor
id (``sub``), its issue and expiry times, ``typ = "visitor"``. Comments, votes and stamps
belong to that id; rate limits count per id. It is sent as ``X-Visitor-Token``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from backend.domain.errors import NotAuthorized

ALGORITHM = "HS256"
TOKEN_TYPE = "visitor"


@dataclass(frozen=True, slots=True)
class VisitorToken:
    token: str
    visitor_id: str
    expires_at: datetime


def issue_visitor_token(secret: str, now: datetime, ttl: timedelta) -> VisitorToken:
    """A token for a new visitor."""
    return issue_visitor_token_for("v_" + secrets.token_urlsafe(12), secret, now, ttl)


def issue_visitor_token_for(
    visitor_id: str, secret: str, now: datetime, ttl: timedelta
) -> VisitorToken:
    """A token for a known visitor (a transfer to another device)."""
    expires = now + ttl
    token = jwt.encode(
        {"sub": visitor_id, "typ": TOKEN_TYPE, "iat": now, "exp": expires},
        secret,
        algorithm=ALGORITHM,
    )
    return VisitorToken(token, visitor_id, expires)


def verify_visitor_token(secret: str, token: str) -> str:
    """The visitor id; NotAuthorized naming why (expired, forged, not a visitor token)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthorized("the visitor token has expired; get a new one") from None
    except jwt.InvalidTokenError:
        raise NotAuthorized("the visitor token is not valid") from None
    if claims.get("typ") != TOKEN_TYPE or not str(claims["sub"]).startswith("v_"):
        raise NotAuthorized("the visitor token is not valid")
    return str(claims["sub"])
