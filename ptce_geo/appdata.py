"""Plain data helpers behind the app's pages (no streamlit here).

* which poles file to show (``PTCE_GEO_POLES``, default ``poles.geojson``) and how to
  read the descriptive properties of a pole defensively;
* the scorecard bundle: every partition layer's pieces and scorecard for a set of
  perimeters, computed once, with the cross-level summary (typology, best zone
  d'emploi, QPV);
* searching territories by name or code, the poles acting in a territory, tables with
  French column names, and perimeters built from codes or drawings.
"""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .catalogue import Catalogue
from .errors import InvalidPerimeter
from .metrics import DEFAULT_THRESHOLD, layer_scorecard, piece_shares, typology
from .overlay import overlay
from .scorecard import LEVELS, qpv_figures
from .settings import DEFAULT_POLES

logger = logging.getLogger(__name__)

__all__ = [
    "POLES_ENV", "LEVEL_LABELS", "RELATION_LABELS", "poles_path", "pole_details", "fold", "md",
    "raw_pole_geometries", "ScorecardBundle", "compute_bundle", "level_table", "summary_table",
    "search_units", "territory_poles", "pieces_table", "seat_points", "perimeter_from_codes",
    "perimeter_from_drawings", "scorecard_csv", "fr_number", "fr_pct",
]

#: environment variable naming the poles file the app shows
POLES_ENV = "PTCE_GEO_POLES"
#: French names of the partition levels
LEVEL_LABELS = {
    "communes": "Communes", "epci": "EPCI", "departements": "Départements", "regions": "Régions",
    "zones_emploi": "Zones d'emploi",
}
RELATION_LABELS = {
    "pole_inside_zone": "Pôle inclus dans la zone",
    "zone_inside_pole": "Zone incluse dans le pôle",
    "straddles": "Chevauchement",
}
_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:&\"'=^")
_TEXT_LIMIT = 4000


def poles_path() -> Path:
    """The poles file: ``PTCE_GEO_POLES`` when set, else the repository's ``poles.geojson``."""
    value = os.environ.get(POLES_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_POLES


def md(text: object) -> str:
    """Text from data made inert for Markdown: every punctuation character backslash-escaped."""
    if text is None:
        return ""
    s = str(text)[:_TEXT_LIMIT]
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s).replace("\n", " ")


