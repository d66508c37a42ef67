"""Two ``twinland serve`` instances on one PostgreSQL database and a Redis this test may
restart (tests/redis_server.py), with ``twinland worker`` processes building publish jobs.
While visitors comment and vote on both instances, chat in a live session on both and a
publish job is building, Redis restarts and the job's worker is SIGKILLed. Afterwards
nothing acknowledged is missing: every comment and vote an instance accepted is read back
from both, every chat message the hub numbered is in the session's history on both, and
the job was published exactly once, by the worker that took it over."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trimesh
from websockets.asyncio.client import ClientConnection, connect

from backend.live.protocol import CLOSE_TRY_AGAIN
from tests.conftest import REPO, PostgresDatabases
from tests.faults.harness import ORGANISER, graphql, participation_scene, readiness, until
from tests.live.server import LiveServer, new_live_session
from tests.live.test_transport import close_code
from tests.redis_server import RedisServer
from tests.worker_process import Worker

T = TypeVar("T")
SCENE = "test-scene"
POLL = "test-scene:park-2030:keep-trees"  # tests/participation/test_polls.py's POLLS
LEASE_S = 3.0
OPERATIONS = REPO / "graphql" / "operations"
ISSUE_TOKEN = (OPERATIONS / "issue-visitor-token.graphql").read_text(encoding="utf-8")
VOTE = (OPERATIONS / "vote.graphql").read_text(encoding="utf-8")
PUBLISH = (OPERATIONS / "publish-layer-upload.graphql").read_text(encoding="utf-8")
COMMENT = """mutation Comment($key: String!, $body: String!) {
  createComment(idempotencyKey: $key, input: {
    sceneSlug: "test-scene", scenarioId: "test-scene:park-2030",
    location: {lat: 35.2005, lon: 129.2010}, body: $body
  }) { __typename ... on Comment { id body } ... on Error { code message } }
}"""
COMMENTS = """query Comments($after: ID) {
  comments(sceneSlug: "test-scene", first: 100, after: $after) { id body }
}"""
JOB = """query Job($id: ID!) {
  publishJob(id: $id) { status step attempts resultVersion error { code message } }
}"""
JOBS = '{ publishJobs(sceneSlug: "test-scene") { id } }'
SCENE_STATE = """query Scene($tier: ClientTier!) {
  scene(slug: "test-scene", tier: $tier) {
    ... on Scene { version versions { version jobId } layers { key asset { url } } }
  }
}"""


@dataclass
class Acknowledged:
    """What the instances said yes to, and anything they did not."""

    comments: dict[str, str] = field(default_factory=dict)  # id: body
    votes: Counter[int] = field(default_factory=Counter)  # option: ballots
    chat: list[str] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.comments) + self.votes.total()


async def participate(
    http: httpx.AsyncClient,
    servers: tuple[LiveServer, LiveServer],
    seen: Acknowledged,
    stop: asyncio.Event,
) -> None:
    """Visitor after visitor until ``stop``: each comments twice on one instance and votes
    on the other. (Stopped, not cancelled: a write cancelled after it was sent may be
    stored with its acknowledgement never read.)"""
    visitor = 0
    while not stop.is_set():
        here, there = servers[visitor % 2], servers[(visitor + 1) % 2]
        issued = await graphql(http, here, ISSUE_TOKEN)
        if "errors" in issued:
            seen.refused.append(issued)
            continue
        token = {"x-visitor-token": issued["data"]["issueVisitorToken"]["token"]}
        for n in range(2):
            body = f"visitor {visitor}, comment {n}, via {here.port}"
            variables = {"key": f"fault-{visitor}-{n}", "body": body}
            result = await graphql(http, here, COMMENT, variables, token)
            comment = (result.get("data") or {}).get("createComment") or {}
            if comment.get("__typename") == "Comment":
                seen.comments[comment["id"]] = body
            else:
                seen.refused.append(result)
        option = visitor % 2
        variables = {"poll": POLL, "options": [option], "key": f"fault-vote-{visitor}"}
        result = await graphql(http, there, VOTE, variables, token)
        if ((result.get("data") or {}).get("vote") or {}).get("__typename") == "Poll":
            seen.votes[option] += 1
        else:
            seen.refused.append(result)
        visitor += 1
        await asyncio.sleep(0.2)


class Chatter:
    """A live client that keeps its ticket, so it can resume after being told to."""

    def __init__(self, server: LiveServer, session: str, name: str) -> None:
        self.server = server
        self.ticket = server.ticket(session, name)
        self.ws: ClientConnection | None = None
        self.welcome: dict[str, Any] = {}
        self.seq = 0

    async def join(self, resume: bool = False) -> dict[str, Any]:
        self.ws = await connect(f"{self.server.ws_base}{self.ticket['url']}")
        hello: dict[str, Any] = {"type": "hello", "token": self.ticket["token"]}
        if resume:
            hello["resume"] = {"epoch": self.welcome["session"]["epoch"], "seq": self.seq}
        await self.ws.send(json.dumps(hello))
        self.welcome = json.loads(await self.ws.recv())
        assert self.welcome["type"] == "welcome", self.welcome
        self.seq = self.welcome["session"]["seq"]
        return self.welcome

    async def say(self, text: str) -> dict[str, Any]:
        """The server's answer: our chat numbered by the hub (acknowledged), or an error."""
        await self.socket.send(json.dumps({"type": "chat", "text": text}))
        async with asyncio.timeout(30):
            while True:
                frame = await self.socket.recv()
                if isinstance(frame, bytes):
                    continue
                message: dict[str, Any] = json.loads(frame)
                if "seq" in message:
                    self.seq = message["seq"]
                if message["type"] == "error" or (
                    message["type"] == "chat" and message["text"] == text
                ):
                    return message

    @property
    def socket(self) -> ClientConnection:
        assert self.ws is not None, "not joined"
        return self.ws

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@dataclass
class Setting:
    redis: RedisServer
    a: LiveServer
    b: LiveServer
    worker_env: dict[str, str]
    logs: Path


