"""Unit tests of the nearby search's geometry: haversine within 1% of the WGS-84 geodesic (Vincenty),
bounding boxes that hold their circle, and GCJ-02/BD-09 conversion back to WGS-84 within a metre."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.directory import geo


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the WGS-84 ellipsoid (Vincenty's inverse formula), the yardstick for haversine."""
    a, f = 6378137.0, 1 / 298.257223563
    b = (1 - f) * a
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    lam0 = lam = math.radians(lon2 - lon1)
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        prev = lam
        lam = lam0 + (1 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - prev) < 1e-12:
            break
    u_sq = cos2_alpha * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    d_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return b * big_a * (sigma - d_sigma)


china_lat = st.floats(min_value=18.0, max_value=53.0)
china_lon = st.floats(min_value=74.0, max_value=134.0)


def test_haversine_known_distance() -> None:
    # Xiamen railway station to Gulangyu pier, about 4.1 km
    d = geo.haversine_m(24.4698, 118.1140, 24.4474, 118.0702)
    assert 4_000 < d < 5_200
    assert geo.haversine_m(24.48, 118.09, 24.48, 118.09) == 0.0


@given(
    china_lat, china_lon, st.floats(min_value=-0.5, max_value=0.5), st.floats(min_value=-0.5, max_value=0.5)
)
def test_haversine_within_one_percent_of_the_geodesic(
    lat: float, lon: float, dlat: float, dlon: float
) -> None:
    lat2, lon2 = lat + dlat, lon + dlon
    truth = vincenty_m(lat, lon, lat2, lon2)
    if truth < 1.0:
        return
    assert abs(geo.haversine_m(lat, lon, lat2, lon2) - truth) <= 0.01 * truth


@given(
    st.floats(min_value=-80, max_value=80),
    st.floats(min_value=-179, max_value=179),
    st.floats(min_value=10, max_value=200_000),
    st.floats(min_value=0, max_value=2 * math.pi),
    st.floats(min_value=0, max_value=1),
)
def test_bounding_box_holds_the_whole_circle(
    lat: float, lon: float, radius: float, bearing: float, frac: float
) -> None:
    box = geo.bounding_box(lat, lon, radius)
    # destination point at distance frac*radius along bearing, on the same sphere
    ang = frac * radius / geo.EARTH_RADIUS_M
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(ang) + math.cos(p1) * math.sin(ang) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(ang) * math.cos(p1), math.cos(ang) - math.sin(p1) * math.sin(p2)
    )
    lat2, lon2 = math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180
    assert geo.haversine_m(lat, lon, lat2, lon2) <= radius * (1 + 1e-9) + 1e-6
    assert box.contains(lat2, lon2)


def test_bounding_box_is_tight_at_xiamen() -> None:
    box = geo.bounding_box(24.48, 118.09, 30_000)
    assert box.max_lat - box.min_lat == pytest.approx(2 * 30_000 / 111_195, rel=1e-3)
    assert box.max_lon - box.min_lon == pytest.approx(
        2 * 30_000 / (111_195 * math.cos(math.radians(24.48))), rel=2e-3
    )


def test_bounding_box_near_pole_and_antimeridian_spans_all_longitudes() -> None:
    assert geo.bounding_box(89.9, 10, 50_000).min_lon == -180
    assert geo.bounding_box(0, 179.9, 50_000).max_lon == 180
    with pytest.raises(ValueError, match="negative"):
        geo.bounding_box(0, 0, -1)


@given(st.floats(min_value=18.2, max_value=53.5), st.floats(min_value=73.7, max_value=134.8))
def test_gcj02_round_trip_within_a_metre(lat: float, lon: float) -> None:
    g_lat, g_lon = geo.wgs84_to_gcj02(lat, lon)
    w_lat, w_lon = geo.gcj02_to_wgs84(g_lat, g_lon)
    assert geo.haversine_m(lat, lon, w_lat, w_lon) < 1.0


def test_gcj02_offset_is_hundreds_of_metres_in_china_and_none_outside() -> None:
    rng = random.Random(7)
    for _ in range(50):
        lat, lon = rng.uniform(22, 40), rng.uniform(100, 122)
        offset = geo.haversine_m(lat, lon, *geo.wgs84_to_gcj02(lat, lon))
        assert 50 < offset < 1_000
    assert geo.wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)
    assert geo.gcj02_to_wgs84(51.5, -0.12) == (51.5, -0.12)


def test_xiamen_gcj02_fixture() -> None:
    # WGS-84 → GCJ-02 at Xiamen shifts about 0.0026° south and 0.005° east with the published formulas
    g_lat, g_lon = geo.wgs84_to_gcj02(24.4798, 118.0894)
    assert g_lat == pytest.approx(24.477153, abs=1e-6)
    assert g_lon == pytest.approx(118.094377, abs=1e-6)


def test_bd09_converts_through_gcj02() -> None:
    lat, lon = 24.4798, 118.0894
    bd = geo.gcj02_to_bd09(*geo.wgs84_to_gcj02(lat, lon))
    back = geo.to_wgs84(*bd, geo.CoordSystem.BD09)
    assert geo.haversine_m(lat, lon, *back) < 1.0


@pytest.mark.parametrize(
    ("raw", "system"),
    [
        ("WGS-84", geo.CoordSystem.WGS84),
        ("gcj02", geo.CoordSystem.GCJ02),
        ("GCJ-02", geo.CoordSystem.GCJ02),
        ("高德", geo.CoordSystem.GCJ02),
        ("百度", geo.CoordSystem.BD09),
        ("bd09", geo.CoordSystem.BD09),
    ],
)
def test_coordinate_system_names(raw: str, system: geo.CoordSystem) -> None:
    assert geo.parse_coord_system(raw) is system


def test_unknown_coordinate_system() -> None:
    with pytest.raises(ValueError, match="unknown coordinate system"):
        geo.parse_coord_system("UTM")
