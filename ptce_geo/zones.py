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
from .layers import UNRESOLVED_COLUMNS, ZoneMembers, load_layer, shared_key, zone_members
from .options import Options
from .overlay import geometric_pairs, overlay
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
_POLY_TYPES = (3, 6)
_FLOAT_COLUMNS = ("share_of_pole", "share_of_zone", "iou", "overlap_km2", "overlap_population", "shared_communes")


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
    table: pd.DataFrame
    summary: pd.DataFrame
    zones: gpd.GeoDataFrame
    options: Options
    unresolved: pd.DataFrame
    status: str = "en vigueur"
    period: str = ""
    notice: str = ""
    #: geometry of each row when known (geometry path), else None
    _geoms: np.ndarray | None = field(default=None, repr=False)
    #: positions (in the communes layer) of the shared communes of each membership row,
    #: whose geometry is built on demand
    _shared: list | None = field(default=None, repr=False)
    _catalogue: Catalogue | None = field(default=None, repr=False)

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
        geoms = np.empty(len(self.table), dtype=object) if self._geoms is None else self._geoms.copy()
        if self._shared is not None and any(c is not None for c in self._shared):
            cgeoms = load_layer("communes", catalogue=self._catalogue).geometry.to_numpy()
            for i, pos in enumerate(self._shared):
                if pos is not None:
                    geoms[i] = _union(cgeoms[pos])
        return gpd.GeoDataFrame(self.table.copy(), geometry=list(geoms), crs="EPSG:4326")


class QpvTables(NamedTuple):
    """Priority districts per pole (see :func:`qpv_by_pole`)."""

    poles: pd.DataFrame
    districts: pd.DataFrame


def _union(geoms: np.ndarray) -> shapely.Geometry:
    if len(geoms) == 1:
        return geoms[0]
    try:
        union = shapely.coverage_union_all(geoms)
        if union.is_valid:
            return union
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(geoms)


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
        return catalogue[zones].id, load_layer(zones, catalogue=catalogue)
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


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(b > 0, a / b, 0.0), 0.0, 1.0)


# --- the poles ---------------------------------------------------------------------------

_INDEX_MEMO: dict[str, pd.Index] = {}


def _commune_index(communes: gpd.GeoDataFrame) -> pd.Index:
    """An index of the commune codes, built once per loaded communes table (hashing 35 000
    codes is most of the time of a small overlap); keyed by the table's ``token``."""
    token = shared_key(communes)  # the process-wide table itself, never a copy or subset
    if token is not None and token in _INDEX_MEMO:
        return _INDEX_MEMO[token]
    index = pd.Index(communes["code"].to_numpy(dtype=object))
    if token is not None:
        if len(_INDEX_MEMO) > 4:
            _INDEX_MEMO.clear()
        _INDEX_MEMO[token] = index
    return index


class _Poles:
    """The poles' communes and totals, measured once (sums over communes for code poles)."""

    def __init__(self, perimeters: gpd.GeoDataFrame, communes: gpd.GeoDataFrame | None, weight: str) -> None:
        self.frame = perimeters
        self.ids = perimeters["id"].to_numpy()
        n = len(perimeters)
        has_codes = "communes" in perimeters and "definition" in perimeters
        self.by_codes = np.zeros(n, bool)
        if has_codes:
            listed = np.array([isinstance(c, (list, tuple)) and len(c) > 0 for c in perimeters["communes"]], bool)
            self.by_codes = perimeters["definition"].eq("codes").to_numpy(dtype=bool) & listed
        self.communes = communes
        self.n_communes = np.zeros(n, int)
        self.area = np.full(n, np.nan)
        self.population = np.full(n, np.nan)
        self.pi = np.empty(0, int)  # (pole position, commune position) of code poles
        self.ci = np.empty(0, int)
        if communes is not None:  # commune arrays, indexed once
            self.com_index = _commune_index(communes)
            self.com_area = communes["area_m2"].to_numpy(dtype=float)
            self.com_pop = (np.nan_to_num(communes["population"].to_numpy(dtype=float)) if "population" in communes
                            else None)
            self.com_geoms = communes.geometry.to_numpy()
        if communes is not None and self.by_codes.any():
            sel = np.flatnonzero(self.by_codes)
            lists = perimeters["communes"].to_numpy()[sel]
            sizes = np.fromiter((len(c) for c in lists), dtype=int, count=len(lists))
            flat = np.fromiter((c for cs in lists for c in cs), dtype=object, count=int(sizes.sum()))
            ci = self.com_index.get_indexer(flat)
            pi = np.repeat(sel, sizes)
            self.pi, self.ci = pi[ci >= 0], ci[ci >= 0]
            self.area[sel] = np.bincount(self.pi, weights=self.com_area[self.ci], minlength=n)[sel]
            self.n_communes = np.bincount(self.pi, minlength=n)
            if self.com_pop is not None:
                self.population[sel] = np.bincount(self.pi, weights=self.com_pop[self.ci], minlength=n)[sel]
        drawn = np.flatnonzero(~self.by_codes)
        if len(drawn):
            self.area[drawn] = area_m2(perimeters.geometry.to_numpy()[drawn])
        if weight == "population" and (~self.by_codes).any():
            drawn = np.flatnonzero(~self.by_codes)
            self.population[drawn] = _interpolated_population(perimeters.geometry.to_numpy()[drawn], communes)

    def total(self, weight: str) -> np.ndarray:
        return self.population if weight == "population" else self.area


