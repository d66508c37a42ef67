"""``twinland serve --workers N``: several processes on one port, kept running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, PostgresDatabases
from tests.live.server import free_port

REDIS = os.environ.get("TWINLAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def children(pid: int) -> set[int]:
    """The live worker processes of the server ``pid`` (not multiprocessing's helpers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


def wait_for(condition, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def answers(port: int) -> bool:
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql", json={"query": "{ regions { slug } }"}, timeout=5
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json() == {"data": {"regions": []}}


def test_more_than_one_worker_needs_redis(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINLAND_")}
    finished = subprocess.run(
        [sys.executable, "-m", "backend.cli", "serve", "--workers", "2"],
        cwd=REPO,
        env={**env, "TWINLAND_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "--workers 2 needs TWINLAND_REDIS_URL" in finished.stderr


def two_workers(data_dir: Path, database: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TWINLAND_")},
        "TWINLAND_DATA_DIR": str(data_dir),
        "TWINLAND_DATABASE_URL": database,
        "TWINLAND_REDIS_URL": REDIS,
        "TWINLAND_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )


@pytest.fixture
async def database(postgres_databases: PostgresDatabases) -> str:
    return await postgres_databases.create()


def test_workers_share_the_port_and_one_that_dies_is_replaced(tmp_path: Path, database: str):
    port = free_port()
    server = two_workers(tmp_path, database, port)
    try:
        wait_for(lambda: len(children(server.pid)) >= 2 and answers(port), "two workers")
        workers = children(server.pid)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)  # a worker crashes: the others keep serving
        assert answers(port)
        wait_for(
            lambda: len(children(server.pid)) == 2 and victim not in children(server.pid),
            "the dead worker's replacement",
        )
        wait_for(lambda: answers(port), "the service after the replacement")
        server.send_signal(signal.SIGTERM)  # stops every worker, then itself
        assert server.wait(timeout=60) == 0
        assert not (workers - {victim}) & {int(p.name) for p in Path("/proc").glob("[0-9]*")}
    finally:
        if server.poll() is None:
            server.kill()


def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path, database: str):
    port = free_port()
    server = two_workers(tmp_path, database, port)
    try:
        wait_for(lambda: len(children(server.pid)) == 2 and answers(port), "two workers")
        workers = children(server.pid)
        server.kill()  # SIGKILL: the supervisor cannot stop them itself
        server.wait(timeout=10)
        wait_for(
            lambda: not workers & {int(p.name) for p in Path("/proc").glob("[0-9]*")},
            "the orphaned workers to stop",
            timeout_s=60,
        )
        assert not answers(port)
    finally:
        if server.poll() is None:
            server.kill()