def fr_number(value: object, decimals: int = 1) -> str:
    """A number written the French way: « 12 345,6 » (``—`` when missing)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    if np.isnan(x):
        return "—"
    return f"{x:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def fr_pct(value: object, decimals: int = 1) -> str:
    """A share written as a French percentage: 0.1234 → « 12,3 % »."""
    try:
        return fr_number(float(value) * 100, decimals) + "\u00a0%"
    except (TypeError, ValueError):
        return "—"


def fold(text: object) -> str:
    """Lower case without accents, for searching (« Saint-Étienne » → « saint-etienne »)."""
    s = unicodedata.normalize("NFKD", str(text or ""))
    return "".join(ch for ch in s if not unicodedata.combining(ch)).lower().strip()


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_text(v) for v in value if _as_text(v))
    if isinstance(value, dict):
        return _as_text(value.get("nom") or value.get("titre") or value.get("title") or value.get("name")
                        or value.get("url") or "")
    return str(value).strip()[:_TEXT_LIMIT]


def _sources(value: Any) -> list[dict[str, str]]:
    items = value if isinstance(value, (list, tuple)) else ([value] if value else [])
    out = []
    for item in items[:50]:
        if isinstance(item, dict):
            url = item.get("url") or item.get("lien") or item.get("href") or ""
            named = any(item.get(k) for k in ("nom", "titre", "title", "name"))
            label = _as_text(item) if named else ""
            date = _as_text(item.get("date") or item.get("consulte_le") or "")
        else:
            is_url = str(item).startswith(("http://", "https://"))
            url, label, date = (str(item), "", "") if is_url else ("", _as_text(item), "")
        url = str(url).strip() if isinstance(url, str) and url.strip().startswith(("http://", "https://")) else ""
        if url or label:
            out.append({"label": label or url, "url": url, "date": date})
    return out


def pole_details(props: dict | None) -> dict[str, Any]:
    """The descriptive properties of a pole, read defensively (any may be absent or odd).

    Returns
    -------
    dict
        ``nom``, ``structure_porteuse``, ``filieres`` (list of text), ``description``,
        ``sources`` (list of {label, url, date}; url only when http(s)), ``confiance``,
        ``note_perimetre``, ``siege_insee``, ``siege_nom``, ``annee`` — all text, never ``None``.
    """
    p = props if isinstance(props, dict) else {}
    fil = p.get("filieres", p.get("filières"))
    filieres = [_as_text(f) for f in fil] if isinstance(fil, (list, tuple)) else (
        [s.strip() for s in str(fil).split(";") if s.strip()] if fil else [])
    structure = p.get("structure_porteuse")
    return {
        "nom": _as_text(p.get("nom") or p.get("name") or p.get("id")),
        "structure_porteuse": _as_text(structure),
        "filieres": [f for f in filieres if f],
        "description": _as_text(p.get("description")),
        "sources": _sources(p.get("sources")),
        "confiance": _as_text(p.get("confiance")),
        "note_perimetre": _as_text(p.get("note_perimetre")),
        "siege_insee": _as_text(p.get("siege_insee")),
        "siege_nom": _as_text(p.get("siege_nom")),
        "annee": _as_text(p.get("annee_detail") or p.get("annee")),
    }


def raw_pole_geometries(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Poles as drawn in the file itself, without boundary data (for an offline fallback).

    Features without a polygonal geometry are skipped; nothing is validated.
    """
    from .perimeters import parse_json

    data = parse_json(path)
    rows = []
    for feat in data.get("features") or [] if isinstance(data, dict) else []:
        if not isinstance(feat, dict):
            continue
        props = feat.get("properties") if isinstance(feat.get("properties"), dict) else {}
        try:
            geom = shapely.geometry.shape(feat.get("geometry"))
        except Exception:  # absent or malformed geometry: nothing to draw
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            continue
        rows.append({"id": str(props.get("id", len(rows))), "nom": _as_text(props.get("nom")) or str(props.get("id")),
                     "properties": props, "geometry": geom})
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=["id", "nom", "properties", "geometry"]),
                            geometry="geometry", crs="EPSG:4326")


@dataclass
class ScorecardBundle:
    """Everything the pages read about a set of perimeters, computed once (read-only)."""

    perimeters: gpd.GeoDataFrame
    #: layer id → piece_shares table (pole_id, unit_code, unit_name, area_m2, shares, kept, geometry)
    shares: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    #: layer_scorecard rows of every partition layer, stacked
    stacked: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per perimeter: id, nom, area_km2, typology, n_<layer>, best_ze_*, qpv_*
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)


def compute_bundle(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue,
                   threshold: float = DEFAULT_THRESHOLD, layers: tuple[str, ...] | None = None) -> ScorecardBundle:
    """Pieces and scorecards of ``perimeters`` on every partition layer (and QPV).

    Each layer's overlay is computed once; the layer scorecards, the typology (from the
    kept units on :data:`ptce_geo.scorecard.LEVELS`), the best zone d'emploi and the
    QPV figures are derived from them.
    """
    ids = layers or tuple(catalogue.ids(kind="partition"))
    shares, cards = {}, []
    for lid in ids:
        ov = overlay(perimeters, lid, catalogue=catalogue)
        cards.append(layer_scorecard(ov, threshold=threshold))
        shares[lid] = piece_shares(ov, threshold=threshold)
    stacked = pd.concat(cards, ignore_index=True) if cards else pd.DataFrame()
    summary = pd.DataFrame({"pole_id": perimeters["id"].to_numpy(), "nom": perimeters["nom"].to_numpy()})
    summary = summary.set_index("pole_id")
    for lid, card in stacked.groupby("layer", sort=False):
        card = card.set_index("pole_id")
        summary["area_km2"] = card["area_km2"]
        summary[f"n_{lid}"] = card["n_units"]
    counts = [summary[f"n_{lid}"] if f"n_{lid}" in summary else pd.Series(0, index=summary.index) for lid in LEVELS]
    summary["typology"] = [typology(*(int(c.loc[pid]) for c in counts)) if all(f"n_{lid}" in summary for lid in LEVELS)
                           else None for pid in summary.index]
    if "zones_emploi" in shares:
        ze = stacked[stacked["layer"] == "zones_emploi"].set_index("pole_id")
        names = shares["zones_emploi"].drop_duplicates("unit_code").set_index("unit_code")["unit_name"]
        summary["best_ze_code"] = ze["best_iou_code"]
        summary["best_ze_name"] = ze["best_iou_code"].map(names)
        summary["best_ze_iou"] = ze["best_iou"]
    if "qpv" in catalogue.layers:
        summary = summary.join(qpv_figures(perimeters, catalogue=catalogue))
    return ScorecardBundle(perimeters=perimeters, shares=shares, stacked=stacked, summary=summary.reset_index())