def _interpolated_population(geoms: np.ndarray, communes: gpd.GeoDataFrame | None) -> np.ndarray:
    """Population in each polygon: a piece holding the fraction f of a commune's area holds
    the fraction f of its population (areal interpolation within each commune)."""
    out = np.zeros(len(geoms))
    if communes is None or "population" not in communes or not len(geoms):
        return np.full(len(geoms), np.nan)
    ok = np.flatnonzero(np.isin(shapely.get_type_id(geoms), _POLY_TYPES))
    if not len(ok):
        return out
    pi, ci, parts, whole = geometric_pairs(geoms[ok], communes.geometry.to_numpy())
    carea = communes["area_m2"].to_numpy()
    piece = np.where(whole, carea[ci], 0.0)
    if (~whole).any():
        piece[~whole] = area_m2(parts[~whole])
    cpop = np.nan_to_num(communes["population"].to_numpy(dtype=float))
    out[ok] = np.bincount(pi, weights=cpop[ci] * _ratio(piece, carea[ci]), minlength=len(ok))
    return out


# --- the membership path -----------------------------------------------------------------

def _positions_hold(members: ZoneMembers, communes: gpd.GeoDataFrame, zone_codes: np.ndarray) -> bool:
    """True when the positions stored with the members point into these very tables."""
    if members.zone_pos is None or members.sizes != (len(communes), len(zone_codes)):
        return False
    ci, zi = members.commune_pos, members.zone_pos
    ok_c, ok_z = ci >= 0, zi >= 0
    codes = communes["code"].to_numpy(dtype=object)
    return bool((codes[ci[ok_c]] == members.rows["commune"].to_numpy(dtype=object)[ok_c]).all()
                and (zone_codes[zi[ok_z]] == members.rows["code"].to_numpy(dtype=object)[ok_z]).all())


