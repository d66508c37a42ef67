"""The hostile suite attacks the same running app as the API tests."""

from tests.api.conftest import api  # noqa: F401 - a fixture, shared
