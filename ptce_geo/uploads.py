"""Read user files safely: zone files and perimeter files, in any CRS.

Formats: GeoJSON, GeoPackage, zipped Shapefile (and a zip holding one GeoJSON or
GeoPackage). The format is told by the file's first bytes, not its name. Safety:

* the upload is refused above ``max_bytes`` (50 MB by default);
* from a zip, only the members of one dataset are read (``.shp .shx .dbf .prj .cpg``, or
  one ``.geojson``/``.json``/``.gpkg``), copied under fixed names (``upload.shp``…) into a
  temporary folder that is deleted afterwards; nothing is ever extracted elsewhere;
* a zip with an absolute or ``..`` member path, encrypted members, more than
  :data:`MAX_MEMBERS` entries, a total uncompressed size above ``max_unzipped_bytes``
  (256 MB) or a member inflating more than :data:`MAX_RATIO` times is refused; the bytes
  really inflated are counted while copying, so a lying header does not help;
* a file of more than ``max_vertices`` vertices (2 000 000 by default) is refused with
  the advice to simplify it; below that, it is read as is (a GeoJSON of 10⁶ vertices is
  read in about a second).

CRS: files are reprojected to EPSG:4326. A file that declares no CRS (a Shapefile
without ``.prj``; a GeoJSON, whose default is WGS84) but whose coordinates are metres —
Lambert-93 most often — is refused with a message naming the fix (add the ``.prj``,
reproject to WGS84, or give ``assume_crs="EPSG:2154"``): guessing a projected CRS could
misplace every zone silently.

Bounded in time and memory: :func:`read_upload`, :func:`read_zone_upload` and
:func:`read_perimeter_upload` parse the file in a child process (:mod:`ptce_geo._worker`)
stopped after :data:`UPLOAD_TIMEOUT` seconds or beyond :data:`UPLOAD_MEMORY` bytes of
memory; a crash of the parser is an error of the upload, never the death of the app's
server. Besides, a GeoPackage layer that is a view (a stored query, which could run
for ever) is refused, and GeoJSON list properties are read as text (GDAL's string lists
take quadratic time). ``isolated=False`` parses in the calling process (tests, callers
that are themselves in a worker).

Places: a zone file whose features span more than half the globe in longitude (a
polygon crossing the antimeridian, the whole world) or that lies wholly outside France
is refused; zones outside France are counted in the note. A perimeter file is refused
when a perimeter lies outside France.

Every refusal is an :class:`~ptce_geo.errors.UploadRejected` (unsafe, too large, too
slow) or :class:`~ptce_geo.errors.InvalidInput` (unreadable, wrong fields), with an
English message and a French one (``fr``) for the app.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from .catalogue import Catalogue
from .checks import coordinate_problem
from .errors import InvalidInput, InvalidPerimeter, UploadRejected
from ._fields import guess_fields, text_codes
from ._safezip import MAX_MEMBERS, MAX_RATIO, MAX_UNZIPPED_BYTES, _kind, _reject, _unzip
from .geometry import polygonal_part, repair_polygonal

logger = logging.getLogger(__name__)

__all__ = ["MAX_UPLOAD_BYTES", "MAX_UNZIPPED_BYTES", "MAX_VERTICES", "MAX_RATIO", "MAX_MEMBERS",
           "UPLOAD_TIMEOUT", "UPLOAD_MEMORY", "read_upload", "read_zone_upload", "read_perimeter_upload",
           "guess_fields"]

MAX_UPLOAD_BYTES = 50 * 1024**2
MAX_VERTICES = 2_000_000
#: seconds a file may take to be read (the largest accepted files take a few seconds)
UPLOAD_TIMEOUT = 60.0
#: bytes of memory the reading of one file may use beyond the reader's own
UPLOAD_MEMORY = 3 * 1024**3


def _isolated(fn, kwargs: dict, where: str, timeout: float, memory: int | None):
    """Run a reader in a worker process; its limits become refusals of the upload."""
    from ._worker import WorkerCrashed, WorkerMemoryError, WorkerTimeout, run

    try:
        return run(fn, kwargs=kwargs, timeout=timeout, memory=memory,
                   label=(f"reading {where}", f"la lecture de {where}"))
    except WorkerTimeout:
        raise _reject(f"{where}: reading it took longer than {timeout:.0f} s and was stopped: the file is too "
                      "complex (a GeoPackage layer that runs a query, huge geometries); export the layer as plain "
                      "features, simplify it, or split it.",
                      f"{where} : la lecture a duré plus de {timeout:.0f} s et a été arrêtée : le fichier est trop "
                      "complexe ; exportez la couche en entités simples, simplifiez-la ou découpez-la.") from None
    except WorkerMemoryError:
        cap = f"{memory // 2**20} MB" if memory else "the memory available"
        raise _reject(f"{where}: reading it needed more than {cap} of memory and was stopped: simplify the "
                      "geometries or keep only the zones needed.",
                      f"{where} : la lecture demandait trop de mémoire et a été arrêtée ; simplifiez les "
                      "géométries ou ne gardez que les zones utiles.") from None
    except WorkerCrashed as exc:
        signal_name = str(exc).split("(")[1].split(")")[0]
        cap = f" of {memory // 2**20} MB" if memory else ""
        raise _reject(f"{where}: the reader stopped on this file ({signal_name}), most likely out of its memory "
                      f"cap{cap}, or the file is damaged: simplify the geometries, keep only the zones needed, or "
                      "export it again from its source.",
                      f"{where} : la lecture s'est arrêtée sur ce fichier, sans doute faute de mémoire, ou le "
                      "fichier est endommagé : simplifiez les géométries ou exportez-le de nouveau.") from None


def _refuse_views(path: Path, name: str, where: str) -> None:
    """Refuse a GeoPackage layer that is a view: its query could run for ever."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return  # GDAL says what is wrong
    try:
        row = con.execute("SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
    except sqlite3.Error:
        row = None
    finally:
        con.close()
    if row is not None and str(row[0]).lower() == "view":
        raise _reject(f"{where}: the GeoPackage layer {name!r} is a view (a stored query), not a table of "
                      "features: views are not read (one could run for ever); in QGIS, save the layer as a new "
                      "GeoPackage (Export > Save Features As) and upload that.",
                      f"{where} : la couche « {name} » du GeoPackage est une vue (une requête enregistrée) et non "
                      "une table : elle n'est pas lue ; dans QGIS, enregistrez la couche dans un nouveau "
                      "GeoPackage (Exporter > Sauvegarder les entités sous) et déposez-le.")


def _pick_layer(path: Path, kind: str, where: str, layer: str | None) -> str | None:
    if kind != "gpkg":
        return None
    try:
        listed = pyogrio.list_layers(path)
    except Exception as exc:  # a damaged SQLite file or GeoPackage tables
        detail = str(exc).replace(str(path), where)[:160]
        raise InvalidInput(f"{where}: cannot be read as GeoPackage ({detail}): export it again.",
                           fr=f"{where} : illisible en tant que GeoPackage ; exportez-le de nouveau.") from None
    spatial = [str(name) for name, gtype in listed if gtype is not None]
    if layer is not None:
        if layer not in spatial:
            raise InvalidInput(f"{where}: the GeoPackage has no layer {layer!r} with geometries (it has "
                               f"{', '.join(spatial) or 'none'}): name one of them.",
                               fr=f"{where} : le GeoPackage n'a pas de couche « {layer} ».")
        return layer
    if len(spatial) != 1:
        raise InvalidInput(f"{where}: the GeoPackage holds {len(spatial)} layers with geometries "
                           f"({', '.join(spatial)[:300]}): name the one to read (layer=…) or save one alone.",
                           fr=f"{where} : le GeoPackage contient {len(spatial)} couches géographiques ; "
                           "n'en gardez qu'une.")
    return spatial[0]


def _extent_problem(gdf: gpd.GeoDataFrame, where: str) -> tuple[str, str] | None:
    """A refusal when features span half the globe or all lie outside France, else None."""
    bounds = gdf.geometry.bounds
    wide = (bounds["maxx"] - bounds["minx"]) > 180
    if wide.any():
        first = int(np.flatnonzero(wide.to_numpy())[0]) + 1
        return (f"{where}: feature #{first} spans more than half the globe in longitude (a polygon crossing "
                "the antimeridian, or the whole world): give zones of France, split at the antimeridian.",
                f"{where} : l'entité n° {first} couvre plus de la moitié du globe en longitude (polygone "
                "traversant l'antiméridien, ou le monde entier) : donnez des zones de France.")
    outside = _outside_france(gdf)
    if outside.all():
        x, y = shapely.get_coordinates(gdf.geometry.to_numpy()).mean(axis=0)
        return (f"{where}: none of its {len(gdf)} feature(s) lies in France (they are around lon {x:.2f}, lat "
                f"{y:.2f}): check the coordinates and the CRS the file declares.",
                f"{where} : aucune des {len(gdf)} entités n'est en France (autour de lon {x:.2f}, lat {y:.2f}) : "
                "vérifiez les coordonnées et le système de coordonnées déclaré.")
    return None


def _outside_france(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """True for features with no vertex in France (mainland, Corsica, DROM, with a margin)."""
    from .checks import _in_france

    geoms = gdf.geometry.to_numpy()
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    inside = np.zeros(len(geoms), dtype=bool)
    if len(coords):
        hit = _in_france(coords[:, 0], coords[:, 1])
        inside[np.unique(index[hit])] = True
    return ~inside


def _looks_projected(gdf: gpd.GeoDataFrame) -> str | None:
    """A Problem message when lon/lat coordinates are metres (or swapped), else None."""
    coords = shapely.get_coordinates(gdf.geometry.to_numpy())
    if len(coords) > 20_000:
        coords = coords[:: len(coords) // 20_000]
    problem = coordinate_problem("file", coords, outside=False)
    return None if problem is None else problem.message


def _set_crs(gdf: gpd.GeoDataFrame, where: str, kind: str, assume_crs: str | None) -> tuple[gpd.GeoDataFrame, str]:
    crs = gdf.crs
    wrong = None
    if crs is None or crs.is_geographic:
        wrong = _looks_projected(gdf)
    if crs is None or wrong:
        if assume_crs:
            try:
                gdf = gdf.set_crs(CRS.from_user_input(assume_crs), allow_override=True)
            except Exception:
                raise InvalidInput(f"{where}: {assume_crs!r} is not a CRS: give one such as 'EPSG:2154'.",
                                   fr=f"« {assume_crs} » n'est pas un système de coordonnées connu.") from None
        elif wrong:
            l93 = "Lambert-93" in wrong
            fix = {"shp": "add its .prj file to the zip, or reproject it to WGS84 (EPSG:4326)",
                   "gpkg": "set its CRS in QGIS and save it again, or reproject it to WGS84 (EPSG:4326)"}.get(
                kind, "reproject it to WGS84 longitude/latitude (EPSG:4326), as GeoJSON requires")
            fix_fr = {"shp": "joignez son fichier .prj au zip ou reprojetez-le en WGS84 (EPSG:4326)",
                      "gpkg": "définissez son système de coordonnées dans QGIS ou reprojetez-le en WGS84"}.get(
                kind, "reprojetez-le en WGS84 longitude/latitude (EPSG:4326), comme l'exige le GeoJSON")
            raise InvalidInput(
                f"{where}: {wrong.replace('the file declares no CRS', 'its CRS is not declared')}: {fix}"
                + (" (Lambert-93 is EPSG:2154)." if l93 else "."),
                fr=f"{where} : les coordonnées sont "
                + ("en Lambert-93 (mètres)" if l93 else "projetées ou inversées")
                + f" et le fichier ne déclare pas son système de coordonnées : {fix_fr}.")
        else:
            gdf = gdf.set_crs("EPSG:4326")
    used = gdf.crs.to_string()
    if not gdf.crs.equals("EPSG:4326"):
        try:
            gdf = gdf.to_crs("EPSG:4326")
        except Exception:  # pyproj cannot transform from a damaged or local CRS
            raise InvalidInput(f"{where}: its CRS ({used[:120]}) cannot be converted to WGS84 longitude/latitude: "
                               "reproject the file to EPSG:4326 (or EPSG:2154) and upload it again.",
                               fr=f"{where} : son système de coordonnées ne peut pas être converti en WGS84 ; "
                               "reprojetez le fichier en EPSG:4326 (ou EPSG:2154).") from None
    if _looks_projected(gdf):
        raise InvalidInput(f"{where}: its coordinates do not fit its CRS {used}: check the CRS declared.",
                           fr=f"{where} : les coordonnées ne correspondent pas au système déclaré ({used}).")
    return gdf, used


def read_upload(
    data: bytes, *, filename: str, layer: str | None = None, assume_crs: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES, max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
    max_vertices: int = MAX_VERTICES, isolated: bool = True, timeout: float = UPLOAD_TIMEOUT,
    memory: int | None = UPLOAD_MEMORY,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read an uploaded vector file safely, as it is, in EPSG:4326.

    The file is parsed in a worker process bounded by ``timeout`` seconds and ``memory``
    bytes (``isolated=False``: in this process). Other parameters and the result: see
    :func:`_read_upload`.
    """
    kwargs = dict(data=data, filename=filename, layer=layer, assume_crs=assume_crs, max_bytes=max_bytes,
                  max_unzipped_bytes=max_unzipped_bytes, max_vertices=max_vertices)
    return _run_reader(_read_upload, kwargs, isolated=isolated, timeout=timeout, memory=memory)


def _run_reader(reader: Callable[..., Any], kwargs: dict, *, isolated: bool, timeout: float,
                memory: int | None) -> Any:
    """Check an upload's size, then read it with ``reader``, in a worker process or in this one.

    Parameters
    ----------
    reader : callable
        A reader that runs in this process (:func:`_read_upload`…), called as ``reader(**kwargs)``.
    kwargs : dict
        Its arguments; ``data``, ``filename`` and ``max_bytes`` among them.
    isolated : bool
        Whether to read in a worker process (see :func:`_isolated`) rather than in this one.
    timeout, memory
        The worker's limits (see :func:`read_upload`).

    Returns
    -------
    object
        What ``reader`` returns.
    """
    where = Path(kwargs["filename"]).name or "upload"
    _check_size(kwargs["data"], where, kwargs["max_bytes"])
    if not isolated:
        return reader(**kwargs)
    return _isolated(reader, kwargs, where, timeout, memory)


def _check_size(data: bytes, where: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise _reject(f"{where}: {len(data) / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit: simplify "
                      "the geometries or keep only the zones needed.",
                      f"{where} : fichier trop gros ({len(data) / 2**20:.1f} Mo, limite {max_bytes / 2**20:.0f} Mo) ; "
                      "simplifiez les géométries.")


def _read_upload(
    data: bytes, *, filename: str, layer: str | None = None, assume_crs: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES, max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
    max_vertices: int = MAX_VERTICES,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read an uploaded vector file, as it is, in EPSG:4326, in this process.

    Parameters
    ----------
    data : bytes
        The file's content.
    filename : str
        Its name, used in messages only.
    layer : str, optional
        The layer of a GeoPackage, or the dataset of a zip holding several.
    assume_crs : str, optional
        The CRS of a file that declares none (e.g. ``"EPSG:2154"``).
    max_bytes, max_unzipped_bytes, max_vertices : int
        Limits (see the module docstring).

    Returns
    -------
    (geopandas.GeoDataFrame, dict)
        The features (null and empty geometries dropped) and ``{"format", "crs",
        "features"}``.
    """
    where = Path(filename).name or "upload"
    _check_size(data, where, max_bytes)
    kind = _kind(bytes(data[:64]))
    if kind == "shp":
        raise _reject(f"{where}: a .shp alone cannot be read: zip it with its .shx, .dbf and .prj files and "
                      "upload the .zip.",
                      f"{where} : un .shp seul est illisible : zippez-le avec ses fichiers .shx, .dbf et .prj "
                      "et déposez le .zip.")
    if kind is None:
        raise _reject(f"{where}: unknown format: upload a GeoJSON, a GeoPackage or a zipped Shapefile "
                      "(.shp with .shx, .dbf and .prj in one .zip).",
                      f"{where} : format inconnu : déposez un GeoJSON, un GeoPackage ou un Shapefile zippé "
                      "(.shp, .shx, .dbf et .prj dans un .zip).")
    with tempfile.TemporaryDirectory(prefix="ptce_upload_") as tmp:
        folder = Path(tmp)
        if kind == "zip":
            path, kind = _unzip(bytes(data), where, folder, layer=layer, max_unzipped_bytes=max_unzipped_bytes)
        else:
            path = folder / f"upload.{kind}"
            path.write_bytes(data)
        if kind == "shp" and max_vertices and path.stat().st_size > 16 * max_vertices * 1.2 + 1e6:
            raise _too_many(where, int(path.stat().st_size // 16), max_vertices)
        if kind == "gpkg" and layer is not None:
            _refuse_views(path, layer, where)
        name = _pick_layer(path, kind, where, layer)
        if kind == "gpkg" and name is not None:
            _refuse_views(path, name, where)
        # GDAL reads a GeoJSON list of strings in quadratic time: lists are read as text
        options = {"ARRAY_AS_STRING": "YES"} if kind == "geojson" else {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                gdf = pyogrio.read_dataframe(path, layer=name, **options)
        except Exception as exc:  # GDAL parser errors
            label = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "Shapefile"}[kind]
            detail = str(exc).replace(str(path), where).split("; It might help")[0][:160]
            raise InvalidInput(f"{where}: cannot be read as {label} ({detail}): export it again.",
                               fr=f"{where} : illisible en tant que {label} ; exportez-le de nouveau.") from None
    gdf = _unique_columns(gdf)
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry is None:
        raise InvalidInput(f"{where}: has no geometries: upload a layer of polygons or points.",
                           fr=f"{where} : le fichier ne contient aucune géométrie.")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].reset_index(drop=True)
    if not len(gdf):
        raise InvalidInput(f"{where}: holds no feature with a geometry: check the file.",
                           fr=f"{where} : aucune entité n'a de géométrie.")
    n_vertices = int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum())
    if max_vertices and n_vertices > max_vertices:
        raise _too_many(where, n_vertices, max_vertices)
    gdf, crs = _set_crs(gdf, where, kind, assume_crs)
    return gdf, {"format": kind, "crs": crs, "features": len(gdf), "vertices": n_vertices}


def _unique_columns(gdf: pd.DataFrame) -> pd.DataFrame:
    """Fields sharing a name (a damaged or hand-made .dbf) renamed ``name_2``, ``name_3``…"""
    if not isinstance(gdf, gpd.GeoDataFrame) or not gdf.columns.duplicated().any():
        return gdf
    positions = [i for i, dtype in enumerate(gdf.dtypes) if str(dtype) == "geometry"]
    if not positions:
        return gdf
    seen, data = {"geometry"}, {}
    for pos, col in enumerate(gdf.columns):
        if pos == positions[-1]:
            continue
        name, k = str(col), 2
        while name in seen:
            name, k = f"{col}_{k}", k + 1
        seen.add(name)
        data[name] = gdf.iloc[:, pos].to_numpy()
    logger.warning("upload: fields sharing a name were renamed: %s", ", ".join(data))
    geo = gdf.iloc[:, positions[-1]]
    return gpd.GeoDataFrame(data, geometry=geo.to_numpy(), crs=geo.crs, index=gdf.index)


def _too_many(where: str, n: int, cap: int) -> UploadRejected:
    return _reject(f"{where}: about {n:,} vertices, over the limit of {cap:,}: simplify the geometries first "
                   "(QGIS: Vector > Geometry Tools > Simplify, or mapshaper -simplify).",
                   f"{where} : environ {n:,} sommets, au-delà de la limite de {cap:,} ; simplifiez les "
                   "géométries (QGIS : Vecteur > Outils de géométrie > Simplifier).".replace(",", " "))


def _clean_geometries(gdf: gpd.GeoDataFrame, where: str, *, points: bool) -> tuple[gpd.GeoDataFrame, int]:
    """Polygons repaired (and points when allowed); other rows dropped, counted."""
    geoms = gdf.geometry.to_numpy().copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):  # collections: their polygons
        geoms[i] = polygonal_part(geoms[i])
    types = shapely.get_type_id(geoms)
    ok = np.isin(types, (3, 6, 0, 4) if points else (3, 6))
    keep = gdf.loc[ok].copy()
    fixed = repair_polygonal(geoms[ok], labels=[f"feature #{i + 1}" for i in np.flatnonzero(ok)], where=where)
    keep = keep.set_geometry(gpd.GeoSeries(fixed, index=keep.index, crs=gdf.crs))
    keep = keep[~(keep.geometry.isna() | keep.geometry.is_empty)]
    return keep, int(len(gdf) - len(keep))


def read_zone_upload(
    data: bytes, *, filename: str, code_field: str | None = None, name_field: str | None = None,
    layer: str | None = None, assume_crs: str | None = None, max_bytes: int = MAX_UPLOAD_BYTES,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES, max_vertices: int = MAX_VERTICES, isolated: bool = True,
    timeout: float = UPLOAD_TIMEOUT, memory: int | None = UPLOAD_MEMORY,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read a user's zone file (polygons or points) for :func:`ptce_geo.zones.overlap_zones`.

    Parameters
    ----------
    data : bytes
    filename : str
    code_field, name_field : str, optional
        Fields holding each zone's code and name (matched without regard to case);
        guessed when absent (see :func:`guess_fields`).
    layer, assume_crs, max_bytes, max_unzipped_bytes, max_vertices, isolated, timeout, memory
        See :func:`read_upload`.

    Returns
    -------
    (geopandas.GeoDataFrame, dict)
        ``code`` (text), ``nom``, the file's other fields, ``geometry`` in EPSG:4326;
        ``attrs["layer"] == "upload"``. Rows sharing a code are merged into one zone.
        The dict holds ``code_field``, ``name_field`` (``None`` when row numbers or
        codes stand in), ``guessed`` (which of them were guessed), ``format``, ``crs``,
        ``features``, ``dropped`` (rows without a usable geometry or code), ``merged``,
        and ``note`` / ``note_fr``: one sentence saying which fields were used.
    """
    kwargs = dict(data=data, filename=filename, code_field=code_field, name_field=name_field, layer=layer,
                  assume_crs=assume_crs, max_bytes=max_bytes, max_unzipped_bytes=max_unzipped_bytes,
                  max_vertices=max_vertices)
    return _run_reader(_read_zone_upload, kwargs, isolated=isolated, timeout=timeout, memory=memory)


def _read_zone_upload(data: bytes, *, filename: str, code_field: str | None, name_field: str | None,
                      **options) -> tuple[gpd.GeoDataFrame, dict]:
    """:func:`read_zone_upload` in this process."""
    where = Path(filename).name or "upload"
    raw, info = _read_upload(data, filename=filename, **options)
    problem = _extent_problem(raw, where)  # perimeters have their own check, feature by feature
    if problem is not None:
        raise InvalidInput(problem[0], fr=problem[1])
    return _as_zones(raw, info, where, code_field=code_field, name_field=name_field)


def _as_zones(raw: gpd.GeoDataFrame, info: dict, where: str, *, code_field: str | None, name_field: str | None,
              ids: bool = False) -> tuple[gpd.GeoDataFrame, dict]:
    """Codes, names and geometries of a file's features (see :func:`read_zone_upload`)."""
    clean, dropped = _clean_geometries(raw, where, points=True)
    if not len(clean):
        raise InvalidInput(f"{where}: no polygon or point in the file (lines are not zones): upload zones as "
                           "polygons, or sites as points.",
                           fr=f"{where} : aucun polygone ni point (les lignes ne sont pas des zones).")
    fields = guess_fields(clean, code_field=code_field, name_field=name_field, where=where, ids=ids)
    codes = text_codes(clean[fields.code]) if fields.code else \
        np.array([str(i + 1) for i in range(len(clean))], dtype=object)
    has_code = np.array([c is not None for c in codes])
    dropped += int((~has_code).sum())
    clean = clean.loc[has_code]
    codes = codes[has_code]
    names = clean[fields.name].astype(str).to_numpy() if fields.name else codes
    other = [c for c in clean.columns if c not in ("code", "nom", clean.geometry.name)]
    zones = gpd.GeoDataFrame(clean[other].assign(code=codes, nom=names).reset_index(drop=True),
                             geometry=clean.geometry.to_numpy(), crs="EPSG:4326")
    merged = 0
    if zones["code"].duplicated().any():
        before = len(zones)
        first = zones.drop(columns="geometry").drop_duplicates("code").set_index("code")
        union = zones.groupby("code", sort=False).geometry.apply(
            lambda s: s.iloc[0] if len(s) == 1 else _merge(s.to_numpy()))
        zones = gpd.GeoDataFrame(first.reset_index(), geometry=union.reindex(first.index).to_numpy(),
                                 crs="EPSG:4326")
        merged = before - len(zones)
    zones = zones[["code", "nom"] + [c for c in zones.columns if c not in ("code", "nom", "geometry")] + ["geometry"]]
    zones.attrs["layer"] = "upload"
    note, note_fr = fields.notes(len(zones), dropped, merged, what="perimeter" if ids else "zone")
    outside = int(_outside_france(zones).sum()) if len(zones) else 0
    if outside:
        note += f" {outside} {'perimeter' if ids else 'zone'}(s) lie outside France and overlap no pole."
        note_fr += f" {outside} entité(s) hors de France ne recoupent aucun pôle."
    info["outside_france"] = outside
    info.update(code_field=fields.code, name_field=fields.name, guessed=fields.guessed, features=len(zones),
                dropped=dropped, merged=merged, note=note, note_fr=note_fr)
    return zones, info


def _merge(geoms: np.ndarray):
    union = shapely.union_all(geoms)
    part = polygonal_part(union)
    return part if part is not None else union


def read_perimeter_upload(
    data: bytes, *, filename: str, id_field: str | None = None, name_field: str | None = None,
    catalogue: Catalogue | None = None, layer: str | None = None, assume_crs: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES, max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
    max_vertices: int = MAX_VERTICES, isolated: bool = True, timeout: float = UPLOAD_TIMEOUT,
    memory: int | None = UPLOAD_MEMORY,
) -> gpd.GeoDataFrame:
    """Read an uploaded perimeter file (polygons, any CRS) in the perimeter format.

    A GeoJSON in the perimeter format that defines poles by codes (``communes``,
    ``epci``, ``departements``) is read by :func:`ptce_geo.perimeters.read_perimeters`
    (with ``catalogue``, in this process: its size and code lists are capped). Any other
    file is read as polygons, in a worker process (see :func:`read_upload` for
    ``isolated``, ``timeout`` and ``memory``): each row is a perimeter; rows sharing an
    id are merged.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id`` (text), ``nom``, ``definition`` (``"geometry"``), ``communes``
        (``None``), ``properties`` (the row's fields, JSON-safe), ``geometry`` in
        EPSG:4326; ``attrs["upload"]`` holds the dict of :func:`read_zone_upload`
        (fields used, note).

    Raises
    ------
    UploadRejected, InvalidInput, InvalidPerimeter
    """
    if _kind(bytes(data[:64])) == "geojson" and len(data) <= max_bytes:
        doc = _json_or_none(data)
        feats = doc.get("features") if isinstance(doc, dict) else None
        if isinstance(feats, list) and any(isinstance(f, dict) and isinstance(f.get("properties"), dict)
                                           and any(f["properties"].get(k) for k in ("communes", "epci", "departements"))
                                           for f in feats):
            from .perimeters import read_perimeters

            out = read_perimeters(doc, catalogue=catalogue)
            out.attrs["upload"] = {"format": "perimeters", "note": "", "note_fr": ""}
            return out
    kwargs = dict(data=data, filename=filename, id_field=id_field, name_field=name_field, layer=layer,
                  assume_crs=assume_crs, max_bytes=max_bytes, max_unzipped_bytes=max_unzipped_bytes,
                  max_vertices=max_vertices)
    return _run_reader(_read_perimeter_geometries, kwargs, isolated=isolated, timeout=timeout, memory=memory)


def _read_perimeter_geometries(data: bytes, *, filename: str, id_field: str | None, name_field: str | None,
                               **options) -> gpd.GeoDataFrame:
    """A perimeter file read as polygons, in this process (see :func:`read_perimeter_upload`)."""
    where = Path(filename).name or "upload"
    raw, info = _read_upload(data, filename=filename, **options)
    zones, info = _as_zones(raw, info, where, code_field=id_field, name_field=name_field, ids=True)
    poly = np.isin(shapely.get_type_id(zones.geometry.to_numpy()), (3, 6))
    if not poly.all():
        bad = zones.loc[~poly, "code"].iloc[0]
        raise InvalidPerimeter(f"{where}: perimeter {bad!r} is a point, not a polygon: a perimeter needs an area; "
                               "draw it as a polygon.",
                               fr=f"{where} : le périmètre « {bad} » est un point ; un périmètre doit être un polygone.")
    for code, geom in zip(zones["code"], zones.geometry.to_numpy()):
        problem = coordinate_problem(f"perimeter {code!r}", shapely.get_coordinates(geom))
        if problem is not None:
            raise InvalidPerimeter(f"{where}: {problem}",
                                   fr=f"{where} : le périmètre « {code} » sort du territoire français ; "
                                   "vérifiez le système de coordonnées.")
    info["id_field"] = info.pop("code_field")
    props = [_json_safe(r) for r in zones.drop(columns=["code", "nom", "geometry"]).to_dict("records")]
    out = gpd.GeoDataFrame({"id": zones["code"].to_numpy(), "nom": zones["nom"].to_numpy(),
                            "definition": "geometry", "communes": [None] * len(zones), "properties": props},
                           geometry=zones.geometry.to_numpy(), crs="EPSG:4326")
    out.attrs["upload"] = info
    return out


def _json_or_none(data: bytes):
    try:
        return json.loads(bytes(data).decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None


def _json_safe(row: dict) -> dict:
    """Property values as JSON types (numbers, text, booleans, null)."""
    out = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            out[str(key)] = None
        elif isinstance(value, (np.bool_, bool)):
            out[str(key)] = bool(value)
        elif isinstance(value, (np.integer, int)):
            out[str(key)] = int(value)
        elif isinstance(value, (np.floating, float)):
            out[str(key)] = float(value)
        elif isinstance(value, str):
            out[str(key)] = value
        else:
            try:
                out[str(key)] = None if pd.isna(value) else str(value)
            except (TypeError, ValueError):  # lists, arrays
                out[str(key)] = str(value)
    return out
