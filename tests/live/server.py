"""A real twinland server (uvicorn, websockets) in a subprocess, for WebSocket tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DEMO_SCENES, REPO

ORGANISER_TOKEN = "organiser-secret-for-live-tests-0123"
READY_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    def __init__(
        self, data_dir: Path, *, scenes: Sequence[Path] = (DEMO_SCENES,), **env: str
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        # a file, not a pipe: nobody reads a pipe while the test runs, and a server that
        # logs 64 KiB (tracebacks while Redis is down) would block writing the rest
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / f"serve-{self.port}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "serve",
                *(f"--scenes={folder}" for folder in scenes),
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            env={
                **os.environ,
                "TWINLAND_DATA_DIR": str(data_dir),
                "TWINLAND_ADMIN_TOKEN": ORGANISER_TOKEN,
                "TWINLAND_LOG_LEVEL": "warning",
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the server has its own copy
        # a cold build cache means building the demo scenes first: minutes, not seconds
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{output}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not become ready in {READY_TIMEOUT_S} s")

    def graphql(
        self, document: str, variables: dict[str, Any] | None = None, *, organiser: bool = False
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {ORGANISER_TOKEN}"} if organiser else {}
        response = httpx.post(
            f"{self.base}/graphql",
            json={"query": document, "variables": variables or {}},
            headers=headers,
            timeout=30,
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def ticket(self, session_id: str, name: str, role: str | None = None) -> dict[str, Any]:
        if role is None:
            data = self.graphql(JOIN, {"id": session_id, "name": name})["joinLiveSession"]
        else:
            data = self.graphql(
                ROLE_TICKET, {"id": session_id, "name": name, "role": role}, organiser=True
            )["liveSessionRoleTicket"]
        assert data["__typename"] == "LiveSessionTicket", data
        return data

    def set_status(self, session_id: str, status: str) -> None:
        result = self.graphql(STATUS, {"id": session_id, "status": status}, organiser=True)[
            "changeLiveSessionStatus"
        ]
        assert result["__typename"] == "LiveSession", result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


JOIN = """mutation Join($id: ID!, $name: String!) {
  joinLiveSession(id: $id, name: $name) {
    __typename
    ... on LiveSessionTicket { token url memberId role expiresAt }
    ... on Error { code message }
  }
}"""
ROLE_TICKET = """mutation Role($id: ID!, $name: String!, $role: LiveRole!) {
  liveSessionRoleTicket(id: $id, name: $name, role: $role) {
    __typename
    ... on LiveSessionTicket { token url memberId role }
    ... on Error { code message }
  }
}"""
STATUS = """mutation Status($id: ID!, $status: LiveSessionStatus!) {
  changeLiveSessionStatus(id: $id, status: $status) { __typename ... on Error { code message } }
}"""

CREATE = """mutation Create($scene: String!, $input: LiveSessionInput!) {
  createLiveSession(sceneSlug: $scene, input: $input) {
    __typename ... on LiveSession { id } ... on Error { code message }
  }
}"""


def new_live_session(server: LiveServer, capacity: int = 100, scene: str = "gijang-osiria") -> str:
    """A fresh session, already live: tests do not share rooms."""
    result = server.graphql(
        CREATE,
        {
            "scene": scene,
            "input": {
                "title": [{"lang": "en", "text": "Test tour"}],
                "startsAt": "2030-01-01T10:00:00+09:00",
                "endsAt": "2030-01-01T12:00:00+09:00",
                "capacity": capacity,
            },
        },
        organiser=True,
    )["createLiveSession"]
    assert result["__typename"] == "LiveSession", result
    server.set_status(result["id"], "LIVE")
    return str(result["id"])
