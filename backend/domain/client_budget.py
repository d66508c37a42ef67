"""What each client tier can take: the one place where budgets and their reasons live.

The asset pipeline builds for these budgets (texture sizes, position bits) and the API
hands them to clients (``Scene.budget``) so that a viewer sizes its tile cache and its
screen-space error target to its class of device. docs/client-tiers.md explains them.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.domain.scene import ClientTier


@dataclass(frozen=True, slots=True)
class ClientBudget:
    tier: ClientTier
    frame_rate_hz: int  # what the device must hold; everything else follows from it
    max_triangles: int  # drawn per frame, all tiles together
    max_texture_px: int  # longest side of any texture we send (pipeline profile)
    tile_cache_mb: int  # GPU + CPU memory a tiles renderer may keep
    max_screen_space_error_px: float  # refine a tile when its error would exceed this
    geometry_codec: str  # glTF extension the tier's assets use
    texture_format: str  # primary image format
    texture_fallbacks: tuple[str, ...]  # for decoders without it
    reasons: tuple[str, ...]


BUDGETS: dict[ClientTier, ClientBudget] = {
    ClientTier.DESKTOP: ClientBudget(
        tier=ClientTier.DESKTOP,
        frame_rate_hz=60,
        max_triangles=5_000_000,
        max_texture_px=2048,
        tile_cache_mb=1024,
        max_screen_space_error_px=16.0,
        geometry_codec="EXT_meshopt_compression",
        texture_format="image/webp",
        texture_fallbacks=("image/jpeg", "image/png"),
        reasons=(
            "Integrated laptop GPUs draw a few million triangles at 60 Hz in WebGL 2.",
            "16 px of screen-space error is CesiumJS's and 3DTilesRendererJS's default.",
            "meshopt decodes at memory speed in WebAssembly, so it costs no load time.",
        ),
    ),
    ClientTier.MOBILE: ClientBudget(
        tier=ClientTier.MOBILE,
        frame_rate_hz=30,
        max_triangles=1_000_000,
        max_texture_px=1024,
        tile_cache_mb=256,
        max_screen_space_error_px=24.0,
        geometry_codec="EXT_meshopt_compression",
        texture_format="image/webp",
        texture_fallbacks=("image/jpeg", "image/png"),
        reasons=(
            "Mobile browsers kill a tab long before the device's memory is used up "
            "(Safari on iOS in particular), so the tile cache stays small.",
            "Phone GPUs are fill-rate and thermally bound: 30 Hz sustained, not 60.",
            "Small screens hide detail: a coarser error target loads fewer tiles.",
        ),
    ),
    ClientTier.VR: ClientBudget(
        tier=ClientTier.VR,
        frame_rate_hz=72,
        max_triangles=750_000,
        max_texture_px=1024,
        tile_cache_mb=512,
        max_screen_space_error_px=16.0,
        geometry_codec="EXT_meshopt_compression",
        texture_format="image/webp",
        texture_fallbacks=("image/jpeg", "image/png"),
        reasons=(
            "Standalone headsets must render both eyes at 72 Hz or more, or people feel "
            "sick: frame rate bounds the triangle budget (Meta's guidance for Quest 2 is "
            "about 750k-1M triangles per frame).",
            "Headset displays resolve about 20 pixels per degree: 1024 px textures suffice.",
            "Memory is shared with the system and the browser: a middle-sized tile cache.",
        ),
    ),
}


def budget_for(tier: ClientTier) -> ClientBudget:
    return BUDGETS[tier]
