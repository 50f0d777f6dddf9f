"""Presentation helpers of the app's pages (French tables, Markdown escaping), no widgets.

Figures come from :class:`ptce_geo.scorecard.Scorecard`; this module only names and
formats them for display.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ptce_geo.errors import InvalidPerimeter
from ptce_geo.fmt import (LEVEL_LABELS, METRIC_HELP, TYPOLOGY_LABELS, fr_int, fr_km, fr_km2, fr_number, fr_pct)
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


#: how a column is written: a kind name or a number of decimals
FORMATS: dict[str, Callable[[object], str]] = {
    "pct": fr_pct, "pct0": lambda v: fr_pct(v, 0), "int": fr_int, "km": fr_km, "km2": fr_km2,
    "num1": lambda v: fr_number(v, 1), "num2": lambda v: fr_number(v, 2),
}


def fr_table(df: pd.DataFrame, formats: Mapping[str, str]):
    """``df`` with its figures written the French way for ``st.dataframe`` (a pandas Styler).

    The values stay numbers (sorting a column sorts numbers); only the text drawn in
    each cell is French: « 44,4 % », « 12 345 », « 152,2 km² ». Missing values show « — ».
    """
    fmt = {col: FORMATS[kind] for col, kind in formats.items() if col in df}
    for col in df.columns:  # other numeric columns: whole numbers with thin spaces
        if col not in fmt and pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            fmt[col] = fr_int
        elif col not in fmt:  # text: a missing value is « — », never « None »
            fmt[col] = _text_cell
    return df.style.format(fmt, na_rep="—")


def _text_cell(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and value != value) else str(value)


#: how the zones page writes its overlap table, and column widths that fit 1400 px
ZONE_FORMATS = {"Part du pôle dans la zone": "pct", "Part de la zone dans le pôle": "pct", "IoU": "num2",
                "Surface commune (km²)": "num1"}


def _zone_columns() -> dict:
    import streamlit as st

    col = st.column_config
    return {  # 927 px in all: the 940 px of the main column at 1400 px, less a vertical scroll bar
        "Pôle": col.TextColumn(width=150), "Zone": col.TextColumn(width=150),
        "Relation": col.TextColumn(width=160),
        "Part du pôle dans la zone": col.NumberColumn("Part du pôle", width=86, help=METRIC_HELP["share_of_pole"]),
        "Part de la zone dans le pôle": col.NumberColumn("Part de la zone", width=100,
                                                         help="La part de la zone située dans le pôle."),
        "IoU": col.NumberColumn("IoU", width=56, help="Indice de recouvrement. " + METRIC_HELP["best_iou"]),
        "Surface commune (km²)": col.NumberColumn("km²", width=62, help="Surface commune au pôle et à la zone."),
        "Code de la zone": col.TextColumn("Code", width=84),
        "Calcul": col.TextColumn(width=79, help="« communes » : pôle et zone comparés sur les communes qu'ils ont "
                                                "en commun (parts exactes) ; « contours » : intersection des contours."),
    }


ZONE_COLUMNS = _zone_columns()


def layer_title(spec) -> str:
    """A layer's title for a list or a legend, with « (historique) » for an expired generation."""
    return spec.title + (" (historique)" if spec.historical else "")


def qpv_words(catalogue) -> tuple[str, str]:
    """How the pages name the QPV figures: a short column name and a phrase, both with the
    list's year, and for an expired list (the 2015 one) « historique » and its period."""
    spec = catalogue["qpv"] if "qpv" in catalogue.layers else None
    if spec is None or not spec.historical:
        year = f" {spec.vintage}" if spec is not None and spec.vintage else ""
        return "QPV", f"Quartiers prioritaires (liste{year})" if year else "Quartiers prioritaires"
    period = f", {spec.period}" if spec.period else ""
    return f"QPV {spec.vintage}", f"Quartiers prioritaires (liste {spec.vintage} : historique{period})"


def typology_label(value: object) -> str:
    """The French name of a typology (« Intra-EPCI »…), « — » when not computed."""
    return TYPOLOGY_LABELS.get(value, "—") if isinstance(value, str) else "—"


def level_table(card: Scorecard, pole_id: str) -> pd.DataFrame:
    """The scorecard of one perimeter, one row per level it touches, French column names (numbers).

    Levels where it touches no unit (the EPT outside Grand Paris…) are left out: see
    :func:`untouched_levels`, which names them under the table.
    """
    rows = card.pole_levels(pole_id)
    rows = rows[rows["n_units"].to_numpy() > 0]
    return pd.DataFrame({
        "Échelon": [LEVEL_LABELS.get(lid, lid) for lid in rows["layer"]],
        "Unités comptées": rows["n_units"].to_numpy(),
        "Fragments écartés": rows["n_slivers"].to_numpy(),
        "Unité dominante": rows["dominant_name"].to_numpy(),
        "Part de l'unité dominante": rows["dominant_share"].to_numpy(),
        "Nombre effectif d'unités": rows["effective_units"].to_numpy(),
        "Frontières internes (km)": rows["border_km"].to_numpy(),
        "Indice de recouvrement": rows["best_iou"].to_numpy(),
    })