def level_table(bundle: ScorecardBundle, pole_id: str) -> pd.DataFrame:
    """The scorecard of one perimeter, one row per level, French column names."""
    rows = bundle.stacked[bundle.stacked["pole_id"] == pole_id]
    return pd.DataFrame({
        "Niveau": [LEVEL_LABELS.get(lid, lid) for lid in rows["layer"]],
        "Unités touchées": rows["n_units"].to_numpy(),
        "Fragments écartés (< 1 %)": rows["n_slivers"].to_numpy(),
        "Unité dominante": rows["dominant_name"].to_numpy(),
        "Part de l'unité dominante": rows["dominant_share"].to_numpy(),
        "Nombre effectif d'unités": rows["effective_units"].to_numpy(),
        "Frontières internes (km)": rows["border_km"].to_numpy(),
        "Meilleur recouvrement (IoU)": rows["best_iou"].to_numpy(),
    })


def summary_table(bundle: ScorecardBundle) -> pd.DataFrame:
    """One row per pole with French column names (for the national table)."""
    s = bundle.summary
    out = pd.DataFrame({"Pôle": s["nom"], "Typologie": s["typology"].fillna("—"),
                        "Surface (km²)": s["area_km2"].round(1)})
    for lid in ("communes", "epci", "departements", "regions"):
        if f"n_{lid}" in s:
            out[LEVEL_LABELS[lid]] = s[f"n_{lid}"]
    if "best_ze_name" in s:
        out["Zone d'emploi la plus proche"] = s["best_ze_name"]
        out["IoU zone d'emploi"] = s["best_ze_iou"]
    if "qpv_count" in s:
        out["QPV touchés"] = s["qpv_count"]
    out.index = s["pole_id"].to_numpy()
    return out


def search_units(units: pd.DataFrame, query: str, *, limit: int = 100) -> pd.DataFrame:
    """Units (``code``, ``nom``) matching ``query`` by code or name, best matches first.

    Exact code, then code prefix, then name prefix, then name containing the query
    (case and accents ignored). An empty query returns the first ``limit`` units by name.
    """
    q = fold(query)
    names = units["nom"].astype(str).map(fold)
    codes = units["code"].astype(str).str.lower()
    if not q:
        return units.assign(_n=names).sort_values("_n").drop(columns="_n").head(limit)
    rank = np.full(len(units), 9)
    for r, hit in enumerate((codes == q, codes.str.startswith(q), names.str.startswith(q),
                             names.str.contains(q, regex=False))):
        rank = np.where(hit.to_numpy() & (rank == 9), r, rank)
    found = units.assign(_r=rank, _n=names)
    found = found[found["_r"] < 9].sort_values(["_r", "_n", "code"])
    return found.drop(columns=["_r", "_n"]).head(limit)


