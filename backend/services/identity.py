"""Identity use cases: accounts with argon2id passwords, session tokens, API keys for content
teams, and tokens from an external OIDC issuer, all resolved to a ``Principal``.

Bearer tokens, told apart by shape:
  - the bootstrap admin token (``TWINLAND_ADMIN_TOKEN``): admin, for first set-up and
    break-glass; every use is audited like any other;
  - ``tlk_<id>_<secret>``: an API key; only the SHA-256 of the whole key is stored;
  - a JWT issued by twinland (``iss`` = ``twinland``): a session of an account, signed with
    ``TWINLAND_AUTH_SECRET`` (HS256); ``TWINLAND_AUTH_PREVIOUS_SECRET`` still verifies
    during a rotation; bumping the account's session version ends its sessions;
  - a JWT from the configured OIDC issuer: verified against the issuer's JWKS (RS256/ES256),
    roles from its ``twinland_roles`` claim (configurable).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.domain.errors import InvalidValue, NotAuthorized
from backend.domain.identity import Grant, Principal, Role, check_email, check_password
from backend.observability import log
from backend.ports import IdentityStore
from backend.settings import Settings

SESSION_ISSUER = "twinland"
API_KEY_PREFIX = "tlk_"
# argon2id with the RFC 9106 "second recommended" parameters (64 MiB, 3 passes): about
# 50-100 ms on a small server, which is the point.
PASSWORDS = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
# Verified when the e-mail is unknown, so a miss takes as long as a wrong password.
_DUMMY_HASH = PASSWORDS.hash("twinland: no such account, same cost")
ADMIN_TOKEN_PRINCIPAL = Principal(
    "admin-token", "admin_token", "bootstrap admin", (Grant(Role.ADMIN),)
)


@dataclass(frozen=True, slots=True)
class SessionToken:
    token: str
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    id: str
    key: str  # shown once; only its hash is kept
    principal: Principal


@dataclass(frozen=True)
class AuthConfig:
    admin_token: str
    secret: str
    previous_secret: str | None
    session_ttl: timedelta
    oidc: OidcVerifier | None = None


async def create_account(
    store: IdentityStore, email: str, password: str, grants: list[Grant], now: datetime
) -> Principal:
    address = check_email(email)
    digest = PASSWORDS.hash(check_password(password))
    account_id = f"account:{uuid.uuid4()}"
    await store.create_account(account_id, address, digest, now)
    await store.set_grants(account_id, grants)
    return Principal(account_id, "account", address, tuple(grants))


async def login(
    store: IdentityStore, config: AuthConfig, email: str, password: str, now: datetime
) -> SessionToken:
    """A session token, or NotAuthorized that does not say whether the e-mail exists."""
    refused = NotAuthorized("the e-mail or the password is wrong")
    try:
        address = check_email(email)
    except InvalidValue:
        raise refused from None
    account = await store.account_by_email(address)
    try:
        PASSWORDS.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise refused from None
    if account is None or account.disabled:
        raise refused
    if PASSWORDS.check_needs_rehash(account.password_hash):
        await store.set_password_hash(account.id, PASSWORDS.hash(password))
    grants = await store.grants_of(account.id)
    expires_at = now + config.session_ttl
    token = jwt.encode(
        {
            "iss": SESSION_ISSUER,
            "sub": account.id,
            "ver": account.session_version,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        },
        config.secret,
        algorithm="HS256",
    )
    return SessionToken(token, expires_at, Principal(account.id, "account", account.email, grants))


async def create_api_key(
    store: IdentityStore, name: str, grants: list[Grant], created_by: str, now: datetime
) -> IssuedApiKey:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 120:
        raise InvalidValue("name", "an API key's name has 1 to 120 characters")
    if not grants:
        raise InvalidValue("grants", "an API key needs at least one grant")
    key_id = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    await store.create_api_key(key_id, cleaned, _sha256(key), created_by, now)
    principal_id = f"key:{key_id}"
    await store.set_grants(principal_id, grants)
    return IssuedApiKey(key_id, key, Principal(principal_id, "api_key", cleaned, tuple(grants)))


async def authenticate(
    store: IdentityStore, config: AuthConfig, bearer: str, now: datetime
) -> Principal:
    """The principal of a bearer token, or NotAuthorized saying what is wrong with it."""
    if hmac.compare_digest(bearer.encode(), config.admin_token.encode()):
        return ADMIN_TOKEN_PRINCIPAL
    if bearer.startswith(API_KEY_PREFIX):
        record = await store.api_key_by_secret(_sha256(bearer))
        if record is None or record.revoked:
            raise NotAuthorized("this API key is unknown or revoked")
        principal_id = f"key:{record.id}"
        return Principal(principal_id, "api_key", record.name, await store.grants_of(principal_id))
    try:
        issuer = jwt.decode(bearer, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise NotAuthorized("the bearer token is neither a key nor a token") from None
    if issuer == SESSION_ISSUER:
        return await _session(store, config, bearer, now)
    if config.oidc is not None and issuer == config.oidc.issuer:
        return config.oidc.principal(bearer)
    raise NotAuthorized(f"tokens from issuer {issuer!r} are not accepted here")


async def _session(
    store: IdentityStore, config: AuthConfig, token: str, now: datetime
) -> Principal:
    claims: dict[str, Any] | None = None
    for secret in filter(None, (config.secret, config.previous_secret)):
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                issuer=SESSION_ISSUER,
                # expiry is checked against ``now`` below, not PyJWT's own clock
                options={"require": ["exp", "sub", "ver"], "verify_exp": False},
            )
            break
        except jwt.InvalidSignatureError:
            continue  # perhaps signed with the other secret of a rotation
        except jwt.PyJWTError as error:
            raise NotAuthorized(f"the session token is invalid: {error}") from None
    if claims is None:
        raise NotAuthorized("the session token's signature does not verify")
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= now.timestamp():
        raise NotAuthorized("the session expired: sign in again")
    account = await store.account_by_id(str(claims["sub"]))
    if account is None or account.disabled or account.session_version != claims["ver"]:
        raise NotAuthorized("the session was ended: sign in again")
    return Principal(account.id, "account", account.email, await store.grants_of(account.id))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class OidcVerifier:
    """Verifies tokens of one external issuer against its JSON Web Key Set: from a URL
    (fetched and cached by PyJWT's client, refetched for unknown key ids) or a file."""

    ALGORITHMS: ClassVar[list[str]] = ["RS256", "ES256", "PS256", "EdDSA"]

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        roles_claim: str = "twinland_roles",
    ) -> None:
        if (jwks_url is None) == (jwks is None):
            raise ValueError("OIDC needs exactly one of a JWKS URL or a JWKS document")
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._keys = jwt.PyJWKSet.from_dict(jwks) if jwks is not None else None

    def principal(self, token: str) -> Principal:
        try:
            key = self._signing_key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self.ALGORITHMS,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthorized("the identity provider's token expired") from None
        except (jwt.PyJWTError, KeyError) as error:
            raise NotAuthorized(f"the identity provider's token is invalid: {error}") from None
        grants: list[Grant] = []
        for text in claims.get(self.roles_claim) or []:
            try:
                grants.append(Grant.parse(str(text), self.roles_claim))
            except InvalidValue:
                log.warning("oidc: ignored a role the token carries", role=str(text)[:80])
        name = str(claims.get("email") or claims["sub"])
        # ids are stored beside comments (64 characters): a digest of issuer and subject
        subject = hashlib.sha256(f"{self.issuer}#{claims['sub']}".encode()).hexdigest()[:32]
        return Principal(f"oidc:{subject}", "oidc", name, tuple(grants))

    def _signing_key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        for candidate in self._keys.keys:
            if kid is None or candidate.key_id == kid:
                return candidate.key
        raise KeyError(f"no key {kid!r} in the identity provider's key set")


def auth_config(settings: Settings) -> AuthConfig:
    """The service's identity configuration (settings are validated already)."""
    oidc = None
    if settings.oidc_issuer and settings.oidc_audience:
        jwks = (
            json.loads(settings.oidc_jwks_file.read_text(encoding="utf-8"))
            if settings.oidc_jwks_file is not None
            else None
        )
        oidc = OidcVerifier(
            settings.oidc_issuer,
            settings.oidc_audience,
            jwks_url=None if jwks is not None else settings.oidc_jwks_url,
            jwks=jwks,
            roles_claim=settings.oidc_roles_claim,
        )
    return AuthConfig(
        admin_token=settings.admin_token,
        secret=settings.auth_secret,
        previous_secret=settings.auth_previous_secret,
        session_ttl=timedelta(hours=settings.session_ttl_hours),
        oidc=oidc,
    )
