"""Visitor tokens: anonymous participation without an account.

A visitor token is an HS256 JWT the API issues (``issueVisitorToken``): a random visitor
id (``sub``), its issue and expiry times, ``typ = "visitor"``. Comments, votes and stamps
belong to that id; rate limits count per id. It is sent as ``X-Visitor-Token``.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from backend.domain.errors import DomainError, NotAuthorized

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


class RecentVisitors:
    """Who recently seen visitor tokens belong to (None: not valid), remembered for
    ``ttl_s``: a visitor sends the same token with every request, and it only decides whose
    budget a request spends (a token that expired within the last minute still names its
    visitor there). Anything a token *permits* checks it with ``verify_visitor_token``."""

    def __init__(
        self,
        secret: str,
        ttl_s: float = 60.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret = secret
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._seen: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    def visitor_id(self, token: str) -> str | None:
        now = self.clock()
        seen = self._seen.get(token)
        if seen is not None and seen[1] > now:
            return seen[0]
        try:
            visitor: str | None = verify_visitor_token(self.secret, token)
        except DomainError:
            visitor = None
        self._seen[token] = (visitor, now + self.ttl_s)
        self._seen.move_to_end(token)
        if len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return visitor

    def client_key(self, visitor_token: str | None, address: str | None) -> str:
        """Whose budget a caller without a bearer token spends: the visitor of a valid
        token, else the network address (a bad token is answered where it is used)."""
        if visitor_token:
            visitor = self.visitor_id(visitor_token)
            if visitor is not None:
                return "visitor:" + visitor
        return "address:" + (address or "unknown")