def untouched_levels(card: Scorecard, pole_id: str) -> str:
    """« Aucune unité touchée : EPT (Grand Paris). » for the levels left out of the tables, or ""."""
    rows = card.pole_levels(pole_id)
    none = [LEVEL_LABELS.get(lid, lid) for lid in rows["layer"][rows["n_units"].to_numpy() == 0]]
    return f"Aucune unité touchée : {', '.join(none)}." if none else ""


#: formats of :func:`level_table`
LEVEL_FORMATS = {"Part de l'unité dominante": "pct", "Nombre effectif d'unités": "num1",
                 "Frontières internes (km)": "num1", "Indice de recouvrement": "num2"}


def level_columns():
    """Column settings of :func:`level_table`: short headers, widths that fit 1400 px, a help line each."""
    import streamlit as st

    col = st.column_config
    return {
        "Échelon": col.TextColumn(width=190),
        "Unités comptées": col.NumberColumn("Unités", width=62, help=LEVEL_HELP["Unités comptées"]),
        "Fragments écartés": col.NumberColumn("Fragments", width=82, help=LEVEL_HELP["Fragments écartés"]),
        "Unité dominante": col.TextColumn(width=190, help=LEVEL_HELP["Unité dominante"]),
        "Part de l'unité dominante": col.NumberColumn("Part", width=62, help=LEVEL_HELP["Part de l'unité dominante"]),
        "Nombre effectif d'unités": col.NumberColumn("Nombre effectif", width=120,
                                                     help=LEVEL_HELP["Nombre effectif d'unités"]),
        "Frontières internes (km)": col.NumberColumn("Frontières (km)", width=104,
                                                     help=LEVEL_HELP["Frontières internes (km)"]),
        "Indice de recouvrement": col.NumberColumn("Recouvrement", width=100, help=LEVEL_HELP["Indice de recouvrement"]),
    }


#: one-line explanations of :func:`level_table`'s columns
LEVEL_HELP = {
    "Unités comptées": METRIC_HELP["n_units"], "Fragments écartés": METRIC_HELP["n_slivers"],
    "Unité dominante": METRIC_HELP["dominant_name"], "Part de l'unité dominante": METRIC_HELP["dominant_share"],
    "Nombre effectif d'unités": METRIC_HELP["effective_units"], "Frontières internes (km)": METRIC_HELP["border_km"],
    "Indice de recouvrement": METRIC_HELP["best_iou"],
}


#: the levels of a pole's card, in this order (the others go below, folded)
CARD_LEVELS = ("communes", "epci", "departements", "regions", "zones_emploi")


def level_summary(card: Scorecard, pole_id: str, levels=None) -> pd.DataFrame:
    """A narrow version of :func:`level_table` for a pole's card: every cell a short French text.

    Columns « Échelon », « Unités », « Dominante » (name and share) and « Frontières » —
    four columns that fit a card's width without scrolling sideways. ``levels``: only
    these levels, in this order (default: every level of the Scorecard).
    """
    rows = card.pole_levels(pole_id)
    rows = rows[rows["n_units"].to_numpy() > 0]
    if levels is not None:
        order = {lid: i for i, lid in enumerate(levels)}
        rows = rows[rows["layer"].isin(order)]
        rows = rows.iloc[np.argsort([order[lid] for lid in rows["layer"]], kind="stable")]
    dominant = [f"{md(name)} ({fr_pct(share, 0)})" if isinstance(name, str) else "—"  # st.table reads Markdown
                for name, share in zip(rows["dominant_name"], rows["dominant_share"])]
    return pd.DataFrame({
        "Échelon": [LEVEL_LABELS.get(lid, lid) for lid in rows["layer"]],
        "Unités": [fr_int(n) for n in rows["n_units"]],
        "Dominante (part du pôle)": dominant,
        "Frontières": [fr_km(km) for km in rows["border_km"]],
    })


def summary_table(card: Scorecard) -> pd.DataFrame:
    """One row per pole with French column names (for the national table; numbers kept)."""
    s = card.summary
    out = pd.DataFrame({"Pôle": s["nom"], "Typologie": [typology_label(t) for t in s["typology"]],
                        "Surface (km²)": s["area_km2"]})
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
        out["Zone d'emploi la mieux ajustée"] = s["best_ze_name"]
    if "qpv_count" in s:
        out[qpv_words(card.catalogue)[0]] = s["qpv_count"]
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
    # from the narrowest perimeters to the widest (one commune … inter-régional), then the others
    rank = {label: i for i, label in enumerate(TYPOLOGY_LABELS.values())}
    g = g.iloc[sorted(range(len(g)), key=lambda i: rank.get(g.index[i], len(rank)))]
    return pd.DataFrame({"Typologie": g.index, "Pôles": g["poles"].to_numpy(),
                         "Surface totale (km²)": g["area"].round(0).to_numpy()})
