"""joinLiveSession and liveSessionRoleTicket: signed tickets, typed errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.live.tokens import Role, verify_join_token
from backend.settings import DEV_LIVE_SECRET
from tests.api.conftest import ORGANISER_TOKEN, Api

SESSION = "gijang-osiria:osiria-sunset-tour"
JOIN = """mutation($id: ID!, $name: String!) {
  joinLiveSession(id: $id, name: $name) {
    __typename
    ... on LiveSessionTicket { token url memberId name role expiresAt session { id status } }
    ... on InvalidArgumentError { argument reason }
    ... on Error { code message }
  }
}"""
ROLE = """mutation($id: ID!, $name: String!, $role: LiveRole!) {
  liveSessionRoleTicket(id: $id, name: $name, role: $role) {
    __typename
    ... on LiveSessionTicket { token role }
    ... on Error { code message }
  }
}"""


async def test_a_visitor_gets_a_signed_attendee_ticket_for_that_session(api: Api):
    ticket = (await api.data(JOIN, {"id": SESSION, "name": "  Jisoo  "}))["joinLiveSession"]

    assert ticket["__typename"] == "LiveSessionTicket"
    assert ticket["url"] == f"/live/{SESSION}"
    claims = verify_join_token(DEV_LIVE_SECRET, ticket["token"], SESSION, now=datetime.now(UTC))
    assert (claims.name, claims.role, claims.member_id) == (
        "Jisoo",
        Role.ATTENDEE,
        ticket["memberId"],
    )
    assert ticket["role"] == "ATTENDEE"


@pytest.mark.parametrize(
    ("name", "reason"), [("   ", "must not be empty"), ("x" * 41, "at most 40")]
)
async def test_a_bad_display_name_is_an_invalid_argument(api: Api, name: str, reason: str):
    result = (await api.data(JOIN, {"id": SESSION, "name": name}))["joinLiveSession"]

    assert result["__typename"] == "InvalidArgumentError"
    assert result["argument"] == "name"
    assert reason in result["reason"]


async def test_an_unknown_session_is_not_found(api: Api):
    result = (await api.data(JOIN, {"id": "gijang-osiria:nope", "name": "A"}))["joinLiveSession"]

    assert result["__typename"] == "NotFoundError"


async def test_staff_tickets_need_an_organiser(api: Api):
    refused = await api.data(ROLE, {"id": SESSION, "name": "Guide", "role": "GUIDE"})
    granted = await api.data(
        ROLE, {"id": SESSION, "name": "Guide", "role": "GUIDE"}, token=ORGANISER_TOKEN
    )

    assert refused["liveSessionRoleTicket"]["__typename"] == "NotAuthorizedError"
    assert granted["liveSessionRoleTicket"]["role"] == "GUIDE"
