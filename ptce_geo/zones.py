"""How each pole sits against contract zones: the overlap matrix, programmes, priority districts.

A *zones* layer (QPV, Territoires d'industrie, contrats de ville, CRTE, a user's file…)
does not tile the country: its zones may overlap one another and leave gaps. For every
pole P and every zone Z that meet, with the measure μ of the options (area, or
population with ``weight="population"``)::

    share_of_pole = μ(P ∩ Z) / μ(P)      share_of_zone = μ(P ∩ Z) / μ(Z)
    iou = μ(P ∩ Z) / (μ(P) + μ(Z) − μ(P ∩ Z))

Two paths give these figures:

* **membership** — when the pole is given by codes (it has ``communes``) and the zone's
  members resolve into COG communes (:func:`ptce_geo.layers.zone_members`: Territoires
  d'industrie by EPCI, CRTE by commune, contrats de ville by EPCI, Petites villes de
  demain and Action cœur de ville by commune), P ∩ Z is the set of shared communes and
  every measure is a sum over communes: exact, no sliver, ``iou`` exactly 1 when the pole
  and the zone have the same communes. The population weight is the share of the pole's
  population living in the zone.
* **geometry** — for zones known only by their outline (QPV, PNR, uploaded files, zones
  whose members cannot all be resolved) and for poles given as drawn geometry. Areas are
  equal-area (:mod:`ptce_geo.projection`); populations are interpolated by area within
  each commune.

For the tolerance t of :class:`~ptce_geo.options.Options` (default 1 %), the relation is,
in this order:

* ``coincides`` when both shares are ≥ 1 − t;
* ``pole_inside_zone`` when share_of_pole ≥ 1 − t (the pole lies in the zone);
* ``zone_inside_pole`` when share_of_zone ≥ 1 − t (the zone lies in the pole);
* ``touches`` when both shares are < t: mere contact, such as the slivers two outlines
  drawn on different generalisations leave along a common border — not an overlap;
* ``straddles`` otherwise.

A row is **counted** (a real overlap) when its relation is not ``touches`` and one of its
shares reaches the threshold of the options (default 1 %). Headline counts, summaries and
covered shares count only those rows; the others are slivers, listed apart.

Zones given as points (programme sites seen without their member communes) have no
area: a point zone lying in a pole gives ``share_of_pole`` = 0, ``iou`` = 0 and
``share_of_zone`` the fraction of its points in the pole.

The share of a pole covered by a layer is the measure of the *union* of its counted
zones in the pole, never the sum of the shares: contract zones can overlap (nested CRTE,
for one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .catalogue import Catalogue, load_catalogue
from .errors import InvalidInput, UploadRejected
from .fmt import RELATION_LABELS  # French labels of the relations (re-exported)
from .layers import UNRESOLVED_COLUMNS, load_layer, shared_key, zone_members
from .metrics import share_arrays
from .options import Options
from .overlay import Overlay, PreparedPerimeters, _interpolated, _layer_index, _union, overlay, prepared
from .projection import area_m2

logger = logging.getLogger(__name__)

__all__ = [
    "RELATIONS",
    "OVERLAP_RELATIONS",
    "RELATION_LABELS",
    "OVERLAP_COLUMNS",
    "SUMMARY_COLUMNS",
    "ZoneOverlap",
    "QpvTables",
    "overlap_zones",
    "zone_overlaps",
    "zone_summary",
    "qpv_by_pole",
    "qpv_tables",
    "overlap_table",
    "programme_summary",
    "layer_notice",
]

RELATIONS = ("coincides", "pole_inside_zone", "zone_inside_pole", "straddles", "touches")
#: the relations that are overlaps (``touches`` is mere contact)
OVERLAP_RELATIONS = RELATIONS[:4]
#: columns of the overlap table, in order
OVERLAP_COLUMNS = ["pole_id", "zone_code", "zone_name", "share_of_pole", "share_of_zone", "iou", "relation",
                   "counted", "overlap_km2", "overlap_population", "shared_communes", "method", "zone_type"]
SUMMARY_COLUMNS = ["pole_id", "nom", "n_zones", "n_coincides", "n_pole_inside_zone", "n_zone_inside_pole",
                   "n_straddles", "n_touches", "n_slivers", "covered_share", "zones"]
_POINT_TYPES = (0, 4)  # shapely type ids of Point, MultiPoint
#: the unresolved members of a layer without members (copied: building an empty frame is slow)
_NO_UNRESOLVED = pd.DataFrame(columns=UNRESOLVED_COLUMNS)
_FLOAT_COLUMNS = ("share_of_pole", "share_of_zone", "iou", "overlap_km2", "overlap_population", "shared_communes")


class _LayerName(NamedTuple):
    """A catalogue layer, pickled by its id (see :meth:`ZoneOverlap.__getstate__`)."""

    layer: str


@dataclass
class ZoneOverlap:
    """Everything about a set of poles against one zones layer, computed once.

    Attributes
    ----------
    layer : str
        The layer id (``"upload"`` or the ``attrs["layer"]`` of a user's table).
    table : pandas.DataFrame
        One row per (pole, zone) that meet, columns :data:`OVERLAP_COLUMNS`: the shares
        (by the weight of the options), ``relation``, ``counted`` (a real overlap),
        ``overlap_km2``, ``overlap_population`` (with the population weight),
        ``shared_communes`` (membership path), ``method`` (``"membership"`` or
        ``"geometry"``) and ``zone_type`` (``"communes"`` on the membership path,
        ``"polygon"`` or ``"point"`` on the geometry path; for points the shares are
        fractions of points).
    summary : pandas.DataFrame
        One row per pole, columns :data:`SUMMARY_COLUMNS`: ``n_zones`` (counted
        zones), counts per relation (``n_touches`` and ``n_slivers`` are listed apart),
        ``covered_share`` (share of the pole covered by the union of the counted zones)
        and ``zones`` (codes of the counted zones by decreasing share of the pole).
    zones : geopandas.GeoDataFrame
        The zones used (``code``, ``nom``, ``geometry`` and the layer's other columns).
    options : Options
    unresolved : pandas.DataFrame
        Members of the layer's zones that could not be turned into communes
        (:data:`ptce_geo.layers.UNRESOLVED_COLUMNS`); those zones are measured by their
        outline.
    status, period, notice : str
        The layer's status (``"en vigueur"`` or ``"historique"``), period and French notice.
    """

    layer: str
    zones: gpd.GeoDataFrame
    options: Options
    unresolved: pd.DataFrame
    status: str = "en vigueur"
    period: str = ""
    notice: str = ""
    #: the rows as columns (arrays): the table's columns but ``pole_id``, with ``pole``
    #: (position of the pole) and ``pole_ids``; ``_geom`` the geometry of each row when known
    #: (geometry path), ``_shared`` the positions (in the communes layer) of the shared
    #: communes of each membership row, whose geometry is built on demand
    _cols: dict = field(default_factory=dict, repr=False)
    #: the summary as columns (arrays)
    _summary_cols: dict = field(default_factory=dict, repr=False)
    _catalogue: Catalogue | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self._catalogue is not None and self.layer in self._catalogue.layers and shared_key(self.zones):
            # the catalogue's own table (a process-wide one): sent by name, read from the cache where it
            # arrives (a worker's result comes back in 0,3 MB instead of 6,5 MB)
            state["zones"] = _LayerName(self.layer)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state.get("zones"), _LayerName):
            state["zones"] = load_layer(state["zones"].layer, catalogue=state["_catalogue"], shared=True)
        self.__dict__.update(state)

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per (pole, zone) that meet, columns :data:`OVERLAP_COLUMNS`."""
        c = self._cols
        cols = {"pole_id": c["pole_ids"][c["pole"]], **{k: c[k] for k in OVERLAP_COLUMNS if k != "pole_id"}}
        return pd.DataFrame({k: (pd.Series(v, dtype=object) if v.dtype == object else v) for k, v in cols.items()},
                            columns=OVERLAP_COLUMNS)

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per pole, columns :data:`SUMMARY_COLUMNS`."""
        return pd.DataFrame({k: (pd.Series(v, dtype=object) if v.dtype == object else v)
                             for k, v in self._summary_cols.items()}, columns=SUMMARY_COLUMNS)

    @property
    def tolerance(self) -> float:
        """The relation tolerance of the options."""
        return self.options.tolerance

    @property
    def historical(self) -> bool:
        """True for an expired generation of zones (shown as history)."""
        return self.status == "historique"

    @property
    def overlaps(self) -> pd.DataFrame:
        """The counted rows: real overlaps."""
        return self.table[self.table["counted"]].reset_index(drop=True)

    @property
    def slivers(self) -> pd.DataFrame:
        """The rows not counted: contact in border and pieces below the threshold."""
        return self.table[~self.table["counted"]].reset_index(drop=True)

    @cached_property
    def pieces(self) -> gpd.GeoDataFrame:
        """The table with the geometry of each piece (the union of the shared communes on
        the membership path), built on first use."""
        geoms = self._cols["_geom"].copy()
        shared = self._cols["_shared"]
        if any(c is not None for c in shared):
            cgeoms = load_layer("communes", catalogue=self._catalogue, shared=True).geometry.to_numpy()
            for i, pos in enumerate(shared):
                if pos is not None:
                    geoms[i] = _union(cgeoms[pos])
        return gpd.GeoDataFrame(self.table.copy(), geometry=list(geoms), crs="EPSG:4326")


class QpvTables(NamedTuple):
    """Priority districts per pole (see :func:`qpv_by_pole`)."""

    poles: pd.DataFrame
    districts: pd.DataFrame


def layer_notice(spec_or_overlap) -> str:
    """The French notice of a historical layer (``""`` for a layer in force).

    Parameters
    ----------
    spec_or_overlap : LayerSpec or ZoneOverlap
    """
    if getattr(spec_or_overlap, "status", "en vigueur") != "historique":
        return ""
    period = getattr(spec_or_overlap, "period", "")
    notice = getattr(spec_or_overlap, "notice", "")
    return f"Couche historique ({period}) : {notice}." if period else f"Couche historique : {notice}."


def _zone_table(zones: str | gpd.GeoDataFrame, catalogue: Catalogue) -> tuple[str, gpd.GeoDataFrame]:
    """The zones as a normalised table (code, nom, geometry in EPSG:4326)."""
    if isinstance(zones, str):
        return catalogue[zones].id, load_layer(zones, catalogue=catalogue, shared=True)  # read only
    if not isinstance(zones, gpd.GeoDataFrame) or "code" not in zones:
        raise InvalidInput("zones must be a layer id or a GeoDataFrame with 'code', 'nom' and geometry: "
                           "read a file with ptce_geo.uploads.read_zone_upload.",
                           fr="Les zones doivent être une couche du catalogue ou un fichier lu.")
    table = zones
    if table.crs is None:
        raise InvalidInput("the zones table has no CRS: set it (EPSG:4326 for lon/lat).",
                           fr="Le fichier de zones n'a pas de système de coordonnées.")
    if not table.crs.equals("EPSG:4326"):
        table = table.to_crs("EPSG:4326")
    table = table.assign(code=table["code"].astype(str))
    table = table.assign(area_m2=area_m2(table.geometry.to_numpy()))  # never a user's column
    if "nom" not in table:
        table = table.assign(nom=table["code"])
    table = table[~(table.geometry.isna() | table.geometry.is_empty)].reset_index(drop=True)
    table.attrs = {k: v for k, v in zones.attrs.items() if k != "token"}  # a user's table: no cached index
    return str(zones.attrs.get("layer", "upload")), table


def _relation(s: np.ndarray, u: np.ndarray, tolerance: float) -> np.ndarray:
    hi = 1 - tolerance
    return np.select([(s >= hi) & (u >= hi), s >= hi, u >= hi, (s < tolerance) & (u < tolerance)],
                     ["coincides", "pole_inside_zone", "zone_inside_pole", "touches"], default="straddles")


# --- the poles ---------------------------------------------------------------------------

@dataclass
class _Poles:
    """What the summary reads of the poles: ids, totals and the communes' measures."""

    frame: gpd.GeoDataFrame
    ids: np.ndarray
    names: np.ndarray | None  # the ``nom`` column (None without one)
    geoms: np.ndarray
    by_codes: np.ndarray
    area: np.ndarray
    population: np.ndarray
    communes: object | None  # the overlay engine's index of the communes layer

    def total(self, weight: str) -> np.ndarray:
        return self.population if weight == "population" else self.area


def _objects(values, n: int) -> np.ndarray:
    """An object array of length ``n`` (a scalar repeated, or the values)."""
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def _overlay_rows(ov: Overlay, options: Options) -> dict[str, np.ndarray]:
    """Rows of the polygon zones from the overlay engine's pieces (by codes or by geometry),
    as columns; ``_shared`` holds the commune positions of rows by codes, ``_geom`` the
    geometry of the others."""
    s, u, iou = share_arrays(ov, weight=options.weight)
    n = len(s)
    by_codes = ov.method == "codes"
    pop = ov.population if (options.weight == "population" and ov.population is not None) else np.full(n, np.nan)
    shared = _objects(None, n)
    shared[by_codes] = ov.piece_communes[by_codes]
    geoms = _objects(None, n)
    geoms[~by_codes] = ov.piece_geoms[~by_codes]
    return {
        "pole": ov.piece_pole, "zone_code": _objects(ov.unit_code, n), "zone_name": _objects(ov.unit_name, n),
        "share_of_pole": s, "share_of_zone": u, "iou": iou, "overlap_km2": ov.area / 1e6,
        "overlap_population": np.asarray(pop, dtype=float),
        "shared_communes": np.where(by_codes, ov.n_communes, np.nan),
        "method": _objects(np.where(by_codes, "membership", "geometry"), n),
        "zone_type": _objects(np.where(by_codes, "communes", "polygon"), n),
        "_shared": shared, "_geom": geoms,
    }


def _point_rows(poles: _Poles, sel: np.ndarray, index, zsel: np.ndarray) -> dict | None:
    """Rows of the poles ``sel`` × point zones ``zsel`` (sorted positions in the layer
    ``index``): the fraction of the zone's points in the pole."""
    if not len(sel) or not len(zsel):
        return None
    all_points, all_owner = index.point_parts  # every point of the layer, with its unit's position
    chosen = np.zeros(len(index.codes), bool)
    chosen[zsel] = True
    keep = chosen[all_owner]
    points, owner = all_points[keep], np.searchsorted(zsel, all_owner[keep])
    n_points = np.bincount(owner, minlength=len(zsel))
    pole_geoms = poles.geoms[sel]
    pt, pole = shapely.STRtree(pole_geoms).query(points)  # envelopes only: the layer's points are shared,
    hit = shapely.intersects(points[pt], pole_geoms[pole])  # never prepared (within or on the outline)
    pt, pole = pt[hit], pole[hit]
    if not len(pt):
        return None
    order = np.lexsort((pt, owner[pt], pole))
    pt, pole, zone = pt[order], pole[order], owner[pt][order]
    key = pole * len(zsel) + zone
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    pi, zi = sel[pole[starts]], zsel[zone[starts]]
    pieces = [points[pt[a]] if c == 1 else shapely.MultiPoint(list(points[pt[a:a + c]]))
              for a, c in zip(starts, counts)]
    n = len(starts)
    return {
        "pole": pi, "zone_code": _objects(index.codes[zi], n),
        "zone_name": _objects(index.names[zi], n), "share_of_pole": np.zeros(n),
        "share_of_zone": counts / n_points[zone[starts]], "iou": np.zeros(n), "overlap_km2": np.zeros(n),
        "overlap_population": np.full(n, np.nan), "shared_communes": np.full(n, np.nan),
        "method": _objects("geometry", n), "zone_type": _objects("point", n),
        "_shared": _objects(None, n), "_geom": _objects(pieces, n),
    }


# --- the summary -------------------------------------------------------------------------

def _covered(poles: _Poles, pos: int, rows: np.ndarray, share: np.ndarray, method: np.ndarray, shared: list,
             geoms: list, weight: str) -> float:
    """Share of one pole (position ``pos``) covered by the union of its counted areal rows ``rows``."""
    if len(rows) == 1:
        return float(share[rows[0]])
    total = poles.total(weight)[pos]
    if not total > 0:
        return 0.0
    com = poles.communes
    if (method[rows] == "membership").all():  # a union of communes: exact, no geometry
        at = np.unique(np.concatenate([shared[i] for i in rows]))
        measure = com.population[at].sum() if weight == "population" else com.area[at].sum()
        return float(min(measure / total, 1.0))
    parts = []
    for i in rows:
        if shared[i] is not None:
            parts.extend(com.geoms[shared[i]])
        else:
            parts.append(geoms[i])
    arr = np.array([shapely.union_all(np.array(parts, dtype=object))], dtype=object)
    measure = _interpolated(arr, com, com.population)[0] if weight == "population" else area_m2(arr)[0]
    return float(min(measure / total, 1.0))


def _summary(poles: _Poles, cols: dict[str, np.ndarray], options: Options) -> dict[str, np.ndarray]:
    """The summary's columns: one value per pole (each (pole, zone) pair is one row of ``cols``)."""
    n = len(poles.ids)
    pos = cols["pole"]
    counted = cols["counted"]
    relation = cols["relation"]
    out = {"pole_id": _objects(poles.ids, n),
           "nom": _objects(poles.names if poles.names is not None else poles.ids, n),
           "n_zones": np.bincount(pos[counted], minlength=n)}
    for r in RELATIONS:
        mask = relation == r if r == "touches" else (relation == r) & counted
        out[f"n_{r}"] = np.bincount(pos[mask], minlength=n)
    out["n_slivers"] = np.bincount(pos[~counted], minlength=n)
    codes: list[list[str]] = [[] for _ in range(n)]
    areal: list[list[int]] = [[] for _ in range(n)]
    point = cols["zone_type"] == "point"
    for i in np.flatnonzero(counted):
        codes[pos[i]].append(str(cols["zone_code"][i]))
        if not point[i]:
            areal[pos[i]].append(i)
    out["covered_share"] = np.array([
        _covered(poles, k, np.array(rows), cols["share_of_pole"], cols["method"], cols["_shared"], cols["_geom"],
                 options.weight) if rows else 0.0 for k, rows in enumerate(areal)], dtype=float)
    out["zones"] = _objects(["; ".join(c) for c in codes], n)
    return out


def overlap_zones(
    perimeters: gpd.GeoDataFrame | PreparedPerimeters, zones: str | gpd.GeoDataFrame, *,
    catalogue: Catalogue | None = None, options: Options | None = None,
) -> ZoneOverlap:
    """Overlap of every pole with every zone of a layer, and the summary per pole.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame or ptce_geo.overlay.PreparedPerimeters
        As returned by :func:`ptce_geo.perimeters.read_perimeters`; poles given by codes
        (``definition == "codes"``, with ``communes``) take the membership path against
        zones whose members are known.
    zones : str or geopandas.GeoDataFrame
        A catalogue layer id (``"qpv"``, ``"territoires_industrie"``…) or a table with
        ``code``, ``nom`` and a geometry (as from
        :func:`ptce_geo.uploads.read_zone_upload`); polygons and points are both read.
    catalogue : Catalogue, optional
    options : Options, optional
        Threshold (which rows are counted), weight (area or population) and tolerance
        (relations); default ``Options()``.

    Returns
    -------
    ZoneOverlap
    """
    options = options or Options()
    if not isinstance(options, Options):
        raise InvalidInput("options must be a ptce_geo.options.Options.", fr="Options invalides.")
    catalogue = catalogue or load_catalogue()
    prep = prepared(perimeters)
    perimeters = prep.frame
    layer_id, table = _zone_table(zones, catalogue)
    spec = catalogue.layers.get(layer_id) if isinstance(zones, str) else None
    members = zone_members(layer_id, catalogue=catalogue) if spec is not None and spec.has_members else None
    index = _layer_index(table)  # a catalogue layer's: built once per process
    types = index.type_id
    pointy = (types == _POINT_TYPES[0]) | (types == _POINT_TYPES[1])
    # the overlay engine: shared communes for poles by codes × zones whose members are known,
    # outlines otherwise (polygon zones only; points are counted below)
    ov = overlay(prep, layer_id if spec is not None else table.iloc[index.polygonal].reset_index(drop=True),
                 catalogue=catalogue, weight=options.weight, kind="zones")
    # the communes measure the union of shared communes and populations (_covered)
    communes = _layer_index(load_layer("communes", catalogue=catalogue, shared=True)) if (
        options.weight == "population" or ov.piece_communes is not None
        and any(c is not None for c in ov.piece_communes)) else None
    by_codes = ov.pole_method == "codes"
    poles = _Poles(frame=perimeters, ids=ov.pole_ids, names=prep.names, geoms=prep.geoms, by_codes=by_codes,
                   area=ov.pole_area, population=ov.pole_population, communes=communes)
    parts = [_overlay_rows(ov, options)]  # by geometry the engine reads polygon zones only
    code_poles, drawn = np.flatnonzero(by_codes), np.flatnonzero(~by_codes)
    parts.append(_point_rows(poles, drawn, index, np.flatnonzero(pointy)))
    if len(code_poles) and pointy.any():  # point zones whose members are all known are counted by codes
        complete = np.fromiter((c in members.complete for c in index.codes), dtype=bool, count=len(index.codes)) \
            if members is not None else np.zeros(len(index.codes), bool)
        parts.append(_point_rows(poles, code_poles, index, np.flatnonzero(pointy & ~complete)))
    parts = [p for p in parts if p is not None]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    s, u = cols["share_of_pole"], cols["share_of_zone"]
    cols["relation"] = _objects(_relation(s, u, options.tolerance), len(s))
    cols["counted"] = (cols["relation"] != "touches") & ~((s < options.threshold) & (u < options.threshold))
    _, code_rank = np.unique(cols["zone_code"].astype(str), return_inverse=True) if len(s) else (None, np.empty(0, int))
    order = np.lexsort((code_rank, -u, -s, cols["pole"]))  # by pole, largest share of the pole first
    cols = {k: v[order] for k, v in cols.items()}
    cols["pole_ids"] = _objects(poles.ids, len(poles.ids))
    unresolved = members.unresolved if members is not None else _NO_UNRESOLVED.copy()
    if len(unresolved):
        logger.info("layer %s: %d zone(s) with unresolved members are measured by their outline",
                    layer_id, unresolved["zone_code"].nunique())
    return ZoneOverlap(
        layer=layer_id, zones=table, options=options, unresolved=unresolved,
        status=spec.status if spec else "en vigueur", period=spec.period if spec else "",
        notice=spec.notice if spec else "", _cols=cols, _summary_cols=_summary(poles, cols, options),
        _catalogue=catalogue,
    )


def zone_overlaps(perimeters: gpd.GeoDataFrame, zones: str | gpd.GeoDataFrame, *,
                  catalogue: Catalogue | None = None, options: Options | None = None) -> pd.DataFrame:
    """One row per (pole, zone) that meet: columns :data:`OVERLAP_COLUMNS`.

    See :func:`overlap_zones` (which also gives the geometries and the summary).
    """
    return overlap_zones(perimeters, zones, catalogue=catalogue, options=options).table


def zone_summary(perimeters: gpd.GeoDataFrame, zones: str | gpd.GeoDataFrame, *,
                 catalogue: Catalogue | None = None, options: Options | None = None) -> pd.DataFrame:
    """One row per pole: counted zones and share covered by their union (see :class:`ZoneOverlap`)."""
    return overlap_zones(perimeters, zones, catalogue=catalogue, options=options).summary


def qpv_by_pole(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                layer: str = "qpv", options: Options | None = None) -> QpvTables:
    """Priority districts (QPV) of each pole, measured geometrically.

    QPV straddle communes, so they are matched by geometry, not by codes. A QPV is
    *wholly inside* a pole when at least ``1 - tolerance`` of its area lies in it.

    Returns
    -------
    QpvTables
        ``poles``: one row per pole, ``pole_id``, ``nom``, ``qpv_count`` (QPV counted:
        contact in border left out), ``qpv_inside`` (wholly inside), ``qpv_area_share``
        (share of the pole's area that is QPV). ``districts``: one row per (pole, QPV
        counted), ``pole_id``, ``qpv_code``, ``qpv_name``, ``communes`` and ``dep`` (when
        the layer has them), ``share_inside`` (share of the QPV's area inside the pole),
        ``share_of_pole``, ``area_km2`` (inside the pole), ``qpv_area_km2``,
        ``wholly_inside``.
    """
    catalogue = catalogue or load_catalogue()
    options = options or Options()
    if options.weight != "area":
        options = Options(threshold=options.threshold, tolerance=options.tolerance)  # QPV figures are areas
    return qpv_tables(overlap_zones(perimeters, layer, catalogue=catalogue, options=options))


def qpv_tables(res: ZoneOverlap) -> QpvTables:
    """The QPV tables of :func:`qpv_by_pole`, from an overlap with a QPV layer.

    Only counted overlaps (not mere contacts) are QPV of a pole. The shares are those of
    the overlap's options: with a population weight, ``qpv_area_share`` is the share of
    the pole's population in QPV, interpolated by area within each commune.
    """
    tolerance = res.options.tolerance
    c = res._cols
    counted = c["counted"]
    codes = c["zone_code"][counted]
    if shared_key(res.zones):  # a catalogue layer (unique codes): its index's positions, built once
        position = _layer_index(res.zones).position
        where = np.fromiter((position.get(code, -1) for code in codes), dtype=np.intp, count=len(codes))
    else:
        where = pd.Index(res.zones["code"].to_numpy(dtype=object)).get_indexer(codes)
    share_in = c["share_of_zone"][counted]
    inside = share_in >= 1 - tolerance
    pole_ids = c["pole_ids"][c["pole"][counted]]
    cols = {"pole_id": pole_ids, "qpv_code": codes, "qpv_name": c["zone_name"][counted]}
    for col in ("communes", "dep"):
        if col in res.zones:
            cols[col] = res.zones[col].to_numpy(dtype=object)[where]
    cols.update(share_inside=share_in, share_of_pole=c["share_of_pole"][counted],
                area_km2=c["overlap_km2"][counted],
                qpv_area_km2=res.zones["area_m2"].to_numpy(dtype=float)[where] / 1e6, wholly_inside=inside)
    districts = pd.DataFrame({k: (pd.Series(v, dtype=object) if v.dtype == object else v) for k, v in cols.items()})
    sc = res._summary_cols
    pos = c["pole"][counted]
    poles = pd.DataFrame({"pole_id": pd.Series(sc["pole_id"], dtype=object),
                          "nom": pd.Series(sc["nom"], dtype=object),
                          "qpv_count": sc["n_zones"],
                          "qpv_inside": np.bincount(pos[inside], minlength=len(sc["pole_id"])),
                          "qpv_area_share": sc["covered_share"]})
    return QpvTables(poles=poles, districts=districts)


def overlap_table(
    perimeters: gpd.GeoDataFrame, zones: str | os.PathLike, *, catalogue: Catalogue | None = None,
    code_field: str | None = None, name_field: str | None = None, options: Options | None = None,
    assume_crs: str | None = None,
) -> tuple[pd.DataFrame, str, ZoneOverlap]:
    """The overlap table of the command line, for a layer id or a zone file.

    Parameters
    ----------
    zones : str or path
        A layer id of the catalogue, or a file (GeoJSON, GeoPackage, zipped Shapefile).
    code_field, name_field : str, optional
        Fields of the file holding the zone code and name (guessed when absent).
    options : Options, optional
    assume_crs : str, optional
        CRS of a file that declares none (e.g. ``"EPSG:2154"`` for a Shapefile without
        ``.prj``).

    Returns
    -------
    (pandas.DataFrame, str, ZoneOverlap)
        The table (:data:`OVERLAP_COLUMNS`), a note saying which fields were used when
        some were guessed (empty otherwise), and the whole result.
    """
    from .uploads import MAX_UPLOAD_BYTES, read_zone_upload

    catalogue = catalogue or load_catalogue()
    note = ""
    text = str(zones)
    if text in catalogue.layers:
        if code_field or name_field:
            note = f"--code-field/--name-field are ignored for the catalogue layer {text!r}."
        source: str | gpd.GeoDataFrame = text
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            known = ", ".join(catalogue.ids(kind="zones"))
            raise InvalidInput(f"--zones {text!r} is neither a layer of catalogue {catalogue.name} nor a file: "
                               f"give a zones layer ({known}) or the path of a GeoJSON, GeoPackage or zipped "
                               "Shapefile.",
                               fr=f"« {text} » n'est ni une couche du catalogue ni un fichier.")
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise UploadRejected(f"{path}: {size / 2**20:.0f} MB is over the {MAX_UPLOAD_BYTES // 2**20} MB limit "
                                 "of zone files: simplify the geometries or keep only the zones needed.",
                                 fr=f"{path.name} : fichier trop gros (plus de {MAX_UPLOAD_BYTES // 2**20} Mo).")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc}): check the path.",
                               fr=f"Impossible de lire {path.name}.") from None
        source, info = read_zone_upload(data, filename=path.name, code_field=code_field, name_field=name_field,
                                        assume_crs=assume_crs)
        note = info.get("note", "")
    res = overlap_zones(perimeters, source, catalogue=catalogue, options=options)
    return res.table, note, res


