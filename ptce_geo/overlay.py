"""The pieces table: every (perimeter ∩ unit), computed once.

Two paths give the same table:

* **by codes** — when a perimeter is a union of communes and the layer's units are unions
  of communes of the same vintage, a piece is the set of communes in both: its area is
  the sum of their areas. No geometry operation, no sliver.
* **by geometry** — otherwise: candidate pairs come from an STRtree; units the perimeter
  covers are taken whole, without clipping; only units on the perimeter's boundary are
  intersected.

Every figure of the scorecard (:mod:`ptce_geo.metrics`) is derived from this table, as
tobler derives its estimates from one intersection table. Areas are equal-area
(:mod:`ptce_geo.projection`); lengths geodesic.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .catalogue import Catalogue, load_catalogue
from .errors import InvalidInput
from .geometry import polygonal_part, repair_polygonal
from .layers import commune_membership, load_layer
from .projection import area_m2, length_m

logger = logging.getLogger(__name__)

__all__ = ["Overlay", "overlay", "geometric_pairs"]

_POLY_TYPES = (3, 6)  # shapely type ids of Polygon, MultiPolygon


@dataclass
class Overlay:
    """The pieces of a set of perimeters against one layer.

    Attributes
    ----------
    layer : str
        Layer id.
    kind : str
        ``"partition"`` or ``"zones"``.
    pieces : geopandas.GeoDataFrame
        One row per (perimeter, unit) with a positive overlap: ``pole_id``,
        ``unit_code``, ``unit_name``, ``area_m2`` (piece), ``unit_area_m2``, optional
        ``population`` and ``unit_population``, ``geometry``; ``length_m`` (outline of
        the piece) after :meth:`with_lengths`.
    poles : pandas.DataFrame
        Indexed by ``pole_id``: ``area_m2``, ``method`` (``"codes"`` or
        ``"geometry"``), optional ``population``; ``union_length_m`` (outline of the
        union of its pieces) after :meth:`with_lengths`.
    """

    layer: str
    kind: str
    pieces: gpd.GeoDataFrame
    poles: pd.DataFrame

    def with_lengths(self) -> "Overlay":
        """Add ``length_m`` to the pieces and ``union_length_m`` to the poles (once).

        Outlines are only needed for ``border_km``, so they are measured on demand.
        """
        if "length_m" not in self.pieces:
            self.pieces["length_m"] = length_m(self.pieces.geometry.to_numpy())
            groups = self.pieces.groupby("pole_id", sort=False)
            unions = {pid: _union(g.geometry.to_numpy()) for pid, g in groups}
            ids = self.poles.index.to_numpy()
            self.poles["union_length_m"] = length_m(np.array([unions.get(i) for i in ids], dtype=object))
        return self


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of pieces: the fast coverage union when they share borders exactly."""
    if len(geoms) == 1:
        return geoms[0]
    try:
        union = shapely.coverage_union_all(geoms)
        if union.is_valid:
            return union
    except shapely.errors.GEOSException:
        pass  # not a clean coverage (clipped pieces, overlapping zones)
    return shapely.union_all(geoms)


def _parallel(fn, a: np.ndarray, b: np.ndarray, *, min_chunk: int = 2000) -> np.ndarray:
    """Apply a vectorised shapely function in threads (shapely releases the GIL)."""
    workers = min(os.cpu_count() or 1, max(len(a) // min_chunk, 1))
    if workers <= 1:
        return fn(a, b)
    bounds = np.linspace(0, len(a), workers + 1).astype(int)
    chunks = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(lambda sl: fn(a[sl], b[sl]), chunks)))


