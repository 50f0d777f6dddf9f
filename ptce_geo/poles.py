"""The project's poles file: rebuild its geometries from the code lists, write it, seat points.

``poles.geojson`` gives each pole a perimeter as code lists (``communes``, ``epci``,
``departements``, the input of the overlay engine) and, for maps and other GIS tools,
the geometry of that perimeter: the exact union of its communes, a MultiPolygon with
coordinates rounded to 6 decimals and exterior rings counter-clockwise (RFC 7946).
:func:`build_file` (``ptce-geo poles build``) recomputes every geometry from the codes,
after a new COG vintage for instance, and writes the file in a stable form so the
committed file equals the build output byte for byte. Seat points are derived from the
``siege_insee`` property at run time, never stored.
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

from ._integrity import atomic_write_bytes
from .catalogue import Catalogue, load_catalogue
from .checks import CONFIDENCE_LEVELS, SEAT_KEYS, confidence_of, feature_label
from .errors import InvalidInput, InvalidPerimeter
from .geometry import orient_ccw, polygonal_part, round_coords
from .layers import load_layer
from .perimeters import parse_json, read_perimeters

logger = logging.getLogger(__name__)

__all__ = ["DECIMALS", "SEAT_KEYS", "build_feature_collection", "build_file", "build_from_csv", "dumps_geojson",
           "normalise_geometry", "seat_points", "descriptive_columns", "with_confidence", "CONFIDENCE_LEVELS"]

#: decimals kept in coordinates (about 0.1 m)
DECIMALS = 6
_DROPPED_MEMBERS = ("crs", "bbox")  # RFC 7946 has no crs; a stored bbox would go stale


def normalise_geometry(geom: shapely.Geometry, *, decimals: int = DECIMALS,
                       label: str = "a perimeter") -> shapely.MultiPolygon:
    """A polygonal geometry as stored: MultiPolygon, rounded, exterior rings counter-clockwise.

    ``shapely.normalize`` first puts parts and ring start points in a canonical order,
    so the same area always gives the same coordinates whatever the union algorithm did.
    """
    geom = shapely.normalize(geom)
    geom = polygonal_part(round_coords(np.array([geom], dtype=object), decimals)[0])
    if geom is None or geom.is_empty:
        raise InvalidPerimeter(f"{label}: has no area once rounded to {decimals} decimals: check its codes or "
                               "geometry.", fr=f"{label} : le périmètre n'a plus de surface une fois arrondi.")
    geom = orient_ccw(np.array([geom], dtype=object))[0]
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return geom


def _coordinates(geom: shapely.MultiPolygon, decimals: int) -> list:
    """GeoJSON coordinates, each number the shortest decimal of the rounded value."""
    return [[[[round(x, decimals), round(y, decimals)] for x, y in ring.coords]
             for ring in (poly.exterior, *poly.interiors)]
            for poly in geom.geoms]


def build_feature_collection(data: dict, *, catalogue: Catalogue | None = None) -> dict:
    """Rebuild every feature's geometry from its code lists.

    Parameters
    ----------
    data : dict
        A parsed perimeter FeatureCollection (see :mod:`ptce_geo.perimeters`).
    catalogue : Catalogue, optional
        Where the communes layer comes from.

    Returns
    -------
    dict
        The same collection with, for each feature, the geometry of its perimeter: the
        union of its communes when it has codes (its own geometry, reprojected to WGS84,
        otherwise) as a MultiPolygon rounded to 6 decimals, exterior rings
        counter-clockwise. Properties are unchanged; the ``crs`` and ``bbox`` members go.

    Raises
    ------
    InvalidPerimeter
        When the file has errors (as ``ptce-geo poles check`` lists them).
    """
    catalogue = catalogue or load_catalogue()
    perimeters = read_perimeters(data, catalogue=catalogue)
    _warn_vintage(data, catalogue)
    features = []
    for i, (feat, geom) in enumerate(zip(data["features"], perimeters.geometry.to_numpy())):
        out: dict[str, Any] = {"type": "Feature"}
        out.update({k: v for k, v in feat.items() if k not in ("type", "properties", "geometry", "bbox")})
        out["properties"] = feat.get("properties")
        shape = normalise_geometry(geom, label=feature_label(i, perimeters["id"].iloc[i]))
        out["geometry"] = {"type": "MultiPolygon", "coordinates": _coordinates(shape, DECIMALS)}
        features.append(out)
    fc: dict[str, Any] = {"type": "FeatureCollection"}
    fc.update({k: v for k, v in data.items() if k not in ("type", "features", *_DROPPED_MEMBERS)})
    fc["features"] = features
    return fc


def _warn_vintage(data: dict, catalogue: Catalogue) -> None:
    """Say when the file's codes are of another COG vintage than the communes layer."""
    vintage = catalogue["communes"].vintage
    stated = {f["properties"].get("cog") for f in data["features"]
              if isinstance(f.get("properties"), dict) and f["properties"].get("cog") is not None}
    stale = sorted(str(v) for v in stated if str(v) != str(vintage))
    if stale:
        logger.warning("the poles file gives codes of COG %s but the communes layer is COG %s: the geometry "
                       "follows the layer; update the derived properties and 'cog' (tools/make_poles.py)",
                       ", ".join(stale), vintage)


