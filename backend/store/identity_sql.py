"""Accounts, API keys and grants in SQL: the identity store (one transaction per call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.domain.errors import Conflict, NotFound
from backend.domain.identity import Grant, Role
from backend.ports import AccountRecord, ApiKeyRecord
from backend.store.tables import accounts, api_keys, grants


class SqlIdentityStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_account(
        self, account_id: str, email: str, password_hash: str, now: datetime
    ) -> None:
        try:
            async with self.engine.begin() as tx:
                await tx.execute(
                    sa.insert(accounts).values(
                        id=account_id,
                        email=email,
                        password_hash=password_hash,
                        session_version=1,
                        created_at=now,
                    )
                )
        except IntegrityError as error:
            raise Conflict(f"an account for {email!r} exists already") from error

    async def account_by_email(self, email: str) -> AccountRecord | None:
        return await self._account(accounts.c.email == email)

    async def account_by_id(self, account_id: str) -> AccountRecord | None:
        return await self._account(accounts.c.id == account_id)

    async def _account(self, where: Any) -> AccountRecord | None:
        async with self.engine.connect() as connection:
            row = (await connection.execute(sa.select(accounts).where(where))).mappings().first()
        return None if row is None else _account(row)

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """A rehash (argon2 parameters raised) keeps sessions; see end_sessions to end them."""
        async with self.engine.begin() as tx:
            await tx.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_id)
                .values(password_hash=password_hash)
            )

    async def end_sessions(self, account_id: str) -> None:
        async with self.engine.begin() as tx:
            result = await tx.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_id)
                .values(session_version=accounts.c.session_version + 1)
            )
        if result.rowcount != 1:
            raise NotFound("account", account_id)

    async def create_api_key(
        self, key_id: str, name: str, secret_sha256: str, created_by: str, now: datetime
    ) -> None:
        async with self.engine.begin() as tx:
            await tx.execute(
                sa.insert(api_keys).values(
                    id=key_id,
                    name=name,
                    secret_sha256=secret_sha256,
                    created_by=created_by,
                    created_at=now,
                )
            )

    async def api_key_by_secret(self, secret_sha256: str) -> ApiKeyRecord | None:
        async with self.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(api_keys).where(api_keys.c.secret_sha256 == secret_sha256)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _api_key(row)

    async def revoke_api_key(self, key_id: str, now: datetime) -> None:
        async with self.engine.begin() as tx:
            result = await tx.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        if result.rowcount != 1:
            raise NotFound("api key", key_id)

    async def set_grants(self, principal_id: str, granted: Sequence[Grant]) -> None:
        """Replace the principal's grants (one transaction: never half of each)."""
        async with self.engine.begin() as tx:
            await tx.execute(sa.delete(grants).where(grants.c.principal_id == principal_id))
            if granted:
                await tx.execute(
                    sa.insert(grants),
                    [
                        {
                            "principal_id": principal_id,
                            "role": g.role.value,
                            "scene_slug": g.scene_slug or "",
                        }
                        for g in dict.fromkeys(granted)
                    ],
                )

    async def grants_of(self, principal_id: str) -> tuple[Grant, ...]:
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(grants.c.role, grants.c.scene_slug)
                    .where(grants.c.principal_id == principal_id)
                    .order_by(grants.c.role, grants.c.scene_slug)
                )
            ).all()
        return tuple(Grant(Role(role), scene or None) for role, scene in rows)


def _account(row: Mapping[Any, Any]) -> AccountRecord:
    return AccountRecord(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        session_version=row["session_version"],
        disabled=row["disabled_at"] is not None,
    )


def _api_key(row: Mapping[Any, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        revoked=row["revoked_at"] is not None,
    )
