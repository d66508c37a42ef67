"""Per-request context: the store, DataLoaders, the caller's language and role."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from backend.domain.errors import DomainError, NotAuthorized
from backend.domain.i18n import GLOBAL_FALLBACK, Locale
from backend.domain.live_session import LiveSession
from backend.domain.poi import Poi
from backend.domain.region import Region
from backend.domain.scene import Scene
from backend.domain.tour import Tour
from backend.ports import Reads, Store
from backend.publishing.service import PublishService
from backend.quota_stores import InProcessQuotaStore, QuotaStore
from backend.services.participation import ORGANISER, Author
from backend.services.visitors import verify_visitor_token

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
        admin_token: str,
        asset_base_url: str,
        live: LiveAccess | None = None,
        publishing: PublishService | None = None,
        visitor_token: str | None = None,
        visitor_secret: str = "",
        visitor_token_ttl: timedelta = timedelta(days=30),
        quotas: QuotaStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.live = live
        self.publishing = publishing
        self._admin_token = admin_token
        self.visitor_token = visitor_token
        self.visitor_secret = visitor_secret
        self.visitor_token_ttl = visitor_token_ttl
        self.quotas: QuotaStore = quotas or InProcessQuotaStore()
        # what "now" is for stamp tours (tests move it; the service uses wall time)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.loaders = Loaders(store.reads)
        self.accept_locale = accept_locale
        self.asset_base_url = asset_base_url.rstrip("/")
        self._client_key: str | None = None
        self.is_organiser = bearer_token is not None and hmac.compare_digest(
            bearer_token.encode(), admin_token.encode()
        )

    def author(self) -> Author:
        """Who is writing: an organiser (official), else the visitor of the token.
        NotAuthorized (naming why) without a valid one."""
        if self.is_organiser:
            return Author(ORGANISER, official=True)
        if not self.visitor_token:
            raise NotAuthorized(
                "send a visitor token (X-Visitor-Token; mutation issueVisitorToken gives one)"
            )
        return Author(verify_visitor_token(self.visitor_secret, self.visitor_token), False)

    def client_key(self) -> str:
        """Who spends quota: the organiser, the visitor of a valid token, else the network
        address (no proxy headers are trusted: they are the client's to forge)."""
        if self._client_key is None:
            self._client_key = self._identify_client()
        return self._client_key

    def _identify_client(self) -> str:
        if self.is_organiser:
            return "organiser"
        if self.visitor_token:
            try:
                return "visitor:" + verify_visitor_token(self.visitor_secret, self.visitor_token)
            except DomainError:
                pass  # a bad token is answered where it is used; here it is just an address
        request = getattr(self, "request", None)
        client = getattr(request, "client", None)
        return "address:" + (client.host if client is not None else "unknown")

    def is_organiser_connection(self) -> bool:
        """For subscriptions: browsers cannot set headers on a WebSocket, so the token may
        also come in graphql-transport-ws's connection_init payload (``authorization``)."""
        if self.is_organiser:
            return True
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        value = params.get("authorization") or params.get("Authorization")
        if not isinstance(value, str):
            return False
        scheme, _, token = value.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else value.strip()
        return bool(token) and hmac.compare_digest(token.encode(), self._admin_token.encode())

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