def dumps_geojson(fc: dict) -> str:
    """Serialise a FeatureCollection in the repository's stable form.

    One feature per line, keys in their given order, compact separators, UTF-8 text
    (no ``\\u`` escapes), a final newline. The same collection always gives the same
    text, so a rebuilt file can be compared with the committed one byte for byte.
    """
    def dump(obj: object) -> str:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    head = {k: v for k, v in fc.items() if k != "features"}
    lines = [dump(f) for f in fc.get("features", [])]
    body = ",\n".join(lines)
    return dump(head)[:-1] + ',"features":[\n' + body + ("\n" if lines else "") + "]}\n"


#: the largest relative change of a perimeter's area that ``poles build`` writes without ``--force``
AREA_TOLERANCE = 0.01


def _ring_area(coords: object, transformer=None) -> float:
    """Area (m²) enclosed by one GeoJSON ring, whatever the rest of the polygon is like."""
    from .projection import area_m2

    try:
        ring = shapely.Polygon(coords)
        if transformer is not None:
            ring = shapely.transform(ring, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    except (TypeError, ValueError, shapely.errors.GEOSException):
        return 0.0
    return float(area_m2(np.array([ring], dtype=object))[0])


def stated_area_m2(geometry: object, *, transformer=None) -> float | None:
    """The area a GeoJSON (Multi)Polygon states: its shells minus its holes, ring by ring (m²).

    Read from the rings as written, so that an invalid polygon (a hole outside its shell)
    states the area its author meant, not the area a repair would give. ``transformer``
    takes coordinates of a declared CRS to longitude/latitude.
    """
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return None
    polys = [geometry.get("coordinates")] if geometry["type"] == "Polygon" else geometry.get("coordinates")
    total = 0.0
    for rings in polys or []:
        if not isinstance(rings, list) or not rings:
            continue
        total += _ring_area(rings[0], transformer) - sum(_ring_area(r, transformer) for r in rings[1:])
    return total


def area_changes(before: dict, after: dict, *, tolerance: float = AREA_TOLERANCE) -> list[str]:
    """The features whose area differs by more than ``tolerance`` between two collections."""
    from pyproj import Transformer

    from .perimeters import _declared_crs
    from .projection import area_m2

    crs = _declared_crs(before)
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True) if crs is not None else None
    out = []
    for i, (old, new) in enumerate(zip(before.get("features", []), after.get("features", []))):
        stated = stated_area_m2(old.get("geometry"), transformer=transformer) if isinstance(old, dict) else None
        if stated is None:
            continue  # no geometry before: nothing to lose
        geom = shapely.geometry.shape(new["geometry"])
        built = float(area_m2(np.array([geom], dtype=object))[0])
        if abs(built - stated) > tolerance * max(abs(stated), 1.0):
            props = old.get("properties") if isinstance(old.get("properties"), dict) else {}
            out.append(f"{feature_label(i, props.get('id'))}: {stated / 1e6:,.2f} km² -> {built / 1e6:,.2f} km²")
    return out


