"""Exports for QGIS, spreadsheets and reports: poles, seats, scorecards, pieces, overlaps.

Every export is built from one :class:`~ptce_geo.scorecard.Scorecard` and carries its
provenance: layer vintages, sources, licences and required attributions from the
catalogue, threshold, weighting, ptce_geo version and date.

What can be exported (each a :class:`Dataset`, named after what it holds):

* :func:`poles_dataset` — poles with every attribute of the poles file (sources,
  filières, confidence, note…) and their scorecard as columns; their seats; the
  scorecard by level (one row per pole and level, no geometry); optionally the pieces of
  levels and the overlaps with zones layers. ``ptce05_pole``, ``ptce_poles``.
* :func:`pieces_dataset` — the pieces of one level with their shares and geometry.
  ``ptce05_pieces_epci``.
* :func:`overlaps_dataset` — the overlaps with a zones layer, with geometry.
  ``ptce_overlaps_crte``.
* :func:`territory_dataset` — the poles acting in one unit, with both shares.
  ``territoire_epci_200067106_poles``.

Formats (:func:`dataset_bytes`, :func:`write_dataset`):

``geojson``
    The dataset's main layer as RFC 7946 GeoJSON: WGS84 longitude/latitude, exterior
    rings counter-clockwise and holes clockwise, no ``crs`` member, 6 decimals (about
    0.1 m); the provenance as the foreign member ``ptce_geo_provenance``. Lists of the
    poles file (sources, filières) stay lists.
``gpkg``
    One GeoPackage holding every layer: ``poles`` (EPSG:4326) and an equal-area copy
    for analysis in QGIS (``poles_epsg3035`` for mainland France and Corsica,
    ``poles_laea_<dep>`` for each overseas département: planar areas measured there
    agree with ``area_km2`` to about 1e-5), ``seats``, ``scorecard`` (no geometry),
    ``pieces_<level>``, ``overlaps_<layer>``, a ``metadata`` table (``key``, ``value``;
    values JSON) holding the provenance, and the standard ``layer_styles`` table with a
    default style per layer (QML and SLD, :mod:`ptce_geo.styles`): QGIS opens it
    coloured by typology with the app's colours and labelled by name.
``csv``
    Each layer without geometry (point layers get ``lon``/``lat``), zipped with the
    provenance. Two dialects (:data:`CSV_DIALECTS`): ``machine`` (UTF-8, ``,``, decimal
    point, snake_case headers, raw values) and ``fr`` for spreadsheets (UTF-8 with BOM,
    ``;``, decimal comma, French headers, shares in % rounded to 0.1, areas to
    0.1 km², typologies and relations in French). In both, a text cell starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, and so
    does every piece of a cell after a separator a spreadsheet may split on (``,`` ``;``
    tab ``|``) (:func:`csv_safe`): a spreadsheet shows it as text and never runs it as a
    formula (CSV injection); numbers are written as they are.

:func:`export` writes the poles with the pieces or overlaps of the layers asked for to
``OUTPUT`` and files beside it (the ``ptce-geo export`` command). Every file is built in
memory first, then all are written to temporary files beside their targets (flushed and
fsynced) and only then renamed onto them: a failure while writing (a full disk, a crash)
leaves every previous file as it was. No target may be a symbolic link, a device, a FIFO
or one of the command's own inputs (:func:`ptce_geo._integrity.check_output`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ._integrity import atomic_write_files, check_output
from .catalogue import Catalogue
from .columns import column_kind, french_headers
from .errors import InvalidInput
from .fmt import METHOD_LABELS, RELATION_LABELS, TYPOLOGY_LABELS, ZONE_TYPE_LABELS
from .geometry import orient_ccw, round_coords
from .options import DEFAULT_THRESHOLD, Options
from .projection import ZONES, equal_area_crs, zone_of
from .scorecard import Scorecard
from .styles import LAYER_STYLES_COLUMNS, qml, sld, style_for
from .textsafe import csv_neutralise

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "CSV_DIALECTS", "MIME", "Dataset", "export", "write_export", "export_files", "export_bytes",
           "export_name", "geojson_bytes", "spread_dicts", "provenance", "poles_table", "seats_table",
           "scorecard_table", "layer_table", "territory_table", "poles_dataset", "pieces_dataset", "overlaps_dataset",
           "territory_dataset", "dataset_files", "dataset_bytes", "write_dataset", "csv_bytes", "french_table",
           "csv_safe", "safe_name"]

FORMATS = ("geojson", "gpkg", "csv")
#: ``machine``: UTF-8, comma, decimal point, snake_case; ``fr``: for French spreadsheets
CSV_DIALECTS = ("machine", "fr")
MIME = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3", "csv": "text/csv",
        "zip": "application/zip", "json": "application/json", "pdf": "application/pdf",
        "html": "text/html"}
PROVENANCE_SUFFIX = ".provenance.json"
#: names a poles file's attribute cannot keep in a table (geometry, GeoPackage ids)
_RESERVED = {"geometry", "geom", "fid", "ogc_fid", "properties"}


# ---------------------------------------------------------------- checks and options
def _check(fmt: str, layers, catalogue: Catalogue) -> list[str]:
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown export format {fmt!r}: use geojson, gpkg or csv.",
                           fr=f"Format d'export inconnu « {fmt} » : geojson, gpkg ou csv.")
    if isinstance(layers, str):  # one layer id, not a sequence of letters
        layers = [layers]
    ids = list(dict.fromkeys(layers or []))
    for lid in ids:
        catalogue[lid]  # unknown layer: CatalogueError naming the known ones
    return ids


def _check_dialect(dialect: str) -> str:
    if dialect not in CSV_DIALECTS:
        raise InvalidInput(f"Unknown CSV dialect {dialect!r}: use 'machine' or 'fr'.",
                           fr=f"Variante de CSV inconnue « {dialect} » : « machine » ou « fr ».")
    return dialect


def _scorecard(source, *, catalogue: Catalogue | None, threshold: float, weight: str | None,
               tolerance: float) -> Scorecard:
    """A Scorecard: ``source`` itself, or one built from perimeters with these options."""
    if isinstance(source, Scorecard):
        return source
    return Scorecard(source, catalogue=catalogue,
                     options=Options(threshold=threshold, weight=weight or "area", tolerance=tolerance))


def _selection(card: Scorecard, pole_ids: Sequence[str] | str | None) -> np.ndarray:
    """Row positions of ``pole_ids`` in the Scorecard (all rows when None), in the given order."""
    ids = card.ids
    if pole_ids is None:
        return np.arange(len(ids))
    if isinstance(pole_ids, str):
        pole_ids = [pole_ids]
    where = {pid: i for i, pid in enumerate(ids)}
    missing = [p for p in pole_ids if p not in where]
    if missing:
        raise InvalidInput(f"unknown pole id(s) {', '.join(map(repr, missing[:5]))}: use one of "
                           f"{', '.join(map(str, ids[:8]))}{'…' if len(ids) > 8 else ''}.",
                           fr=f"Pôle inconnu : {', '.join(map(str, missing[:5]))}.")
    return np.array([where[p] for p in pole_ids], dtype=int)


def safe_name(text: object, *, limit: int = 60) -> str:
    """A file-name-safe form of ``text``: ASCII letters, digits, ``-`` and ``_`` only."""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-_")
    return s[:limit].strip("-_") or "sans-nom"


# ---------------------------------------------------------------- tables
def _property_keys(props: Sequence[Any], taken: set[str]) -> dict[str, str]:
    """Column name of each attribute of the poles file (first appearance order).

    An attribute keeps its name unless the table already has that column (the computed
    figures win) or the name is reserved: it is then prefixed with ``fichier_``. Names
    are compared without case, as SQLite (GeoPackage) does.
    """
    out: dict[str, str] = {}
    used = {t.lower() for t in taken}
    for pr in props:
        if not isinstance(pr, dict):
            continue
        for key in pr:
            if key in out:
                continue
            name = str(key).replace("\x00", "") or "champ_sans_nom"
            while name.lower() in used or name.lower() in _RESERVED:
                name = "fichier_" + name
            used.add(name.lower())
            out[key] = name
    return out


def poles_table(card: Scorecard, pole_ids: Sequence[str] | str | None = None) -> gpd.GeoDataFrame:
    """The poles with every attribute of the poles file and their scorecard (EPSG:4326).

    Columns: ``id``, ``nom``, then every attribute of the poles file in the file's
    order and with its own value (lists stay lists: sources, filières; an attribute
    whose name a computed column takes is prefixed with ``fichier_``), then
    ``definition``, ``communes_membres`` (the perimeter's INSEE codes, ``;``-joined,
    for poles given by codes), the columns of :attr:`Scorecard.summary` (but
    ``pole_id`` and ``nom``) and ``geometry``.
    """
    rows = _selection(card, pole_ids)
    perimeters = card.perimeters.iloc[rows]
    ids = perimeters["id"].to_numpy()
    summary = card.summary.drop(columns=["nom"]).set_index("pole_id").reindex(ids).reset_index(drop=True)
    computed = ["id", "nom", "definition", "communes_membres", *summary.columns]
    props = list(perimeters["properties"]) if "properties" in perimeters else [None] * len(perimeters)
    keys = _property_keys(props, set(computed))
    data: dict[str, Any] = {
        "id": ids, "nom": perimeters["nom"].to_numpy() if "nom" in perimeters else ids,
    }
    for key, name in keys.items():
        if key in ("id", "nom"):
            continue
        data[name] = pd.Series([pr.get(key) if isinstance(pr, dict) else None for pr in props], dtype=object)
    data["definition"] = perimeters["definition"].to_numpy() if "definition" in perimeters else "geometry"
    data["communes_membres"] = ([";".join(c) if c else None for c in perimeters["communes"]]
                                if "communes" in perimeters else None)
    base = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in data.items()})
    for name in data:  # keep lists as objects (pandas would otherwise try to broadcast them)
        if isinstance(data[name], pd.Series):
            base[name] = data[name].to_numpy()
    table = pd.concat([base, summary], axis=1)
    return gpd.GeoDataFrame(table, geometry=perimeters.geometry.to_numpy(), crs="EPSG:4326")


def seats_table(card: Scorecard, pole_ids: Sequence[str] | str | None = None) -> gpd.GeoDataFrame:
    """One point per pole at its seat commune (poles whose seat is known), with the pole's typology."""
    from .poles import seat_points

    rows = _selection(card, pole_ids)
    perimeters = card.perimeters.iloc[rows]
    try:
        points = seat_points(perimeters, catalogue=card.catalogue)
    except Exception as exc:  # noqa: BLE001 - seats are a convenience: an export never fails for them
        logger.warning("seat points left out of the export: %s", exc)
        points = gpd.GeoDataFrame({"id": [], "nom": [], "siege_insee": [], "siege_nom": [], "siege_source": []},
                                  geometry=[], crs="EPSG:4326")
    points = points[points["siege_source"] == "commune"].reset_index(drop=True)
    typ = card.summary.set_index("pole_id")["typology"]
    points["typology"] = typ.reindex(points["id"]).to_numpy()
    return points[["id", "nom", "typology", "siege_insee", "siege_nom", "geometry"]]


