"""Areas and lengths measured on the ellipsoid, never in degrees nor in Lambert-93.

Areas are exact areas on the WGS84 ellipsoid of polygons whose edges are the straight
lines in longitude/latitude that GeoJSON (RFC 7946) and shapely's planar operations give
them. They are computed in the Lambert cylindrical equal-area projection of the
ellipsoid (authalic latitude, as EPSG:6933), where the area element is exact, by
integrating each edge along its lon/lat line (3-point Gauss-Legendre rule on a smooth
function: exact to ~1e-12 relative for edges up to 10°). One measure serves mainland
France, Corsica and every overseas département.

Why not project the vertices to EPSG:3035 and take the planar area? That measures the
polygon whose edges are chords of EPSG:3035, not lon/lat lines. The two differ by the
thin lens between a lon/lat line and its chord; shapely intersections insert vertices on
the lon/lat lines, so with chords the pieces of a perimeter would not add up to it (a
triangle with 50 km sides, cut by the communes, lost 0.3 % of its area). With lon/lat
edges, inserting a vertex on an edge leaves every area unchanged.

The per-territory equal-area projections (EPSG:3035 for mainland France and Corsica,
a Lambert azimuthal equal-area projection centred on each overseas département) remain
available for work in metres (:func:`to_equal_area`). Lengths are geodesic (WGS84).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer

__all__ = ["ZONES", "AREA_METHOD", "zone_of", "equal_area_crs", "to_equal_area", "area_m2", "length_m",
           "geodesic_area_m2"]

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
#: names the area measure; changes whenever the areas it gives change (a cache key part)
AREA_METHOD = "cea-lonlat-edges-1"
_A = 6378137.0  # WGS84 semi-major axis (m)
_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)  # first eccentricity squared
_E = float(np.sqrt(_E2))
#: 3-point Gauss-Legendre rule on [0, 1]: (node, weight); exact to ~1e-12 for edges of 10°
_GAUSS3 = ((0.5 - 0.5 * 0.6**0.5, 5 / 18), (0.5, 8 / 18), (0.5 + 0.5 * 0.6**0.5, 5 / 18))
_POLYGON, _MULTI = 3, (4, 5, 6, 7)  # shapely type ids: Polygon; multi-parts and collections (a range)


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


def _authalic_primitive(phi: np.ndarray) -> np.ndarray:
    """Area (m²) between the equator and latitude ``phi`` (radians) per radian of longitude."""
    s = np.sin(phi)
    return (_A * _A * (1 - _E2) / 2) * (s / (1 - _E2 * s * s) + np.arctanh(_E * s) / _E)


def _polygon_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every Polygon inside ``geoms`` (multi-parts and collections opened), with its owner."""
    types = shapely.get_type_id(geoms)
    if (types == _POLYGON).all():  # nothing to open: no copies of the parts
        return geoms, np.arange(len(geoms))
    parts, owner = shapely.get_parts(geoms, return_index=True)
    types = shapely.get_type_id(parts)
    while len(parts) and ((types >= _MULTI[0]) & (types <= _MULTI[-1])).any():
        sub, idx = shapely.get_parts(parts, return_index=True)
        parts, owner = sub, owner[idx]
        types = shapely.get_type_id(parts)
    keep = types == _POLYGON
    return parts[keep], owner[keep]


def area_m2(geoms: np.ndarray, zones: np.ndarray | None = None) -> np.ndarray:
    """Area of each lon/lat geometry in square metres, on the WGS84 ellipsoid.

    Each edge is the straight line in longitude/latitude between its vertices (RFC 7946),
    so a vertex inserted on an edge (by an intersection) changes no area, and the pieces
    of a polygon add up to it. Only polygonal parts have an area.

    Parameters
    ----------
    geoms : array of shapely geometries in EPSG:4326
    zones : array of str, optional
        Accepted for compatibility; the measure is the same in every territory.

    Notes
    -----
    Green's theorem in (longitude λ, latitude φ): area = −∮ F(φ) dλ, where F is the area
    between the equator and φ per radian of longitude (authalic latitude). Along an edge
    λ and φ vary linearly together, so its term is Δλ times the mean of F over the edge,
    taken by the 3-point Gauss-Legendre rule. F is replaced by F − F(first vertex of the
    ring) to avoid cancellation (∮ dλ = 0 on a closed ring).
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms), dtype=float)
    if len(geoms) == 0:
        return out
    polys, owner = _polygon_parts(geoms)
    if len(polys) == 0:
        return out
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    if len(coords) == 0:  # empty polygons only
        return out
    lam, phi = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    same = ring_idx[1:] == ring_idx[:-1]  # consecutive vertices of one ring: an edge
    ring_of_edge = ring_idx[:-1][same]
    phi0, dphi = phi[:-1][same], phi[1:][same] - phi[:-1][same]
    mean_f = sum(w * _authalic_primitive(phi0 + t * dphi) for t, w in _GAUSS3)
    first = np.flatnonzero(np.concatenate(([True], ~same)))  # first vertex of each ring
    ref = np.zeros(len(rings))
    ref[ring_idx[first]] = _authalic_primitive(phi[first])
    mean_f -= ref[ring_of_edge]
    signed = np.bincount(ring_of_edge, weights=mean_f * (lam[1:][same] - lam[:-1][same]), minlength=len(rings))
    exterior = np.concatenate(([True], ring_poly[1:] != ring_poly[:-1]))  # the first ring of each polygon
    ring_area = np.where(exterior, 1.0, -1.0) * np.abs(signed)
    poly_area = np.bincount(ring_poly, weights=ring_area, minlength=len(polys))
    out += np.bincount(owner, weights=poly_area, minlength=len(geoms))
    return np.nan_to_num(out)


def length_m(geoms: np.ndarray) -> np.ndarray:
    """Geodesic length of each geometry's lines (the boundary, for polygons), metres."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms), dtype=float)
    if len(geoms) == 0:
        return out
    types = shapely.get_type_id(geoms)
    polygonal = (types == 3) | (types == 6)
    lines = np.where(polygonal, shapely.boundary(geoms), geoms)
    parts, owner = shapely.get_parts(lines, return_index=True)
    if len(parts) == 0:
        return out
    coords, part_idx = shapely.get_coordinates(parts, return_index=True)
    same = part_idx[1:] == part_idx[:-1]
    _, _, dist = _GEOD.inv(coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same])
    per_part = np.bincount(part_idx[:-1][same], weights=dist, minlength=len(parts))
    return np.bincount(owner, weights=per_part, minlength=len(geoms))