def build_file(path: str | os.PathLike, *, output: str | os.PathLike | None = None,
               catalogue: Catalogue | None = None, force: bool = False) -> Path:
    """Rebuild a poles file's geometries and write it (atomically).

    Parameters
    ----------
    path : path
        The poles file to read.
    output : path, optional
        Where to write; default: over ``path``.
    catalogue : Catalogue, optional
    force : bool
        Write even when a perimeter's area changes by more than :data:`AREA_TOLERANCE`
        (1 %), as it may after a new COG vintage. Without it such a build is refused and
        nothing is written: a geometry that grows or shrinks by itself (an invalid polygon
        whose hole lies outside its shell becomes land when repaired) is a mistake to see.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    data = parse_json(Path(path))
    built = build_feature_collection(data, catalogue=catalogue)
    changed = area_changes(data, built)
    if changed and not force:
        listed = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise InvalidInput(f"poles build would change the area of {len(changed)} perimeter(s) by more than "
                           f"{AREA_TOLERANCE:.0%}: {listed}. Nothing was written: check those geometries (an invalid "
                           "polygon, codes of another vintage), then give --force to write anyway, or --output to "
                           "compare.",
                           fr=f"La reconstruction changerait la surface de {len(changed)} périmètre(s) de plus de "
                           f"{AREA_TOLERANCE:.0%} ; rien n'a été écrit.")
    text = dumps_geojson(built)
    dest = Path(output) if output is not None else Path(path)
    try:
        atomic_write_bytes(dest, text.encode("utf-8"), what="--output")
    except OSError as exc:  # a full disk, a read-only folder: the previous file stays as it was
        raise InvalidInput(f"cannot write {dest} ({exc.strerror or exc}): free some space or give --output in a "
                           "folder you can write to; the previous file is unchanged.",
                           fr=f"Impossible d'écrire {dest.name} ({exc.strerror or exc}) : libérez de la place "
                           "ou choisissez un autre dossier ; le fichier précédent est inchangé.") from None
    logger.info("wrote %s (%d features)", dest, len(data.get("features", [])))
    return dest


def _seat_code(props: object) -> str | None:
    if not isinstance(props, dict):
        return None
    for key in SEAT_KEYS:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def seat_points(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None) -> gpd.GeoDataFrame:
    """One point per pole for maps: its seat commune's representative point.

    The seat comes from the ``siege_insee`` property (or ``seat_insee``…). When a pole
    has no seat, or its code is not in the communes layer, the point is the perimeter's
    own representative point and ``siege_source`` says so. When the seat commune's point
    lies outside a perimeter smaller than the commune (a QPV), the point is taken in the
    part of the perimeter inside the seat commune.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As returned by :func:`ptce_geo.perimeters.read_perimeters`.
    catalogue : Catalogue, optional

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per pole: ``id``, ``nom``, ``siege_insee`` (the code used, or
        ``None``), ``siege_nom``, ``siege_source`` (``"commune"`` or ``"perimetre"``),
        ``geometry`` (Point, always inside the seat commune or the perimeter).
    """
    props = perimeters["properties"] if "properties" in perimeters else pd.Series([{}] * len(perimeters))
    codes = [_seat_code(p) for p in props]
    names: dict[str, str] = {}
    points: dict[str, shapely.Point] = {}
    if any(codes):
        communes = load_layer("communes", catalogue=catalogue or load_catalogue())
        sel = communes[communes["code"].isin({c for c in codes if c})]
        names = dict(zip(sel["code"], sel["nom"]))
        points = dict(zip(sel["code"], shapely.point_on_surface(sel.geometry.to_numpy())))
        shapes = dict(zip(sel["code"], sel.geometry.to_numpy()))
    rows = []
    for fid, nom, code, geom in zip(perimeters["id"], perimeters.get("nom", perimeters["id"]), codes,
                                    perimeters.geometry.to_numpy()):
        if code and code in points:
            point = points[code]
            if not shapely.within(point, geom):  # a perimeter smaller than its seat commune (a QPV)
                inside = shapely.intersection(geom, shapes[code])
                if not inside.is_empty and inside.area > 0:
                    point = shapely.point_on_surface(inside)
            rows.append({"id": fid, "nom": nom, "siege_insee": code, "siege_nom": names[code],
                         "siege_source": "commune", "geometry": point})
            continue
        if code:
            logger.warning("pole %s: seat commune %r is not in the communes layer; its seat point is the "
                           "perimeter's representative point", fid, code)
        rows.append({"id": fid, "nom": nom, "siege_insee": None, "siege_nom": None,
                     "siege_source": "perimetre", "geometry": shapely.point_on_surface(geom)})
    columns = ["id", "nom", "siege_insee", "siege_nom", "siege_source", "geometry"]
    table = pd.DataFrame(rows, columns=columns)
    for col in ("siege_insee", "siege_nom"):  # None, not NaN, where there is no seat
        table[col] = pd.Series([r[col] for r in rows], index=table.index, dtype=object)
    return gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")


_TEXT_LIMIT = 4000


def as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(as_text(v) for v in value if as_text(v))
    if isinstance(value, dict):
        return as_text(value.get("nom") or value.get("titre") or value.get("title") or value.get("name")
                        or value.get("url") or "")
    return str(value).strip()[:_TEXT_LIMIT]


def _sources(value: Any) -> list[dict[str, str]]:
    items = value if isinstance(value, (list, tuple)) else ([value] if value else [])
    out = []
    for item in items[:50]:
        if isinstance(item, dict):
            url = item.get("url") or item.get("lien") or item.get("href") or ""
            named = any(item.get(k) for k in ("nom", "titre", "title", "name"))
            label = as_text(item) if named else ""
            date = as_text(item.get("date") or item.get("consulte_le") or "")
        else:
            is_url = str(item).startswith(("http://", "https://"))
            url, label, date = (str(item), "", "") if is_url else ("", as_text(item), "")
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
    filieres = [as_text(f) for f in fil] if isinstance(fil, (list, tuple)) else (
        [s.strip() for s in str(fil).split(";") if s.strip()] if fil else [])
    structure = p.get("structure_porteuse")
    return {
        "nom": as_text(p.get("nom") or p.get("name") or p.get("id")),
        "structure_porteuse": as_text(structure),
        "filieres": [f for f in filieres if f],
        "description": as_text(p.get("description")),
        "sources": _sources(p.get("sources")),
        "confiance": as_text(p.get("confiance")),
        "note_perimetre": as_text(p.get("note_perimetre")),
        "siege_insee": as_text(p.get("siege_insee")),
        "siege_nom": as_text(p.get("siege_nom")),
        "annee": as_text(p.get("annee_detail") or p.get("annee")),
    }


def _flag(value: object) -> bool | None:
    """A yes/no attribute: True, False, or None when unknown (CSV text accepted)."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    return {"true": True, "oui": True, "1": True, "vrai": True, "yes": True,
            "false": False, "non": False, "0": False, "faux": False, "no": False}.get(text)