def _membership_rows(poles: _Poles, table: gpd.GeoDataFrame, members: ZoneMembers,
                     options: Options) -> tuple[pd.DataFrame, list]:
    """Rows of code poles × zones whose members all resolved: sums over shared communes."""
    zone_codes = table["code"].to_numpy(dtype=object)
    if _positions_hold(members, poles.communes, zone_codes):
        m_zi, m_ci = members.zone_pos.copy(), members.commune_pos
    else:
        m_zi = pd.Index(zone_codes).get_indexer(members.rows["code"].to_numpy(dtype=object))
        m_ci = poles.com_index.get_indexer(members.rows["commune"].to_numpy(dtype=object))
    complete = table["code"].isin(members.complete).to_numpy(dtype=bool)
    m_zi[m_zi >= 0] = np.where(complete[m_zi[m_zi >= 0]], m_zi[m_zi >= 0], -1)
    keep = (m_ci >= 0) & (m_zi >= 0)
    m_ci, m_zi = m_ci[keep], m_zi[keep]
    carea, cpop = poles.com_area, poles.com_pop
    nz = len(table)
    zone_area = np.bincount(m_zi, weights=carea[m_ci], minlength=nz)
    zone_n = np.bincount(m_zi, minlength=nz)
    zone_pop = np.bincount(m_zi, weights=cpop[m_ci], minlength=nz) if cpop is not None else np.full(nz, np.nan)
    link = pd.DataFrame({"ci": m_ci, "zi": m_zi})
    shared = pd.DataFrame({"pi": poles.pi, "ci": poles.ci}).merge(link, on="ci", how="inner")
    empty = pd.DataFrame(columns=OVERLAP_COLUMNS)
    if not len(shared):
        return empty, []
    shared = shared.sort_values(["pi", "zi", "ci"], kind="stable")
    key = shared["pi"].to_numpy() * len(table) + shared["zi"].to_numpy()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ci_all = shared["ci"].to_numpy()
    g = pd.DataFrame({"pi": shared["pi"].to_numpy()[starts], "zi": shared["zi"].to_numpy()[starts],
                      "area": np.add.reduceat(carea[ci_all], starts), "n": np.diff(np.r_[starts, len(key)])})
    if cpop is not None:
        g["pop"] = np.add.reduceat(cpop[ci_all], starts)
    cis = np.split(ci_all, starts[1:])
    pi, zi, n = g["pi"].to_numpy(), g["zi"].to_numpy(), g["n"].to_numpy()
    pole_n = poles.n_communes[pi]
    if options.weight == "population":
        a = g["pop"].to_numpy(dtype=float) if cpop is not None else np.full(len(g), np.nan)
        p_tot, z_tot = poles.population[pi], zone_pop[zi]
    else:
        a = g["area"].to_numpy(dtype=float)
        p_tot, z_tot = poles.area[pi], zone_area[zi]
    same_pole, same_zone = n == pole_n, n == zone_n[zi]
    s = np.where(same_pole, 1.0, _ratio(a, p_tot))  # exact 1 when every commune is shared
    u = np.where(same_zone, 1.0, _ratio(a, z_tot))
    iou = np.where(same_pole & same_zone, 1.0, _ratio(a, p_tot + z_tot - a))
    out = pd.DataFrame({
        "pole_id": poles.ids[pi], "zone_code": zone_codes[zi], "zone_name": table["nom"].to_numpy()[zi],
        "share_of_pole": s, "share_of_zone": u, "iou": iou,
        "overlap_km2": g["area"].to_numpy() / 1e6,
        "overlap_population": g["pop"].to_numpy(dtype=float) if (cpop is not None and options.weight == "population")
        else np.nan,
        "shared_communes": n.astype(float), "method": "membership", "zone_type": "communes",
    })
    return out, cis


# --- the geometry path -------------------------------------------------------------------

def _polygon_rows(poles: _Poles, sel: np.ndarray, table: gpd.GeoDataFrame, zsel: np.ndarray,
                  catalogue: Catalogue, options: Options) -> tuple[pd.DataFrame, list]:
    """Rows of the poles ``sel`` × polygon zones ``zsel`` by the overlay engine."""
    if not len(sel) or not len(zsel):
        return pd.DataFrame(columns=OVERLAP_COLUMNS), []
    zones = table.iloc[zsel][["code", "nom", "area_m2", "geometry"]].reset_index(drop=True)
    # a subset: fresh attrs, so that no index cached for the whole layer (its "token") is used
    zones.attrs = {"layer": str(table.attrs.get("layer", "upload")), "kind": "zones"}
    ov = overlay(poles.frame.iloc[sel], zones, catalogue=catalogue, kind="zones")
    if not len(ov.area):
        return pd.DataFrame(columns=OVERLAP_COLUMNS), []
    pole_ids = ov.pole_ids[ov.piece_pole]
    pos = pd.Index(poles.ids).get_indexer(pole_ids)
    a_area = np.asarray(ov.area, dtype=float)
    zpos = pd.Index(zones["code"].to_numpy(dtype=object)).get_indexer(np.asarray(ov.unit_code, dtype=object))
    pop = np.full(len(a_area), np.nan)
    if options.weight == "population":
        pop = _interpolated_population(ov.geoms, poles.communes)
        touched = np.unique(zpos)
        zpop = np.full(len(zones), np.nan)
        zpop[touched] = _interpolated_population(zones.geometry.to_numpy()[touched], poles.communes)
        a, p_tot, z_tot = pop, poles.population[pos], zpop[zpos]
    else:
        a, p_tot, z_tot = a_area, poles.area[pos], np.asarray(ov.unit_area, dtype=float)
    out = pd.DataFrame({
        "pole_id": pole_ids, "zone_code": ov.unit_code, "zone_name": ov.unit_name,
        "share_of_pole": _ratio(a, p_tot), "share_of_zone": _ratio(a, z_tot), "iou": _ratio(a, p_tot + z_tot - a),
        "overlap_km2": a_area / 1e6, "overlap_population": pop, "shared_communes": np.nan,
        "method": "geometry", "zone_type": "polygon",
    })
    return out, list(ov.geoms)


