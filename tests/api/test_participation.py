"""The citizen's journey over GraphQL against the demo content: a visitor token, a plan
comparison, a comment on the plan — and the refusals."""

from __future__ import annotations

import uuid

from tests.api.conftest import ORGANISER_TOKEN, Api
from tests.conftest import REPO

OPERATIONS = REPO / "graphql" / "operations"


async def visitor_token(api: Api) -> str:
    data = await api.data((OPERATIONS / "issue-visitor-token.graphql").read_text())
    token: str = data["issueVisitorToken"]["token"]
    return token


async def test_a_citizen_compares_the_plans_and_comments_on_one(api: Api):
    token = await visitor_token(api)
    comparison = await api.data((OPERATIONS / "compare-scenarios.graphql").read_text())
    assert comparison["compareScenarios"]["__typename"] == "ScenarioComparison"
    key = f"journey-{uuid.uuid4()}"
    comment = await api.data(
        (OPERATIONS / "comment-on-scenario.graphql").read_text(),
        {"key": key},
        headers={"x-visitor-token": token},
    )
    made = comment["createComment"]
    assert made["__typename"] == "Comment"
    assert (made["status"], made["scenarioVersion"], made["official"]) == ("APPROVED", 1, False)
    again = await api.data(
        (OPERATIONS / "comment-on-scenario.graphql").read_text(),
        {"key": key},
        headers={"x-visitor-token": token},
    )
    assert again["createComment"]["id"] == made["id"]
    listed = await api.data(
        'query { comments(sceneSlug: "gokseong", scenarioId: "gokseong:plan-a-2030") '
        "{ id body authorName location { lat lon } } }"
    )
    assert made["id"] in [c["id"] for c in listed["comments"]]


async def test_a_citizen_votes_once_in_a_plan_poll(api: Api):
    token = await visitor_token(api)
    document = (OPERATIONS / "vote.graphql").read_text()
    key = f"vote-{uuid.uuid4()}"
    first = await api.data(document, {"key": key}, headers={"x-visitor-token": token})
    poll = first["vote"]
    assert poll["__typename"] == "Poll"
    assert poll["myChoices"] == [0, 2]
    assert poll["open"] is True
    retried = await api.data(document, {"key": key}, headers={"x-visitor-token": token})
    assert retried["vote"]["ballots"] == poll["ballots"]  # the same ballot, not a second
    twice = await api.data(
        document, {"key": f"vote-{uuid.uuid4()}"}, headers={"x-visitor-token": token}
    )
    assert twice["vote"]["code"] == "CONFLICT"
    assert "already voted" in twice["vote"]["message"]
    bad = await api.data(
        document,
        {"key": f"vote-{uuid.uuid4()}", "options": [9]},
        headers={"x-visitor-token": await visitor_token(api)},
    )
    assert bad["vote"]["code"] == "INVALID_ARGUMENT"


async def test_commenting_without_or_with_a_forged_token_is_refused(api: Api):
    document = (OPERATIONS / "comment-on-scenario.graphql").read_text()
    anonymous = await api.data(document, {"key": f"anon-{uuid.uuid4()}"})
    assert anonymous["createComment"]["code"] == "NOT_AUTHORIZED"
    forged = await api.data(
        document, {"key": f"forged-{uuid.uuid4()}"}, headers={"x-visitor-token": "e30.e30.e30"}
    )
    assert forged["createComment"]["code"] == "NOT_AUTHORIZED"
    assert "not valid" in forged["createComment"]["message"]


async def test_an_empty_comment_names_the_field(api: Api):
    token = await visitor_token(api)
    data = await api.data(
        (OPERATIONS / "comment-on-scenario.graphql").read_text(),
        {"key": f"empty-{uuid.uuid4()}", "body": "  "},
        headers={"x-visitor-token": token},
    )
    assert data["createComment"]["code"] == "INVALID_ARGUMENT"
    assert data["createComment"]["message"] == "body: is empty"


async def test_only_organisers_moderate_and_see_the_queue(api: Api):
    query = 'query { moderationQueue(sceneSlug: "gokseong") { id } }'
    assert (await api.data(query))["moderationQueue"] == []
    moderate = """mutation { moderateComment(id: "00000000-0000-0000-0000-000000000000",
      approve: true) { __typename ... on Error { code } } }"""
    assert (await api.data(moderate))["moderateComment"]["code"] == "NOT_AUTHORIZED"
    unknown = await api.data(moderate, token=ORGANISER_TOKEN)
    assert unknown["moderateComment"]["code"] == "NOT_FOUND"


async def test_organisers_export_comments_and_poll_results(api: Api):
    token = await visitor_token(api)
    made = await api.data(
        (OPERATIONS / "comment-on-scenario.graphql").read_text(),
        {"key": f"export-{uuid.uuid4()}", "body": "내보내기 확인용 의견"},
        headers={"x-visitor-token": token},
    )
    comment_id = made["createComment"]["id"]
    await api.data(
        (OPERATIONS / "vote.graphql").read_text(),
        {"key": f"export-{uuid.uuid4()}"},
        headers={"x-visitor-token": token},
    )
    organiser = {"authorization": f"Bearer {ORGANISER_TOKEN}"}

    csv_response = await api.http.get("/exports/gokseong/comments.csv", headers=organiser)
    assert csv_response.status_code == 200
    text = csv_response.content.decode("utf-8")
    assert text.startswith("\ufeffid,created_at,status")
    assert comment_id in text
    assert "내보내기 확인용 의견" in text

    geo = (await api.http.get("/exports/gokseong/comments.geojson", headers=organiser)).json()
    feature = next(f for f in geo["features"] if f["properties"]["id"] == comment_id)
    assert feature["geometry"]["coordinates"][:2] == [127.3112, 35.2745]

    polls = (await api.http.get("/exports/gokseong/polls.csv", headers=organiser)).text
    assert "gokseong:plan-b-2030:station-district-priorities" in polls

    assert (await api.http.get("/exports/gokseong/comments.csv")).status_code == 401
    missing = await api.http.get("/exports/atlantis/comments.csv", headers=organiser)
    assert missing.status_code == 404


async def test_visitors_react_to_comments_once_per_kind(api: Api):
    author = await visitor_token(api)
    made = await api.data(
        (OPERATIONS / "comment-on-scenario.graphql").read_text(),
        {"key": f"react-{uuid.uuid4()}", "body": "반응 확인용 의견"},
        headers={"x-visitor-token": author},
    )
    comment_id = made["createComment"]["id"]
    react = """mutation($id: ID!, $on: Boolean) {
      reactToComment(id: $id, reaction: AGREE, on: $on) {
        __typename ... on Comment { reactions { reaction count } } ... on Error { code } } }"""
    reader = {"x-visitor-token": await visitor_token(api)}
    await api.data(react, {"id": comment_id}, headers=reader)
    twice = await api.data(react, {"id": comment_id}, headers=reader)
    assert twice["reactToComment"]["reactions"] == [{"reaction": "AGREE", "count": 1}]
    other = await api.data(
        react, {"id": comment_id}, headers={"x-visitor-token": await visitor_token(api)}
    )
    assert other["reactToComment"]["reactions"] == [{"reaction": "AGREE", "count": 2}]
    back = await api.data(react, {"id": comment_id, "on": False}, headers=reader)
    assert back["reactToComment"]["reactions"] == [{"reaction": "AGREE", "count": 1}]
    missing = await api.data(react, {"id": "00000000-0000-0000-0000-000000000000"}, headers=reader)
    assert missing["reactToComment"]["code"] == "NOT_FOUND"