def scorecard_table(card: Scorecard, pole_ids: Sequence[str] | str | None = None) -> pd.DataFrame:
    """The scorecard by level: one row per pole and level (no geometry), the pole's name second."""
    rows = _selection(card, pole_ids)
    ids = card.ids[rows]
    t = card.levels_table
    if not len(t):
        return pd.DataFrame(columns=["pole_id", "nom", "layer"])
    order = {pid: i for i, pid in enumerate(ids)}
    t = t[t["pole_id"].isin(order)]
    t = t.assign(_o=t["pole_id"].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
    names = card.summary.set_index("pole_id")["nom"]
    t.insert(1, "nom", names.reindex(t["pole_id"]).to_numpy())
    return t.reset_index(drop=True)


def layer_table(card: Scorecard, layer_id: str, pole_ids: Sequence[str] | str | None = None) -> gpd.GeoDataFrame:
    """The pieces (partition layer) or overlaps (zones layer) of one layer, with geometry.

    The pole's name follows its id (``pole_nom``).
    """
    spec = card.catalogue[layer_id]
    names = card.summary.set_index("pole_id")["nom"]
    if spec.kind == "zones":
        table = card.zones(layer_id).pieces
    else:
        p = card.shares(layer_id)
        cols = {"pole_id": p["pole_id"], "unit_code": p["unit_code"], "unit_name": p["unit_name"],
                "area_km2": p["area_m2"] / 1e6, "unit_area_km2": p["unit_area_m2"] / 1e6,
                "share_of_pole": p["share_of_pole"], "share_of_unit": p["share_of_unit"], "iou": p["iou"],
                "kept": p["kept"]}
        if card.overlay(layer_id).weight == "population":
            for extra in ("population", "unit_population"):
                cols[extra] = p[extra]
        table = gpd.GeoDataFrame(pd.DataFrame(cols).reset_index(drop=True), geometry=p.geometry.to_numpy(),
                                 crs="EPSG:4326")
    return _with_pole_names(table, names, pole_ids, card)


def _with_pole_names(table: gpd.GeoDataFrame, names: pd.Series, pole_ids, card: Scorecard) -> gpd.GeoDataFrame:
    if pole_ids is not None:
        wanted = list(card.ids[_selection(card, pole_ids)])
        table = table[table["pole_id"].isin(wanted)]
    table = table.reset_index(drop=True)
    table.insert(1, "pole_nom", names.reindex(table["pole_id"]).to_numpy())
    return table


def territory_table(card: Scorecard, layer_id: str, code: str, *,
                    communes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """The poles acting in one unit of a level, with both shares and their perimeters.

    Columns ``unit_code``, ``unit_name`` (the territory), ``pole_id``, ``nom``,
    ``typology``, ``share_of_unit`` (share of the territory the pole covers),
    ``share_of_pole`` (share of the pole inside the territory), ``area_km2`` (area in
    common) and the pole's perimeter as geometry. ``communes`` (the territory's member
    communes) is needed for a level that is not a partition layer of the catalogue
    (see :func:`ptce_geo.territory.territory_poles`).
    """
    from .territory import territory_poles

    t = territory_poles(card, layer_id, code, communes=communes)
    t.insert(2, "typology", card.summary.set_index("pole_id")["typology"].reindex(t["pole_id"]).to_numpy())
    shares = card.shares(layer_id) if layer_id in card.levels else None
    name = None
    if shares is not None:
        hit = shares.loc[shares["unit_code"] == code, "unit_name"]
        name = hit.iloc[0] if len(hit) else None
    geoms = card.perimeters.set_index("id").geometry.reindex(t["pole_id"]).to_numpy()
    out = pd.DataFrame({"unit_code": code, "unit_name": name}, index=range(len(t)))
    out = pd.concat([out, t.reset_index(drop=True)], axis=1)
    return gpd.GeoDataFrame(out, geometry=geoms, crs="EPSG:4326")


# ---------------------------------------------------------------- provenance
def layer_status_note(spec) -> dict:
    """The status of a layer for a provenance record: ``status``, ``period`` and, for a
    historical layer, the French ``notice`` saying it is history and what replaced it."""
    note = {"status": spec.status, "period": spec.period or None}
    if spec.historical:
        note["notice"] = spec.notice
    return note


def _layer_record(spec) -> dict:
    return {"id": spec.id, "title": spec.title, "kind": spec.kind, "vintage": spec.vintage,
            "licence": spec.licence, "attribution": spec.attribution,
            "source": spec.source.location if spec.source else None,
            "sha256": spec.source.sha256 if spec.source else None, **layer_status_note(spec)}


def provenance(catalogue: Catalogue, layer_ids: list[str], *, fmt: str, threshold: float,
               weight: str | None, tolerance: float, n_poles: int, files: dict[str, str],
               contents: dict[str, str] | None = None, dialect: str | None = None) -> dict:
    """What an export was made from: a JSON-ready dict.

    Parameters
    ----------
    catalogue : Catalogue
    layer_ids : list of str
        Layers whose pieces or overlaps the export holds (the partition levels and the
        QPV are always listed: the scorecard reads them).
    fmt, threshold, weight, tolerance, n_poles
    files : dict
        Table name → file name.
    contents : dict, optional
        Table name → what it holds, in words.
    dialect : str, optional
        The CSV dialect.
    """
    from . import __version__

    used = list(dict.fromkeys(catalogue.ids(kind="partition") + (["qpv"] if "qpv" in catalogue.layers else [])
                              + list(layer_ids)))
    layers = [_layer_record(catalogue[lid]) for lid in used if lid in catalogue.layers]
    meta = {
        "generator": "ptce_geo", "version": __version__,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "format": fmt, "threshold": threshold, "weighting": weight or "area", "tolerance": tolerance,
        "catalogue": {"name": catalogue.name, "file": catalogue.path.name},
        "poles": n_poles, "layers": layers, "files": files,
        "measures": "areas exact on the WGS84 ellipsoid (cylindrical equal-area, lon/lat edges); "
                    "lengths geodesic (WGS84)",
        "coordinates": "EPSG:4326 longitude/latitude" + (" (RFC 7946, 6 decimals)" if fmt == "geojson" else ""),
    }
    if contents:
        meta["contents"] = contents
    if dialect:
        meta["csv_dialect"] = dialect
    return meta


# ---------------------------------------------------------------- values
def _clean_text(value: str) -> str:
    """Text that every format can hold: no NUL, no lone surrogate."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _json_value(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {_clean_text(str(k)): _json_value(v) for k, v in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return _clean_text(str(value))


def _as_text(value) -> str | None:
    """A value of the poles file as one text cell: lists of texts ``; ``-joined, other structures as JSON."""
    v = _json_value(value)
    if v is None:
        return None
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "; ".join(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, allow_nan=False)
    return str(v)


_INT64 = 2**63 - 1


def _flat_column(values: pd.Series) -> pd.Series:
    """An object column made writable to GeoPackage and CSV: numbers when all are, else text."""
    vals = values.to_numpy(dtype=object)
    present = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return pd.Series([None if v is None else bool(v) for v in vals], index=values.index, dtype=object)
    numbers = present and all(isinstance(v, (int, float, np.integer, np.floating))
                              and not isinstance(v, (bool, np.bool_)) for v in present)
    if numbers and all(isinstance(v, (int, np.integer)) and abs(int(v)) <= _INT64 for v in present):
        return pd.Series([pd.NA if v is None else int(v) for v in vals], index=values.index, dtype="Int64")
    if numbers and all(_finite(v) for v in present):
        return pd.Series([np.nan if v is None else float(v) for v in vals], index=values.index, dtype=float)
    return pd.Series([_as_text(v) for v in vals], index=values.index, dtype=object)


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose columns GeoPackage and CSV can hold (lists and odd values as text)."""
    out = pd.DataFrame(df.drop(columns=[c for c in ("properties",) if c in df]))
    for col in out.columns:
        if col == getattr(df, "_geometry_column_name", None) or isinstance(out[col].dtype, gpd.array.GeometryDtype):
            continue
        if out[col].dtype == object:
            out[col] = _flat_column(out[col])
    return gpd.GeoDataFrame(out, geometry=df.geometry.name, crs=df.crs) if isinstance(df, gpd.GeoDataFrame) else out


def _rfc7946(geoms: np.ndarray, decimals: int) -> np.ndarray:
    """Rounded to ``decimals`` (clean short decimals), exteriors counter-clockwise."""
    arr = orient_ccw(round_coords(geoms, decimals))
    return shapely.transform(arr, lambda xy: np.round(xy, decimals))


def geojson_bytes(gdf: gpd.GeoDataFrame, *, decimals: int = 6, members: dict | None = None) -> bytes:
    """A GeoDataFrame as RFC 7946 GeoJSON (WGS84, CCW exteriors, no ``crs``, rounded).

    Non-finite numbers become ``null``; lists and dicts stay JSON structures; every other
    column is a property. ``members`` are added to the FeatureCollection as foreign
    members (RFC 7946 §6.1), such as the provenance.
    """
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    geoms = _rfc7946(gdf.geometry.to_numpy(), decimals)
    cols = [c for c in gdf.columns if c != gdf.geometry.name and c != "properties"]
    records = pd.DataFrame(gdf[cols]).to_dict("records")
    feats = []
    for rec, geom in zip(records, geoms):
        gj = None if geom is None or geom.is_empty else shapely.geometry.mapping(geom)
        feats.append({"type": "Feature", "properties": {str(k): _json_value(v) for k, v in rec.items()},
                      "geometry": gj})
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    for key, value in (members or {}).items():
        doc[key] = _json_value(value)
    doc["features"] = feats
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- CSV
def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot run as spreadsheet formulas.

    A text cell starting with one of :data:`FORMULA_START` (``=``, ``+``, ``-``, ``@``,
    tab, carriage return) is prefixed with ``'``, which spreadsheets show as text, and
    so is every piece following a separator (``,`` ``;`` tab ``|``, a line break) in it
    (:func:`ptce_geo.textsafe.csv_neutralise`); other cells, numbers included, are
    unchanged. Column names are treated the same way.
    """
    safe = csv_neutralise
    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = pd.Series([safe(v) for v in out[col].to_numpy(dtype=object)], index=out.index, dtype=object)
    out.columns = [safe(c) for c in out.columns]
    return out


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The table without geometry (points keep ``lon`` and ``lat``), its odd values as text."""
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df:
        geoms = df.geometry.to_numpy()
        flat = _flat(pd.DataFrame(df.drop(columns=[df.geometry.name])))
        types = shapely.get_type_id(geoms)
        if len(geoms) and np.all(types == 0):
            flat["lon"] = np.round(shapely.get_x(geoms), 6)
            flat["lat"] = np.round(shapely.get_y(geoms), 6)
        return flat
    return _flat(pd.DataFrame(df))


def spread_dicts(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each column of objects (an attribute of the poles file such as the
    ``territoire`` profile) spread into one column per key, ``<column>_<key>``, where the
    column stood: a spreadsheet shows a figure per cell, not a JSON text.

    A key whose column the table already has is left out (the table's own figure: the
    Scorecard's ``territoire_profil`` wins over the file's). Other columns are unchanged.
    """
    out: dict[str, pd.Series] = {}
    for col in df.columns:
        s = df[col]
        vals = s.to_numpy(dtype=object) if s.dtype == object else ()
        dicts = [v for v in vals if isinstance(v, dict)]
        if not dicts or len(dicts) != len(vals) - int(pd.isna(s).sum()):  # not a column of dicts (or missing)
            out[col] = s
            continue
        for key in dict.fromkeys(k for v in dicts for k in v):
            name = f"{col}_{key}"
            if name not in df.columns and name not in out:
                out[name] = pd.Series([v.get(key) if isinstance(v, dict) else None for v in vals], index=df.index,
                                      dtype=object)
    spread = pd.DataFrame(out, index=df.index)
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in spread:
        return gpd.GeoDataFrame(spread, geometry=df.geometry.name, crs=df.crs)
    return spread


def french_table(df: pd.DataFrame, *, table: str = "") -> pd.DataFrame:
    """A table as people read it in French: headers, percentages, rounding, words.

    Shares become percentages rounded to 0.1, areas (km²) and lengths (km) are rounded
    to 0.1, ratios (IoU, effective number) to 0.001, counts are integers, typologies
    and relations are in French, booleans are « oui » / « non ». ``table`` (``pieces``,
    ``overlaps``, ``territory``) picks the headers of names that differ by table.
    """
    out = {}
    for col in df.columns:
        s = df[col]
        kind = column_kind(str(col))
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if kind == "pct" and numeric:
            s = (s.astype(float) * 100).round(1)
        elif kind in ("km2", "km") and numeric:
            s = s.astype(float).round(1)
        elif kind == "ratio" and numeric:
            s = s.astype(float).round(3)
        elif kind == "int" and numeric:
            vals = s.astype(float)
            s = vals.round().astype("Int64") if np.all(np.isnan(vals) | (vals == np.round(vals))) else vals
        elif kind == "typology":
            s = s.map(lambda t: TYPOLOGY_LABELS.get(t, t) if isinstance(t, str) else t)
        elif kind == "relation":
            s = s.map(lambda t: RELATION_LABELS.get(t, t) if isinstance(t, str) else t)
        elif kind in ("method", "zone_type"):
            labels = METHOD_LABELS if kind == "method" else ZONE_TYPE_LABELS
            s = s.map(lambda t: labels.get(t, t) if isinstance(t, str) else t)
        if pd.api.types.is_bool_dtype(s) or (s.dtype == object and len(s) and all(
                isinstance(v, (bool, np.bool_)) or v is None for v in s)):
            s = s.map(lambda v: None if v is None else ("oui" if v else "non")).astype(object)
        out[col] = s
    result = pd.DataFrame(out, index=df.index)
    result.columns = french_headers([str(c) for c in df.columns], table=table)
    return result


def csv_bytes(df: pd.DataFrame, *, dialect: str = "machine", table: str = "") -> bytes:
    """A table as CSV in one of :data:`CSV_DIALECTS` (formula-looking cells neutralised).

    ``machine``: UTF-8, ``,``, decimal point, snake_case headers, raw values, ``\\n``.
    ``fr``: UTF-8 with BOM, ``;``, decimal comma, French headers and values
    (:func:`french_table`), ``\\r\\n``: a French spreadsheet opens it in columns.
    """
    _check_dialect(dialect)
    flat = _csv_frame(df if dialect == "machine" else spread_dicts(df))
    if dialect == "machine":
        return csv_safe(flat).to_csv(index=False, lineterminator="\n").encode("utf-8")
    text = csv_safe(french_table(flat, table=table)).to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n")
    return text.encode("utf-8-sig")


# ---------------------------------------------------------------- datasets
@dataclass
class Dataset:
    """Tables to export together, named after what they hold.

    Attributes
    ----------
    name : str
        The file stem (``ptce05_pieces_epci``): safe in any file system.
    layers : dict
        Layer name → table (GeoDataFrame, or DataFrame without geometry); the first is
        the main layer (the GeoJSON file, the first CSV).
    card : Scorecard
        Where the figures come from (options and catalogue of the provenance).
    layer_ids : list of str
        Catalogue layers whose pieces or overlaps the dataset holds.
    contents : dict
        Layer name → what it holds, in words (for the provenance).
    kinds : dict
        Layer name → table kind for French headers (``pieces``, ``overlaps``, ``territory``).
    tolerance : float, optional
        The relation tolerance of overlaps computed apart from the Scorecard (default: its own).
    """

    name: str
    layers: dict[str, pd.DataFrame]
    card: Scorecard
    layer_ids: list[str] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    tolerance: float | None = None

    @property
    def main(self) -> str:
        """The main layer's name."""
        return next(iter(self.layers))


def _ids_name(card: Scorecard, rows: np.ndarray) -> str:
    if len(rows) == 1:
        return safe_name(card.ids[rows[0]])
    return "ptce"


def poles_dataset(card: Scorecard, pole_ids: Sequence[str] | str | None = None, *,
                  levels: Sequence[str] = (), zones: Sequence[str] = ()) -> Dataset:
    """The poles (all, or ``pole_ids``) with their attributes, seats and scorecard by level.

    Parameters
    ----------
    card : Scorecard
    pole_ids : str or list of str, optional
        Default: every pole.
    levels : list of str
        Levels whose pieces are added (``pieces_<level>``).
    zones : list of str
        Zones layers whose overlaps are added (``overlaps_<layer>``).

    The name is ``<pole id>_pole`` for one pole, ``ptce_poles`` for all, ``ptce_poles_selection``
    for a selection.
    """
    rows = _selection(card, pole_ids)
    ids = None if pole_ids is None else list(card.ids[rows])
    single = len(rows) == 1 and pole_ids is not None
    name = f"{_ids_name(card, rows)}_pole" if single else ("ptce_poles" if pole_ids is None else "ptce_poles_selection")
    layers: dict[str, pd.DataFrame] = {"poles": poles_table(card, ids), "seats": seats_table(card, ids),
                                       "scorecard": scorecard_table(card, ids)}
    contents = {"poles": "poles with every attribute of the poles file and their scorecard",
                "seats": "seat commune of each pole (a point inside it)",
                "scorecard": "scorecard by level: one row per pole and level"}
    kinds = {}
    for lid in _check("gpkg", list(levels) + list(zones), card.catalogue):
        kind = "overlaps" if card.catalogue[lid].kind == "zones" else "pieces"
        layers[f"{kind}_{lid}"] = layer_table(card, lid, ids)
        contents[f"{kind}_{lid}"] = f"{kind} of {lid}"
        kinds[f"{kind}_{lid}"] = kind
    return Dataset(name=name, layers=layers, card=card, layer_ids=list(levels) + list(zones), contents=contents,
                   kinds=kinds)


def pieces_dataset(card: Scorecard, level: str, pole_ids: Sequence[str] | str | None = None) -> Dataset:
    """The pieces of one level (``<pole id>_pieces_<level>``), with the poles for context."""
    _check("gpkg", [level], card.catalogue)
    if card.catalogue[level].kind != "partition":
        raise InvalidInput(f"{level!r} is a zones layer: export its overlaps (overlaps_dataset).",
                           fr=f"« {level} » est une couche de zones : exportez ses recouvrements.")
    rows = _selection(card, pole_ids)
    ids = None if pole_ids is None else list(card.ids[rows])
    stem = _ids_name(card, rows) if pole_ids is not None and len(rows) == 1 else "ptce"
    lname = f"pieces_{level}"
    return Dataset(name=f"{stem}_pieces_{safe_name(level)}",
                   layers={lname: layer_table(card, level, ids), "poles": poles_table(card, ids)}, card=card,
                   layer_ids=[level], contents={lname: f"pieces of the poles in the units of {level}",
                                                "poles": "the poles"}, kinds={lname: "pieces"})


def overlaps_dataset(card: Scorecard, layer, pole_ids: Sequence[str] | str | None = None, *,
                     rows: pd.Index | None = None) -> Dataset:
    """The overlaps with a zones layer (``<pole id>_overlaps_<layer>``), with geometry.

    Parameters
    ----------
    card : Scorecard
    layer : str or ZoneOverlap
        A zones layer id of the catalogue, or an overlap already computed (an upload).
    pole_ids : optional
        Keep these poles only.
    rows : pandas.Index, optional
        Keep these rows of the overlap table only (a filtered view).
    """
    if isinstance(layer, str):
        _check("gpkg", [layer], card.catalogue)
        overlap = card.zones(layer)
        lid = layer
    else:
        overlap, lid = layer, str(layer.layer)
    table = overlap.pieces
    if rows is not None:
        table = table.loc[table.index.intersection(rows)]
    names = card.summary.set_index("pole_id")["nom"]
    table = _with_pole_names(table, names, pole_ids, card)
    sel = _selection(card, pole_ids)
    stem = _ids_name(card, sel) if pole_ids is not None and len(sel) == 1 else "ptce"
    lname = f"overlaps_{safe_name(lid)}"
    return Dataset(name=f"{stem}_overlaps_{safe_name(lid)}", layers={lname: table}, card=card,
                   layer_ids=[lid] if lid in card.catalogue.layers else [],
                   contents={lname: f"overlaps of the poles with the zones of {lid}"}, kinds={lname: "overlaps"},
                   tolerance=getattr(overlap, "tolerance", None))


def territory_dataset(card: Scorecard, layer_id: str, code: str, *,
                      communes: Sequence[str] | None = None) -> Dataset:
    """The poles acting in one unit, with both shares (``territoire_<layer>_<code>_poles``)."""
    _check("gpkg", [layer_id], card.catalogue)
    table = territory_table(card, layer_id, code, communes=communes)
    return Dataset(name=f"territoire_{safe_name(layer_id)}_{safe_name(code)}_poles", layers={"poles": table},
                   card=card, layer_ids=[layer_id],
                   contents={"poles": f"poles acting in {layer_id} {code}: share of the territory each covers "
                                      "and share of each pole inside it"},
                   kinds={"poles": "territory"})


def _spatial(table: pd.DataFrame) -> bool:
    return isinstance(table, gpd.GeoDataFrame) and table.geometry.name in table


def _dataset_meta(ds: Dataset, fmt: str, files: dict[str, str], dialect: str | None = None) -> dict:
    o = ds.card.options
    n = len(ds.layers[ds.main]["pole_id"].unique()) if "pole_id" in ds.layers[ds.main] else len(ds.layers[ds.main])
    return provenance(ds.card.catalogue, ds.layer_ids, fmt=fmt, threshold=o.threshold, weight=o.weight,
                      tolerance=o.tolerance if ds.tolerance is None else ds.tolerance, n_poles=int(n), files=files, contents=ds.contents, dialect=dialect)


def dataset_files(ds: Dataset, *, fmt: str, dialect: str = "machine") -> dict[str, bytes]:
    """A dataset as files in memory: file name → content.

    ``geojson``: ``<name>.geojson`` (the main layer, provenance inside) and
    ``<name>_<layer>.geojson`` for the other spatial layers; ``gpkg``: ``<name>.gpkg``;
    ``csv``: ``<name>.csv`` and ``<name>_<layer>.csv``, and ``<name>.csv.provenance.json``.
    """
    _check(fmt, [], ds.card.catalogue)
    _check_dialect(dialect)
    if fmt == "gpkg":
        main = f"{ds.name}.gpkg"
        meta = _dataset_meta(ds, fmt, {k: main for k in ds.layers})
        return {main: gpkg_bytes(ds.layers, meta)}
    names = {}
    for i, (lname, table) in enumerate(ds.layers.items()):
        if fmt == "geojson" and not _spatial(table):
            continue
        names[lname] = f"{ds.name}.{fmt}" if i == 0 else f"{ds.name}_{lname}.{fmt}"
    meta = _dataset_meta(ds, fmt, names, dialect if fmt == "csv" else None)
    out: dict[str, bytes] = {}
    for lname, fname in names.items():
        table = ds.layers[lname]
        if fmt == "geojson":
            out[fname] = geojson_bytes(table, members={"ptce_geo_provenance": meta} if lname == ds.main else None)
        else:
            out[fname] = csv_bytes(table, dialect=dialect, table=ds.kinds.get(lname, ""))
    if fmt == "csv":
        out[f"{ds.name}.csv{PROVENANCE_SUFFIX}"] = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
    return out


def dataset_bytes(ds: Dataset, *, fmt: str, dialect: str = "machine") -> tuple[bytes, str, str]:
    """A dataset as one download: ``(content, file name, MIME type)``.

    GeoJSON: the main layer, one file (``<name>.geojson``, provenance inside).
    GeoPackage: one file with every layer and its style. CSV: a zip of every table and the
    provenance (``<name>_csv.zip``; ``<name>_tableur.zip`` in the French dialect).
    """
    files = dataset_files(ds, fmt=fmt, dialect=dialect)
    if fmt == "geojson":
        return files[f"{ds.name}.geojson"], f"{ds.name}.geojson", MIME["geojson"]
    if fmt == "gpkg":
        (name, data), = files.items()
        return data, name, MIME["gpkg"]
    suffix = "tableur" if dialect == "fr" else "csv"
    return _zip_bytes(files), f"{ds.name}_{suffix}.zip", MIME["zip"]


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    """A deflated zip holding ``files`` (file name → content), in their order.

    Parameters
    ----------
    files : dict of str to bytes
        The members of the zip.

    Returns
    -------
    bytes
        The zip's content.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write_dataset(ds: Dataset, folder: str | os.PathLike, *, fmt: str, dialect: str = "machine") -> list[Path]:
    """Write a dataset's files into ``folder`` (atomically, all or none); return their paths."""
    folder = Path(folder).expanduser()
    files = dataset_files(ds, fmt=fmt, dialect=dialect)
    targets = [(folder / name, data) for name, data in files.items()]
    _write_all(targets)
    return [t for t, _ in targets]


# ---------------------------------------------------------------- GeoPackage
def _geometry_kind(table: pd.DataFrame) -> str:
    if not _spatial(table) or not len(table):
        return "none" if not _spatial(table) else "polygon"
    types = shapely.get_type_id(table.geometry.to_numpy())
    return "point" if np.isin(types[types >= 0], (0, 4)).all() else "polygon"


def gpkg_bytes(layers: dict[str, pd.DataFrame], meta: dict) -> bytes:
    """A GeoPackage holding ``layers`` (an equal-area copy of ``poles``), the provenance in
    ``metadata`` and a default style for every layer in ``layer_styles``."""
    with tempfile.TemporaryDirectory(prefix="ptce_export_") as tmp:
        path = Path(tmp) / "export.gpkg"
        written: list[tuple[str, pd.DataFrame, str]] = []

        def write(df, name, **kw):
            df = _flat(df)
            pyogrio.write_dataframe(df, path, layer=name, driver="GPKG", **kw)
            written.append((name, df, _geometry_kind(df)))

        for name, table in layers.items():
            if not _spatial(table):
                write(pd.DataFrame(table), name)
                continue
            if len(table):
                polygonal = shapely.get_type_id(table.geometry.to_numpy())
                kw = {"promote_to_multi": bool(np.isin(polygonal, (3, 6)).all())}
            else:  # an empty layer, still spatial for QGIS, of the type its rows would have
                kw = {"geometry_type": "Point" if name == "seats" else "MultiPolygon"}
            if name == "poles":
                kw["metadata"] = {"ptce_geo_provenance": json.dumps(meta)}
            write(table, name, **kw)
            if name == "poles" and len(table):
                zones = zone_of(table.geometry.to_numpy())
                for zone in ZONES:
                    sel = zones == zone
                    if sel.any():
                        copy = table[sel].to_crs(equal_area_crs(zone))
                        write(copy, "poles_epsg3035" if zone == "metro" else f"poles_laea_{zone}",
                              promote_to_multi=True)
        rows = [(k, json.dumps(_json_value(v), ensure_ascii=False)) for k, v in meta.items()]
        write(pd.DataFrame(rows, columns=["key", "value"]), "metadata")
        _write_styles(path, written)
        return path.read_bytes()


def _write_styles(path: Path, written: list[tuple[str, pd.DataFrame, str]]) -> None:
    """The ``layer_styles`` table: one default style per layer (QML and SLD), as QGIS writes it."""
    now = pd.Timestamp.now(tz="UTC").floor("s")
    records = []
    for name, df, geometry in written:
        values = list(zip(df["unit_code"], df["unit_name"])) if {"unit_code", "unit_name"} <= set(df) else None
        style = style_for(name, [c for c in df.columns if c != "geometry"], geometry=geometry, values=values)
        records.append({
            "f_table_catalog": "", "f_table_schema": "", "f_table_name": name,
            "f_geometry_column": "geom" if geometry != "none" else "",
            "styleName": name, "styleQML": qml(style), "styleSLD": sld(style, name), "useAsDefault": True,
            "description": f"ptce_geo: style par défaut de la couche {name}", "owner": "", "ui": "",
            "update_time": now,
        })
    table = pd.DataFrame(records, columns=list(LAYER_STYLES_COLUMNS))
    pyogrio.write_dataframe(table, path, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"})


# ---------------------------------------------------------------- the export command
def _export_dataset(card: Scorecard, ids: list[str]) -> Dataset:
    levels = [lid for lid in ids if card.catalogue[lid].kind == "partition"]
    zones = [lid for lid in ids if card.catalogue[lid].kind == "zones"]
    return poles_dataset(card, levels=levels, zones=zones)


def export_files(
    perimeters: gpd.GeoDataFrame, *, fmt: str, stem: str = "ptce-export", layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01, dialect: str = "machine",
) -> dict[str, bytes]:
    """Build an export in memory: file name → content (see the module docstring).

    Parameters
    ----------
    perimeters : Scorecard or geopandas.GeoDataFrame
        A Scorecard, or perimeters as returned by
        :func:`ptce_geo.perimeters.read_perimeters` (a Scorecard is then built with
        ``threshold``, ``weight`` and ``tolerance``).
    fmt : {"geojson", "gpkg", "csv"}
    stem : str
        File names: ``<stem>.<ext>``, ``<stem>-<layer>.<ext>``, ``<stem>.<ext>.provenance.json``.
    layers : list of str, optional
        Layer ids whose pieces or overlaps are added.
    catalogue, threshold, weight
        Used only when ``perimeters`` is not a Scorecard.
    tolerance : float
        Relation tolerance of the overlaps (zones layers).
    dialect : {"machine", "fr"}
        The CSV dialect.

    The GeoPackage holds every layer (poles, equal-area copies, seats, scorecard,
    ``pieces_<layer>``, ``overlaps_<layer>``, metadata, styles); GeoJSON and CSV hold the
    poles and the layers asked for.
    """
    card = _scorecard(perimeters, catalogue=catalogue, threshold=threshold, weight=weight, tolerance=tolerance)
    ids = _check(fmt, layers, card.catalogue)
    _check_dialect(dialect)
    ds = _export_dataset(card, ids)
    main = f"{stem}.{fmt}"
    if fmt == "gpkg":
        meta = _dataset_meta(ds, fmt, {name: main for name in ds.layers})
        return {main: gpkg_bytes(ds.layers, meta)}
    names = {"poles": main}
    names.update({name: f"{stem}-{name.split('_', 1)[1]}.{fmt}" for name in ds.layers
                  if name.startswith(("pieces_", "overlaps_"))})
    meta = _dataset_meta(ds, fmt, names, dialect if fmt == "csv" else None)
    out: dict[str, bytes] = {}
    for key, fname in names.items():
        table = ds.layers[key]
        if fmt == "geojson":
            out[fname] = geojson_bytes(table, members={"ptce_geo_provenance": meta})  # each file says where it comes from
        else:
            out[fname] = csv_bytes(table, dialect=dialect, table=ds.kinds.get(key, ""))
    out[main + PROVENANCE_SUFFIX] = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
    return out


def export(
    perimeters: gpd.GeoDataFrame, *, fmt: str, output: str | os.PathLike, layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01, dialect: str = "machine", inputs: tuple = (),
) -> Path:
    """Write an export to ``output`` (and the files beside it; see the module docstring).

    ``inputs`` names the files the export was made from (the poles file…): no file of
    the export may be one of them. :func:`write_export` does the same and returns every
    file written.

    Returns
    -------
    pathlib.Path
        ``output``.
    """
    return write_export(perimeters, fmt=fmt, output=output, layers=layers, catalogue=catalogue,
                        threshold=threshold, weight=weight, tolerance=tolerance, dialect=dialect, inputs=inputs)[0]


def write_export(
    perimeters: gpd.GeoDataFrame, *, fmt: str, output: str | os.PathLike, layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01, dialect: str = "machine", inputs: tuple = (),
) -> list[Path]:
    """:func:`export`, returning every file written: ``output`` first, then the layers' files
    beside it and the provenance sidecar."""
    output = Path(output).expanduser()
    check_output(output, inputs=inputs, what="--output")  # before any computation
    stem = output.name[: -len(f".{fmt}")] if output.name.lower().endswith(f".{fmt}") else output.stem
    files = export_files(perimeters, fmt=fmt, stem=stem or "ptce-export", layers=layers, catalogue=catalogue,
                         threshold=threshold, weight=weight, tolerance=tolerance, dialect=dialect)
    main = f"{stem}.{fmt}"
    targets = []
    for name, data in files.items():
        if name == main:
            target = output
        elif name.startswith(main):  # the provenance sidecar
            target = output.with_name(output.name + name[len(main):])
        else:  # a layer file
            target = output.with_name(name)
        targets.append((target, data))
    _write_all(targets, inputs=inputs)
    return [output] + [t for t, _ in targets if t != output]


def _write_all(targets: list[tuple[Path, bytes]], *, inputs: tuple = ()) -> None:
    """Write every file atomically as one step (see :func:`_integrity.atomic_write_files`)."""
    try:
        atomic_write_files(targets, inputs=inputs, what="--output")
    except OSError as exc:
        name = exc.filename or (targets[0][0] if targets else "")
        raise InvalidInput(f"cannot write {name} ({exc.strerror or exc}): free some space or choose a folder you "
                           "can write to; the previous files are unchanged.",
                           fr=f"Impossible d'écrire {Path(str(name)).name} ({exc.strerror or exc}) : libérez de la "
                           "place ou choisissez un autre dossier.") from None
    for target, _ in targets:
        logger.info("wrote %s", target)


def _stem(filename: str) -> str:
    stem = Path(filename).stem if Path(filename).suffix.lower() in (".zip", ".gpkg", ".geojson", ".csv") \
        else Path(filename).name
    return stem or "ptce-export"


def export_name(fmt: str, *, filename: str = "ptce-export") -> tuple[str, str]:
    """``(file name, MIME type)`` of what :func:`export_bytes` returns, without computing it.

    For a download written only when clicked, whose name must be known before.
    """
    stem = _stem(filename)
    return (f"{stem}.gpkg", MIME["gpkg"]) if fmt == "gpkg" else (f"{stem}-{fmt}.zip", MIME["zip"])


def export_bytes(
    perimeters: gpd.GeoDataFrame, *, fmt: str, filename: str = "ptce-export", layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01, dialect: str = "machine",
) -> tuple[bytes, str, str]:
    """An export as one download: ``(content, file name, MIME type)``.

    A GeoPackage is one file (provenance inside); GeoJSON and CSV exports are zipped
    with their layer files and provenance.
    """
    files = export_files(perimeters, fmt=fmt, stem=_stem(filename), layers=layers, catalogue=catalogue,
                         threshold=threshold, weight=weight, tolerance=tolerance, dialect=dialect)
    name, mime = export_name(fmt, filename=filename)
    if fmt == "gpkg":
        (data,) = files.values()  # the one file, named ``<stem>.gpkg``
        return data, name, mime
    return _zip_bytes(files), name, mime
