"""How each pole sits against contract zones: the overlap matrix and priority districts.

A *zones* layer (QPV, Territoires d'industrie, contrats de ville, CRTE, a user's file…)
does not tile the country: its zones may overlap one another and leave gaps. For every
pole P and every zone Z that intersect, with areas measured in the equal-area projection
of the territory (:mod:`ptce_geo.projection`)::

    share_of_pole = |P ∩ Z| / |P|      share_of_zone = |P ∩ Z| / |Z|
    iou = |P ∩ Z| / (|P| + |Z| − |P ∩ Z|)

and, for a tolerance t (default 1 %), the relation is

* ``pole_inside_zone`` when share_of_pole ≥ 1 − t (the pole lies in the zone);
* ``zone_inside_pole`` when share_of_zone ≥ 1 − t (the zone lies in the pole);
* ``straddles`` otherwise.

When both hold, pole and zone coincide within the tolerance: the relation is then
``pole_inside_zone`` and ``iou`` (≥ (1 − t)/(1 + t), about 0.98) says they coincide.

Zones given as points (programme sites: Petites villes de demain, Action cœur de ville)
have no area: a point zone lying in a pole (inside or on its outline) gives
``zone_inside_pole`` with ``share_of_pole`` = 0 and ``iou`` = 0; a point elsewhere gives
no row. For a MultiPoint zone, ``share_of_zone`` is the fraction of its points in the
pole, and the relation is ``straddles`` when only some are.

The share of a pole covered by a layer is the area of the *union* of its zones in the
pole, never the sum of the shares: contract zones can overlap (nested CRTE, for one).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .catalogue import Catalogue, load_catalogue
from .errors import InvalidInput, UploadRejected
from .layers import load_layer
from .metrics import piece_shares
from .overlay import overlay
from .projection import area_m2

logger = logging.getLogger(__name__)

__all__ = [
    "RELATIONS",
    "OVERLAP_COLUMNS",
    "ZoneOverlap",
    "QpvTables",
    "overlap_zones",
    "zone_overlaps",
    "zone_summary",
    "qpv_by_pole",
    "qpv_tables",
    "overlap_table",
]

RELATIONS = ("pole_inside_zone", "zone_inside_pole", "straddles")
#: columns of the overlap table, in order
OVERLAP_COLUMNS = ["pole_id", "zone_code", "zone_name", "share_of_pole", "share_of_zone", "iou",
                   "relation", "overlap_km2", "zone_type"]
SUMMARY_COLUMNS = ["pole_id", "nom", "n_zones", "n_pole_inside_zone", "n_zone_inside_pole",
                   "n_straddles", "covered_share", "zones"]
_POINT_TYPES = (0, 4)  # shapely type ids of Point, MultiPoint
_POLY_TYPES = (3, 6)


@dataclass
class ZoneOverlap:
    """Everything about a set of poles against one zones layer, computed once.

    Attributes
    ----------
    layer : str
        The layer id (``"upload"`` or the ``attrs["layer"]`` of a user's table).
    pieces : geopandas.GeoDataFrame
        One row per intersecting (pole, zone), columns :data:`OVERLAP_COLUMNS` and
        ``geometry`` (the part of the zone in the pole; the points in it for point zones).
    summary : pandas.DataFrame
        One row per pole, columns ``pole_id``, ``nom``, ``n_zones`` (zones touched),
        ``n_pole_inside_zone``, ``n_zone_inside_pole``, ``n_straddles``,
        ``covered_share`` (share of the pole's area covered by the union of the zones)
        and ``zones`` (codes touched, by decreasing share of the pole, ``"; "``-joined).
    zones : geopandas.GeoDataFrame
        The zones used (``code``, ``nom``, ``geometry`` and the layer's other columns).
    tolerance : float
    """

    layer: str
    pieces: gpd.GeoDataFrame
    summary: pd.DataFrame
    zones: gpd.GeoDataFrame
    tolerance: float

    @property
    def table(self) -> pd.DataFrame:
        """The pieces without their geometry."""
        return pd.DataFrame(self.pieces.drop(columns="geometry"))


class QpvTables(NamedTuple):
    """Priority districts per pole (see :func:`qpv_by_pole`)."""

    poles: pd.DataFrame
    districts: pd.DataFrame


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
    table.attrs = dict(zones.attrs)
    return str(zones.attrs.get("layer", "upload")), table


def _relation(share_of_pole: np.ndarray, share_of_zone: np.ndarray, tolerance: float) -> np.ndarray:
    return np.where(share_of_pole >= 1 - tolerance, "pole_inside_zone",
                    np.where(share_of_zone >= 1 - tolerance, "zone_inside_pole", "straddles"))


def _polygon_pieces(perimeters, layer_id, table, catalogue, tolerance) -> tuple[gpd.GeoDataFrame | None, pd.Series]:
    """Pieces of polygon zones, by the overlay engine (``layer_id`` None for a user's table)."""
    polygonal = np.isin(shapely.get_type_id(table.geometry.to_numpy()), _POLY_TYPES)
    if not polygonal.any():
        return None, pd.Series(area_m2(perimeters.geometry.to_numpy()), index=perimeters["id"].to_numpy())
    ov = overlay(perimeters, layer_id or table[polygonal], catalogue=catalogue)
    p = piece_shares(ov, threshold=0.0)
    s, u = p["share_of_pole"].to_numpy(), p["share_of_unit"].to_numpy()
    out = gpd.GeoDataFrame({
        "pole_id": p["pole_id"].to_numpy(), "zone_code": p["unit_code"].to_numpy(),
        "zone_name": p["unit_name"].to_numpy(), "share_of_pole": s, "share_of_zone": u,
        "iou": p["iou"].to_numpy(), "relation": _relation(s, u, tolerance),
        "overlap_km2": p["area_m2"].to_numpy() / 1e6, "zone_type": "polygon",
    }, geometry=p.geometry.to_numpy(), crs="EPSG:4326")
    return out, ov.poles["area_m2"]


def _point_pieces(perimeters: gpd.GeoDataFrame, table: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame | None:
    geoms = table.geometry.to_numpy()
    sel = np.flatnonzero(np.isin(shapely.get_type_id(geoms), _POINT_TYPES))
    if not len(sel):
        return None
    points, owner = shapely.get_parts(geoms[sel], return_index=True)
    n_points = np.bincount(owner, minlength=len(sel))
    tree = shapely.STRtree(perimeters.geometry.to_numpy())
    pt, pole = tree.query(points, predicate="intersects")  # within or on the outline
    if not len(pt):
        return None
    hits = pd.DataFrame({"zone": owner[pt], "pole": pole, "pt": pt}).sort_values(["pole", "zone", "pt"])
    rows = []
    for (pi, zi), grp in hits.groupby(["pole", "zone"], sort=False):
        inside = points[grp["pt"].to_numpy()]
        rows.append((pi, zi, len(inside) / n_points[zi],
                     inside[0] if len(inside) == 1 else shapely.MultiPoint(list(inside))))
    pi, zi, share, geom = (np.array(v, dtype=object) for v in zip(*rows))
    share = share.astype(float)
    ti = sel[zi.astype(int)]
    return gpd.GeoDataFrame({
        "pole_id": perimeters["id"].to_numpy()[pi.astype(int)], "zone_code": table["code"].to_numpy()[ti],
        "zone_name": table["nom"].to_numpy()[ti], "share_of_pole": 0.0, "share_of_zone": share, "iou": 0.0,
        "relation": np.where(share >= 1 - tolerance, "zone_inside_pole", "straddles"),
        "overlap_km2": 0.0, "zone_type": "point",
    }, geometry=list(geom), crs="EPSG:4326")


def _summary(perimeters: gpd.GeoDataFrame, pieces: gpd.GeoDataFrame, pole_area: pd.Series) -> pd.DataFrame:
    ids = perimeters["id"].to_numpy()
    rows = []
    groups = dict(tuple(pieces.groupby("pole_id", sort=False))) if len(pieces) else {}
    for pid, nom in zip(ids, perimeters["nom"] if "nom" in perimeters else ids):
        g = groups.get(pid)
        row = {"pole_id": pid, "nom": nom, "n_zones": 0, "n_pole_inside_zone": 0, "n_zone_inside_pole": 0,
               "n_straddles": 0, "covered_share": 0.0, "zones": ""}
        if g is not None:
            counts = g["relation"].value_counts()
            row.update(n_zones=int(g["zone_code"].nunique()), zones="; ".join(g["zone_code"].astype(str)),
                       **{f"n_{r}": int(counts.get(r, 0)) for r in RELATIONS})
            poly = g[g["zone_type"] == "polygon"]
            total = float(pole_area.get(pid, 0.0))
            if len(poly) == 1:
                row["covered_share"] = float(poly["share_of_pole"].iloc[0])
            elif len(poly) > 1 and total > 0:
                union = shapely.union_all(poly.geometry.to_numpy())
                row["covered_share"] = float(min(area_m2(np.array([union], dtype=object))[0] / total, 1.0))
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def overlap_zones(
    perimeters: gpd.GeoDataFrame, zones: str | gpd.GeoDataFrame, *,
    catalogue: Catalogue | None = None, tolerance: float = 0.01,
) -> ZoneOverlap:
    """Overlap of every pole with every zone of a layer, and the summary per pole.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As returned by :func:`ptce_geo.perimeters.read_perimeters`.
    zones : str or geopandas.GeoDataFrame
        A catalogue layer id (``"qpv"``, ``"territoires_industrie"``…) or a table with
        ``code``, ``nom`` and a geometry (as from
        :func:`ptce_geo.uploads.read_zone_upload`); polygons and points are both read.
    catalogue : Catalogue, optional
    tolerance : float
        t in the relation rules of the module docstring (default 0.01).

    Returns
    -------
    ZoneOverlap
    """
    if not 0 <= tolerance < 1:
        raise InvalidInput(f"tolerance {tolerance!r} must lie in [0, 1), such as 0.01.",
                           fr="La tolérance doit être comprise entre 0 et 1 (par exemple 0,01).")
    catalogue = catalogue or load_catalogue()
    if perimeters.crs is not None and not perimeters.crs.equals("EPSG:4326"):
        perimeters = perimeters.to_crs("EPSG:4326")
    layer_id, table = _zone_table(zones, catalogue)
    poly, pole_area = _polygon_pieces(perimeters, layer_id if isinstance(zones, str) else None, table,
                                      catalogue, tolerance)
    points = _point_pieces(perimeters, table, tolerance)
    parts = [p for p in (poly, points) if p is not None and len(p)]
    if parts:
        pieces = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs="EPSG:4326")
    else:
        pieces = gpd.GeoDataFrame({c: pd.Series(dtype=float if c.startswith(("share", "iou", "overlap")) else object)
                                   for c in OVERLAP_COLUMNS}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    order = {pid: i for i, pid in enumerate(perimeters["id"])}
    pieces = pieces.assign(_o=pieces["pole_id"].map(order))
    pieces = pieces.sort_values(["_o", "share_of_pole", "share_of_zone", "zone_code"],
                                ascending=[True, False, False, True], kind="stable").drop(columns="_o")
    pieces = pieces.reset_index(drop=True)[OVERLAP_COLUMNS + ["geometry"]]
    return ZoneOverlap(layer=layer_id, pieces=pieces, summary=_summary(perimeters, pieces, pole_area),
                       zones=table, tolerance=tolerance)


def zone_overlaps(perimeters: gpd.GeoDataFrame, zones: str | gpd.GeoDataFrame, *,
                  catalogue: Catalogue | None = None, tolerance: float = 0.01) -> pd.DataFrame:
    """One row per intersecting (pole, zone): columns :data:`OVERLAP_COLUMNS`.

    See :func:`overlap_zones` (which also gives the geometries and the summary).
    """
    return overlap_zones(perimeters, zones, catalogue=catalogue, tolerance=tolerance).table


def zone_summary(perimeters: gpd.GeoDataFrame, zones: str | gpd.GeoDataFrame, *,
                 catalogue: Catalogue | None = None, tolerance: float = 0.01) -> pd.DataFrame:
    """One row per pole: zones touched and share covered by their union (see :class:`ZoneOverlap`)."""
    return overlap_zones(perimeters, zones, catalogue=catalogue, tolerance=tolerance).summary


def qpv_by_pole(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                layer: str = "qpv", tolerance: float = 0.01) -> QpvTables:
    """Priority districts (QPV) of each pole, measured geometrically.

    QPV straddle communes, so they are matched by geometry, not by codes. A QPV is
    *wholly inside* a pole when at least ``1 - tolerance`` of its area lies in it.

    Returns
    -------
    QpvTables
        ``poles``: one row per pole, ``pole_id``, ``nom``, ``qpv_count`` (QPV touched),
        ``qpv_inside`` (wholly inside), ``qpv_area_share`` (share of the pole's area
        that is QPV). ``districts``: one row per (pole, QPV touched), ``pole_id``,
        ``qpv_code``, ``qpv_name``, ``communes`` and ``dep`` (when the layer has them),
        ``share_inside`` (share of the QPV's area inside the pole), ``share_of_pole``,
        ``area_km2`` (inside the pole), ``qpv_area_km2``, ``wholly_inside``.
    """
    catalogue = catalogue or load_catalogue()
    return qpv_tables(overlap_zones(perimeters, layer, catalogue=catalogue, tolerance=tolerance))


def qpv_tables(res: ZoneOverlap) -> QpvTables:
    """The QPV tables of :func:`qpv_by_pole`, from an overlap with a QPV layer."""
    tolerance = res.tolerance
    p = res.table
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
    code_field: str | None = None, name_field: str | None = None, tolerance: float = 0.01,
    assume_crs: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """The overlap table of the command line, for a layer id or a zone file.

    Parameters
    ----------
    zones : str or path
        A layer id of the catalogue, or a file (GeoJSON, GeoPackage, zipped Shapefile).
    code_field, name_field : str, optional
        Fields of the file holding the zone code and name (guessed when absent).
    assume_crs : str, optional
        CRS of a file that declares none (e.g. ``"EPSG:2154"`` for a Shapefile without
        ``.prj``).

    Returns
    -------
    (pandas.DataFrame, str)
        The table (:data:`OVERLAP_COLUMNS`) and a note saying which fields were used
        when some were guessed (empty otherwise).
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
    table = overlap_zones(perimeters, source, catalogue=catalogue, tolerance=tolerance).table
    return table, note
