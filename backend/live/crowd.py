"""Where everyone is: avatar poses (this instance's and others'), the guide's camera, and
the aggregated tick frames each client gets. Pure: no I/O, no clock but the tick count.

Area of interest: each avatar gets its ``near`` nearest avatars every tick and everyone
else every ``far_every`` ticks (staggered by member id); clients without a pose of
their own (spectators, the not-yet-moved) share one frame of the crowd around the guide's
camera. The cost is O(avatars²) distances per tick, never O(avatars²) messages.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.live.protocol import AVATAR_DTYPE, Pose, encode_tick

Rows = NDArray[Any]  # AVATAR_DTYPE rows


@dataclass(slots=True)
class _Remote:
    rows: Rows
    heard_tick: int


class Crowd:
    def __init__(self, *, near: int, far_every: int, instance_timeout_ticks: int) -> None:
        self.near = near
        self.far_every = far_every
        self.instance_timeout_ticks = instance_timeout_ticks
        self.poses: dict[int, Pose] = {}  # this instance's avatars
        self.remote: dict[str, _Remote] = {}  # other instances' avatars, by instance
        self.camera: Pose | None = None
        self.camera_tick = -1  # when the camera last moved, for latest-wins across instances
        self.camera_dirty = False  # moved since clients last got it

    def set_camera(self, pose: Pose, tick: int) -> None:
        self.camera = pose
        self.camera_tick = tick
        self.camera_dirty = True

    def camera_frame(self, tick: int) -> bytes:
        """The camera alone, for followers, right now (it is then no longer dirty)."""
        assert self.camera is not None
        self.camera_dirty = False
        return encode_tick(tick, self.camera, np.zeros(0, dtype=AVATAR_DTYPE))

    def local_rows(self) -> Rows:
        rows = np.zeros(len(self.poses), dtype=AVATAR_DTYPE)
        for i, (member, pose) in enumerate(self.poses.items()):
            rows[i] = (member, pose.pos_cm, pose.rot)
        return rows

    # --- between instances ----------------------------------------------------------------

    def share(self, tick: int, reactions: Counter[str]) -> bytes:
        """This instance's state for the others: a JSON header line, then avatar rows."""
        header: dict[str, Any] = {"tick": tick, "reactions": dict(reactions)}
        if self.camera is not None and self.camera_tick >= 0:
            header["camera"] = [*self.camera.pos_cm, *self.camera.rot]
        return json.dumps(header).encode() + b"\n" + self.local_rows().tobytes()

    def receive(self, instance: str, data: bytes, tick: int) -> Counter[str]:
        """Another instance's state; returns its reaction counts. Malformed data is dropped
        (it came from our own instances, so it signals a version mismatch, not an attack)."""
        head, _, body = data.partition(b"\n")
        try:
            header = json.loads(head)
            rows = np.frombuffer(body, dtype=AVATAR_DTYPE).copy()
        except ValueError:
            return Counter()
        self.remote[instance] = _Remote(rows, tick)
        camera = header.get("camera")
        if isinstance(camera, list) and len(camera) == 7:
            # a guide on another instance moved the camera; their latest wins here too
            self.camera = Pose(
                (camera[0], camera[1], camera[2]), (camera[3], camera[4], camera[5], camera[6])
            )
            self.camera_tick = -1  # not ours: do not echo it back
            self.camera_dirty = True
        return Counter({str(k): int(v) for k, v in dict(header.get("reactions", {})).items()})

    def expired(self, tick: int) -> list[str]:
        """Instances not heard from for ``instance_timeout_ticks``: gone (crashed or cut
        off). Their avatars are forgotten here; the room drops their members."""
        gone = [
            i for i, r in self.remote.items() if tick - r.heard_tick > self.instance_timeout_ticks
        ]
        for instance in gone:
            del self.remote[instance]
        return gone

    # --- tick frames ----------------------------------------------------------------------

    def frames(
        self, tick: int, posed_conns: dict[int, int], other_conns: list[int]
    ) -> tuple[list[tuple[int, bytes]], bytes | None]:
        """(per-avatar frames as (conn, bytes), one shared frame for ``other_conns``).
        ``posed_conns`` maps a local connection to its member id (an avatar with a pose)."""
        parts = [self.local_rows(), *(r.rows for r in self.remote.values())]
        rows = np.concatenate(parts) if parts else np.zeros(0, dtype=AVATAR_DTYPE)
        # the camera rides along only when it moved since clients last got it
        camera = self.camera if self.camera_dirty else None
        self.camera_dirty = False
        if len(rows) == 0 and camera is None:
            return [], None
        positions = rows["pos_cm"].astype(np.float64)
        far_phase = rows["member"] % self.far_every == tick % self.far_every
        index_of = {int(m): i for i, m in enumerate(rows["member"])}
        personal: list[tuple[int, bytes]] = []
        for conn, member in posed_conns.items():
            i = index_of.get(member)
            if i is None:
                continue
            d = np.linalg.norm(positions - positions[i], axis=1)
            d[i] = np.inf  # not yourself
            keep = far_phase.copy()
            if len(rows) > 1:
                keep[np.argsort(d)[: self.near]] = True
            keep[i] = False
            if keep.any() or camera is not None:
                personal.append((conn, encode_tick(tick, camera, rows[keep])))
        shared = None
        if other_conns:
            if len(rows) > self.near and self.camera is not None:
                d = np.linalg.norm(positions - np.array(self.camera.pos_cm, np.float64), axis=1)
                keep = far_phase.copy()
                keep[np.argsort(d)[: self.near]] = True
            elif len(rows) > self.near:
                keep = far_phase
            else:
                keep = np.ones(len(rows), dtype=bool)
            if keep.any() or camera is not None:
                shared = encode_tick(tick, camera, rows[keep])
        return personal, shared
