"""A throwaway PostgreSQL cluster on a free port, for tests that stop and start PostgreSQL.

The shared server on 5432 is used by other tests at the same time, so a fault test never
restarts it: it makes a cluster of its own with the installed server binaries (Debian's
/usr/lib/postgresql/<major>/bin). PostgreSQL refuses to run as root, so as root the
cluster belongs to the ``postgres`` system user and its commands run through runuser.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.live.server import free_port


def _server_binaries() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    assert pg_ctl, "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
    return Path(pg_ctl).parent


class PostgresServer:
    """A private cluster (trust authentication, user ``postgres``) this test may stop and
    start. ``url`` is its ``postgres`` database for the service."""

    def __init__(self) -> None:
        self.bin = _server_binaries()
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        # not under pytest's tmp_path: as root that is private to root, and the server
        # runs as postgres
        self.folder = Path(tempfile.mkdtemp(prefix="twinland-test-pg-"))
        self.data = self.folder / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as, str(self.bin / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{program} failed:\n{result.stdout}\n{result.stderr}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c max_connections=50"
        )
        self._run(
            "pg_ctl",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.folder / "server.log"),
            "--options",
            options,
            "--wait",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session and shuts down cleanly; ``immediate`` is a crash."""
        self._run("pg_ctl", "--pgdata", str(self.data), "--mode", mode, "--wait", "stop")

    def pause(self) -> None:
        """SIGSTOP every process of the cluster: its sockets stay open and nothing answers
        (a stalled server, or a partition that drops packets)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: signal.Signals) -> None:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        for pid in [postmaster, *map(int, children)]:
            os.kill(pid, signum)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.resume()  # a paused server would not stop
        stop = ["--pgdata", str(self.data), "--mode", "immediate", "--wait", "stop"]
        subprocess.run([*self._as, str(self.bin / "pg_ctl"), *stop], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