def descriptive_columns(perimeters: gpd.GeoDataFrame) -> pd.DataFrame:
    """The descriptive columns of each pole, read from its properties (for scorecards and exports).

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As :func:`ptce_geo.perimeters.read_perimeters` returns them (``properties``).

    Returns
    -------
    pandas.DataFrame
        One row per pole, in order: ``pole_id``; ``confidence`` (``haute``, ``moyenne``,
        ``faible``, read with :data:`~ptce_geo.checks.CONFIDENCE_SYNONYMS`; None when the pole
        says nothing, a user's perimeter, or gives a value that is no level, which
        ``ptce-geo poles check`` reports); ``type_pole``
        (``multi-activités`` or ``filière``) and ``filiere_pole`` (the filière named);
        ``appel_2011_pole_temoin`` and ``appel_2013_laureat`` (True, False, or None when
        unknown); and the ``territoire`` profile as ``territoire_<key>`` columns (population,
        classe_densite, profil, part_urbaine, part_population_qpv…) when the poles carry it.
        Columns whose values are all unknown are still present, filled with None.
    """
    props = perimeters["properties"] if "properties" in perimeters else pd.Series([{}] * len(perimeters))
    rows = []
    for fid, p in zip(perimeters["id"], props):
        p = p if isinstance(p, dict) else {}
        row = {"pole_id": fid, "confidence": confidence_of(p),
               "type_pole": p.get("type_pole") if p.get("type_pole") in ("multi-activités", "filière") else None,
               "filiere_pole": p.get("filiere_pole") or None,
               "appel_2011_pole_temoin": _flag(p.get("appel_2011_pole_temoin")),
               "appel_2013_laureat": _flag(p.get("appel_2013_laureat"))}
        terr = p.get("territoire")
        for key in ("population", "classe_densite", "profil", "part_urbaine", "part_population_qpv"):
            row[f"territoire_{key}"] = terr.get(key) if isinstance(terr, dict) else None
        rows.append(row)
    out = pd.DataFrame(rows, columns=["pole_id", "confidence", "type_pole", "filiere_pole", "appel_2011_pole_temoin",
                                      "appel_2013_laureat", "territoire_population", "territoire_classe_densite",
                                      "territoire_profil", "territoire_part_urbaine",
                                      "territoire_part_population_qpv"])
    return out.astype(object).where(out.notna(), None)


