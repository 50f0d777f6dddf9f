"""Small geometry helpers shared by layers, perimeters and exports."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)

__all__ = ["polygonal_part", "repair_polygonal", "orient_ccw", "round_coords"]

_POLYGONAL = {"Polygon", "MultiPolygon"}


def polygonal_part(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Return the polygonal part of ``geom`` (a MultiPolygon, Polygon or ``None``).

    Lines and points in a GeometryCollection (left by an intersection along a shared
    border, or by ``make_valid``) are dropped.
    """
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind in _POLYGONAL:
        return geom
    if kind == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in _POLYGONAL and not g.is_empty]
        if not parts:
            return None
        polys = []
        for p in parts:
            polys.extend(shapely.get_parts(p))
        return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    return None


def repair_polygonal(
    geoms: np.ndarray | Sequence[BaseGeometry],
    *,
    labels: Sequence[object] | None = None,
    where: str = "",
) -> np.ndarray:
    """Make invalid polygons valid, keeping their polygonal parts, with a warning.

    Parameters
    ----------
    geoms : array of geometries
    labels : sequence, optional
        A name for each geometry (feature id or code), used in the warning.
    where : str
        Words naming the file or layer, used in the warning.

    Returns
    -------
    numpy.ndarray
        The geometries; invalid ones replaced by ``make_valid`` (polygonal parts only).
    """
    arr = np.asarray(geoms, dtype=object).copy()
    bad = ~shapely.is_valid(arr) & ~shapely.is_missing(arr)
    if not bad.any():
        return arr
    for i in np.flatnonzero(bad):
        reason = shapely.is_valid_reason(arr[i])
        arr[i] = polygonal_part(shapely.make_valid(arr[i]))
        label = labels[i] if labels is not None else i
        logger.warning("%s: geometry of %s was invalid (%s); repaired with make_valid",
                       where or "input", label, reason)
    return arr


def orient_ccw(geoms: np.ndarray) -> np.ndarray:
    """Orient exterior rings counter-clockwise and holes clockwise (RFC 7946)."""
    return shapely.orient_polygons(np.asarray(geoms, dtype=object), exterior_cw=False)


def round_coords(geoms: np.ndarray, decimals: int = 6) -> np.ndarray:
    """Round coordinates, then repair what rounding made invalid (rare)."""
    arr = shapely.set_precision(np.asarray(geoms, dtype=object), 10.0 ** -decimals, mode="pointwise")
    return repair_polygonal(arr, where="rounding")