@pytest.fixture
async def setting(tmp_path: Path, postgres_databases: PostgresDatabases) -> AsyncIterator[Setting]:
    redis = RedisServer(tmp_path)
    redis.start()
    database = await postgres_databases.create()
    data = tmp_path / "data"  # one asset store and upload folder for every process
    shared = {
        "TWINLAND_DATABASE_URL": database,
        "TWINLAND_REDIS_URL": redis.url,
        "TWINLAND_JOB_LEASE_S": str(LEASE_S),
    }
    scene = participation_scene(tmp_path / "scenes")
    servers: list[LiveServer] = []
    try:
        for _ in range(2):
            servers.append(
                LiveServer(
                    data,
                    scenes=[scene],
                    TWINLAND_JOB_WORKERS="0",  # the workers build
                    TWINLAND_QUOTA_SCALE="10",  # one address mints every visitor's token
                    **shared,
                )
            )
        worker_env = {
            **shared,
            "TWINLAND_DATA_DIR": str(data),
            # no shared build cache: the worker really builds, long enough to be killed
            "TWINLAND_BUILD_CACHE_DIR": str(tmp_path / "worker-cache"),
            "TWINLAND_LOG_LEVEL": "info",
        }
        yield Setting(redis, servers[0], servers[1], worker_env, tmp_path)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


async def upload_model(http: httpx.AsyncClient, server: LiveServer) -> str:
    model = trimesh.creation.icosphere(subdivisions=4, radius=30.0).export(file_type="glb")
    response = await http.post(
        f"{server.base}/uploads", params={"fileName": "dome.glb"}, content=model, headers=ORGANISER
    )
    assert response.status_code == 201, response.text
    return str(response.json()["uploadId"])


async def all_comments(http: httpx.AsyncClient, server: LiveServer) -> dict[str, str]:
    found: dict[str, str] = {}
    after: str | None = None
    while True:
        page = (await graphql(http, server, COMMENTS, {"after": after}))["data"]["comments"]
        found |= {c["id"]: c["body"] for c in page}
        if len(page) < 100:
            return found
        after = page[-1]["id"]


async def tally(http: httpx.AsyncClient, server: LiveServer) -> Counter[int]:
    response = await http.get(f"{server.base}/exports/{SCENE}/polls.csv", headers=ORGANISER)
    assert response.status_code == 200, response.text
    rows = csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")))
    return Counter({int(r["option_index"]): int(r["votes"]) for r in rows if r["poll_id"] == POLL})


def agreeing(
    read: Callable[[httpx.AsyncClient, LiveServer], Awaitable[T]],
    http: httpx.AsyncClient,
    server: LiveServer,
    expected: T,
) -> Callable[[], Awaitable[T | None]]:
    """For ``until``: what ``read`` finds on ``server`` once it is ``expected``."""

    async def check() -> T | None:
        found = await read(http, server)
        return found if found == expected else None

    return check


