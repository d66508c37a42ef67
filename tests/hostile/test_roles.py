"""Every privileged operation is refused without the right role: no token, a visitor token,
a bad token, an organiser of another scene, a moderator or a content key where an
organiser is needed. And the right role gets past the check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from backend.domain.identity import Grant
from backend.services import identity
from tests.api.conftest import ORGANISER_TOKEN, Api

SCENE = "gokseong"
POI = '{category: ATTRACTION, location: {lat: 35.28, lon: 127.29}, name: [{lang: "en", text: "x"}]}'
TOUR = '{name: [{lang: "en", text: "x"}], stops: []}'
SESSION = (
    '{title: [{lang: "en", text: "x"}], startsAt: "2030-01-01T10:00:00Z", '
    'endsAt: "2030-01-01T11:00:00Z", capacity: 10}'
)
# (operation, document); every mutation selects its union's __typename
ORGANISER_ONLY = {
    "createPoi": f'createPoi(sceneSlug: "{SCENE}", input: {POI})',
    "updatePoi": f'updatePoi(id: "{SCENE}:poi-x", input: {POI})',
    "deletePoi": f'deletePoi(id: "{SCENE}:poi-x")',
    "createTour": f'createTour(sceneSlug: "{SCENE}", input: {TOUR})',
    "updateTour": f'updateTour(id: "{SCENE}:tour-x", input: {TOUR})',
    "createLiveSession": f'createLiveSession(sceneSlug: "{SCENE}", input: {SESSION})',
    "scheduleLiveSession": (
        f'scheduleLiveSession(id: "{SCENE}:live-x", startsAt: "2030-01-01T10:00:00Z", '
        'endsAt: "2030-01-01T11:00:00Z")'
    ),
    "changeLiveSessionStatus": f'changeLiveSessionStatus(id: "{SCENE}:live-x", status: LIVE)',
    "liveSessionRoleTicket": f'liveSessionRoleTicket(id: "{SCENE}:live-x", name: "x", role: HOST)',
}
PUBLISHERS = {
    "publishLayerUpload": (
        f'publishLayerUpload(sceneSlug: "{SCENE}", layerKey: "terrain", uploadId: "0")'
    ),
}
ADMIN_ONLY = {
    "createAccount": (
        'createAccount(email: "new@example.org", password: "long enough pw!", grants: [])'
    ),
    "setGrants": 'setGrants(principalId: "account:x", grants: ["admin"])',
    "endSessions": 'endSessions(accountId: "account:x")',
    "createApiKey": 'createApiKey(name: "k", grants: ["content"])',
    "revokeApiKey": 'revokeApiKey(id: "x")',
}


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]


async def sign_in(api: Api, *grants: str) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    password = "a password long enough"
    now = datetime.now(UTC)
    await identity.create_account(
        api.app.state.store.identities, email, password, [Grant.parse(g) for g in grants], now
    )
    body = await api.data(
        "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { "
        "__typename ... on Session { token } } }",
        {"e": email, "p": password},
    )
    return {"authorization": f"Bearer {body['signIn']['token']}"}


async def api_key(api: Api, *grants: str) -> dict[str, str]:
    issued = await identity.create_api_key(
        api.app.state.store.identities,
        "pipeline",
        [Grant.parse(g) for g in grants],
        "admin-token",
        datetime.now(UTC),
    )
    return {"authorization": f"Bearer {issued.key}"}


async def visitor(api: Api) -> dict[str, str]:
    token = (await api.data("mutation { issueVisitorToken { token } }"))["issueVisitorToken"]
    return {"x-visitor-token": token["token"]}


async def outcome(api: Api, field: str, call: str, headers: dict[str, str]) -> str:
    body = await api.query(
        f"mutation {{ {call} {{ __typename ... on Error {{ message }} }} }}", headers=headers
    )
    assert "errors" not in body, body
    result = body["data"][field]
    return f"{result['__typename']}: {result.get('message', '')}"


@pytest.fixture
async def outsiders(api: Api) -> list[Caller]:
    """Callers who may take none of the organiser-only operations on SCENE."""
    return [
        Caller("anonymous", {}),
        Caller("visitor", await visitor(api)),
        Caller("bad token", {"authorization": "Bearer not-a-token"}),
        Caller("organiser elsewhere", await sign_in(api, "organiser:jeju-seongsan")),
        Caller("moderator", await sign_in(api, f"moderator:{SCENE}")),
        Caller("content key", await api_key(api, f"content:{SCENE}")),
    ]


@pytest.mark.parametrize("field", sorted(ORGANISER_ONLY))
async def test_organiser_operations_are_refused_to_everyone_else(
    api: Api, outsiders: list[Caller], field: str
):
    for caller in outsiders:
        result = await outcome(api, field, ORGANISER_ONLY[field], caller.headers)
        assert result.startswith("NotAuthorizedError"), (caller.name, result)


@pytest.mark.parametrize("field", sorted(ORGANISER_ONLY))
async def test_the_scenes_organiser_gets_past_the_role_check(api: Api, field: str):
    result = await outcome(
        api, field, ORGANISER_ONLY[field], await sign_in(api, f"organiser:{SCENE}")
    )
    assert not result.startswith("NotAuthorizedError"), result


async def test_publishing_needs_an_organiser_or_a_content_key_of_the_scene(api: Api):
    call = PUBLISHERS["publishLayerUpload"]
    for headers in (
        await visitor(api),
        await sign_in(api, f"moderator:{SCENE}"),
        await api_key(api, "content:jeju-seongsan"),
    ):
        assert (await outcome(api, "publishLayerUpload", call, headers)).startswith(
            "NotAuthorizedError"
        )
    for headers in (
        await api_key(api, f"content:{SCENE}"),
        await sign_in(api, f"organiser:{SCENE}"),
    ):
        # past the check: the upload id is what is wrong now
        assert not (await outcome(api, "publishLayerUpload", call, headers)).startswith(
            "NotAuthorizedError"
        )


@pytest.mark.parametrize("field", sorted(ADMIN_ONLY))
async def test_identity_management_is_for_admins_only(api: Api, field: str):
    for headers in (
        {},
        await visitor(api),
        await sign_in(api, "organiser"),  # even an organiser of every scene
        await api_key(api, "content"),
    ):
        result = await outcome(api, field, ADMIN_ONLY[field], headers)
        assert result.startswith("NotAuthorizedError"), result
    admin = await sign_in(api, "admin")
    assert not (await outcome(api, field, ADMIN_ONLY[field], admin)).startswith(
        "NotAuthorizedError"
    )


async def test_moderation_is_for_the_scenes_moderators_and_organisers(api: Api):
    # Jeju's environmental review is pre-moderated: the comment waits for a moderator
    author = await visitor(api)
    created = await api.data(
        "mutation($k: String!) { createComment(idempotencyKey: $k, input: "
        '{sceneSlug: "jeju-seongsan", body: "What happens to the wetland?", '
        "location: {lat: 33.435, lon: 126.88}}) { "
        "__typename ... on Comment { id status } } }",
        {"k": f"roles-{uuid.uuid4().hex[:12]}"},
        headers=author,
    )
    comment = created["createComment"]
    assert comment["status"] == "PENDING"
    moderate = f'moderateComment(id: "{comment["id"]}", approve: true)'
    for headers in (
        author,
        await sign_in(api, f"moderator:{SCENE}"),  # another scene's moderator
        await api_key(api, "content:jeju-seongsan"),
    ):
        assert (await outcome(api, "moderateComment", moderate, headers)).startswith(
            "NotAuthorizedError"
        )
    jeju_moderator = await sign_in(api, "moderator:jeju-seongsan")
    assert await outcome(api, "moderateComment", moderate, jeju_moderator) == "Comment: "


async def test_privileged_reads_show_nothing_without_the_role(api: Api):
    queue = (
        '{ moderationQueue(sceneSlug: "gokseong") { id } '
        'publishJobs(sceneSlug: "gokseong") { id } }'
    )
    for headers in ({}, await visitor(api), await sign_in(api, "organiser:jeju-seongsan")):
        assert await api.data(queue, headers=headers) == {"moderationQueue": [], "publishJobs": []}


async def test_exports_and_uploads_answer_401_without_credentials_and_403_without_the_role(
    api: Api,
):
    elsewhere = await sign_in(api, "organiser:jeju-seongsan")
    assert (await api.http.get("/exports/gokseong/comments.csv")).status_code == 401
    assert (
        await api.http.get("/exports/gokseong/comments.csv", headers=elsewhere)
    ).status_code == 403
    mine = await sign_in(api, f"organiser:{SCENE}")
    assert (await api.http.get("/exports/gokseong/comments.csv", headers=mine)).status_code == 200
    moderator = await sign_in(api, f"moderator:{SCENE}")
    refused = await api.http.post("/uploads?fileName=a.glb", content=b"x", headers=moderator)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    bad = await api.http.post(
        "/uploads?fileName=a.glb", content=b"x", headers={"authorization": "Bearer nope"}
    )
    assert bad.status_code == 401


async def test_me_names_the_caller_and_a_bad_token_says_why(api: Api):
    headers = await sign_in(api, f"organiser:{SCENE}")
    me = (await api.data("{ me { kind grants } }", headers=headers))["me"]
    assert me == {"kind": "account", "grants": [f"organiser:{SCENE}"]}
    assert (await api.data("{ me { kind } }")) == {"me": None}
    refused = await outcome(
        api, "createPoi", ORGANISER_ONLY["createPoi"], {"authorization": "Bearer tlk_nope_x"}
    )
    assert refused == "NotAuthorizedError: this API key is unknown or revoked"


async def test_the_bootstrap_admin_token_is_an_admin(api: Api):
    admin = {"authorization": f"Bearer {ORGANISER_TOKEN}"}
    assert (await api.data("{ me { kind grants } }", headers=admin))["me"] == {
        "kind": "admin_token",
        "grants": ["admin"],
    }
