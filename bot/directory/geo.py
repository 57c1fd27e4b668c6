"""Geometry for the nursery directory: great-circle distance, bounding boxes for the indexed prefilter,
and conversion of Chinese map coordinates (GCJ-02, BD-09) to the WGS-84 the register stores."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# Mean Earth radius (IUGG); haversine with it stays within about 0.5% of the WGS-84 geodesic.
EARTH_RADIUS_M = 6_371_008.8

# A rough rectangle around mainland China, Hainan and Taiwan. Import uses it only to catch swapped or
# mistyped coordinates, not to decide borders.
CHINA_MIN_LAT, CHINA_MAX_LAT = 3.8, 53.6
CHINA_MIN_LON, CHINA_MAX_LON = 73.4, 135.1


class CoordSystem(StrEnum):
    """Datum of coordinates as given: WGS-84 (GPS), GCJ-02 (高德, 腾讯 and most Chinese maps), BD-09 (百度)."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


_COORD_ALIASES = {
    "wgs84": CoordSystem.WGS84,
    "wgs": CoordSystem.WGS84,
    "gps": CoordSystem.WGS84,
    "epsg4326": CoordSystem.WGS84,
    "gcj02": CoordSystem.GCJ02,
    "gcj": CoordSystem.GCJ02,
    "火星坐标": CoordSystem.GCJ02,
    "火星": CoordSystem.GCJ02,
    "国测局": CoordSystem.GCJ02,
    "高德": CoordSystem.GCJ02,
    "腾讯": CoordSystem.GCJ02,
    "bd09": CoordSystem.BD09,
    "bd": CoordSystem.BD09,
    "百度": CoordSystem.BD09,
}


def parse_coord_system(raw: str) -> CoordSystem:
    """Read a coordinate-system name as people write it ("WGS-84", "gcj02", "高德", "百度")."""
    key = "".join(ch for ch in raw.strip().lower() if ch not in " -_.:")
    try:
        return _COORD_ALIASES[key]
    except KeyError:
        raise ValueError(f"unknown coordinate system {raw!r} (use WGS84, GCJ02 or BD09)") from None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class BBox:
    """A latitude/longitude rectangle in degrees; it never crosses the antimeridian."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


# Widens every box by about a centimetre so a point exactly on the circle is never lost to rounding.
_BOX_PAD_DEG = 1e-7


def bounding_box(lat: float, lon: float, radius_m: float) -> BBox:
    """The smallest lat/lon rectangle holding every point within `radius_m` (great circle) of a centre.

    Uses the tangent-meridian bound (asin(sin r / cos lat)), which is exact on the sphere; near the poles
    or across the antimeridian it falls back to all longitudes, which is correct, only slower.
    """
    if radius_m < 0:
        raise ValueError("radius must not be negative")
    ang = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(ang)
    min_lat = lat - dlat - _BOX_PAD_DEG
    max_lat = lat + dlat + _BOX_PAD_DEG
    if min_lat <= -90 or max_lat >= 90 or ang >= math.pi / 2:
        return BBox(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    ratio = math.sin(ang) / math.cos(math.radians(lat))
    if ratio >= 1:
        return BBox(min_lat, max_lat, -180.0, 180.0)
    dlon = math.degrees(math.asin(ratio)) + _BOX_PAD_DEG
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180 or max_lon > 180:
        return BBox(min_lat, max_lat, -180.0, 180.0)
    return BBox(min_lat, max_lat, min_lon, max_lon)


def in_china(lat: float, lon: float) -> bool:
    return CHINA_MIN_LAT <= lat <= CHINA_MAX_LAT and CHINA_MIN_LON <= lon <= CHINA_MAX_LON


# GCJ-02 is the published "eviltransform" algorithm: Krasovsky 1940 ellipsoid constants and the
# polynomial offsets below. It leaves points outside its own China rectangle unchanged.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _gcj_outside(lat: float, lon: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lat: float, lon: float) -> tuple[float, float]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1 - _GCJ_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    if _gcj_outside(lat, lon):
        return lat, lon
    dlat, dlon = _gcj_delta(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(
    lat: float, lon: float, *, tolerance_deg: float = 1e-9, max_iter: int = 30
) -> tuple[float, float]:
    """Invert GCJ-02 by fixed-point iteration, to well under a millimetre.

    The one-step inverse (subtract the offset computed at the GCJ point) is off by metres; iterating
    converges because the offset changes slowly with position.
    """
    if _gcj_outside(lat, lon):
        return lat, lon
    w_lat, w_lon = lat, lon
    for _ in range(max_iter):
        g_lat, g_lon = wgs84_to_gcj02(w_lat, w_lon)
        d_lat, d_lon = g_lat - lat, g_lon - lon
        w_lat -= d_lat
        w_lon -= d_lon
        if abs(d_lat) < tolerance_deg and abs(d_lon) < tolerance_deg:
            break
    return w_lat, w_lon


_BD_X_PI = math.pi * 3000.0 / 180.0


def bd09_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    x = lon - 0.0065
    y = lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _BD_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def to_wgs84(lat: float, lon: float, system: CoordSystem) -> tuple[float, float]:
    if system is CoordSystem.WGS84:
        return lat, lon
    if system is CoordSystem.GCJ02:
        return gcj02_to_wgs84(lat, lon)
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))
