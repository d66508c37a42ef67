"""The hostile suite attacks the same running app as the API tests, and live sessions on a
real `twinland serve` of its own (one for the whole suite: attacks on sockets need the
real server, and each test works in a session of its own)."""

from collections.abc import Iterator

import pytest

from tests.api.conftest import api  # noqa: F401 - a fixture, shared
from tests.hostile.live_clients import start_live_server
from tests.live.server import LiveServer


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("hostile-live"))
    yield server
    server.stop()
