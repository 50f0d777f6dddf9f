"""Areas and lengths measured on the ellipsoid, never in degrees nor in Lambert-93.

Areas are computed in an equal-area projection chosen by territory: EPSG:3035 (ETRS89
LAEA Europe) for mainland France and Corsica, and a Lambert azimuthal equal-area
projection centred on each overseas département (GRS80 ellipsoid). An equal-area
projection preserves areas exactly, wherever its centre is; Lambert-93 (EPSG:2154) is
conformal and would not. Geometries outside every listed territory fall back to the
geodesic area of pyproj's ``Geod``. Lengths are geodesic (WGS84 ellipsoid).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer

__all__ = ["ZONES", "zone_of", "equal_area_crs", "to_equal_area", "area_m2", "length_m", "geodesic_area_m2"]

#: territory → (lon min, lat min, lon max, lat max, CRS definition)
ZONES: dict[str, tuple[float, float, float, float, str]] = {
    "metro": (-5.8, 41.2, 9.8, 51.2, "EPSG:3035"),
    "971": (-61.9, 15.8, -60.9, 16.6, "+proj=laea +lat_0=16.2 +lon_0=-61.4 +ellps=GRS80 +units=m +no_defs"),
    "972": (-61.3, 14.3, -60.7, 14.95, "+proj=laea +lat_0=14.65 +lon_0=-61.0 +ellps=GRS80 +units=m +no_defs"),
    "973": (-54.7, 2.0, -51.5, 5.9, "+proj=laea +lat_0=4.0 +lon_0=-53.0 +ellps=GRS80 +units=m +no_defs"),
    "974": (55.1, -21.5, 55.9, -20.8, "+proj=laea +lat_0=-21.1 +lon_0=55.5 +ellps=GRS80 +units=m +no_defs"),
    "976": (44.9, -13.1, 45.4, -12.5, "+proj=laea +lat_0=-12.8 +lon_0=45.15 +ellps=GRS80 +units=m +no_defs"),
}
_GEOD = Geod(ellps="WGS84")


def zone_of(geoms: np.ndarray) -> np.ndarray:
    """Territory of each geometry (by its bounding-box centre); ``""`` when none."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), "", dtype=object)
    if len(geoms) == 0:
        return out
    b = shapely.bounds(geoms)
    x = (b[:, 0] + b[:, 2]) / 2
    y = (b[:, 1] + b[:, 3]) / 2
    for name, (x0, y0, x1, y1, _) in ZONES.items():
        inside = (x >= x0 - 0.5) & (x <= x1 + 0.5) & (y >= y0 - 0.5) & (y <= y1 + 0.5) & (out == "")
        out[inside] = name
    return out


@lru_cache(maxsize=None)
def equal_area_crs(zone: str) -> CRS:
    """The equal-area CRS of a territory (``"metro"``, ``"971"`` … ``"976"``)."""
    return CRS.from_user_input(ZONES[zone][4])


@lru_cache(maxsize=None)
def _transformer(zone: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", equal_area_crs(zone), always_xy=True)


def to_equal_area(geoms: np.ndarray, zone: str) -> np.ndarray:
    """Project lon/lat geometries to the equal-area CRS of ``zone`` (metres)."""
    tr = _transformer(zone)

    def _fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), _fn)


def geodesic_area_m2(geoms: np.ndarray) -> np.ndarray:
    """Geodesic area of each lon/lat geometry on the WGS84 ellipsoid (slow, exact)."""
    return np.array(
        [abs(_GEOD.geometry_area_perimeter(g)[0]) if g is not None and not g.is_empty else 0.0
         for g in np.asarray(geoms, dtype=object)]
    )


def area_m2(geoms: np.ndarray, zones: np.ndarray | None = None) -> np.ndarray:
    """Area of each lon/lat geometry in square metres, in its equal-area projection.

    Parameters
    ----------
    geoms : array of shapely geometries in EPSG:4326
    zones : array of str, optional
        Territory of each geometry, as from :func:`zone_of` (computed when absent).
    """
    geoms = np.asarray(geoms, dtype=object)
    zones = zone_of(geoms) if zones is None else np.asarray(zones, dtype=object)
    out = np.zeros(len(geoms), dtype=float)
    for zone in np.unique(zones):
        sel = zones == zone
        if zone == "":
            out[sel] = geodesic_area_m2(geoms[sel])
        else:
            out[sel] = shapely.area(to_equal_area(geoms[sel], zone))
    return np.nan_to_num(out)


def length_m(geoms: np.ndarray) -> np.ndarray:
    """Geodesic length of each geometry's lines (the boundary, for polygons), metres."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms), dtype=float)
    if len(geoms) == 0:
        return out
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    lines = np.where(polygonal, shapely.boundary(geoms), geoms)
    parts, owner = shapely.get_parts(lines, return_index=True)
    if len(parts) == 0:
        return out
    coords, part_idx = shapely.get_coordinates(parts, return_index=True)
    same = part_idx[1:] == part_idx[:-1]
    _, _, dist = _GEOD.inv(coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same])
    per_part = np.bincount(part_idx[:-1][same], weights=dist, minlength=len(parts))
    return np.bincount(owner, weights=per_part, minlength=len(geoms))
