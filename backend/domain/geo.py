"""WGS84 positions, bounding boxes, great-circle distance and local ENU frames.

Distances are haversine on a sphere of the mean Earth radius (IUGG R1): within 0.5 % of
the ellipsoidal distance, which is what "ordered by true distance" needs for POIs.
ENU conversions use the WGS84 ellipsoid exactly (via ECEF), because scene geometry is
placed with them and must land within centimetres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from backend.domain.errors import InvalidValue

_Vec3 = tuple[float, float, float]

EARTH_MEAN_RADIUS_M = 6_371_008.8
MAX_RADIUS_M = 1_000_000.0  # a "near me" search wider than 1,000 km is not a POI search

_WGS84_A_M = 6_378_137.0
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)


def validate_lat(field: str, lat_deg: float) -> float:
    if not math.isfinite(lat_deg) or not -90.0 <= lat_deg <= 90.0:
        raise InvalidValue(field, f"latitude {lat_deg} is outside [-90, 90]")
    return float(lat_deg)


def validate_lon(field: str, lon_deg: float) -> float:
    if not math.isfinite(lon_deg) or not -180.0 <= lon_deg <= 180.0:
        raise InvalidValue(field, f"longitude {lon_deg} is outside [-180, 180]")
    return float(lon_deg)


def validate_finite(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidValue(field, f"{value} is not a finite number")
    return float(value)


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat_deg: float
    lon_deg: float
    height_m: float = 0.0

    @classmethod
    def of(cls, field: str, lat: float, lon: float, height_m: float = 0.0) -> GeoPoint:
        prefix = f"{field}." if field else ""
        return cls(
            validate_lat(f"{prefix}lat", lat),
            validate_lon(f"{prefix}lon", lon),
            validate_finite(f"{prefix}heightM", height_m),
        )


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """A WGS84 box. ``west > east`` means it crosses the antimeridian."""

    south_deg: float
    west_deg: float
    north_deg: float
    east_deg: float

    @classmethod
    def of(cls, field: str, south: float, west: float, north: float, east: float) -> BoundingBox:
        box = cls(
            validate_lat(f"{field}.south", south),
            validate_lon(f"{field}.west", west),
            validate_lat(f"{field}.north", north),
            validate_lon(f"{field}.east", east),
        )
        if box.south_deg > box.north_deg:
            raise InvalidValue(field, f"south {south} is north of north {north}")
        return box

    def contains(self, lat_deg: float, lon_deg: float) -> bool:
        if not self.south_deg <= lat_deg <= self.north_deg:
            return False
        if self.west_deg <= self.east_deg:
            return self.west_deg <= lon_deg <= self.east_deg
        return lon_deg >= self.west_deg or lon_deg <= self.east_deg

    def split_at_antimeridian(self) -> list[BoundingBox]:
        """One box, or two when it crosses ±180°, so indexes can search plain ranges."""
        if self.west_deg <= self.east_deg:
            return [self]
        return [
            BoundingBox(self.south_deg, self.west_deg, self.north_deg, 180.0),
            BoundingBox(self.south_deg, -180.0, self.north_deg, self.east_deg),
        ]


@dataclass(frozen=True, slots=True)
class NearCircle:
    """Everything within ``radius_m`` of a centre, by great-circle distance."""

    lat_deg: float
    lon_deg: float
    radius_m: float

    @classmethod
    def of(cls, field: str, lat: float, lon: float, radius_m: float) -> NearCircle:
        if not math.isfinite(radius_m) or radius_m <= 0:
            raise InvalidValue(f"{field}.radiusM", f"radius {radius_m} must be > 0 metres")
        if radius_m > MAX_RADIUS_M:
            raise InvalidValue(
                f"{field}.radiusM", f"radius {radius_m} exceeds {MAX_RADIUS_M:.0f} metres"
            )
        return cls(validate_lat(f"{field}.lat", lat), validate_lon(f"{field}.lon", lon), radius_m)

    def bounding_box(self) -> BoundingBox:
        """A box that contains the circle: the index prefilter for radius queries."""
        angular = self.radius_m / EARTH_MEAN_RADIUS_M
        dlat = math.degrees(angular)
        south = max(-90.0, self.lat_deg - dlat)
        north = min(90.0, self.lat_deg + dlat)
        if south <= -90.0 or north >= 90.0:
            return BoundingBox(south, -180.0, north, 180.0)
        # The widest longitude span of the circle occurs poleward of its centre (asin form).
        sin_ratio = math.sin(angular) / math.cos(math.radians(self.lat_deg))
        if sin_ratio >= 1.0:
            return BoundingBox(south, -180.0, north, 180.0)
        dlon = math.degrees(math.asin(sin_ratio))
        west = self.lon_deg - dlon
        east = self.lon_deg + dlon
        if west < -180.0:
            west += 360.0
        if east > 180.0:
            east -= 360.0
        return BoundingBox(south, west, north, east)


def haversine_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Great-circle distance in metres on the mean Earth sphere."""
    phi1 = math.radians(lat1_deg)
    phi2 = math.radians(lat2_deg)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2_deg - lon1_deg)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def geodetic_to_ecef(point: GeoPoint) -> tuple[float, float, float]:
    """WGS84 geodetic → Earth-centred, Earth-fixed metres."""
    phi = math.radians(point.lat_deg)
    lmb = math.radians(point.lon_deg)
    n = _WGS84_A_M / math.sqrt(1 - _WGS84_E2 * math.sin(phi) ** 2)
    x = (n + point.height_m) * math.cos(phi) * math.cos(lmb)
    y = (n + point.height_m) * math.cos(phi) * math.sin(lmb)
    z = (n * (1 - _WGS84_E2) + point.height_m) * math.sin(phi)
    return x, y, z


