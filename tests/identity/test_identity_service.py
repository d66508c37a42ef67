"""Accounts, sessions, API keys and OIDC tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from backend.domain.errors import Conflict, NotAuthorized
from backend.domain.identity import Action, Grant
from backend.services import identity
from backend.services.identity import AuthConfig, OidcVerifier
from backend.settings import Settings
from backend.store.sql_store import SqlStore

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
CONFIG = AuthConfig(
    admin_token="admin-token-for-tests-0123456789",
    secret="s" * 40,
    previous_secret=None,
    session_ttl=timedelta(hours=12),
)


async def organiser(store: SqlStore, email: str = "ada@example.org") -> str:
    created = await identity.create_account(
        store.identities, email, PASSWORD, [Grant.parse("organiser:gokseong")], NOW
    )
    return created.id


async def test_sign_in_gives_a_session_that_carries_the_grants(store: SqlStore) -> None:
    account = await organiser(store)
    session = await identity.login(store.identities, CONFIG, "ADA@example.org", PASSWORD, NOW)
    assert session.expires_at == NOW + timedelta(hours=12)
    who = await identity.authenticate(store.identities, CONFIG, session.token, NOW)
    assert who.id == account
    assert who.may(Action.EDIT_CONTENT, "gokseong")
    assert not who.may(Action.EDIT_CONTENT, "jeju-seongsan")


async def test_a_wrong_password_and_an_unknown_email_are_the_same_refusal(store: SqlStore) -> None:
    await organiser(store)
    with pytest.raises(NotAuthorized) as wrong:
        await identity.login(store.identities, CONFIG, "ada@example.org", "x" * 20, NOW)
    with pytest.raises(NotAuthorized) as unknown:
        await identity.login(store.identities, CONFIG, "bob@example.org", PASSWORD, NOW)
    assert wrong.value.message == unknown.value.message == "the e-mail or the password is wrong"


async def test_an_email_has_one_account(store: SqlStore) -> None:
    await organiser(store)
    with pytest.raises(Conflict):
        await organiser(store, "Ada@Example.org")


async def test_the_password_is_stored_as_an_argon2id_hash(store: SqlStore) -> None:
    account = await organiser(store)
    record = await store.identities.account_by_id(account)
    assert record is not None
    assert record.password_hash.startswith("$argon2id$")
    assert PASSWORD not in record.password_hash


async def test_expired_forged_and_ended_sessions_are_refused(store: SqlStore) -> None:
    account = await organiser(store)
    session = await identity.login(store.identities, CONFIG, "ada@example.org", PASSWORD, NOW)
    yesterday = NOW - timedelta(days=1)  # its 12 hours are over by now
    expired = await identity.login(store.identities, CONFIG, "ada@example.org", PASSWORD, yesterday)
    with pytest.raises(NotAuthorized, match="expired"):
        await identity.authenticate(store.identities, CONFIG, expired.token, NOW)
    forged = jwt.encode(
        {"iss": "twinland", "sub": account, "ver": 1, "exp": int(time.time()) + 600},
        "not-the-secret-" * 3,
        algorithm="HS256",
    )
    with pytest.raises(NotAuthorized, match="signature"):
        await identity.authenticate(store.identities, CONFIG, forged, NOW)
    await store.identities.end_sessions(account)
    with pytest.raises(NotAuthorized, match="ended"):
        await identity.authenticate(store.identities, CONFIG, session.token, NOW)


async def test_sessions_survive_a_secret_rotation_until_the_old_secret_is_dropped(
    store: SqlStore,
) -> None:
    await organiser(store)
    old = await identity.login(store.identities, CONFIG, "ada@example.org", PASSWORD, NOW)
    rotated = AuthConfig(CONFIG.admin_token, "r" * 40, CONFIG.secret, CONFIG.session_ttl)
    assert (await identity.authenticate(store.identities, rotated, old.token, NOW)).name == (
        "ada@example.org"
    )
    dropped = AuthConfig(CONFIG.admin_token, "r" * 40, None, CONFIG.session_ttl)
    with pytest.raises(NotAuthorized, match="signature"):
        await identity.authenticate(store.identities, dropped, old.token, NOW)


async def test_api_keys_work_until_revoked_and_only_their_hash_is_kept(store: SqlStore) -> None:
    issued = await identity.create_api_key(
        store.identities, "drone team", [Grant.parse("content:gokseong")], "admin-token", NOW
    )
    assert issued.key.startswith("tlk_")
    who = await identity.authenticate(store.identities, CONFIG, issued.key, NOW)
    assert (who.kind, who.name) == ("api_key", "drone team")
    assert who.may(Action.PUBLISH, "gokseong")
    assert not who.may(Action.EDIT_CONTENT, "gokseong")
    async with store.engine.connect() as connection:
        dump = str((await connection.exec_driver_sql("SELECT * FROM api_keys")).all())
    assert issued.key not in dump
    await store.identities.revoke_api_key(issued.id, NOW)
    with pytest.raises(NotAuthorized, match="revoked"):
        await identity.authenticate(store.identities, CONFIG, issued.key, NOW)


async def test_the_admin_token_is_the_bootstrap_admin(store: SqlStore) -> None:
    who = await identity.authenticate(store.identities, CONFIG, CONFIG.admin_token, NOW)
    assert who.may(Action.MANAGE_IDENTITIES)


# --- an external OpenID Connect issuer ----------------------------------------------------


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oidc(issuer_key: rsa.RSAPrivateKey) -> OidcVerifier:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer_key.public_key()))
    return OidcVerifier(
        "https://login.gokseong.go.kr",
        "twinland",
        jwks={"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]},
    )


def token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    body = {
        "iss": "https://login.gokseong.go.kr",
        "aud": "twinland",
        "sub": "u-123",
        "email": "clerk@gokseong.go.kr",
        "exp": int(time.time()) + 600,
        "twinland_roles": ["organiser:gokseong", "superuser"],
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


async def test_tokens_of_the_configured_issuer_are_accepted_with_their_roles(
    store: SqlStore, oidc: OidcVerifier, issuer_key: rsa.RSAPrivateKey
) -> None:
    config = AuthConfig(CONFIG.admin_token, CONFIG.secret, None, CONFIG.session_ttl, oidc)
    who = await identity.authenticate(store.identities, config, token(issuer_key), NOW)
    assert (who.kind, who.name) == ("oidc", "clerk@gokseong.go.kr")
    assert len(who.id) <= 64
    assert [str(g) for g in who.grants] == ["organiser:gokseong"]  # "superuser" is ignored


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"aud": "someone-else"}, "invalid"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"iss": "https://evil.example"}, "not accepted"),
    ],
)
async def test_foreign_expired_or_misaddressed_oidc_tokens_are_refused(
    store: SqlStore,
    oidc: OidcVerifier,
    issuer_key: rsa.RSAPrivateKey,
    claims: dict[str, object],
    problem: str,
) -> None:
    config = AuthConfig(CONFIG.admin_token, CONFIG.secret, None, CONFIG.session_ttl, oidc)
    with pytest.raises(NotAuthorized, match=problem):
        await identity.authenticate(store.identities, config, token(issuer_key, **claims), NOW)


async def test_an_oidc_token_signed_by_another_key_is_refused(
    store: SqlStore, oidc: OidcVerifier
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    config = AuthConfig(CONFIG.admin_token, CONFIG.secret, None, CONFIG.session_ttl, oidc)
    with pytest.raises(NotAuthorized, match="invalid"):
        await identity.authenticate(store.identities, config, token(impostor), NOW)


def test_oidc_settings_must_come_complete(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TWINLAND_OIDC_AUDIENCE"):
        Settings(data_dir=tmp_path, oidc_issuer="https://login.example")
