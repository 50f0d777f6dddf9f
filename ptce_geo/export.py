"""Exports for QGIS and reports: the poles with their scorecard, pieces and overlaps.

One export holds:

* the poles, with their scorecard (:attr:`ptce_geo.scorecard.Scorecard.summary`) as
  properties;
* for each layer asked for, its pieces (``partition`` layers: one row per pole and unit,
  with ``share_of_pole``, ``share_of_unit``, ``iou``, ``kept``) or its overlaps
  (``zones`` layers: :data:`ptce_geo.zones.OVERLAP_COLUMNS`);
* its provenance: layer vintages, sources and licences from the catalogue, threshold,
  weighting, ptce_geo version and date.

Formats:

``geojson``
    ``OUTPUT`` holds the poles; each layer goes to ``<stem>-<layer>.geojson`` beside
    it; the provenance to ``OUTPUT.provenance.json``. RFC 7946: WGS84 longitude/latitude,
    exterior rings counter-clockwise and holes clockwise, no ``crs`` member, 6 decimals
    (about 0.1 m).
``gpkg``
    One GeoPackage: layer ``poles`` (EPSG:4326), an equal-area copy for analysis in
    QGIS (``poles_epsg3035`` for mainland France and Corsica, ``poles_laea_<dep>`` for
    each overseas département: planar areas measured there agree with the ``area_km2``
    of the scorecard to about 1e-5), ``<layer>_pieces`` / ``<layer>_overlaps``, and a
    ``metadata`` table (``key``, ``value``; values JSON) holding the provenance, also
    kept as the ``ptce_geo_provenance`` metadata item of the ``poles`` layer.
``csv``
    ``OUTPUT`` holds the poles' scorecard; each layer goes to ``<stem>-<layer>.csv``;
    the provenance to ``OUTPUT.provenance.json``. No geometry. A text cell starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``,
    and so does every piece of a cell after a separator a spreadsheet may split on
    (``,`` ``;`` tab ``|``) (:func:`csv_safe`), so that a spreadsheet shows it as text
    and never runs it as a formula (CSV injection); numbers are written as they are.

Every file is built in memory first, then all are written to temporary files beside
their targets (flushed and fsynced) and only then renamed onto them: a failure while
writing (a full disk, a crash) leaves every previous file as it was. No target may be a
symbolic link, a device, a FIFO or one of the command's own inputs
(:func:`ptce_geo._integrity.check_output`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ._integrity import atomic_write_files, check_output
from .catalogue import Catalogue
from .errors import InvalidInput
from .geometry import orient_ccw, round_coords
from .options import DEFAULT_THRESHOLD, Options
from .projection import ZONES, equal_area_crs, zone_of
from .scorecard import Scorecard
from .textsafe import csv_neutralise

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "MIME", "export", "export_files", "export_bytes", "geojson_bytes", "provenance",
           "poles_table", "layer_table", "csv_safe"]

FORMATS = ("geojson", "gpkg", "csv")
MIME = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3", "csv": "text/csv",
        "zip": "application/zip", "json": "application/json"}
PROVENANCE_SUFFIX = ".provenance.json"


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


def _scorecard(source, *, catalogue: Catalogue | None, threshold: float, weight: str | None,
               tolerance: float) -> Scorecard:
    """A Scorecard: ``source`` itself, or one built from perimeters with these options."""
    if isinstance(source, Scorecard):
        return source
    return Scorecard(source, catalogue=catalogue,
                     options=Options(threshold=threshold, weight=weight or "area", tolerance=tolerance))


def poles_table(card: Scorecard) -> gpd.GeoDataFrame:
    """The poles with their scorecard as columns (EPSG:4326).

    Columns ``id``, ``nom``, ``definition``, ``communes`` (INSEE codes ``;``-joined for
    poles given by codes), then the columns of :attr:`Scorecard.summary` but ``pole_id``
    and ``nom``, and ``geometry``.
    """
    perimeters = card.perimeters
    summary = card.summary.drop(columns=["nom"]).set_index("pole_id").reindex(perimeters["id"].to_numpy())
    base = pd.DataFrame({
        "id": perimeters["id"].to_numpy(),
        "nom": perimeters["nom"].to_numpy() if "nom" in perimeters else perimeters["id"].to_numpy(),
        "definition": perimeters["definition"].to_numpy() if "definition" in perimeters else "geometry",
        "communes": [";".join(c) if c else None for c in perimeters["communes"]]
        if "communes" in perimeters else None,
    })
    table = pd.concat([base, summary.reset_index(drop=True)], axis=1)
    return gpd.GeoDataFrame(table, geometry=perimeters.geometry.to_numpy(), crs="EPSG:4326")


def layer_table(card: Scorecard, layer_id: str) -> gpd.GeoDataFrame:
    """The pieces (partition layer) or overlaps (zones layer) of one layer, with geometry."""
    spec = card.catalogue[layer_id]
    if spec.kind == "zones":
        return card.zones(layer_id).pieces
    p = card.shares(layer_id)
    cols = {"pole_id": p["pole_id"], "unit_code": p["unit_code"], "unit_name": p["unit_name"],
            "area_km2": p["area_m2"] / 1e6, "unit_area_km2": p["unit_area_m2"] / 1e6,
            "share_of_pole": p["share_of_pole"], "share_of_unit": p["share_of_unit"], "iou": p["iou"],
            "kept": p["kept"]}
    if card.overlay(layer_id).weight == "population":
        for extra in ("population", "unit_population"):
            cols[extra] = p[extra]
    return gpd.GeoDataFrame(pd.DataFrame(cols).reset_index(drop=True), geometry=p.geometry.to_numpy(),
                            crs="EPSG:4326")


def layer_status_note(spec) -> dict:
    """The status of a layer for a provenance record: ``status``, ``period`` and, for a
    historical layer, the French ``notice`` saying it is history and what replaced it."""
    note = {"status": spec.status, "period": spec.period or None}
    if spec.historical:
        note["notice"] = spec.notice
    return note


def provenance(catalogue: Catalogue, layer_ids: list[str], *, fmt: str, threshold: float,
               weight: str | None, tolerance: float, n_poles: int, files: dict[str, str]) -> dict:
    """What an export was made from: a JSON-ready dict."""
    from . import __version__

    used = list(dict.fromkeys(catalogue.ids(kind="partition") + (["qpv"] if "qpv" in catalogue.layers else [])
                              + layer_ids))
    layers = []
    for lid in used:
        spec = catalogue[lid]
        layers.append({"id": spec.id, "title": spec.title, "kind": spec.kind, "vintage": spec.vintage,
                       "licence": spec.licence, "attribution": spec.attribution,
                       "source": spec.source.location if spec.source else None,
                       "sha256": spec.source.sha256 if spec.source else None, **layer_status_note(spec)})
    return {
        "generator": "ptce_geo", "version": __version__,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "format": fmt, "threshold": threshold, "weighting": weight or "area", "tolerance": tolerance,
        "catalogue": {"name": catalogue.name, "file": catalogue.path.name},
        "poles": n_poles, "layers": layers, "files": files,
        "measures": "areas exact on the WGS84 ellipsoid (cylindrical equal-area, lon/lat edges); "
                    "lengths geodesic (WGS84)",
        "coordinates": "EPSG:4326 longitude/latitude" + (" (RFC 7946, 6 decimals)" if fmt == "geojson" else ""),
    }


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
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _rfc7946(geoms: np.ndarray, decimals: int) -> np.ndarray:
    """Rounded to ``decimals`` (clean short decimals), exteriors counter-clockwise."""
    arr = orient_ccw(round_coords(geoms, decimals))
    return shapely.transform(arr, lambda xy: np.round(xy, decimals))


def geojson_bytes(gdf: gpd.GeoDataFrame, *, decimals: int = 6) -> bytes:
    """A GeoDataFrame as RFC 7946 GeoJSON (WGS84, CCW exteriors, no ``crs``, rounded).

    Non-finite numbers become ``null``; every other column is a property.
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
    doc = {"type": "FeatureCollection", "features": feats}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _flat(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(gdf.drop(columns=[c for c in ("geometry", "properties") if c in gdf]))


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


def _gpkg(tables: dict[str, gpd.GeoDataFrame], poles: gpd.GeoDataFrame, meta: dict) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ptce_export_") as tmp:
        path = Path(tmp) / "export.gpkg"

        def write(df, name, **kw):
            df = df.drop(columns=[c for c in ("properties",) if c in df])
            pyogrio.write_dataframe(df, path, layer=name, driver="GPKG", **kw)

        write(poles, "poles", promote_to_multi=True, metadata={"ptce_geo_provenance": json.dumps(meta)})
        zones = zone_of(poles.geometry.to_numpy())
        for zone in ZONES:
            sel = zones == zone
            if sel.any():
                name = "poles_epsg3035" if zone == "metro" else f"poles_laea_{zone}"
                write(poles[sel].to_crs(equal_area_crs(zone)), name, promote_to_multi=True)
        for name, table in tables.items():
            if len(table):
                polygonal = shapely.get_type_id(table.geometry.to_numpy())
                write(table, name, promote_to_multi=bool(np.isin(polygonal, (3, 6)).all()))
            else:  # an empty layer, still spatial for QGIS
                write(table, name, geometry_type="Unknown")
        rows = [(k, json.dumps(v, ensure_ascii=False)) for k, v in meta.items()]
        write(pd.DataFrame(rows, columns=["key", "value"]), "metadata")
        return path.read_bytes()


def export_files(
    perimeters: gpd.GeoDataFrame, *, fmt: str, stem: str = "ptce-export", layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01,
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
    """
    card = _scorecard(perimeters, catalogue=catalogue, threshold=threshold, weight=weight, tolerance=tolerance)
    catalogue = card.catalogue
    threshold, weight, tolerance = card.options.threshold, card.options.weight, card.options.tolerance
    ids = _check(fmt, layers, catalogue)
    poles = poles_table(card)
    tables = {}
    for lid in ids:
        kind = catalogue[lid].kind
        tables[f"{lid}_{'overlaps' if kind == 'zones' else 'pieces'}"] = layer_table(card, lid)
    main = f"{stem}.{fmt}"
    names = {"poles": main}
    if fmt == "gpkg":
        names.update({name: main for name in tables})
    else:
        names.update({name: f"{stem}-{name.rsplit('_', 1)[0]}.{fmt}" for name in tables})
    meta = provenance(catalogue, ids, fmt=fmt, threshold=threshold, weight=weight, tolerance=tolerance,
                      n_poles=len(card.perimeters), files=names)
    if fmt == "gpkg":
        return {main: _gpkg(tables, poles, meta)}
    out: dict[str, bytes] = {}
    for key, table in [("poles", poles), *tables.items()]:
        if fmt == "geojson":
            out[names[key]] = geojson_bytes(table)
        else:
            out[names[key]] = csv_safe(_flat(table)).to_csv(index=False, lineterminator="\n").encode("utf-8")
    out[main + PROVENANCE_SUFFIX] = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
    return out


def export(
    perimeters: gpd.GeoDataFrame, *, fmt: str, output: str | os.PathLike, layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01, inputs: tuple = (),
) -> Path:
    """Write an export to ``output`` (and the files beside it; see the module docstring).

    ``inputs`` names the files the export was made from (the poles file…): no file of
    the export may be one of them.

    Returns
    -------
    pathlib.Path
        ``output``.
    """
    output = Path(output).expanduser()
    check_output(output, inputs=inputs, what="--output")  # before any computation
    stem = output.name[: -len(f".{fmt}")] if output.name.lower().endswith(f".{fmt}") else output.stem
    files = export_files(perimeters, fmt=fmt, stem=stem or "ptce-export", layers=layers, catalogue=catalogue,
                         threshold=threshold, weight=weight, tolerance=tolerance)
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
    return output


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


def export_bytes(
    perimeters: gpd.GeoDataFrame, *, fmt: str, filename: str = "ptce-export", layers: list[str] | None = None,
    catalogue: Catalogue | None = None, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    tolerance: float = 0.01,
) -> tuple[bytes, str, str]:
    """An export as one download: ``(content, file name, MIME type)``.

    A GeoPackage is one file (provenance inside); GeoJSON and CSV exports are zipped
    with their layer files and provenance.
    """
    stem = Path(filename).stem if Path(filename).suffix.lower() in (".zip", ".gpkg", ".geojson", ".csv") \
        else Path(filename).name
    files = export_files(perimeters, fmt=fmt, stem=stem or "ptce-export", layers=layers, catalogue=catalogue,
                         threshold=threshold, weight=weight, tolerance=tolerance)
    if fmt == "gpkg":
        (name, data), = files.items()
        return data, name, MIME["gpkg"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue(), f"{stem}-{fmt}.zip", MIME["zip"]
