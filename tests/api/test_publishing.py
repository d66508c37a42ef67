"""Publishing over the API: POST /uploads, publishLayerUpload, the job's progress over a
GraphQL subscription, the new scene version — and the refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from tests.api.conftest import ORGANISER_TOKEN
from tests.conftest import sqlite_url
from tests.publishing.models import box_glb, psd_header
from tests.scenes.sample import write_scene

AUTH = {"authorization": f"Bearer {ORGANISER_TOKEN}"}
PUBLISH = """
mutation($scene: String!, $layer: String!, $upload: ID!) {
  publishLayerUpload(sceneSlug: $scene, layerKey: $layer, uploadId: $upload) {
    __typename
    ... on PublishJob { id status kind baseVersion }
    ... on Error { code message }
  }
}"""
JOB = """query($id: ID!) { publishJob(id: $id) {
  status step progress resultVersion attempts error { code message retryable } } }"""
SCENE = """{ scene(slug: "test-scene") { ... on Scene {
  version versions { version jobId layerKeys } layers { key asset { sha256 tilesetUrl } } } } }"""
PROGRESS = (
    "subscription($id: ID!) { publishJobProgress(id: $id) { status step progress resultVersion } }"
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("publishing-api")
    folder = write_scene(root / "scenes")
    settings = Settings(
        data_dir=root / "data",
        database_url=sqlite_url(root),
        admin_token=ORGANISER_TOKEN,
        log_level="warning",
        upload_max_mb=1,
    )
    with TestClient(create_app(settings, scene_paths=[folder])) as test_client:
        yield test_client


def graphql(client: TestClient, query: str, variables: dict[str, Any], auth: bool = True) -> Any:
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=AUTH if auth else {}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def upload(client: TestClient, data: bytes, name: str = "pier.glb") -> Any:
    return client.post(f"/uploads?fileName={name}", content=data, headers=AUTH)


def wait_finished(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = graphql(client, JOB, {"id": job_id})["publishJob"]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError("the job did not finish in 180 s")


def test_an_organiser_uploads_a_model_and_watches_it_publish_a_new_version(client: TestClient):
    before = graphql(client, SCENE, {})["scene"]
    response = upload(client, box_glb())
    assert response.status_code == 201, response.text
    staged = response.json()
    assert staged["format"] == "glb"

    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {ORGANISER_TOKEN}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        job = graphql(
            client,
            PUBLISH,
            {"scene": "test-scene", "layer": "buildings", "upload": staged["uploadId"]},
        )["publishLayerUpload"]
        assert (job["__typename"], job["status"], job["kind"]) == (
            "PublishJob",
            "QUEUED",
            "LAYER_UPLOAD",
        )
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": PROGRESS, "variables": {"id": job["id"]}},
            }
        )
        updates = []
        while True:
            message = ws.receive_json()
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            updates.append(message["payload"]["data"]["publishJobProgress"])
    assert updates[-1]["status"] == "SUCCEEDED"
    assert updates[-1]["resultVersion"] == before["version"] + 1
    assert any(u["step"].startswith("building") for u in updates)

    after = graphql(client, SCENE, {})["scene"]
    assert after["version"] == before["version"] + 1
    assert after["versions"][0]["jobId"] == job["id"]
    old = {layer["key"]: layer["asset"] for layer in before["layers"]}
    new = {layer["key"]: layer["asset"] for layer in after["layers"]}
    assert new["terrain"] == old["terrain"]
    assert new["buildings"]["sha256"] != old["buildings"]["sha256"]
    tileset = client.get(new["buildings"]["tilesetUrl"])
    assert tileset.status_code == 200
    assert tileset.json()["asset"]["version"] == "1.1"


def test_uploads_need_an_organiser_token(client: TestClient):
    response = client.post("/uploads?fileName=pier.glb", content=box_glb())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authorized"


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (psd_header(), "plan.glb", 415, "type_mismatch"),
        (b"glTF" + b"\x00" * (2 * 1024 * 1024), "huge.glb", 413, "too_large"),
        (box_glb(), "pier.exe", 415, "unsupported_type"),
        (box_glb(), "../pier.glb", 400, "invalid_value"),
    ],
)
def test_bad_uploads_are_refused_with_a_typed_error(
    client: TestClient, data: bytes, name: str, status: int, code: str
):
    response = upload(client, data, name)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_visitors_cannot_publish_or_see_jobs(client: TestClient):
    staged = upload(client, box_glb(12.0)).json()
    refused = graphql(
        client,
        PUBLISH,
        {"scene": "test-scene", "layer": "buildings", "upload": staged["uploadId"]},
        auth=False,
    )["publishLayerUpload"]
    assert refused["__typename"] == "NotAuthorizedError"
    assert graphql(client, JOB, {"id": "anything"}, auth=False)["publishJob"] is None


def test_publishing_to_an_unknown_layer_or_upload_is_not_found(client: TestClient):
    staged = upload(client, box_glb(13.0)).json()
    missing_layer = graphql(
        client, PUBLISH, {"scene": "test-scene", "layer": "harbour", "upload": staged["uploadId"]}
    )["publishLayerUpload"]
    assert (missing_layer["__typename"], missing_layer["code"]) == ("NotFoundError", "NOT_FOUND")
    missing_upload = graphql(
        client, PUBLISH, {"scene": "test-scene", "layer": "buildings", "upload": "0" * 64}
    )["publishLayerUpload"]
    assert missing_upload["__typename"] == "NotFoundError"


def test_a_second_publish_while_one_is_queued_is_a_conflict_and_nothing_mixes(client: TestClient):
    first_upload = upload(client, box_glb(14.0)).json()["uploadId"]
    second_upload = upload(client, box_glb(15.0)).json()["uploadId"]
    first = graphql(
        client, PUBLISH, {"scene": "test-scene", "layer": "buildings", "upload": first_upload}
    )
    second = graphql(
        client, PUBLISH, {"scene": "test-scene", "layer": "terrain", "upload": second_upload}
    )
    assert first["publishLayerUpload"]["__typename"] == "PublishJob"
    assert second["publishLayerUpload"]["__typename"] == "ConflictError"
    assert "already" in second["publishLayerUpload"]["message"]
    done = wait_finished(client, first["publishLayerUpload"]["id"])
    assert done["status"] == "SUCCEEDED"