async def test_a_redis_restart_and_a_killed_worker_lose_nothing_acknowledged(
    setting: Setting,
):
    a, b, redis = setting.a, setting.b, setting.redis
    seen = Acknowledged()
    session = new_live_session(a, scene=SCENE)
    on_a, on_b = Chatter(a, session, "On A"), Chatter(b, session, "On B")
    first = Worker(setting.worker_env, setting.logs / "worker-1.log")
    second: Worker | None = None
    async with httpx.AsyncClient(timeout=60) as http:

        async def job() -> dict[str, Any]:
            found = await graphql(http, b, JOB, {"id": job_id}, ORGANISER)
            return dict(found["data"]["publishJob"])

        async def hub_is(server: LiveServer, state: str) -> dict[str, Any] | None:
            _, body = await readiness(http, server)
            return body if body["checks"]["live_hub"].startswith(state) else None

        stop = asyncio.Event()
        traffic = asyncio.create_task(participate(http, (a, b), seen, stop))
        try:
            await on_a.join()
            await on_b.join()
            for chatter, text in ((on_a, "before, from A"), (on_b, "before, from B")):
                if (await chatter.say(text))["type"] == "chat":
                    seen.chat.append(text)

            upload = await upload_model(http, a)
            accepted = await graphql(
                http,
                a,
                PUBLISH,
                {"scene": SCENE, "layer": "buildings", "upload": upload},
                ORGANISER,
            )
            job_id = accepted["data"]["publishLayerUpload"]["id"]

            async def building() -> dict[str, Any] | None:
                state = await job()
                return state if state["step"].startswith("building") else None

            await until(building, "the first worker building the job", deadline_s=120)
            first.kill()  # mid-build: SIGKILL to the worker and its build process
            after_kill = await job()

            redis.stop()
            outage_a = await until(lambda: hub_is(a, "unavailable"), "A sees Redis down")
            outage_b = await until(lambda: hub_is(b, "unavailable"), "B sees Redis down")
            refused_chat = await on_a.say("during the outage, from A")
            chat_before = list(seen.chat)
            writes_before = seen.writes

            async def writes_go_on() -> bool:
                return seen.writes >= writes_before + 6

            await until(writes_go_on, "comments and votes acknowledged while Redis is down")
            redis.start()
            second = Worker(setting.worker_env, setting.logs / "worker-2.log")

            told = [await close_code(c.socket, timeout_s=30) for c in (on_a, on_b)]
            resumed = [await c.join(resume=True) for c in (on_a, on_b)]
            for chatter, text in ((on_a, "after, from A"), (on_b, "after, from B")):
                if (await chatter.say(text))["type"] == "chat":
                    seen.chat.append(text)

            async def finished() -> dict[str, Any] | None:
                state = await job()
                return state if state["status"] in ("SUCCEEDED", "FAILED") else None

            done = await until(finished, "the job finished by the second worker", 240)
            back_a = await until(lambda: hub_is(a, "ok"), "A sees Redis back")
            back_b = await until(lambda: hub_is(b, "ok"), "B sees Redis back")
            stop.set()
            await traffic
        finally:
            traffic.cancel()  # when something above failed
            await asyncio.gather(traffic, return_exceptions=True)
            await on_a.close()
            await on_b.close()
            first.kill()
            if second is not None:
                second.kill()

        # reads may be answered from a cache for a few seconds: wait for them to agree
        comments, votes, late, jobs, scenes, assets = [], [], [], [], [], []
        for server in (a, b):
            comments.append(
                await until(agreeing(all_comments, http, server, seen.comments), "comments")
            )
            votes.append(await until(agreeing(tally, http, server, seen.votes), "votes"))
            latecomer = Chatter(server, session, "Late")
            late.append(await latecomer.join())
            await latecomer.close()
            jobs.append((await graphql(http, server, JOBS, headers=ORGANISER))["data"])
            for tier in ("DESKTOP", "MOBILE", "VR"):
                state = (await graphql(http, server, SCENE_STATE, {"tier": tier}))["data"]
                scenes.append(state["scene"])
                for layer in state["scene"]["layers"]:
                    if layer["key"] == "buildings":
                        url = httpx.URL(server.base).join(layer["asset"]["url"])
                        assets.append((await http.get(url)).status_code)

    logs = "".join(p.read_text() for p in setting.logs.glob("worker-*.log"))
    assert seen.refused == []  # Redis down costs no comment or vote: quotas fall back
    assert len(seen.comments) >= 8
    assert seen.votes.total() >= 4
    assert comments == [seen.comments, seen.comments]
    assert votes == [seen.votes, seen.votes]

    assert seen.chat == ["before, from A", "before, from B", "after, from A", "after, from B"]
    assert refused_chat["code"] == "unavailable"  # never acknowledged: the sender knows
    assert told == [CLOSE_TRY_AGAIN, CLOSE_TRY_AGAIN]
    assert [r["recovered"] for r in resumed] == [False, False]  # told, not given a gap
    # each instance kept the history the restart took from Redis
    assert [[c["text"] for c in w["chat"]] for w in resumed] == [chat_before] * 2
    assert [[c["text"] for c in w["chat"]] for w in late] == [seen.chat] * 2

    assert (after_kill["status"], after_kill["attempts"]) == ("RUNNING", 1)
    assert after_kill["step"].startswith("building")
    outcome = (done["status"], done["attempts"], done["resultVersion"], done["error"])
    assert outcome == ("SUCCEEDED", 2, 2, None), logs  # taken over, published once
    assert jobs == [{"publishJobs": [{"id": job_id}]}] * 2
    for scene in scenes:  # both instances, every tier
        assert scene["version"] == 2
        assert scene["versions"] == [
            {"version": 2, "jobId": job_id},
            {"version": 1, "jobId": None},
        ]
    assert assets == [200] * 6

    assert outage_a["status"] == outage_b["status"] == "degraded"
    assert back_a == back_b == {"status": "ready", "checks": {"database": "ok", "live_hub": "ok"}}