# --- programmes per pole -----------------------------------------------------------------

def _pct(x: float) -> str:
    """A share as a French percentage for one-line texts: « 85 % », « 99,6 % », « 0,4 % ».

    A share that is not whole never reads as 100 % nor 0 %: 0.9996 gives « 99,9 % ».
    """
    v = 100 * float(x)
    if v in (0.0, 100.0) or 0.5 <= v < 99.5:
        text = f"{v:.0f}"
    else:
        text = f"{min(max(v, 0.1), 99.9):.1f}"
    return text.replace(".", ",") + "\u00a0%"


def _named(label: str, name: object) -> str:
    """« TI Pays Basque », but « CRTE du Niortais » for a zone already named « CRTE du Niortais »."""
    name = str(name)
    return name if name.casefold().startswith(label.casefold() + " ") else f"{label} {name}"


def _plural(label: str, n: int = 2) -> str:
    """``label`` for ``n`` things: « contrats de ville » for « contrat de ville » when ``n > 1``;
    acronyms (TI, CRTE, QPV) are invariable."""
    head, _, rest = label.partition(" ")
    if n <= 1 or not head or head.upper() == head or head.endswith(("s", "x", "z")):
        return label
    return f"{head}s" + (f" {rest}" if rest else "")


def _segment(ov: ZoneOverlap, rows: dict[str, np.ndarray], label: str, style: str, limit: int = 3) -> str:
    """The text of one layer for one pole (its counted rows, as columns)."""
    if style == "count":
        n = len(set(rows["zone_code"]))
        return f"{n} {_plural(label, n)}"
    if style == "communes":
        member = rows["shared_communes"].astype(float)
        n = int(np.where(np.isnan(member), 1, member).sum())  # a site seen as a point is one commune
        return f"{n} commune{'s' if n > 1 else ''} {label}"
    unit = " de la population" if ov.options.weight == "population" else ""
    named = [f"{_named(label, name)} ({_pct(s)}{unit})" for name, s in zip(rows["zone_name"], rows["share_of_pole"])]
    if len(named) > limit:
        more = len(named) - limit
        named = named[:limit] + [f"et {more} autre{'s' if more > 1 else ''} {_plural(label, more)}"]
    return ", ".join(named)