def _point_rows(poles: _Poles, sel: np.ndarray, table: gpd.GeoDataFrame, zsel: np.ndarray) -> tuple[pd.DataFrame, list]:
    """Rows of the poles ``sel`` × point zones ``zsel``: the fraction of the zone's points in the pole."""
    empty = pd.DataFrame(columns=OVERLAP_COLUMNS), []
    if not len(sel) or not len(zsel):
        return empty
    geoms = table.geometry.to_numpy()[zsel]
    points, owner = shapely.get_parts(geoms, return_index=True)
    n_points = np.bincount(owner, minlength=len(zsel))
    tree = shapely.STRtree(poles.frame.geometry.to_numpy()[sel])
    pt, pole = tree.query(points, predicate="intersects")  # within or on the outline
    if not len(pt):
        return empty
    hits = pd.DataFrame({"zone": owner[pt], "pole": pole, "pt": pt}).sort_values(["pole", "zone", "pt"])
    rows, pieces = [], []
    for (pi, zi), grp in hits.groupby(["pole", "zone"], sort=False):
        inside = points[grp["pt"].to_numpy()]
        rows.append((sel[pi], zsel[zi], len(inside) / n_points[zi]))
        pieces.append(inside[0] if len(inside) == 1 else shapely.MultiPoint(list(inside)))
    pi, ti, share = (np.array(v) for v in zip(*rows))
    out = pd.DataFrame({
        "pole_id": poles.ids[pi.astype(int)], "zone_code": table["code"].to_numpy()[ti.astype(int)],
        "zone_name": table["nom"].to_numpy()[ti.astype(int)], "share_of_pole": 0.0,
        "share_of_zone": share.astype(float), "iou": 0.0, "overlap_km2": 0.0, "overlap_population": np.nan,
        "shared_communes": np.nan, "method": "geometry", "zone_type": "point",
    })
    return out, pieces


# --- the summary -------------------------------------------------------------------------

def _covered(poles: _Poles, pos: int, rows: np.ndarray, share: np.ndarray, method: np.ndarray, shared: list,
             geoms: list, weight: str) -> float:
    """Share of one pole (position ``pos``) covered by the union of its counted areal rows ``rows``."""
    if len(rows) == 1:
        return float(share[rows[0]])
    total = poles.total(weight)[pos]
    if not total > 0:
        return 0.0
    if (method[rows] == "membership").all():  # a union of communes: exact, no geometry
        at = np.unique(np.concatenate([shared[i] for i in rows]))
        measure = poles.com_pop[at].sum() if weight == "population" else poles.com_area[at].sum()
        return float(min(measure / total, 1.0))
    parts = []
    for i in rows:
        if shared[i] is not None:
            parts.extend(poles.com_geoms[shared[i]])
        else:
            parts.append(geoms[i])
    union = shapely.union_all(np.array(parts, dtype=object))
    arr = np.array([union], dtype=object)
    measure = _interpolated_population(arr, poles.communes)[0] if weight == "population" else area_m2(arr)[0]
    return float(min(measure / total, 1.0))


