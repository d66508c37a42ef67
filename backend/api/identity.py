"""GraphQL for identities: sign-in, the caller's own roles, and (admins) accounts, grants
and API keys. The rules live in backend.domain.identity, the work in
backend.services.identity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from backend.api.access import denied
from backend.api.errors import (
    ConflictError,
    ErrorCode,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
    RateLimitedError,
    from_domain,
)
from backend.api.types.objects import CtxInfo
from backend.domain.errors import DomainError, InvalidValue, NotAuthorized, RateLimited
from backend.domain.identity import Action, Grant, Principal
from backend.domain.quotas import SIGN_INS
from backend.quota_stores import spend
from backend.services import identity


@strawberry.type(description="An authenticated caller and what it may do.")
class PrincipalType:
    id: strawberry.ID
    kind: str = strawberry.field(description="account, api_key, oidc or admin_token")
    name: str
    grants: list[str] = strawberry.field(
        description='Roles, each on one scene ("organiser:gokseong") or on all ("admin").'
    )

    @staticmethod
    def of(principal: Principal) -> PrincipalType:
        return PrincipalType(
            id=strawberry.ID(principal.id),
            kind=principal.kind,
            name=principal.name,
            grants=[str(g) for g in principal.grants],
        )


@strawberry.type(description="A signed-in session: send `token` as `Authorization: Bearer`.")
class Session:
    token: str
    expires_at: datetime
    principal: PrincipalType


@strawberry.type(description="A new API key. `key` is shown this once; only its hash is kept.")
class ApiKey:
    id: strawberry.ID
    key: str
    principal: PrincipalType


@strawberry.type
class Done:
    ok: bool = True


SignInResult = Annotated[
    Session | NotAuthorizedError | RateLimitedError, strawberry.union("SignInResult")
]
AccountResult = Annotated[
    PrincipalType | InvalidArgumentError | ConflictError | NotAuthorizedError,
    strawberry.union("AccountResult"),
]
ApiKeyResult = Annotated[
    ApiKey | InvalidArgumentError | NotAuthorizedError, strawberry.union("ApiKeyResult")
]
DoneResult = Annotated[
    Done | NotFoundError | InvalidArgumentError | NotAuthorizedError,
    strawberry.union("DoneResult"),
]


def _grants(texts: list[str]) -> list[Grant]:
    return [Grant.parse(text, f"grants[{i}]") for i, text in enumerate(texts)]


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The caller (bearer token), or null when anonymous.")
    async def me(self, info: CtxInfo) -> PrincipalType | None:
        principal = await info.context.principal()
        return PrincipalType.of(principal) if principal is not None else None


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Sign in with an account's e-mail and password: a session token "
        "(TWINLAND_SESSION_TTL_HOURS). Wrong e-mail and wrong password are one error; each "
        "address and e-mail may try a few times a minute."
    )
    async def sign_in(self, info: CtxInfo, email: str, password: str) -> SignInResult:
        context = info.context
        try:
            # per address and per account: a spray over many accounts and a guess at one
            await spend(context.quotas, SIGN_INS, await context.client_key(), "sign-ins")
            await spend(context.quotas, SIGN_INS, email.strip().lower()[:320], "sign-ins")
            session = await identity.login(
                context.store.identities, context.auth, email, password, datetime.now(UTC)
            )
        except RateLimited as error:
            return RateLimitedError(
                code=ErrorCode.RATE_LIMITED,
                message=error.message,
                retry_after_s=error.retry_after_s,
            )
        except NotAuthorized as error:
            return NotAuthorizedError(code=ErrorCode.NOT_AUTHORIZED, message=error.message)
        return Session(
            token=session.token,
            expires_at=session.expires_at,
            principal=PrincipalType.of(session.principal),
        )

    @strawberry.mutation(
        description="Create an organiser, moderator or admin account (admins). `grants` like "
        '["organiser:gokseong", "moderator:jeju-seongsan"]; passwords have 12+ characters.'
    )
    async def create_account(
        self, info: CtxInfo, email: str, password: str, grants: list[str]
    ) -> AccountResult:
        if (refused := await denied(info, Action.MANAGE_IDENTITIES)) is not None:
            return refused
        try:
            created = await identity.create_account(
                info.context.store.identities, email, password, _grants(grants), datetime.now(UTC)
            )
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # invalid or conflict only
        return PrincipalType.of(created)

    @strawberry.mutation(
        description="Replace the grants of an account or API key (admins), by principal id."
    )
    async def set_grants(
        self, info: CtxInfo, principal_id: strawberry.ID, grants: list[str]
    ) -> DoneResult:
        if (refused := await denied(info, Action.MANAGE_IDENTITIES)) is not None:
            return refused
        try:
            parsed = _grants(grants)
            if not str(principal_id).startswith(("account:", "key:")):
                raise InvalidValue("principalId", "grants belong to accounts and API keys")
            await info.context.store.identities.set_grants(str(principal_id), parsed)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's
        return Done()

    @strawberry.mutation(
        description="End every session of an account (admins), e.g. after a lost laptop; "
        "its next request needs a new sign-in."
    )
    async def end_sessions(self, info: CtxInfo, account_id: strawberry.ID) -> DoneResult:
        if (refused := await denied(info, Action.MANAGE_IDENTITIES)) is not None:
            return refused
        try:
            await info.context.store.identities.end_sessions(str(account_id))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's
        return Done()

    @strawberry.mutation(
        description="An API key for a content team's pipeline (admins), e.g. grants "
        '["content:gokseong"] to upload and publish that scene\'s layers.'
    )
    async def create_api_key(self, info: CtxInfo, name: str, grants: list[str]) -> ApiKeyResult:
        if (refused := await denied(info, Action.MANAGE_IDENTITIES)) is not None:
            return refused
        principal = await info.context.principal()
        assert principal is not None
        try:
            issued = await identity.create_api_key(
                info.context.store.identities,
                name,
                _grants(grants),
                principal.id,
                datetime.now(UTC),
            )
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's
        return ApiKey(
            id=strawberry.ID(issued.id),
            key=issued.key,
            principal=PrincipalType.of(issued.principal),
        )

    @strawberry.mutation(description="Revoke an API key (admins): it stops working at once.")
    async def revoke_api_key(self, info: CtxInfo, id: strawberry.ID) -> DoneResult:
        if (refused := await denied(info, Action.MANAGE_IDENTITIES)) is not None:
            return refused
        try:
            await info.context.store.identities.revoke_api_key(str(id), datetime.now(UTC))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's
        return Done()