def territory_poles(bundle: ScorecardBundle, layer_id: str, code: str) -> pd.DataFrame:
    """The poles acting in one unit of a layer, with both shares (largest first)."""
    shares = bundle.shares.get(layer_id)
    if shares is None:
        return pd.DataFrame(columns=["pole_id", "nom", "typology", "share_of_unit", "share_of_pole", "area_km2"])
    rows = shares[shares["unit_code"] == code]
    info = bundle.summary.set_index("pole_id")
    out = pd.DataFrame({
        "pole_id": rows["pole_id"].to_numpy(),
        "nom": info["nom"].reindex(rows["pole_id"]).to_numpy(),
        "typology": info["typology"].reindex(rows["pole_id"]).to_numpy(),
        "share_of_unit": rows["share_of_unit"].to_numpy(),
        "share_of_pole": rows["share_of_pole"].to_numpy(),
        "area_km2": rows["area_m2"].to_numpy() / 1e6,
    })
    return out.sort_values(["share_of_unit", "nom"], ascending=[False, True]).reset_index(drop=True)


def pieces_table(bundle: ScorecardBundle, layer_id: str, pole_id: str) -> gpd.GeoDataFrame:
    """The pieces of one pole on one layer, largest first (with geometry)."""
    shares = bundle.shares[layer_id]
    rows = shares[shares["pole_id"] == pole_id]
    return rows.sort_values("share_of_pole", ascending=False).reset_index(drop=True)


def seat_points(perimeters: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A point per pole at its seat commune (``siege_insee``), when known."""
    rows = []
    where = communes.set_index("code")
    for pid, nom, props in zip(perimeters["id"], perimeters["nom"], perimeters["properties"]):
        d = pole_details(props)
        code = d["siege_insee"]
        if code and code in where.index:
            geom = where.geometry.loc[code]
            rows.append({"id": pid, "nom": nom, "siege_nom": d["siege_nom"] or where["nom"].loc[code],
                         "geometry": shapely.point_on_surface(geom)})
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=["id", "nom", "siege_nom", "geometry"]),
                            geometry="geometry", crs="EPSG:4326")


def perimeter_from_codes(name: str, *, communes: list[str] = (), epci: list[str] = (),
                         departements: list[str] = ()) -> dict:
    """A one-feature perimeter file defined by codes."""
    props: dict[str, Any] = {"id": "nouveau-perimetre", "nom": name or "Nouveau périmètre"}
    for key, values in (("communes", communes), ("epci", epci), ("departements", departements)):
        if values:
            props[key] = sorted({str(v) for v in values})
    if len(props) == 2:
        raise InvalidPerimeter("No commune, EPCI or département chosen: choose at least one.",
                               fr="Choisissez au moins une commune, un EPCI ou un département.")
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props, "geometry": None}]}


def perimeter_from_drawings(drawings: list | None, name: str = "Périmètre dessiné") -> dict:
    """A one-feature perimeter file: the union of the polygons drawn on the map."""
    polys = []
    for feat in drawings or []:
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        try:
            shp = shapely.geometry.shape(geom)
        except Exception:
            continue
        if shp.geom_type in ("Polygon", "MultiPolygon") and not shp.is_empty:
            polys.append(shapely.make_valid(shp))
    if not polys:
        raise InvalidPerimeter("Nothing drawn: draw a polygon or a rectangle on the map.",
                               fr="Aucun polygone dessiné : tracez un polygone ou un rectangle sur la carte.")
    union = shapely.union_all(polys)
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "perimetre-dessine", "nom": name},
        "geometry": json.loads(shapely.to_geojson(union))}]}


def scorecard_csv(bundle: ScorecardBundle) -> bytes:
    """The summary and per-level scorecards as one CSV (UTF-8 with BOM, for spreadsheets)."""
    wide = bundle.summary.copy()
    for lid, card in bundle.stacked.groupby("layer", sort=False):
        card = card.set_index("pole_id")
        for col in ("dominant_name", "dominant_share", "effective_units", "border_km"):
            wide[f"{col}_{lid}"] = wide["pole_id"].map(card[col])
    from .export import csv_safe  # a spreadsheet must not run a name as a formula

    return csv_safe(wide).to_csv(index=False).encode("utf-8-sig")
