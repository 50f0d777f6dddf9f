"""Read perimeter files (the poles, uploads, drawings) into one GeoDataFrame.

The perimeter format is a GeoJSON FeatureCollection. Each feature has a unique text
property ``id``. Its perimeter is given either by codes — properties ``communes`` (INSEE
codes), ``epci`` (SIREN) and/or ``departements``, the perimeter being the union of those
communes — or, when it has no codes, by its Polygon/MultiPolygon geometry in WGS84.
When a feature has both, the codes define it and the geometry is their union.

A feature may also list QPV (quartiers prioritaires) in ``qpv``: its perimeter is then the
union of those QPV's outlines (and of the communes its other codes give), read from the
catalogue's QPV layers (``qpv``, then any ``qpv_…`` layer, e.g. another generation of the
list). QPV cut across communes, so such a perimeter is geometric (``definition`` is
``"geometry"``): the engine measures it by its outline, not by sums of communes.

A CSV list of poles (columns ``id``, ``nom``, any of ``communes``, ``epci``,
``departements``, ``qpv`` as ``;``-separated codes, free attributes) is read too: see
:mod:`ptce_geo.polelist`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from .catalogue import Catalogue, load_catalogue
from .checks import (CODE_KEYS, PERIMETER_KEYS, QPV_KEY, SEAT_KEYS, Problem, by_feature, code_problems,
                     coordinate_problem, crs_problem, feature_label, qpv_problems, seat_problem, structure_problems)
from .errors import InvalidPerimeter
from ._integrity import read_regular_file
from .geometry import polygonal_part, repair_polygonal
from .layers import commune_membership, load_layer
from .textsafe import normalise_id

logger = logging.getLogger(__name__)

__all__ = ["parse_json", "check_perimeters", "read_perimeters", "union_of_communes", "expand_codes",
           "qpv_layer_ids", "qpv_outlines"]

#: refuse perimeter files larger than this (bytes)
MAX_FILE_BYTES = 64 * 1024**2


def parse_json(source: str | os.PathLike | bytes | dict, *, where: str = "perimeter file") -> Any:
    """Load a GeoJSON document from a path, bytes or an already parsed dict.

    A path must name a regular file of at most :data:`MAX_FILE_BYTES` bytes (checked
    while reading: a device or a FIFO is refused). The document must be a JSON object
    or array: a document that is a string, a number or ``null`` is refused here, so that
    parsed data is never taken for a path or a size later.

    Raises
    ------
    InvalidPerimeter
        When the file cannot be read, is not JSON, or is not an object or array.
    """
    if isinstance(source, (dict, list)):
        return source  # already parsed
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        raw = read_regular_file(path, max_bytes=MAX_FILE_BYTES, what="", error=InvalidPerimeter)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        if len(raw) > MAX_FILE_BYTES:
            raise InvalidPerimeter(f"{where}: larger than {MAX_FILE_BYTES // 2**20} MB: simplify it first.",
                                   fr=f"Fichier trop gros (plus de {MAX_FILE_BYTES // 2**20} Mo).")
    else:
        raise InvalidPerimeter(f"{where}: a {type(source).__name__} is not a perimeter file: give a path, bytes "
                               "or a parsed GeoJSON object.",
                               fr="Ce n'est pas un fichier de périmètres : donnez un chemin ou un GeoJSON.")
    try:
        doc = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InvalidPerimeter(f"{where}: is not UTF-8 text: save it as UTF-8 GeoJSON.",
                               fr="Le fichier n'est pas du texte UTF-8 : enregistrez-le en GeoJSON UTF-8.") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidPerimeter(f"{where}: is not valid JSON ({str(exc)[:120]}): fix the syntax or re-export it.",
                               fr="Le fichier n'est pas un JSON valide : corrigez-le ou exportez-le de nouveau.") from None
    if not isinstance(doc, (dict, list)):
        kind = "null" if doc is None else {str: "a string", bool: "a boolean"}.get(type(doc), "a number")
        raise InvalidPerimeter(f"{where}: the JSON document is {kind}, not a GeoJSON FeatureCollection: write "
                               '{"type": "FeatureCollection", "features": [...]}.',
                               fr="Le document JSON n'est pas une FeatureCollection GeoJSON.")
    return doc


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _declared_crs(data: dict) -> CRS | None:
    member = data.get("crs")
    if not isinstance(member, dict):
        return None
    props = member.get("properties")
    name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(name, str):
        return None
    try:
        crs = CRS.from_user_input(name)
        Transformer.from_crs(crs, "EPSG:4326", always_xy=True)  # another body than the Earth: none
    except (CRSError, ProjError):
        return None  # crs_problem reports it
    return None if crs.equals("EPSG:4326") or crs.equals("OGC:CRS84") else crs


def _shape(geom: dict, label: str, transformer: Transformer | None) -> tuple[Any, Problem | None]:
    try:
        shp = shapely.geometry.shape(geom)
    except Exception as exc:  # malformed nesting, strings as numbers…
        return None, Problem(label, f"its geometry coordinates are malformed ({exc.__class__.__name__})",
                             "give [longitude, latitude] number pairs in closed rings")
    if transformer is not None:
        shp = shapely.transform(shp, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    return shp, coordinate_problem(label, shapely.get_coordinates(shp))


def expand_codes(props: dict, communes: gpd.GeoDataFrame, catalogue: Catalogue, *,
                 membership: pd.DataFrame | None = None) -> list[str]:
    """Sorted commune codes of a perimeter given by ``communes``/``epci``/``departements``.

    ``membership`` (the EPCI's ``commune_membership``) may be passed by a caller expanding
    many perimeters, so that it is built once.
    """
    codes = set(props.get("communes") or [])
    if props.get("epci"):
        members = membership if membership is not None else commune_membership("epci", catalogue=catalogue)
        codes |= set(members.loc[members["code"].isin(props["epci"]), "commune"])
    if props.get("departements"):
        codes |= set(communes.loc[communes["dep"].isin(props["departements"]), "code"])
    return sorted(communes.loc[communes["code"].isin(list(codes)), "code"])


def union_of_communes(codes: list[str], communes: gpd.GeoDataFrame) -> shapely.Geometry:
    """Exact union of communes (they share their borders: a coverage union)."""
    geoms = communes.set_index("code").loc[codes].geometry.to_numpy()
    union = shapely.coverage_union_all(geoms)
    if not union.is_valid:
        union = shapely.union_all(geoms)
    return union


def qpv_layer_ids(catalogue: Catalogue) -> list[str]:
    """The catalogue's QPV layers: ``qpv`` first, then any ``qpv_…`` zones layer, in catalogue order."""
    ids = [lid for lid in catalogue.ids(kind="zones") if lid == "qpv" or lid.startswith("qpv_")]
    return sorted(ids, key=lambda lid: lid != "qpv")


def qpv_outlines(codes: list[str] | set[str], *, catalogue: Catalogue) -> gpd.GeoDataFrame:
    """Outlines of QPV given by their codes, from the catalogue's QPV layers.

    The layers are searched in the order of :func:`qpv_layer_ids`; the next one is
    loaded only while codes remain unfound (a 2015-list code is found in a ``qpv_2015``
    layer when ``qpv`` holds the 2024 list).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per code found: ``code``, ``nom``, ``layer``, ``vintage``, ``geometry``
        (EPSG:4326). Codes found nowhere are absent.
    """
    wanted = set(codes)
    frames = []
    for lid in qpv_layer_ids(catalogue):
        if not wanted:
            break
        table = load_layer(lid, catalogue=catalogue)
        hit = table[table["code"].isin(wanted)]
        if len(hit):
            frames.append(gpd.GeoDataFrame({"code": hit["code"].to_numpy(), "nom": hit["nom"].to_numpy(),
                                            "layer": lid, "vintage": catalogue[lid].vintage},
                                           geometry=hit.geometry.to_numpy(), crs="EPSG:4326"))
            wanted -= set(hit["code"])
    if not frames:
        return gpd.GeoDataFrame({"code": [], "nom": [], "layer": [], "vintage": []}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")


def _qpv_known(data: dict, catalogue: Catalogue) -> tuple[set[str], str]:
    """Codes of the file's ``qpv`` lists that the catalogue knows, and words naming the layers searched."""
    wanted = {c for f in data["features"] if isinstance(f, dict) and isinstance(f.get("properties"), dict)
              for c in (f["properties"].get(QPV_KEY) or []) if isinstance(c, str)}
    wanted |= {c.strip().upper() for c in wanted}  # to recognise a code written in lower case
    ids = qpv_layer_ids(catalogue)
    lists = ", ".join(f"'{lid}' ({catalogue[lid].vintage})" for lid in ids) or "none: the catalogue has no QPV layer"
    found = set(qpv_outlines(wanted, catalogue=catalogue)["code"]) if ids else set()
    if ids and found != wanted:  # a sample of every layer's codes tells the generation of the list it holds
        for lid in ids:
            found |= set(load_layer(lid, catalogue=catalogue)["code"].head(50))
    return found, lists


def qpv_perimeter(props: dict, *, catalogue: Catalogue, communes: gpd.GeoDataFrame | None = None,
                  membership: pd.DataFrame | None = None) -> shapely.Geometry:
    """The geometry of a perimeter with a ``qpv`` list: the union of the QPV outlines and of its communes."""
    codes = list(props.get(QPV_KEY) or [])
    outlines = qpv_outlines(codes, catalogue=catalogue)
    missing = sorted(set(codes) - set(outlines["code"]))
    if missing:
        raise InvalidPerimeter(f"QPV {', '.join(missing)} are in no QPV layer of the catalogue: check the codes "
                               "(`ptce-geo poles check FILE`).",
                               fr=f"QPV inconnus du catalogue : {', '.join(missing)}.")
    parts = list(outlines.geometry.to_numpy())
    if any(props.get(k) for k in CODE_KEYS):
        communes = communes if communes is not None else load_layer("communes", catalogue=catalogue)
        codes_c = expand_codes(props, communes, catalogue, membership=membership)
        if codes_c:
            parts.append(union_of_communes(codes_c, communes))
    geom = shapely.union_all(np.array(parts, dtype=object))
    return geom if geom.is_valid else shapely.make_valid(geom)


def _qpv_fallback_ok(codes: list[str]) -> bool:
    """True when every code is well formed (a QPV code of some generation of the list)."""
    import re

    return all(re.fullmatch(r"Q[A-Z][0-9A-Z]{6}", c) for c in codes)


def _geometry_vs_qpv(label: str, shp: Any, props: dict, communes: gpd.GeoDataFrame,
                     catalogue: Catalogue) -> Problem | None:
    """Warn when a QPV feature's stored geometry is not the union of its QPV (and communes)."""
    try:
        union = qpv_perimeter(props, catalogue=catalogue, communes=communes)
        geom = shp if shp.is_valid else shapely.make_valid(shp)
        share = shapely.area(shapely.symmetric_difference(geom, union)) / max(shapely.area(union), 1e-300)
    except (InvalidPerimeter, shapely.errors.GEOSException):
        return None
    if share <= 1e-4:
        return None
    return Problem(label, f"its geometry differs from the union of its QPV outlines and communes ({share:.2%} of "
                   "the area); the codes define the perimeter",
                   "run `ptce-geo poles build` to redraw the geometry from the codes", severity="warning")


def _csv_collection(source: Any, catalogue: Catalogue | None, *, codes: bool = True) -> tuple[dict, list[Problem]]:
    """A CSV list of poles as a FeatureCollection of its usable rows, and the problems of the others."""
    from .polelist import read_poles_csv

    result = read_poles_csv(source, catalogue=catalogue, check_codes=codes)
    return result.collection, [p.as_problem() for p in result.report]


def check_perimeters(
    source: str | os.PathLike | bytes | dict, *, catalogue: Catalogue | None = None, codes: bool = True,
    compare_geometry: bool = True, coverage: bool = False,
) -> list[Problem]:
    """List every problem of a perimeter file (structure, geometry, coordinates, codes).

    Parameters
    ----------
    source : path, bytes or dict
    catalogue : Catalogue, optional
        Where the communes layer comes from (to check codes).
    codes : bool
        Check codes against the loaded layers (needs the boundary data).
    compare_geometry : bool
        When a feature has both codes and a geometry, warn if the geometry is not the
        union of its communes (a stale file: ``ptce-geo poles build`` redraws it).
    coverage : bool
        Warn about a perimeter drawn where it touches no commune (outside France, at
        sea): every figure of it would be zero (needs the communes layer).
    """
    from .polelist import is_csv_source

    csv_problems: list[Problem] = []
    try:
        if is_csv_source(source):
            data, csv_problems = _csv_collection(source, catalogue, codes=codes)
        else:
            data = parse_json(source)
    except InvalidPerimeter as exc:
        return [Problem("file", str(exc).rstrip("."), "")]
    if csv_problems:
        return csv_problems + [p for p in check_perimeters(data, catalogue=catalogue, codes=codes,
                                                           compare_geometry=compare_geometry) if p.feature != "file"]
    problems = structure_problems(data)
    if any(p.feature == "file" for p in problems):
        return problems
    bad_crs = crs_problem(data)
    if bad_crs is not None:
        problems.append(bad_crs)
    crs = _declared_crs(data)
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True) if crs is not None else None
    communes = epci = None
    cat = None
    qpv_known: tuple[set[str], str] | None = None
    for i, feat in enumerate(data["features"]):
        if not isinstance(feat, dict):
            continue
        props = feat.get("properties") if isinstance(feat.get("properties"), dict) else {}
        label = feature_label(i, props.get("id", feat.get("id")))
        geom = feat.get("geometry")
        shp = None
        if isinstance(geom, dict) and geom.get("type") in ("Polygon", "MultiPolygon"):
            shp, problem = _shape(geom, label, tr)
            if problem:
                problems.append(problem)
                shp = None
            elif shp is not None and not shp.is_valid:
                problems.append(Problem(label, f"its geometry is invalid ({shapely.is_valid_reason(shp)})",
                                        "it is repaired with make_valid on reading; fix it at the source",
                                        severity="warning"))
        has_codes = any(isinstance(props.get(k), list) and props.get(k) for k in PERIMETER_KEYS)
        has_seat = any(props.get(k) is not None for k in SEAT_KEYS)
        if coverage and codes and shp is not None and not has_codes:
            if communes is None:
                cat, communes, epci = _communes_and_epci(catalogue)
            problem = _touches_nothing(label, shp, communes)
            if problem is not None:
                problems.append(problem)
        if not codes or not (has_codes or has_seat):
            continue
        if communes is None:
            cat, communes, epci = _communes_and_epci(catalogue)
        seat = seat_problem(label, props, communes)
        if seat is not None:
            problems.append(seat)
        if has_codes and all(isinstance(props.get(k) or [], list) for k in CODE_KEYS):
            clean = {k: [c for c in (props.get(k) or []) if isinstance(c, str)] for k in CODE_KEYS}
            found = code_problems(label, clean, communes, epci, geometry=shp)
            problems.extend(found)
            qpv = props.get(QPV_KEY)
            if isinstance(qpv, list) and qpv and all(isinstance(c, str) for c in qpv):
                if qpv_known is None:
                    qpv_known = _qpv_known(data, cat)
                unknown_qpv = qpv_problems(label, qpv, qpv_known[0], communes=set(communes["code"]),
                                           lists=qpv_known[1])
                if unknown_qpv and shp is not None and _qpv_fallback_ok(qpv):
                    # another generation of the list than the catalogue holds: the stored outline stands in
                    unknown_qpv = [Problem(p.feature, p.message + "; the feature's own geometry (the outline "
                                           "stored when the file was built) is used instead", p.fix,
                                           severity="warning") for p in unknown_qpv]
                problems.extend(unknown_qpv)
                found = found + unknown_qpv
                if compare_geometry and shp is not None and not found:
                    problem = _geometry_vs_qpv(label, shp, {**clean, QPV_KEY: qpv}, communes, cat)
                    if problem is not None:
                        problems.append(problem)
            elif compare_geometry and shp is not None and not found:
                problem = _geometry_vs_codes(label, shp, clean, communes, cat)
                if problem is not None:
                    problems.append(problem)
    return by_feature(problems)


def _communes_and_epci(catalogue: Catalogue | None) -> tuple[Catalogue, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The catalogue and its communes and EPCI layers, as :func:`check_perimeters` checks codes against.

    Parameters
    ----------
    catalogue : Catalogue, optional
        Where the layers come from (``None``: :func:`~ptce_geo.catalogue.load_catalogue`).

    Returns
    -------
    (Catalogue, geopandas.GeoDataFrame, geopandas.GeoDataFrame)
        The catalogue used, the communes layer, the EPCI layer.
    """
    cat = catalogue or load_catalogue()
    # the tables this process holds (read only here): the checks' code sets are computed once per table
    return cat, load_layer("communes", catalogue=cat, shared=True), load_layer("epci", catalogue=cat, shared=True)


def _touches_nothing(label: str, shp: Any, communes: gpd.GeoDataFrame) -> Problem | None:
    """Warn when a drawn perimeter touches no commune: outside France, or at sea."""
    try:
        geom = shp if shp.is_valid else shapely.make_valid(shp)
        if len(communes.sindex.query(geom, predicate="intersects")):
            return None
    except (shapely.errors.GEOSException, ValueError, TypeError):
        return None
    x, y = shapely.get_coordinates(geom).mean(axis=0)
    vintage = communes.attrs.get("vintage", "")
    return Problem(label, f"touches no commune of the communes layer {vintage}: it lies outside France or at sea "
                   f"(around lon {x:.2f}, lat {y:.2f}), so every figure of it is zero",
                   "check its coordinates (WGS84 longitude/latitude of a French territory)", severity="warning")


def _geometry_vs_codes(label: str, shp: Any, props: dict, communes: gpd.GeoDataFrame,
                       catalogue: Catalogue) -> Problem | None:
    """Warn when a feature's stored geometry is not the union of its codes."""
    codes = expand_codes(props, communes, catalogue)
    if not codes:
        return None
    union = union_of_communes(codes, communes)
    try:
        geom = shp if shp.is_valid else shapely.make_valid(shp)
        share = shapely.area(shapely.symmetric_difference(geom, union)) / max(shapely.area(union), 1e-300)
    except shapely.errors.GEOSException:
        return None
    if share <= 1e-4:
        return None
    return Problem(label, f"its geometry differs from the union of its codes' communes ({share:.2%} of the "
                   "area); the codes define the perimeter",
                   "run `ptce-geo poles build` to redraw the geometry from the codes (or drop the codes if "
                   "the geometry is right)", severity="warning")


def read_perimeters(
    source: str | os.PathLike | bytes | dict, *, catalogue: Catalogue | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate a perimeter file.

    Parameters
    ----------
    source : path, bytes or dict
        A GeoJSON FeatureCollection in the perimeter format.
    catalogue : Catalogue, optional
        Where the communes layer comes from (for perimeters given by codes).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, one row per feature: ``id``, ``nom``, ``definition``
        (``"codes"`` or ``"geometry"``), ``communes`` (tuple of INSEE codes, or ``None``),
        ``properties`` (the feature's properties) and ``geometry``.

    Raises
    ------
    InvalidPerimeter
        Naming the first faulty feature and the fix (and how many more problems there are).
    """
    from .polelist import is_csv_source

    catalogue = catalogue or load_catalogue()
    if is_csv_source(source):  # a CSV list of poles: its usable rows, each problem logged
        return _read_csv_perimeters(source, catalogue)
    data = parse_json(source)
    problems = [p for p in check_perimeters(data, catalogue=catalogue, compare_geometry=False)
                if p.severity == "error"]
    if problems:
        more = f" ({len(problems) - 1} more problem(s): run `ptce-geo poles check FILE`)" if len(problems) > 1 else ""
        first = problems[0]
        raise InvalidPerimeter(str(first) + more,
                               fr=f"{first.feature.replace('feature', 'entité')} : {first.message}. "
                               f"Correction : {first.fix}.{more}")
    crs = _declared_crs(data)
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True) if crs is not None else None
    communes = membership = None
    rows = []
    for i, feat in enumerate(data["features"]):
        props = feat.get("properties") or {}
        fid = normalise_id(props.get("id", feat.get("id")))  # NFC, no blanks around
        label = feature_label(i, fid)
        nom = props.get("nom") or props.get("name") or fid
        if props.get(QPV_KEY):  # QPV outlines: a geometric perimeter
            if communes is None:
                communes = load_layer("communes", catalogue=catalogue)
                membership = commune_membership("epci", catalogue=catalogue)
            try:
                geom = qpv_perimeter(props, catalogue=catalogue, communes=communes, membership=membership)
            except InvalidPerimeter as exc:  # a generation of the list the catalogue lacks: the stored outline
                if not isinstance(feat.get("geometry"), dict):
                    raise
                logger.warning("%s: %s; its stored geometry is used", label, str(exc).split(": check")[0])
                geom, _ = _shape(feat["geometry"], label, tr)
                geom = repair_polygonal([geom], labels=[label], where="perimeter file")[0]
            geom = polygonal_part(geom)
            definition, members = "geometry", None
        elif any(props.get(k) for k in CODE_KEYS):
            if communes is None:  # loaded once for the whole file
                communes = load_layer("communes", catalogue=catalogue)
                membership = commune_membership("epci", catalogue=catalogue)
            codes = expand_codes(props, communes, catalogue, membership=membership)
            if not codes:
                raise InvalidPerimeter(f"{label}: its codes select no commune: check them.",
                                       fr=f"{label} : les codes ne désignent aucune commune.")
            geom, definition, members = union_of_communes(codes, communes), "codes", tuple(codes)
        else:
            geom, _ = _shape(feat["geometry"], label, tr)
            geom = repair_polygonal([geom], labels=[label], where="perimeter file")[0]
            geom = polygonal_part(geom)
            if geom is None or geom.is_empty:
                raise InvalidPerimeter(f"{label}: its geometry has no area once repaired: redraw it.",
                                       fr=f"{label} : la géométrie n'a pas de surface ; redessinez-la.")
            definition, members = "geometry", None
        rows.append({"id": fid, "nom": str(nom), "definition": definition, "communes": members,
                     "properties": props, "geometry": geom})
    out = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326")
    return out


def _read_csv_perimeters(source: Any, catalogue: Catalogue) -> gpd.GeoDataFrame:
    """Read a CSV list of poles: the usable rows, every unusable code or row logged as a warning.

    The report is kept in ``attrs["csv_report"]`` (a list of
    :class:`ptce_geo.polelist.RowProblem`).
    """
    from .polelist import read_poles_csv

    result = read_poles_csv(source, catalogue=catalogue)
    for problem in result.report:
        logger.warning("%s", problem)
    if not result.collection.get("features"):
        name = Path(source).name if isinstance(source, (str, os.PathLike)) else "the CSV list"
        skipped = len({p.line for p in result.report if p.row_skipped and p.line})
        raise InvalidPerimeter(
            f"{name}: no usable row (a pole needs an id and at least one known code"
            + (f"; {skipped} row(s) skipped" if skipped else "") + "). "
            "Fix: correct the codes listed above, or add rows with communes, epci or departements.",
            fr=f"{name} : aucune ligne utilisable (un pôle demande un identifiant et au moins un code connu"
               + (f" ; {skipped} ligne(s) écartée(s)" if skipped else "") + "). Corrigez les codes signalés, "
               "ou ajoutez des lignes avec des communes, des EPCI ou des départements.")
    out = read_perimeters(result.collection, catalogue=catalogue)
    out.attrs["csv_report"] = list(result.report)
    return out
