"""Per-request context: the store, DataLoaders, the caller's language and role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from backend.api.cache_probe import mark_caller_specific
from backend.domain.errors import NotAuthorized
from backend.domain.i18n import GLOBAL_FALLBACK, Locale
from backend.domain.identity import Action, Principal, require
from backend.domain.live_session import LiveSession
from backend.domain.poi import Poi
from backend.domain.region import Region
from backend.domain.scene import Scene
from backend.domain.tour import Tour
from backend.http.auth import bearer_token
from backend.ports import Reads, Store
from backend.publishing.service import PublishService
from backend.quota_stores import InProcessQuotaStore, QuotaStore
from backend.services.identity import AuthConfig
from backend.services.participation import Author
from backend.services.visitors import RecentVisitors, verify_visitor_token

Authenticator = Callable[[str], Awaitable[Principal]]
audit = structlog.get_logger("twinland.audit")

K = TypeVar("K")
V = TypeVar("V")


def _batched(
    fetch: Any,
) -> DataLoader[str, Any]:
    async def load(keys: Sequence[str]) -> list[Any]:
        found = await fetch(list(keys))
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


@dataclass(frozen=True)
class LiveAccess:
    """What the API needs of live sessions: the token secret and a way to tell rooms."""

    secret: str
    token_ttl: timedelta
    status_changed: Callable[[str, str], Awaitable[None]]
    events: Callable[[str], AsyncIterator[dict[str, Any]]]  # a session's low-rate events
    poll: Callable[[str, int], dict[str, Any] | None]  # a poll's current state


@dataclass
class Loaders:
    """One DataLoader per batch read; each request gets fresh ones (no cross-request cache)."""

    reads: Reads
    regions: DataLoader[str, Region | None] = field(init=False)
    scenes: DataLoader[str, Scene | None] = field(init=False)
    scenes_by_region: DataLoader[str, list[Scene] | None] = field(init=False)
    pois: DataLoader[str, Poi | None] = field(init=False)
    tours: DataLoader[str, Tour | None] = field(init=False)
    tours_by_scene: DataLoader[str, list[Tour] | None] = field(init=False)
    live_sessions: DataLoader[str, LiveSession | None] = field(init=False)

    def __post_init__(self) -> None:
        self.regions = _batched(self.reads.regions_by_slug)
        self.scenes = _batched(self.reads.scenes_by_slug)
        self.scenes_by_region = _batched(self.reads.scenes_by_region)
        self.pois = _batched(self.reads.pois_by_id)
        self.tours = _batched(self.reads.tours_by_id)
        self.tours_by_scene = _batched(self.reads.tours_by_scene)
        self.live_sessions = _batched(self.reads.live_sessions_by_id)


class Context(BaseContext):
    def __init__(
        self,
        store: Store,
        *,
        accept_locale: Locale | None,
        bearer_token: str | None,
        authenticate: Authenticator | None,
        asset_base_url: str,
        auth: AuthConfig | None = None,
        live: LiveAccess | None = None,
        publishing: PublishService | None = None,
        visitor_token: str | None = None,
        visitor_secret: str = "",
        visitor_token_ttl: timedelta = timedelta(days=30),
        quotas: QuotaStore | None = None,
        clock: Callable[[], datetime] | None = None,
        recent_visitors: RecentVisitors | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.live = live
        self.publishing = publishing
        self._bearer_token = bearer_token
        self._authenticate = authenticate
        self._auth = auth
        self._principal: Principal | None = None
        self._principal_error: NotAuthorized | None = None
        self._resolved = False
        self.visitor_token = visitor_token
        self.visitor_secret = visitor_secret
        self.visitor_token_ttl = visitor_token_ttl
        self.recent_visitors = recent_visitors or RecentVisitors(visitor_secret)
        self.quotas: QuotaStore = quotas or InProcessQuotaStore()
        # what "now" is for stamp tours (tests move it; the service uses wall time)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.loaders = Loaders(store.reads)
        self.accept_locale = accept_locale
        self.asset_base_url = asset_base_url.rstrip("/")
        self._client_key: str | None = None

    @property
    def auth(self) -> AuthConfig:
        if self._auth is None:
            raise NotAuthorized("sign-in is not configured on this service")
        return self._auth

    async def principal(self) -> Principal | None:
        """Who the bearer token says the caller is (from the Authorization header, or for
        subscriptions from graphql-transport-ws's connection_init payload, since browsers
        cannot set headers on a WebSocket); None when there is none or it is invalid (the
        reason is kept for the refusal)."""
        if self._bearer_token or self.connection_params:
            mark_caller_specific()  # the answer may depend on who this is: never shared
        return await self._resolve_principal()

    async def _resolve_principal(self) -> Principal | None:
        if not self._resolved:
            self._resolved = True
            token = self._bearer_token or self._connection_bearer()
            if token and self._authenticate is not None:
                try:
                    self._principal = await self._authenticate(token)
                except NotAuthorized as error:
                    self._principal_error = error
        return self._principal

    async def may(
        self,
        action: Action,
        scene_slug: str | None = None,
        what: str = "",
        *,
        audited: bool = True,
    ) -> bool:
        """Whether the caller may take ``action`` on ``scene_slug``; every privileged
        attempt, allowed or refused, goes to the audit log (``audited=False`` for reads
        that only widen a listing)."""
        principal = await self.principal()
        allowed = principal is not None and principal.may(action, scene_slug)
        if not audited:
            return allowed
        audit.info(
            "allowed" if allowed else "refused",
            action=action.value,
            scene=scene_slug,
            operation=what or None,
            principal=principal.id if principal else None,
            principal_kind=principal.kind if principal else None,
            client=await self.client_key(),
            token_problem=self._principal_error.message if self._principal_error else None,
        )
        return allowed

    async def refusal(self, action: Action, scene_slug: str | None = None) -> NotAuthorized:
        """The NotAuthorized to answer a refused ``action`` with, naming what is missing."""
        if self._principal_error is not None:
            return self._principal_error
        try:
            require(await self.principal(), action, scene_slug)
        except NotAuthorized as error:
            return error
        return NotAuthorized("not allowed")

    def _connection_bearer(self) -> str | None:
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        value = params.get("authorization") or params.get("Authorization")
        return bearer_token(value, scheme_optional=True) if isinstance(value, str) else None

    async def author(self, scene_slug: str | None = None) -> Author:
        """Who is writing: an organiser of the scene (official), else the visitor of the
        token. NotAuthorized (naming why) without a valid one."""
        mark_caller_specific()
        # only a signed-in caller is asked (and audited) for the right to reply officially
        if (
            scene_slug is not None
            and await self.principal() is not None
            and await self.may(Action.REPLY_OFFICIALLY, scene_slug, "official reply")
        ):
            principal = await self.principal()
            assert principal is not None
            return Author(principal.id, official=True)
        if not self.visitor_token:
            raise NotAuthorized(
                "send a visitor token (X-Visitor-Token; mutation issueVisitorToken gives one)"
            )
        return Author(verify_visitor_token(self.visitor_secret, self.visitor_token), False)

    async def client_key(self) -> str:
        """Who spends quota: the principal of a valid bearer token, the visitor of a valid
        visitor token, else the network address (no proxy headers are trusted: they are
        the client's to forge)."""
        if self._client_key is None:
            await self._resolve_principal()
            self._client_key = self._identify_client()
        return self._client_key

    def _identify_client(self) -> str:
        if self._principal is not None:
            return self._principal.id
        client = getattr(getattr(self, "request", None), "client", None)
        return self.recent_visitors.client_key(self.visitor_token, client and client.host)

    def locale(self, requested: Locale | None) -> Locale | None:
        """An explicit ``lang`` argument wins over Accept-Language."""
        return requested or self.accept_locale

    async def scene_locales(self, scene_slug: str) -> tuple[Locale, ...]:
        """The default locales of the scene's region: the middle of the fallback chain."""
        scene = await self.loaders.scenes.load(scene_slug)
        if scene is None:
            return GLOBAL_FALLBACK
        region = await self.loaders.regions.load(scene.region_slug)
        return region.default_locales if region is not None else GLOBAL_FALLBACK

    def asset_url(self, sha256: str, ext: str) -> str:
        return f"{self.asset_base_url}/assets/{sha256}.{ext}"