def ecef_to_geodetic(x: float, y: float, z: float) -> GeoPoint:
    """ECEF metres → WGS84 geodetic (Bowring's iteration; converges to < 1 mm in 5 steps)."""
    lon = math.atan2(y, x)
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1 - _WGS84_E2))
    height = 0.0
    for _ in range(6):
        n = _WGS84_A_M / math.sqrt(1 - _WGS84_E2 * math.sin(lat) ** 2)
        height = p / math.cos(lat) - n if abs(lat) < math.radians(89.9) else abs(z) - n
        lat = math.atan2(z, p * (1 - _WGS84_E2 * n / (n + height)))
    return GeoPoint(math.degrees(lat), math.degrees(lon), height)


@dataclass(frozen=True, slots=True)
class EnuFrame:
    """A local east-north-up frame at a WGS84 origin: the coordinate system of a scene."""

    origin: GeoPoint

    def _basis(self) -> tuple[_Vec3, _Vec3, _Vec3]:
        phi = math.radians(self.origin.lat_deg)
        lmb = math.radians(self.origin.lon_deg)
        east = (-math.sin(lmb), math.cos(lmb), 0.0)
        north = (-math.sin(phi) * math.cos(lmb), -math.sin(phi) * math.sin(lmb), math.cos(phi))
        up = (math.cos(phi) * math.cos(lmb), math.cos(phi) * math.sin(lmb), math.sin(phi))
        return east, north, up

    def to_enu(self, point: GeoPoint) -> tuple[float, float, float]:
        """Geodetic → (east, north, up) metres from the origin."""
        ox, oy, oz = geodetic_to_ecef(self.origin)
        px, py, pz = geodetic_to_ecef(point)
        dx, dy, dz = px - ox, py - oy, pz - oz
        east, north, up = self._basis()
        return (
            east[0] * dx + east[1] * dy + east[2] * dz,
            north[0] * dx + north[1] * dy + north[2] * dz,
            up[0] * dx + up[1] * dy + up[2] * dz,
        )

    def to_geodetic(self, east_m: float, north_m: float, up_m: float) -> GeoPoint:
        ox, oy, oz = geodetic_to_ecef(self.origin)
        e, n, u = self._basis()
        x = ox + e[0] * east_m + n[0] * north_m + u[0] * up_m
        y = oy + e[1] * east_m + n[1] * north_m + u[1] * up_m
        z = oz + e[2] * east_m + n[2] * north_m + u[2] * up_m
        return ecef_to_geodetic(x, y, z)
