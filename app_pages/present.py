"""Presentation helpers of the app's pages (French tables, Markdown escaping), no widgets.

Figures come from :class:`ptce_geo.scorecard.Scorecard`; this module only names and
formats them for display.
"""

from __future__ import annotations

import json
import os
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from ptce_geo.errors import InvalidPerimeter
from ptce_geo.fmt import LEVEL_LABELS
from ptce_geo.poles import as_text
from ptce_geo.scorecard import Scorecard

_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:&\"'=^")
_TEXT_LIMIT = 4000


def md(text: object) -> str:
    """Text from data made inert for Markdown: every punctuation character backslash-escaped."""
    if text is None:
        return ""
    s = str(text)[:_TEXT_LIMIT]
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s).replace("\n", " ")


def raw_pole_geometries(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Poles as drawn in the file itself, without boundary data (for an offline fallback).

    Features without a polygonal geometry are skipped; nothing is validated.
    """
    from ptce_geo.perimeters import parse_json

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
        rows.append({"id": str(props.get("id", len(rows))), "nom": as_text(props.get("nom")) or str(props.get("id")),
                     "properties": props, "geometry": geom})
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=["id", "nom", "properties", "geometry"]),
                            geometry="geometry", crs="EPSG:4326")


def level_table(card: Scorecard, pole_id: str) -> pd.DataFrame:
    """The scorecard of one perimeter, one row per level, French column names."""
    rows = card.pole_levels(pole_id)
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


def summary_table(card: Scorecard) -> pd.DataFrame:
    """One row per pole with French column names (for the national table)."""
    s = card.summary
    out = pd.DataFrame({"Pôle": s["nom"], "Typologie": s["typology"].fillna("—"),
                        "Surface (km²)": s["area_km2"].round(1)})
    if "confidence" in s:
        out["Confiance"] = s["confidence"].fillna("non indiquée").to_numpy()
    if "type_pole" in s:
        kind = s["type_pole"].to_numpy()
        fil = s["filiere_pole"].to_numpy() if "filiere_pole" in s else [None] * len(s)
        out["Type de pôle"] = [("filière : " + f if f else "filière") if k == "filière" else (k or "—")
                               for k, f in zip(kind, fil)]
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


def scorecard_csv(card: Scorecard) -> bytes:
    """The summary and per-level scorecards as one CSV (UTF-8 with BOM, for spreadsheets)."""
    wide = card.summary.copy()
    for lid, level in card.levels_table.groupby("layer", sort=False):
        level = level.set_index("pole_id")
        for col in ("dominant_name", "dominant_share", "effective_units", "border_km"):
            wide[f"{col}_{lid}"] = wide["pole_id"].map(level[col])
    from ptce_geo.export import csv_safe  # a spreadsheet must not run a name as a formula

    return csv_safe(wide).to_csv(index=False).encode("utf-8-sig")


#: filter values for a pole that says nothing
UNKNOWN = "non renseigné"


def _values(summary: pd.DataFrame, col: str) -> pd.Series:
    if col not in summary:
        return pd.Series(UNKNOWN, index=summary.index)
    return summary[col].map(lambda v: UNKNOWN if v is None or (isinstance(v, float) and pd.isna(v)) else (
        "oui" if v is True else "non" if v is False else str(v)))


#: the filters of the poles pages: summary column → French label
FILTERS = {"confidence": "Confiance du périmètre", "type_pole": "Type de pôle",
           "appel_2013_laureat": "Lauréat de l'appel de 2013", "territoire_profil": "Territoire"}


def filter_options(summary: pd.DataFrame) -> dict[str, list[str]]:
    """The values each filter can take among these poles (those present only)."""
    order = {"confidence": ["haute", "moyenne", "faible"], "type_pole": ["multi-activités", "filière"],
             "appel_2013_laureat": ["oui", "non"], "territoire_profil": ["urbain", "rural"]}
    out = {}
    for col in FILTERS:
        present = set(_values(summary, col))
        out[col] = [v for v in order[col] if v in present] + ([UNKNOWN] if UNKNOWN in present else [])
    return out


def filtered_ids(summary: pd.DataFrame, chosen: dict[str, list[str]], *, exclude_low: bool = False) -> list[str]:
    """Ids of the poles whose values are among ``chosen`` (a filter left empty keeps every pole).

    ``exclude_low`` leaves out the perimeters of confidence ``faible`` (national summaries).
    """
    keep = pd.Series(True, index=summary.index)
    for col, values in chosen.items():
        if values:
            keep &= _values(summary, col).isin(values)
    if exclude_low and "confidence" in summary:
        keep &= summary["confidence"].ne("faible")
    return list(summary.loc[keep, "pole_id"])


def national_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Poles per typology with their total area: the national picture of these poles."""
    from ptce_geo.fmt import TYPOLOGY_LABELS

    t = summary.assign(_t=summary["typology"].map(lambda v: TYPOLOGY_LABELS.get(v, "non calculée")))
    g = t.groupby("_t", sort=False).agg(poles=("pole_id", "size"), area=("area_km2", "sum"))
    return pd.DataFrame({"Typologie": g.index, "Pôles": g["poles"].to_numpy(),
                         "Surface totale (km²)": g["area"].round(0).to_numpy()})