def geometric_pairs(perims: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intersect perimeters with units, clipping only the units on their boundary.

    Parameters
    ----------
    perims, units : arrays of polygonal geometries (same CRS)

    Returns
    -------
    (pi, ui, geoms, whole)
        Index of the perimeter, index of the unit, the polygonal piece, and whether the
        unit was covered (taken whole, unclipped), for every pair whose intersection is
        polygonal.
    """
    tree = shapely.STRtree(units)
    workers = min(os.cpu_count() or 1, max(len(perims) // 16, 1))
    bounds = np.linspace(0, len(perims), workers + 1).astype(int)

    def _query(k: int) -> np.ndarray:
        idx = tree.query(perims[bounds[k]:bounds[k + 1]], predicate="intersects")
        idx[0] += bounds[k]
        return idx

    with ThreadPoolExecutor(workers) as pool:  # the tree query releases the GIL too
        pi, ui = np.concatenate(list(pool.map(_query, range(workers))), axis=1)
    shapely.prepare(perims)
    a, b = perims[pi], units[ui]
    covered = _parallel(shapely.covers, a, b)  # the unit lies wholly inside: no clipping
    geoms = np.empty(len(pi), dtype=object)
    geoms[covered] = b[covered]
    rest = np.flatnonzero(~covered)
    inside = shapely.within(a[rest], b[rest])  # the perimeter lies inside one unit
    geoms[rest[inside]] = a[rest[inside]]
    rest = rest[~inside]
    crossing = rest[_parallel(shapely.overlaps, a[rest], b[rest])]  # the others only touch
    if len(crossing):
        cut = _parallel(shapely.intersection, a[crossing], b[crossing])
        odd = ~np.isin(shapely.get_type_id(cut), _POLY_TYPES)
        cut[odd] = [polygonal_part(g) for g in cut[odd]]
        geoms[crossing] = cut
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    return pi[keep], ui[keep], geoms[keep], covered[keep]


def _geometry_path(perims: gpd.GeoDataFrame, layer: gpd.GeoDataFrame) -> pd.DataFrame:
    units = layer.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(units), _POLY_TYPES)
    unit_idx = np.flatnonzero(polygonal)
    pi, uj, geoms, whole = geometric_pairs(perims.geometry.to_numpy(), units[unit_idx])
    ui = unit_idx[uj]
    area = np.empty(len(pi))
    area[whole] = layer["area_m2"].to_numpy()[ui[whole]]
    area[~whole] = area_m2(geoms[~whole])
    out = pd.DataFrame({
        "pole_id": perims["id"].to_numpy()[pi],
        "unit_code": layer["code"].to_numpy()[ui],
        "area_m2": area,
        "_geom": geoms,
        "_unit": ui,
    })
    return out[out["area_m2"] > 0]


def _members(perims: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(perimeter position, commune position) of every commune of code-defined perimeters."""
    lists = perims["communes"].to_numpy()
    sizes = np.fromiter((len(c) for c in lists), dtype=int, count=len(lists))
    flat = np.fromiter((code for c in lists for code in c), dtype=object, count=int(sizes.sum()))
    ci = pd.Index(communes["code"].to_numpy(dtype=object)).get_indexer(flat)
    pi = np.repeat(np.arange(len(lists)), sizes)
    return pi[ci >= 0], ci[ci >= 0]


def _code_path(perims: gpd.GeoDataFrame, layer: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
               membership: pd.DataFrame) -> pd.DataFrame:
    """Pieces of code-defined perimeters, by sums over communes (no geometry operation)."""
    pi, ci = _members(perims, communes)
    com_index = pd.Index(communes["code"].to_numpy(dtype=object))
    unit_index = pd.Index(layer["code"].to_numpy(dtype=object))
    m_ci = com_index.get_indexer(membership["commune"].to_numpy(dtype=object))
    m_ui = unit_index.get_indexer(membership["code"].to_numpy(dtype=object))
    ok = (m_ci >= 0) & (m_ui >= 0)
    link = pd.DataFrame({"ci": m_ci[ok], "ui": m_ui[ok]})
    unit_n = np.bincount(link["ui"], minlength=len(layer))
    rows = pd.DataFrame({"pi": pi, "ci": ci}).merge(link, on="ci", how="inner")
    rows["area_m2"] = communes["area_m2"].to_numpy()[rows["ci"]]
    agg = {"area_m2": ("area_m2", "sum"), "n": ("ci", "size")}
    if "population" in communes:
        rows["population"] = communes["population"].to_numpy(dtype=float)[rows["ci"]]
        agg["population"] = ("population", "sum")
    out = rows.groupby(["pi", "ui"], sort=False).agg(**agg).reset_index()
    ui = out["ui"].to_numpy()
    whole = out["n"].to_numpy() == unit_n[ui]
    geoms = np.empty(len(out), dtype=object)
    geoms[whole] = layer.geometry.to_numpy()[ui[whole]]  # the unit itself, no union needed
    if (~whole).any():  # part of a unit: the union of its communes in the perimeter
        cgeoms = communes.geometry.to_numpy()
        part = rows.merge(out.loc[~whole, ["pi", "ui"]], on=["pi", "ui"])
        unions = {k: _union(cgeoms[g["ci"].to_numpy()]) for k, g in part.groupby(["pi", "ui"], sort=False)}
        geoms[~whole] = [unions[k] for k in zip(out["pi"].to_numpy()[~whole], ui[~whole])]
    out["pole_id"] = perims["id"].to_numpy()[out["pi"].to_numpy()]
    out["unit_code"] = layer["code"].to_numpy()[ui]
    out["_unit"] = ui
    out["_geom"] = geoms
    return out.drop(columns=["pi", "ui", "n"])


def _commune_population(perims: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> pd.DataFrame:
    """Population of each (pole, commune) piece of geometric perimeters.

    Areal interpolation within each commune: a piece holding a fraction f of a commune's
    area holds the fraction f of its population.
    """
    cp = _geometry_path(perims, communes)
    ui = cp["_unit"].to_numpy()
    ratio = np.minimum(cp["area_m2"].to_numpy() / communes["area_m2"].to_numpy()[ui], 1.0)
    pop = communes["population"].to_numpy(dtype=float)[ui] * ratio
    return pd.DataFrame({"pole_id": cp["pole_id"].to_numpy(), "commune": cp["unit_code"].to_numpy(),
                         "population": pop})


def _repaired(frame: gpd.GeoDataFrame, labels: pd.Series, where: str) -> gpd.GeoDataFrame:
    """The frame with invalid geometries made valid (polygonal parts kept), with a warning.

    Predicates on invalid geometries are undefined: a MultiPolygon whose parts share an
    edge does not ``cover`` the units lying across that edge, and they were lost.
    """
    geoms = frame.geometry.to_numpy()
    if shapely.is_valid(geoms[~shapely.is_missing(geoms)]).all():
        return frame
    return frame.set_geometry(repair_polygonal(geoms, labels=labels.to_numpy(), where=where), crs=frame.crs)


def overlay(
    perimeters: gpd.GeoDataFrame,
    layer: str | gpd.GeoDataFrame,
    *,
    catalogue: Catalogue | None = None,
    weight: str | None = None,
    kind: str | None = None,
) -> Overlay:
    """Compute the pieces of perimeters against a layer.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As returned by :func:`ptce_geo.perimeters.read_perimeters` (``id``,
        ``communes``, ``geometry``); another CRS than EPSG:4326 is converted to it.
    layer : str or geopandas.GeoDataFrame
        A catalogue layer id, or a table with ``code``, ``nom``, ``geometry``
        (``area_m2`` is measured when absent).
    catalogue : Catalogue, optional
    weight : {None, "population"}
        Also compute the population of each piece (from commune populations: exact for
        perimeters given by codes, areal interpolation within each commune otherwise).
    kind : {None, "zones", "partition"}
        What a table given as ``layer`` is: ``"partition"`` when its units tile the
        territory without overlapping (``border_km`` is then measured), ``"zones"``
        otherwise. Default: the table's ``attrs["kind"]`` (set by
        :func:`~ptce_geo.layers.load_layer`), else ``"zones"``. A layer id has its own kind.

    Returns
    -------
    Overlay
    """
    if weight not in (None, "area", "population"):
        raise InvalidInput(f"Unknown weight {weight!r}: use 'area' or 'population'.")
    if kind not in (None, "zones", "partition"):
        raise InvalidInput(f"Unknown layer kind {kind!r}: use 'zones' or 'partition'.")
    catalogue = catalogue or load_catalogue()
    if perimeters.crs is not None and not perimeters.crs.equals("EPSG:4326"):
        perimeters = perimeters.to_crs("EPSG:4326")
    perimeters = _repaired(perimeters, perimeters["id"], "perimeters")
    if isinstance(layer, str):
        spec = catalogue[layer]
        table = load_layer(layer, catalogue=catalogue)
        layer_id, kind, nested = spec.id, spec.kind, spec.nested_in_communes
    else:
        table = layer.to_crs("EPSG:4326") if layer.crs and not layer.crs.equals("EPSG:4326") else layer
        table = _repaired(table, table["code"], "layer table")
        if "area_m2" not in table:
            table = table.assign(area_m2=area_m2(table.geometry.to_numpy()))
        kind = kind or table.attrs.get("kind") or "zones"  # a loaded layer's table keeps its kind
        layer_id, nested = str(table.attrs.get("layer", "upload")), False
    by_codes = perimeters["definition"].eq("codes").to_numpy() if "definition" in perimeters else np.zeros(len(perimeters), bool)
    need_communes = nested or weight == "population"
    if weight == "population" and not nested:  # refuse before loading the communes
        communes = None
    else:
        communes = load_layer("communes", catalogue=catalogue) if need_communes else None
    membership = commune_membership(layer_id, catalogue=catalogue) if nested else None
    if weight == "population" and (not nested or communes is None or "population" not in communes):
        raise InvalidInput(f"Population weighting needs a layer made of communes with populations; "
                           f"{layer_id!r} is not one: use area weighting.",
                           fr="La pondération par la population n'est possible que pour les découpages "
                           "formés de communes.")
    parts = []
    if nested and by_codes.any():
        parts.append(_code_path(perimeters[by_codes], table, communes, membership))
    geo = perimeters[~by_codes] if nested else perimeters
    if len(geo):
        part = _geometry_path(geo, table)
        if weight == "population":
            cpop = _commune_population(geo, communes)
            pop = cpop.merge(membership, on="commune").groupby(["pole_id", "code"])["population"].sum()
            part["population"] = pop.reindex(pd.MultiIndex.from_arrays([part["pole_id"], part["unit_code"]])).to_numpy()
            geo_pop = cpop.groupby("pole_id")["population"].sum()
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["pole_id", "unit_code", "area_m2", "_geom", "_unit"])
    ui = rows["_unit"].to_numpy(dtype=int)
    pieces = pd.DataFrame({
        "pole_id": rows["pole_id"].to_numpy(),
        "unit_code": rows["unit_code"].to_numpy(),
        "unit_name": table["nom"].to_numpy()[ui],
        "area_m2": rows["area_m2"].to_numpy(dtype=float),
        "unit_area_m2": table["area_m2"].to_numpy()[ui],
    })
    if weight == "population":
        pieces["population"] = rows["population"].to_numpy(dtype=float)
        pieces["unit_population"] = table["population"].to_numpy()[ui] if "population" in table else np.nan
    pieces = gpd.GeoDataFrame(pieces, geometry=rows["_geom"].to_numpy(), crs="EPSG:4326")
    poles = _pole_table(perimeters, communes, by_codes, weight)
    if weight == "population" and len(geo):
        poles.loc[geo["id"].to_numpy(), "population"] = geo_pop.reindex(geo["id"].to_numpy()).fillna(0).to_numpy()
    return Overlay(layer=layer_id, kind=kind, pieces=pieces, poles=poles)


def _pole_table(perimeters, communes, by_codes, weight) -> pd.DataFrame:
    ids = perimeters["id"].to_numpy()
    geoms = perimeters.geometry.to_numpy()
    area = area_m2(geoms)
    pop = np.full(len(ids), np.nan)
    if communes is not None and by_codes.any():
        # the same measure as the pieces (sums over communes): shares are exact
        sel = np.flatnonzero(by_codes)
        pi, ci = _members(perimeters.iloc[sel], communes)
        area[sel] = np.bincount(pi, weights=communes["area_m2"].to_numpy()[ci], minlength=len(sel))
        if "population" in communes:
            cpop = np.nan_to_num(communes["population"].to_numpy(dtype=float))
            pop[sel] = np.bincount(pi, weights=cpop[ci], minlength=len(sel))
    table = pd.DataFrame({"area_m2": area, "method": np.where(by_codes, "codes", "geometry")}, index=pd.Index(ids, name="pole_id"))
    if weight == "population":
        table["population"] = pop
    return table
