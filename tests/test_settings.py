"""Settings: production mode refuses every development secret, naming the variable."""

from __future__ import annotations

import pytest

from backend.settings import Mode, Settings

REAL = {
    "admin_token": "a" * 32,
    "live_secret": "l" * 40,
    "visitor_secret": "v" * 40,
    "auth_secret": "s" * 40,
}


def test_production_starts_with_real_secrets():
    assert Settings(mode=Mode.PRODUCTION, **REAL).mode is Mode.PRODUCTION


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("admin_token", "TWINLAND_ADMIN_TOKEN"),
        ("live_secret", "TWINLAND_LIVE_SECRET"),
        ("visitor_secret", "TWINLAND_VISITOR_SECRET"),
        ("auth_secret", "TWINLAND_AUTH_SECRET"),
    ],
)
def test_production_refuses_a_development_secret(missing: str, variable: str):
    values = {k: v for k, v in REAL.items() if k != missing}
    with pytest.raises(ValueError, match=variable):
        Settings(mode=Mode.PRODUCTION, **values)
