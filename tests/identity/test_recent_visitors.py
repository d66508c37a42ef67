"""RecentVisitors: whose budget a visitor token spends, without checking its HMAC on
every request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.services import visitors
from backend.services.visitors import RecentVisitors, issue_visitor_token

SECRET = "visitor-secret-for-tests-0123456789"


def test_a_token_names_its_visitor_and_is_checked_once_a_minute(
    monkeypatch: pytest.MonkeyPatch,
):
    token = issue_visitor_token(SECRET, datetime.now(UTC), timedelta(days=1))
    now = [100.0]
    recent = RecentVisitors(SECRET, ttl_s=60, clock=lambda: now[0])
    checks = []
    verify = visitors.verify_visitor_token
    monkeypatch.setattr(
        visitors, "verify_visitor_token", lambda s, t: checks.append(t) or verify(s, t)
    )
    assert recent.visitor_id(token.token) == token.visitor_id
    now[0] += 59
    assert recent.visitor_id(token.token) == token.visitor_id
    assert len(checks) == 1
    now[0] += 2  # past the minute: checked again
    assert recent.visitor_id(token.token) == token.visitor_id
    assert len(checks) == 2


def test_forged_and_expired_tokens_name_no_one():
    recent = RecentVisitors(SECRET)
    forged = issue_visitor_token(
        "another-secret-0123456789abcdefgh", datetime.now(UTC), timedelta(1)
    )
    expired = issue_visitor_token(SECRET, datetime.now(UTC) - timedelta(days=2), timedelta(1))
    assert recent.visitor_id(forged.token) is None
    assert recent.visitor_id(expired.token) is None
    assert recent.visitor_id("not a token") is None


def test_it_forgets_the_least_recently_seen_beyond_its_size():
    recent = RecentVisitors(SECRET, max_entries=2)
    tokens = [issue_visitor_token(SECRET, datetime.now(UTC), timedelta(1)) for _ in range(3)]
    for token in tokens:
        recent.visitor_id(token.token)
    assert list(recent._seen) == [tokens[1].token, tokens[2].token]
