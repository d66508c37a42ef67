import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.errors import InvalidValue
from backend.domain.geo import BoundingBox, EnuFrame, GeoPoint, NearCircle, haversine_m

lats = st.floats(min_value=-85, max_value=85)
lons = st.floats(min_value=-180, max_value=180)


def test_haversine_matches_a_known_distance_seoul_city_hall_to_busan_city_hall():
    # Great-circle distance on the mean sphere; the ellipsoidal distance is ~325.0 km.
    distance = haversine_m(37.5663, 126.9779, 35.1798, 129.0750)
    assert distance == pytest.approx(325_000, rel=0.005)


def test_haversine_is_zero_for_the_same_point_and_symmetric():
    assert haversine_m(35.1883, 129.2233, 35.1883, 129.2233) == 0.0
    assert haversine_m(35.0, 129.0, 35.1, 129.2) == pytest.approx(
        haversine_m(35.1, 129.2, 35.0, 129.0)
    )


@pytest.mark.parametrize(("lat", "lon"), [(90.5, 0.0), (-91.0, 0.0), (0.0, 180.5), (math.nan, 0.0)])
def test_out_of_range_coordinates_are_rejected_naming_the_field(lat, lon):
    with pytest.raises(InvalidValue) as caught:
        GeoPoint.of("location", lat, lon)
    assert caught.value.field in {"location.lat", "location.lon"}


@pytest.mark.parametrize("radius", [0.0, -5.0, math.inf, 2_000_000.0])
def test_a_radius_that_is_not_positive_and_bounded_is_rejected(radius):
    with pytest.raises(InvalidValue) as caught:
        NearCircle.of("near", 35.0, 129.0, radius)
    assert caught.value.field == "near.radiusM"


def test_a_box_with_south_above_north_is_rejected():
    with pytest.raises(InvalidValue, match="south"):
        BoundingBox.of("bbox", 36.0, 129.0, 35.0, 130.0)


def test_a_box_across_the_antimeridian_splits_into_two_that_cover_it():
    box = BoundingBox.of("bbox", -20.0, 170.0, -10.0, -170.0)
    parts = box.split_at_antimeridian()
    assert len(parts) == 2
    assert box.contains(-15.0, 179.9)
    assert box.contains(-15.0, -179.9)
    assert not box.contains(-15.0, 0.0)
    assert any(p.contains(-15.0, 179.9) for p in parts)
    assert any(p.contains(-15.0, -179.9) for p in parts)


@given(lat=lats, lon=lons, bearing=st.floats(0, 360), fraction=st.floats(0, 0.999))
def test_the_bounding_box_of_a_circle_contains_every_point_of_the_circle(
    lat, lon, bearing, fraction
):
    circle = NearCircle(lat, lon, 50_000.0)
    # The point at `fraction * radius` along `bearing` (spherical destination formula).
    delta = fraction * circle.radius_m / 6_371_008.8
    theta = math.radians(bearing)
    phi1, lmb1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lmb2 = lmb1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    lon2 = (math.degrees(lmb2) + 540.0) % 360.0 - 180.0
    assert circle.bounding_box().contains(math.degrees(phi2), lon2)


@given(
    lat=lats,
    lon=lons,
    east=st.floats(-5000, 5000),
    north=st.floats(-5000, 5000),
    up=st.floats(-100, 1000),
)
def test_enu_round_trips_through_geodetic_within_a_millimetre(lat, lon, east, north, up):
    frame = EnuFrame(GeoPoint(lat, lon, 10.0))
    back = frame.to_enu(frame.to_geodetic(east, north, up))
    assert back == pytest.approx((east, north, up), abs=1e-3)


def test_enu_axes_point_east_north_and_up():
    frame = EnuFrame(GeoPoint(35.19, 129.21, 0.0))
    east, north, _ = frame.to_enu(GeoPoint(35.19, 129.22, 0.0))
    assert east == pytest.approx(haversine_m(35.19, 129.21, 35.19, 129.22), rel=0.01)
    assert abs(north) < 1.0
    _, north, _ = frame.to_enu(GeoPoint(35.20, 129.21, 0.0))
    assert north == pytest.approx(1109.0, rel=0.01)
    _, _, up = frame.to_enu(GeoPoint(35.19, 129.21, 100.0))
    assert up == pytest.approx(100.0, abs=1e-6)