def programme_summary(perimeters: gpd.GeoDataFrame, overlaps: Mapping[str, ZoneOverlap], *,
                      catalogue: Catalogue | None = None) -> pd.DataFrame:
    """One row per pole across every zones layer given: the programmes it sits in, at a glance.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
    overlaps : mapping of layer id to ZoneOverlap
        The overlaps of these perimeters with each zones layer (as :func:`overlap_zones`
        gives them); taken in catalogue order, then any other (an upload) in the
        mapping's order.
    catalogue : Catalogue, optional
        Gives each layer's label and style (``[layer.programme]``) and status.

    Returns
    -------
    pandas.DataFrame
        ``pole_id``, ``nom``, ``programmes`` (one French line over the layers in force:
        zones named with their share of the pole first, then the counts, such as
        « TI Pays Basque (100 %), CRTE Pays Basque (100 %), 2 communes PVD, 1 ACV,
        3 QPV »; « aucun » when none), ``historique`` (the same over historical layers,
        each followed by its period), then for every layer ``<layer>_n`` (counted zones),
        ``<layer>_codes`` (their codes, ``"; "``-joined) and ``<layer>_covered_share``.
        Only counted rows (real overlaps) are used.
    """
    catalogue = catalogue or load_catalogue()
    ids = [lid for lid in catalogue.ids(kind="zones") if lid in overlaps]
    ids += [lid for lid in overlaps if lid not in ids]
    pole_ids = perimeters["id"].to_numpy()
    out: dict[str, object] = {}
    current: dict[str, list[tuple[int, str]]] = {pid: [] for pid in pole_ids}
    history: dict[str, list[tuple[int, str]]] = {pid: [] for pid in pole_ids}
    where = {pid: k for k, pid in enumerate(pole_ids)}
    for lid in ids:
        ov = overlaps[lid]
        spec = catalogue.layers.get(lid)
        label = spec.programme_label if spec else lid
        style = spec.programme_style if spec else "named"
        c = ov._cols
        counted = c["counted"]
        cols = {k: c[k][counted] for k in ("zone_code", "zone_name", "share_of_pole", "shared_communes")}
        cols["pole_id"] = c["pole_ids"][c["pole"][counted]]
        pos = np.fromiter((where.get(p, -1) for p in cols["pole_id"]), dtype=np.int64, count=len(cols["pole_id"]))
        n_rows = np.bincount(pos[pos >= 0], minlength=len(pole_ids))
        out[f"{lid}_n"] = n_rows
        codes = [[] for _ in pole_ids]
        for k, code in zip(pos, cols["zone_code"]):
            if k >= 0:
                codes[k].append(str(code))
        out[f"{lid}_codes"] = pd.Series(["; ".join(c) for c in codes], dtype=object)  # text as objects
        covered = dict(zip(ov._summary_cols["pole_id"], ov._summary_cols["covered_share"]))
        out[f"{lid}_covered_share"] = np.array([covered.get(p, 0.0) for p in pole_ids], dtype=float)
        rank = 0 if style == "named" else 1  # zones named with their share first, then the counts
        for k in np.flatnonzero(n_rows):
            sel = pos == k
            text = _segment(ov, {c: v[sel] for c, v in cols.items()}, label, style)
            pid = pole_ids[k]
            if ov.historical:
                history[pid].append((rank, f"{text} — {ov.period}" if ov.period else text))
            else:
                current[pid].append((rank, text))
    ordered = lambda items: [t for _, t in sorted(items, key=lambda it: it[0])]  # noqa: E731 - stable by rank
    front = {"pole_id": pd.Series(pole_ids, dtype=object),
             "nom": pd.Series(perimeters["nom"].to_numpy() if "nom" in perimeters else pole_ids, dtype=object),
             "programmes": pd.Series([", ".join(ordered(current[p])) or "aucun" for p in pole_ids], dtype=object),
             "historique": pd.Series([" ; ".join(ordered(history[p])) for p in pole_ids], dtype=object)}
    return pd.DataFrame({**front, **out})
