"""Live sessions under load: twinland's /live against a Socket.IO 4 server, side by side.

    .venv/bin/python -m bench.live_vs_socketio                    # every scenario, ~6 min
    .venv/bin/python -m bench.live_vs_socketio --scenarios camera --max-viewers 3000

Needs Node.js and ``npm ci --prefix bench/socketio`` (socket.io 4.8.4). Both servers run on
this machine at once, each in its own process; the load generator (bench/live_wire.py:
raw asyncio WebSocket clients, uvloop) is one more process sharing the same two cores.

Scenarios:
  camera   a guide sends its camera at 20 Hz; N viewers receive it. Reported: p50/p99
           delivery latency (guide send → viewer receive) at 500 of them (the others read
           and discard), for growing N, each N on a freshly started server; the answer
           is the largest N with p99 < 100 ms and ≥ 90% of camera frames delivered.
           twinland forwards the camera at once (up to 30 Hz) with its default 10 Hz tick.
  avatars  200 avatars send poses at 10 Hz; twinland aggregates per tick (10 Hz) with its
           area of interest, Socket.IO relays every pose to everyone (volatile). Reported:
           latency at 20 sampled receivers, delivered/expected pose updates (expected:
           what each system promises — every pose for Socket.IO, the 32 nearest at full
           rate and the rest at 1/5 for twinland), server CPU and RSS.
  slow     as avatars, but 5% of the clients stop reading at the start of the window: the
           others' p99 and the server's RSS growth.

Latency is measured on one monotonic clock (the generator's): senders embed their send
time in the payload (twinland: the camera's east coordinate, or two quaternion components
of a pose; Socket.IO: a JSON field).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import uvloop

from backend.live.protocol import AVATAR_DTYPE, FRAME_CAMERA, FRAME_POSE
from backend.live.tokens import Role, issue_join_token
from bench.live_wire import BINARY, TEXT, WsClient

REPO = Path(__file__).resolve().parents[1]
SOCKETIO_SERVER = REPO / "bench" / "socketio" / "server.js"
SECRET = "bench-live-secret-0123456789abcdef0123456789"
ADMIN = "bench-admin-token-0123456789abcdef"
T0 = time.monotonic()
CONNECT_BATCH = 100
CAMERA_SAMPLED = 500
VIEWER_STEPS = (500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000)


def now_ms() -> int:
    return int((time.monotonic() - T0) * 1000)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds so far, RSS bytes) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return cpu_s, rss_kb * 1024


# --- the two systems under test ---------------------------------------------------------


class Twinland:
    name = "twinland"

    def __init__(self, tick_hz: float) -> None:
        self.port = free_port()
        self.data = tempfile.TemporaryDirectory()
        env = {
            **os.environ,
            "TWINLAND_DATA_DIR": self.data.name,
            "TWINLAND_LIVE_SECRET": SECRET,
            "TWINLAND_ADMIN_TOKEN": ADMIN,
            "TWINLAND_LIVE_TICK_HZ": str(tick_hz),
            "TWINLAND_LIVE_OVERFLOW_CAPACITY": "100000",
            "TWINLAND_LOG_LEVEL": "warning",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "serve",
                "--scenes",
                "scenes",
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("twinland did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def new_session(self) -> str:
        document = """mutation($input: LiveSessionInput!) {
          createLiveSession(sceneSlug: "gijang-osiria", input: $input) { ... on LiveSession { id } }
        }"""
        variables = {
            "input": {
                "title": [{"lang": "en", "text": "bench"}],
                "startsAt": "2030-01-01T10:00:00+09:00",
                "endsAt": "2030-01-01T20:00:00+09:00",
                "capacity": 100_000,
            }
        }
        headers = {"authorization": f"Bearer {ADMIN}"}
        url = f"http://127.0.0.1:{self.port}/graphql"
        data = httpx.post(
            url, json={"query": document, "variables": variables}, headers=headers, timeout=30
        ).json()
        session = data["data"]["createLiveSession"]["id"]
        live = """mutation($id: ID!) {
          changeLiveSessionStatus(id: $id, status: LIVE) { __typename }
        }"""
        httpx.post(
            url, json={"query": live, "variables": {"id": session}}, headers=headers, timeout=30
        )
        return str(session)

    async def join(
        self,
        session: str,
        member: int,
        on_frame: Callable[[WsClient, int, bytes], None] | None,
        *,
        parse: bool,
        role: Role = Role.ATTENDEE,
    ) -> WsClient:
        token, _ = issue_join_token(
            SECRET,
            session,
            f"m{member}",
            role,
            now=datetime.now(UTC),
            ttl=timedelta(hours=2),
            member_id=member,
        )
        welcomed = asyncio.get_running_loop().create_future()

        def first(client: WsClient, opcode: int, payload: bytes) -> None:
            if not welcomed.done():
                if opcode == TEXT and payload.startswith(b'{"type":"welcome"'):
                    welcomed.set_result(None)
                elif opcode == TEXT:
                    return
            if on_frame is not None:
                on_frame(client, opcode, payload)

        client = await WsClient.connect(self.port, f"/live/{session}", first)
        client.send_text(json.dumps({"type": "hello", "token": token}))
        await asyncio.wait_for(welcomed, 30)
        client.parse = parse
        return client

    def camera(self, client: WsClient, sent_ms: int) -> None:
        client.send(BINARY, struct.pack("<B3i4h", FRAME_CAMERA, sent_ms, 0, 170, 0, 0, 0, 32767))

    def pose(
        self, client: WsClient, member: int, east_cm: int, north_cm: int, sent_ms: int
    ) -> None:
        client.send(
            BINARY,
            struct.pack(
                "<B3i4h",
                FRAME_POSE,
                east_cm,
                north_cm,
                170,
                sent_ms & 0x7FFF,
                (sent_ms >> 15) & 0x7FFF,
                0,
                0,
            ),
        )

    def camera_sent_ms(self, opcode: int, payload: bytes) -> int | None:
        if opcode == BINARY and payload[0] == 0x02 and payload[5] & 1:
            return int.from_bytes(payload[8:12], "little", signed=True)
        return None

    def poses(self, opcode: int, payload: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """(member ids, send times) of the avatar rows of a tick frame."""
        if opcode != BINARY or payload[0] != 0x02:
            return None
        offset = 8 + (20 if payload[5] & 1 else 0)
        rows = np.frombuffer(payload, dtype=AVATAR_DTYPE, offset=offset)
        rot = rows["rot"].astype(np.int64)
        return rows["member"].astype(np.int64), rot[:, 0] | (rot[:, 1] << 15)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.data.cleanup()


class SocketIO:
    name = "Socket.IO 4.8"

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["node", str(SOCKETIO_SERVER), str(self.port)], stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        if not self.process.stdout.readline().startswith(b"listening"):
            raise RuntimeError("the Socket.IO server did not start")
        self.rooms = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def new_session(self) -> str:
        self.rooms += 1
        return f"room{self.rooms}"

    async def join(
        self,
        session: str,
        member: int,
        on_frame: Callable[[WsClient, int, bytes], None] | None,
        *,
        parse: bool,
        role: Role = Role.ATTENDEE,
    ) -> WsClient:
        joined = asyncio.get_running_loop().create_future()

        def engine(client: WsClient, opcode: int, payload: bytes) -> None:
            if payload == b"2":  # engine.io ping
                client.send_text("3")
                return
            if not joined.done():
                if payload.startswith(b"0{"):
                    client.send_text("40")  # connect to the default namespace
                elif payload.startswith(b"40"):
                    joined.set_result(None)
                return
            if on_frame is not None:
                on_frame(client, opcode, payload)

        path = f"/socket.io/?EIO=4&transport=websocket&room={session}"
        client = await WsClient.connect(self.port, path, engine)
        await asyncio.wait_for(joined, 30)
        client.parse = parse
        return client

    def camera(self, client: WsClient, sent_ms: int) -> None:
        client.send_text(f'42["camera",[{sent_ms},0,170,0,0,0,1]]')

    def pose(
        self, client: WsClient, member: int, east_cm: int, north_cm: int, sent_ms: int
    ) -> None:
        client.send_text(f'42["pose",[{member},{east_cm},{north_cm},170,{sent_ms}]]')

    def camera_sent_ms(self, opcode: int, payload: bytes) -> int | None:
        if payload.startswith(b'42["camera",['):
            return int(payload[13 : payload.index(b",", 13)])
        return None

    def poses(self, opcode: int, payload: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        if not payload.startswith(b'42["pose",['):
            return None
        values = payload[11:-2].split(b",")
        return np.array([int(values[0])]), np.array([int(values[4])])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


System = Twinland | SocketIO


@dataclass
class Result:
    system: str
    scenario: str
    clients: int
    latencies_ms: list[int] = field(default_factory=list)
    delivered: int = 0
    expected: float = 0.0
    cpu_percent: float = 0.0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    closed: int = 0

    def p(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return float(np.percentile(self.latencies_ms, q))


async def connect_many(
    system: System,
    session: str,
    members: list[int],
    on_frame: Callable[[WsClient, int, bytes], None] | None,
    *,
    parse: bool,
) -> list[WsClient]:
    clients: list[WsClient] = []
    for start in range(0, len(members), CONNECT_BATCH):
        batch = members[start : start + CONNECT_BATCH]
        clients += await asyncio.gather(
            *(system.join(session, m, on_frame, parse=parse) for m in batch)
        )
    return clients


async def camera_run(system: System, viewers: int, warmup_s: float, window_s: float) -> Result:
    session = system.new_session()
    result = Result(system.name, "camera", viewers)
    measuring = False
    last_seen: dict[int, int] = {}

    def on_frame(client: WsClient, opcode: int, payload: bytes) -> None:
        sent = system.camera_sent_ms(opcode, payload)
        if sent is None or last_seen.get(id(client)) == sent:
            return
        last_seen[id(client)] = sent
        if measuring:
            result.latencies_ms.append(now_ms() - sent)
            result.delivered += 1

    # latency at up to CAMERA_SAMPLED viewers; the rest read everything but parse nothing,
    # so that the generator (one process) is not the bottleneck it would be at 100k frames/s
    members = list(range(2, viewers + 2))
    sampled = members[:CAMERA_SAMPLED]
    clients = await connect_many(system, session, sampled, on_frame, parse=True)
    clients += await connect_many(system, session, members[CAMERA_SAMPLED:], None, parse=False)
    guide = await system.join(session, 1, None, parse=False, role=Role.GUIDE)
    sent_in_window = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    cpu0 = rss0 = 0.0
    next_at = started
    while loop.time() - started < warmup_s + window_s:
        if not measuring and loop.time() - started >= warmup_s:
            measuring = True
            cpu0, rss = process_stats(system.pid)
            rss0 = rss
            t_window = time.monotonic()
        system.camera(guide, now_ms())
        if measuring:
            sent_in_window += 1
        next_at += 0.05
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    cpu1, rss1 = process_stats(system.pid)
    result.cpu_percent = 100 * (cpu1 - cpu0) / (time.monotonic() - t_window)
    result.rss_start_mb, result.rss_end_mb = rss0 / 2**20, rss1 / 2**20
    result.expected = len(sampled) * sent_in_window
    result.closed = sum(1 for c in clients if c.closed.done())
    for client in [*clients, guide]:
        client.close()
    await asyncio.sleep(1.0)
    return result


async def avatars_run(
    system: System,
    avatars: int,
    warmup_s: float,
    window_s: float,
    slow_fraction: float = 0.0,
    sampled: int = 20,
) -> Result:
    session = system.new_session()
    scenario = "slow" if slow_fraction else "avatars"
    result = Result(system.name, scenario, avatars)
    rng = random.Random(7)
    spots = {
        m: (rng.randrange(-15_000, 15_000), rng.randrange(-15_000, 15_000))
        for m in range(1, avatars + 1)
    }
    measuring = False
    last_seen: dict[int, np.ndarray] = {}

    def on_frame(client: WsClient, opcode: int, payload: bytes) -> None:
        decoded = system.poses(opcode, payload)
        if decoded is None:
            return
        members, sent = decoded
        seen = last_seen.setdefault(id(client), np.full(avatars + 2, -1, dtype=np.int64))
        new = seen[members] != sent
        seen[members[new]] = sent[new]
        if measuring and new.any():
            result.latencies_ms.extend((now_ms() - sent[new]).tolist())
            result.delivered += int(new.sum())

    members = list(range(1, avatars + 1))
    measured = members[:sampled]
    slow = members[-max(1, int(avatars * slow_fraction)) :] if slow_fraction else []
    clients = await connect_many(system, session, measured, on_frame, parse=True)
    clients += await connect_many(system, session, members[sampled:], None, parse=False)
    by_member = dict(zip(members, clients, strict=True))
    loop = asyncio.get_running_loop()
    started = loop.time()
    ticks_sent = 0
    cpu0 = rss0 = 0.0
    t_window = time.monotonic()
    step = 0
    while loop.time() - started < warmup_s + window_s:
        if not measuring and loop.time() - started >= warmup_s:
            measuring = True
            for m in slow:
                by_member[m].stop_reading()
            cpu0, rss = process_stats(system.pid)
            rss0 = rss
            t_window = time.monotonic()
        # every avatar once per 100 ms, each at its own phase, as independent headsets
        # would (a burst of all 200 at one instant would line up with the server's tick)
        period_start = started + step * 0.1
        for slot, m in enumerate(members):
            await asyncio.sleep(max(0.0, period_start + slot * 0.1 / len(members) - loop.time()))
            east, north = spots[m]
            system.pose(by_member[m], m, east, north, now_ms())
        if measuring:
            ticks_sent += 1
        step += 1
        await asyncio.sleep(max(0.0, started + step * 0.1 - loop.time()))
    cpu1, rss1 = process_stats(system.pid)
    elapsed = time.monotonic() - t_window
    result.cpu_percent = 100 * (cpu1 - cpu0) / elapsed
    result.rss_start_mb, result.rss_end_mb = rss0 / 2**20, rss1 / 2**20
    others = avatars - 1
    per_receiver = (
        others if isinstance(system, SocketIO) else min(32, others) + (others - min(32, others)) / 5
    )
    result.expected = sampled * per_receiver * ticks_sent
    result.closed = sum(1 for c in clients if c.closed.done())
    for client in clients:
        client.close()
    await asyncio.sleep(1.0)
    return result


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | system | clients | p50 ms | p99 ms | delivered/expected "
        "| server CPU % | server RSS MB (start → end) | closed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ratio = r.delivered / r.expected if r.expected else float("nan")
        lines.append(
            f"| {r.scenario} | {r.system} | {r.clients:,} | {r.p(50):.1f} | {r.p(99):.1f} "
            f"| {ratio:.2f} "
            f"| {r.cpu_percent:.0f} | {r.rss_start_mb:.0f} → {r.rss_end_mb:.0f} | {r.closed} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    scenarios = args.scenarios.split(",")
    results: list[Result] = []
    largest: dict[str, int] = {}
    factories: list[Callable[[], System]] = [lambda: Twinland(tick_hz=10.0), SocketIO]
    if "camera" in scenarios:
        steps = [n for n in VIEWER_STEPS if n <= args.max_viewers]
        for factory in factories:
            for viewers in steps:
                system = factory()  # a fresh server per step: no leftovers from the last
                try:
                    result = await camera_run(system, viewers, args.warmup, args.window)
                finally:
                    system.stop()
                results.append(result)
                print(table([result]).splitlines()[-1], flush=True)
                if result.p(99) >= 100 or result.delivered < 0.9 * result.expected:
                    break
                largest[result.system] = viewers
    for scenario in ("avatars", "slow"):
        if scenario not in scenarios:
            continue
        for factory in factories:
            system = factory()
            try:
                slow = 0.05 if scenario == "slow" else 0.0
                result = await avatars_run(system, 200, args.warmup, args.window, slow)
            finally:
                system.stop()
            results.append(result)
            print(table([result]).splitlines()[-1], flush=True)
    print()
    print(table(results))
    if largest:
        print()
        found = ", ".join(f"{name} {n:,}" for name, n in largest.items())
        print(f"largest N with camera p99 < 100 ms (steps {', '.join(map(str, steps))}): {found}")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    summary = [
        {**r.__dict__, "latencies_ms": None, "p50": r.p(50), "p99": r.p(99)} for r in results
    ]
    (out / "live_vs_socketio.json").write_text(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="camera,avatars,slow")
    parser.add_argument("--max-viewers", type=int, default=8000)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=8.0)
    args = parser.parse_args()
    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