def _summary(poles: _Poles, table: pd.DataFrame, shared: list, geoms: list, options: Options) -> pd.DataFrame:
    """One row per pole (each (pole, zone) pair is one row of ``table``)."""
    n = len(poles.ids)
    pos = pd.Index(poles.ids).get_indexer(table["pole_id"].to_numpy(dtype=object))
    counted = table["counted"].to_numpy(dtype=bool)
    relation = table["relation"].to_numpy(dtype=object)
    out = {"pole_id": poles.ids,
           "nom": poles.frame["nom"].to_numpy() if "nom" in poles.frame else poles.ids,
           "n_zones": np.bincount(pos[counted], minlength=n)}
    for r in RELATIONS:
        mask = relation == r if r == "touches" else (relation == r) & counted
        out[f"n_{r}"] = np.bincount(pos[mask], minlength=n)
    out["n_slivers"] = np.bincount(pos[~counted], minlength=n)
    codes: list[list[str]] = [[] for _ in range(n)]
    areal: list[list[int]] = [[] for _ in range(n)]
    point = table["zone_type"].to_numpy(dtype=object) == "point"
    for i in np.flatnonzero(counted):
        codes[pos[i]].append(str(table["zone_code"].iat[i]))
        if not point[i]:
            areal[pos[i]].append(i)
    share = table["share_of_pole"].to_numpy(dtype=float)
    method = table["method"].to_numpy(dtype=object)
    out["covered_share"] = [_covered(poles, k, np.array(rows), share, method, shared, geoms, options.weight)
                            if rows else 0.0 for k, rows in enumerate(areal)]
    out["zones"] = ["; ".join(c) for c in codes]
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def overlap_zones(
    perimeters: gpd.GeoDataFrame, zones: str | gpd.GeoDataFrame, *,
    catalogue: Catalogue | None = None, options: Options | None = None,
) -> ZoneOverlap:
    """Overlap of every pole with every zone of a layer, and the summary per pole.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
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
    if perimeters.crs is not None and not perimeters.crs.equals("EPSG:4326"):
        perimeters = perimeters.to_crs("EPSG:4326")
    perimeters = perimeters.reset_index(drop=True)
    layer_id, table = _zone_table(zones, catalogue)
    spec = catalogue.layers.get(layer_id) if isinstance(zones, str) else None
    members = zone_members(layer_id, catalogue=catalogue) if spec is not None else None
    need_communes = members is not None or options.weight == "population" or (
        "definition" in perimeters and perimeters["definition"].eq("codes").any())
    communes = load_layer("communes", catalogue=catalogue, shared=True) if need_communes else None  # read only
    if options.weight == "population" and (communes is None or "population" not in communes):
        raise InvalidInput("population weighting needs commune populations: the catalogue's communes layer "
                           "has none; use area weighting.",
                           fr="La pondération par la population demande les populations des communes.")
    poles = _Poles(perimeters, communes, options.weight)
    types = shapely.get_type_id(table.geometry.to_numpy())
    polygonal, pointy = np.isin(types, _POLY_TYPES), np.isin(types, _POINT_TYPES)
    complete = (table["code"].isin(members.complete).to_numpy(dtype=bool) if members is not None
                else np.zeros(len(table), bool))
    code_poles, drawn = np.flatnonzero(poles.by_codes), np.flatnonzero(~poles.by_codes)
    parts: list[tuple[pd.DataFrame, list, list]] = []
    if members is not None and len(code_poles) and complete.any():
        rows, shared = _membership_rows(poles, table, members, options)
        parts.append((rows, shared, [None] * len(rows)))
    for sel, zmask in ((drawn, np.ones(len(table), bool)), (code_poles, ~complete)):
        rows, geoms = _polygon_rows(poles, sel, table, np.flatnonzero(polygonal & zmask), catalogue, options)
        parts.append((rows, [None] * len(rows), geoms))
        rows, geoms = _point_rows(poles, sel, table, np.flatnonzero(pointy & zmask))
        parts.append((rows, [None] * len(rows), geoms))
    parts = [p for p in parts if len(p[0])]
    if parts:
        out = pd.concat([p[0] for p in parts], ignore_index=True)
        shared = [c for p in parts for c in p[1]]
        geoms = [g for p in parts for g in p[2]]
    else:
        out, shared, geoms = pd.DataFrame(columns=OVERLAP_COLUMNS), [], []
    for col in _FLOAT_COLUMNS:
        out[col] = out[col].astype(float)
    s, u = out["share_of_pole"].to_numpy(), out["share_of_zone"].to_numpy()
    out["relation"] = _relation(s, u, options.tolerance) if len(out) else pd.Series(dtype=object)
    out["counted"] = (out["relation"] != "touches").to_numpy() & ~((s < options.threshold) & (u < options.threshold))
    order = {pid: i for i, pid in enumerate(perimeters["id"])}
    out["_o"] = out["pole_id"].map(order)
    out = out.sort_values(["_o", "share_of_pole", "share_of_zone", "zone_code"],
                          ascending=[True, False, False, True], kind="stable")
    perm = out.index.to_numpy()
    out = out.drop(columns="_o").reset_index(drop=True)[OVERLAP_COLUMNS]
    for col in ("pole_id", "zone_code", "zone_name", "relation", "method", "zone_type"):
        out[col] = out[col].astype(object)
    out["counted"] = out["counted"].astype(bool)
    shared = [shared[i] for i in perm]
    geoms = [geoms[i] for i in perm]
    unresolved = members.unresolved if members is not None else pd.DataFrame(columns=UNRESOLVED_COLUMNS)
    if len(unresolved):
        logger.info("layer %s: %d zone(s) with unresolved members are measured by their outline",
                    layer_id, unresolved["zone_code"].nunique())
    return ZoneOverlap(
        layer=layer_id, table=out, summary=_summary(poles, out, shared, geoms, options),
        zones=table, options=options, unresolved=unresolved,
        status=spec.status if spec else "en vigueur", period=spec.period if spec else "",
        notice=spec.notice if spec else "",
        _geoms=np.array(geoms + [None], dtype=object)[:-1], _shared=shared, _catalogue=catalogue,
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
    p = res.overlaps
    inside = p["share_of_zone"].to_numpy() >= 1 - tolerance
    zones = res.zones.set_index("code")
    districts = pd.DataFrame({"pole_id": p["pole_id"], "qpv_code": p["zone_code"], "qpv_name": p["zone_name"]})
    for col in ("communes", "dep"):
        if col in zones:
            districts[col] = zones[col].reindex(p["zone_code"]).to_numpy()
    districts["share_inside"] = p["share_of_zone"].to_numpy()
    districts["share_of_pole"] = p["share_of_pole"].to_numpy()
    districts["area_km2"] = p["overlap_km2"].to_numpy()
    districts["qpv_area_km2"] = zones["area_m2"].reindex(p["zone_code"]).to_numpy() / 1e6
    districts["wholly_inside"] = inside
    counts = districts.groupby("pole_id")["wholly_inside"].sum()
    poles = pd.DataFrame({"pole_id": res.summary["pole_id"], "nom": res.summary["nom"],
                          "qpv_count": res.summary["n_zones"].to_numpy(),
                          "qpv_inside": counts.reindex(res.summary["pole_id"]).fillna(0).astype(int).to_numpy(),
                          "qpv_area_share": res.summary["covered_share"].to_numpy()})
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


def _segment(ov: ZoneOverlap, rows: pd.DataFrame, label: str, style: str, limit: int = 3) -> str:
    """The text of one layer for one pole (its counted rows)."""
    if style == "count":
        n = int(rows["zone_code"].nunique())
        return f"{n} {label}"
    if style == "communes":
        member = rows["shared_communes"].to_numpy(dtype=float)
        n = int(np.where(np.isnan(member), 1, member).sum())  # a site seen as a point is one commune
        return f"{n} commune{'s' if n > 1 else ''} {label}"
    unit = " de la population" if ov.options.weight == "population" else ""
    named = [f"{_named(label, name)} ({_pct(s)}{unit})" for name, s in zip(rows["zone_name"], rows["share_of_pole"])]
    if len(named) > limit:
        named = named[:limit] + [f"et {len(named) - limit} autre{'s' if len(named) - limit > 1 else ''} {label}"]
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
    out = pd.DataFrame({"pole_id": pole_ids,
                        "nom": perimeters["nom"].to_numpy() if "nom" in perimeters else pole_ids})
    current: dict[str, list[tuple[int, str]]] = {pid: [] for pid in pole_ids}
    history: dict[str, list[tuple[int, str]]] = {pid: [] for pid in pole_ids}
    for lid in ids:
        ov = overlaps[lid]
        spec = catalogue.layers.get(lid)
        label = spec.programme_label if spec else lid
        style = spec.programme_style if spec else "named"
        counted = ov.overlaps
        groups = dict(tuple(counted.groupby("pole_id", sort=False))) if len(counted) else {}
        summary = ov.summary.set_index("pole_id")
        out[f"{lid}_n"] = [len(groups[p]) if p in groups else 0 for p in pole_ids]
        out[f"{lid}_codes"] = ["; ".join(groups[p]["zone_code"].astype(str)) if p in groups else "" for p in pole_ids]
        out[f"{lid}_covered_share"] = summary["covered_share"].reindex(pole_ids).fillna(0.0).to_numpy()
        for pid, rows in groups.items():
            if pid not in current:
                continue
            text = _segment(ov, rows, label, style)
            rank = 0 if style == "named" else 1  # zones named with their share first, then the counts
            if ov.historical:
                history[pid].append((rank, f"{text} — {ov.period}" if ov.period else text))
            else:
                current[pid].append((rank, text))
    ordered = lambda items: [t for _, t in sorted(items, key=lambda it: it[0])]  # noqa: E731 - stable by rank
    out.insert(2, "programmes", [", ".join(ordered(current[p])) or "aucun" for p in pole_ids])
    out.insert(3, "historique", [" ; ".join(ordered(history[p])) for p in pole_ids])
    return out
