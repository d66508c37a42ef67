"""Scene: a georeferenced 3D model of part of a region, made of layers of assets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from backend.domain.errors import InvalidValue
from backend.domain.geo import EnuFrame, GeoPoint
from backend.domain.i18n import LocalizedText
from backend.domain.ids import validate_slug


class LayerKind(str, Enum):
    TERRAIN = "terrain"
    BUILDINGS = "buildings"
    LANDMARKS = "landmarks"
    VEGETATION = "vegetation"
    WATER = "water"
    PLAN_OVERLAY = "plan-overlay"


class ClientTier(str, Enum):
    """The client classes we optimise for; each gets assets sized for its budget."""

    DESKTOP = "desktop"
    MOBILE = "mobile"
    VR = "vr"


@dataclass(frozen=True, slots=True)
class Georeference:
    """Scene coordinates are ENU metres from ``origin`` (x east, y north, z up)."""

    origin: GeoPoint
    extent_east_m: float
    extent_north_m: float

    def __post_init__(self) -> None:
        for name, value in (("east", self.extent_east_m), ("north", self.extent_north_m)):
            if not math.isfinite(value) or not 0 < value <= 200_000:
                raise InvalidValue(f"scene.extentM.{name}", f"{value} must be in (0, 200000] m")

    @property
    def frame(self) -> EnuFrame:
        return EnuFrame(self.origin)


@dataclass(frozen=True, slots=True)
class LayerAsset:
    """One deliverable file of a layer, content-addressed, for one client tier."""

    tier: ClientTier
    sha256: str
    media_type: str
    byte_size: int
    triangle_count: int
    # a 3D Tiles 1.1 tileset (JSON, content-addressed) of this file's LOD chain, if built
    tileset_sha256: str | None = None

    def __post_init__(self) -> None:
        for field_name, value in (("sha256", self.sha256), ("tilesetSha256", self.tileset_sha256)):
            if value is not None and (
                len(value) != 64 or any(c not in "0123456789abcdef" for c in value)
            ):
                raise InvalidValue(f"asset.{field_name}", "must be 64 lowercase hex digits")
        if self.byte_size <= 0:
            raise InvalidValue("asset.byteSize", "must be > 0")


@dataclass(frozen=True, slots=True)
class Layer:
    key: str
    kind: LayerKind
    name: LocalizedText
    assets: tuple[LayerAsset, ...] = ()
    # What the assets were built from (sources, build options, pipeline version), hashed:
    # a publish whose layer has the same digest reuses the assets instead of rebuilding.
    source_digest: str | None = None
    # shown today; plan layers (False) appear only when a scenario adds them
    baseline: bool = True

    def __post_init__(self) -> None:
        validate_slug("layer.key", self.key)
        tiers = [asset.tier for asset in self.assets]
        if len(set(tiers)) != len(tiers):
            raise InvalidValue(f"layers.{self.key}.assets", "has two assets for one tier")

    def asset_for(self, tier: ClientTier) -> LayerAsset | None:
        """The asset made for ``tier``, else the desktop one (always the most complete)."""
        by_tier = {asset.tier: asset for asset in self.assets}
        return by_tier.get(tier) or by_tier.get(ClientTier.DESKTOP)


@dataclass(frozen=True, slots=True)
class Scene:
    slug: str
    region_slug: str
    name: LocalizedText
    description: LocalizedText | None
    georeference: Georeference
    layers: tuple[Layer, ...] = field(default=())
    # The published version these layers are (backend.domain.publishing); 0: never published
    version: int = 0
    # "pre": visitors' comments wait for a moderator; "post": they show at once
    moderation: str = "post"

    def __post_init__(self) -> None:
        validate_slug("scene.slug", self.slug)
        validate_slug("scene.region", self.region_slug)
        if self.moderation not in ("pre", "post"):
            raise InvalidValue("scene.moderation", "must be pre or post")
        keys = [layer.key for layer in self.layers]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise InvalidValue("layers", f"duplicate layer keys: {', '.join(duplicates)}")
