"""Running the HTTP server: one process, or several sharing one listening socket.

Python runs one request at a time per process, so one process uses one core. With
``--workers N`` the server runs N whole instances of the service (each its own event
loop, database pool and caches) that accept from the same socket, so every core serves.
They coordinate exactly as instances on separate machines do, through Redis (live
sessions, quotas, publish jobs, the response cache's invalidation): that is why more
than one worker needs ``TWINLAND_REDIS_URL``. The parent process only loads the scenes
once, binds the socket and keeps the workers running (a worker that dies is replaced);
SIGTERM or Ctrl-C stops them gracefully (in-flight requests finish, live clients are
told to reconnect).
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import uvicorn

from backend.settings import Settings

RESTART_PAUSE_S = 1.0  # between replacing a worker that died and checking again
STOP_GRACE_S = 30.0  # a worker still running this long after SIGTERM is killed
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
STARTUP_FAILURE_EXIT = 3  # uvicorn's own exit status for a server that never started


class ServingError(ValueError):
    """A configuration the server cannot run with (named, before anything starts)."""


def serve(
    settings: Settings, scene_paths: Sequence[Path], host: str, port: int, workers: int
) -> None:
    if workers < 1:
        raise ServingError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        _run_server(settings, scene_paths, host, port, sockets=None)
        return
    if not settings.redis_url:
        raise ServingError(
            f"--workers {workers} needs TWINLAND_REDIS_URL: the worker processes share live "
            "sessions, quotas, jobs and cache invalidation through Redis"
        )
    if scene_paths:
        asyncio.run(load_scene_folders(settings, scene_paths))  # once, not once per worker
    listener = _bind(host, port)
    _supervise(listener, workers, host, port)


def _run_server(
    settings: Settings,
    scene_paths: Sequence[Path],
    host: str,
    port: int,
    sockets: list[socket.socket] | None,
) -> None:
    from backend.app import create_app
    from backend.http.asset_protocol import asset_protocol

    application = create_app(settings, scene_paths=scene_paths)
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        # httptools, with hot asset files answered below ASGI (backend/http/asset_protocol)
        http=asset_protocol(application.state.asset_memory),
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        proxy_headers=False,
        log_level=settings.log_level,
        access_log=False,  # our middleware logs every request, with its request id
    )
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    if not server.started:  # as uvicorn.run: a failed start (port taken, lifespan error)
        sys.exit(STARTUP_FAILURE_EXIT)


async def load_scene_folders(settings: Settings, paths: Sequence[Path]) -> None:
    from backend.asset_store import LocalAssetStore
    from backend.scenes.loader import load_scenes
    from backend.store.engine import create_engine, migrate
    from backend.store.sql_store import SqlStore

    engine = create_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
        await load_scenes(
            SqlStore(engine),
            LocalAssetStore(settings.asset_dir),
            list(paths),
            settings.resolved_build_cache_dir,
        )
    finally:
        await engine.dispose()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _worker_main(listener: socket.socket, host: str, port: int, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # settings again from the environment the worker inherited (a Settings is not sent)
    _run_server(Settings(), (), host, port, sockets=[listener])


def _die_with_parent(parent_pid: int) -> None:
    """A worker whose supervisor was killed (SIGKILL, OOM) must not go on serving the port
    unsupervised: Linux sends it SIGTERM when the parent dies (graceful, as any stop)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # it died before the request was in place
        sys.exit(0)


def _supervise(listener: socket.socket, workers: int, host: str, port: int) -> None:
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited loop

    def start() -> BaseProcess:
        process = spawn.Process(
            target=_worker_main, args=(listener, host, port, os.getpid()), daemon=False
        )
        process.start()
        return process

    stopping = False

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running = [start() for _ in range(workers)]
    print(f"twinland: {workers} workers serving on http://{host}:{port}", flush=True)
    while not stopping:
        time.sleep(RESTART_PAUSE_S)
        for index, process in enumerate(running):
            if not process.is_alive() and not stopping:
                print(f"twinland: worker {process.pid} exited ({process.exitcode}); replacing it")
                running[index] = start()
    for process in running:
        process.terminate()  # SIGTERM: uvicorn finishes in-flight requests
    deadline = time.monotonic() + STOP_GRACE_S
    for process in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    listener.close()