def build_from_csv(path: str | os.PathLike, *, output: str | os.PathLike | None = None,
                   catalogue: Catalogue | None = None):
    """Build a poles GeoJSON from a CSV list of poles (see :mod:`ptce_geo.polelist`).

    Parameters
    ----------
    path : path
        The CSV list.
    output : path, optional
        Where to write; default: the CSV's path with the suffix ``.geojson``.
    catalogue : Catalogue, optional

    Returns
    -------
    tuple
        ``(path written, PoleList)``: the file holds the usable rows (geometry the union of
        their communes, or of their QPV outlines); ``PoleList.report`` lists every code
        left out and every row skipped, with the reason.

    Raises
    ------
    InvalidPerimeter
        When the table cannot be read, or no row can be used.
    """
    from .polelist import read_poles_csv

    catalogue = catalogue or load_catalogue()
    result = read_poles_csv(Path(path), catalogue=catalogue)
    if not result.collection["features"]:
        first = f": {result.report[0]}" if result.report else ""
        raise InvalidPerimeter(f"{path}: no row can be used ({len(result.report)} problem(s)){first}",
                               fr="Aucune ligne du tableau n'est utilisable : corrigez les codes et identifiants.")
    text = dumps_geojson(build_feature_collection(result.collection, catalogue=catalogue))
    dest = Path(output) if output is not None else Path(path).with_suffix(".geojson")
    try:
        atomic_write_bytes(dest, text.encode("utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot write {dest} ({exc.strerror or exc}): free some space or give --output in a "
                           "folder you can write to.",
                           fr=f"Impossible d'écrire {dest.name} ({exc.strerror or exc}).") from None
    logger.info("wrote %s (%d poles, %d problem(s))", dest, result.n_poles, len(result.report))
    return dest, result


def with_confidence(table: pd.DataFrame, perimeters: gpd.GeoDataFrame, *, key: str = "pole_id") -> pd.DataFrame:
    """``table`` with a ``confidence`` column (the pole's, or None) right after its ``key`` column."""
    conf = dict(zip(perimeters["id"], descriptive_columns(perimeters)["confidence"]))
    out = table.drop(columns=["confidence"], errors="ignore").copy()
    out.insert(list(out.columns).index(key) + 1, "confidence", [conf.get(pid) for pid in out[key]])
    return out
