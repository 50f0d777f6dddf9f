"""Read one fetched source file into a (Geo)DataFrame, whatever its format.

Formats: GeoJSON (plain or gzip), GeoPackage, zipped Shapefile, TopoJSON, GeoParquet,
CSV (separator sniffed, BOM and Excel ``="…"`` wrappers removed), JSON arrays, and
spreadsheets inside a zip (``xlsx.zip``). Every column is read as text so codes keep
their leading zeros (``"01001"``, ``"2A004"``).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .catalogue import Source
from .errors import DataUnavailable

logger = logging.getLogger(__name__)

__all__ = ["read_source", "is_zip"]

#: the most a zip member may inflate to when read here (catalogue files)
MAX_MEMBER_BYTES = 2 * 1024**3


def is_zip(path: Path) -> bool:
    """True when the file starts with the zip signature (servers may lie on type)."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _pick_member(zf: zipfile.ZipFile, wanted: str | None, suffixes: tuple[str, ...], where: str) -> str:
    names = [n for n in zf.namelist() if not n.endswith("/")]
    if wanted:
        for name in names:
            if name == wanted or name.endswith("/" + wanted):
                return name
        raise DataUnavailable(f"{where}: the archive has no member {wanted!r} (it holds {names[:8]}).")
    matches = [n for n in names if n.lower().endswith(suffixes)]
    if not matches:
        raise DataUnavailable(f"{where}: the archive holds no {'/'.join(suffixes)} file.")
    if len(matches) > 1:
        logger.info("%s: several %s members, reading %s", where, suffixes, matches[0])
    return matches[0]


def _strip_excel(df: pd.DataFrame) -> pd.DataFrame:
    """Remove Excel text guards (``="01001"``) and surrounding blanks from text cells."""
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            s = df[col].astype("string").str.strip()
            guarded = s.str.startswith('="', na=False) & s.str.endswith('"', na=False)
            if guarded.any():
                s = s.mask(guarded, s.str.slice(2, -1))
            df[col] = s
    return df


def _read_vector(path: Path, source: Source, where: str) -> gpd.GeoDataFrame:
    fmt = source.format
    layer = None
    target: str | Path = path
    if fmt in ("geojson.gz",) or (fmt == "geojson" and _is_gzip(path)):
        with gzip.open(path, "rb") as fh:
            data = fh.read()
        return gpd.read_file(io.BytesIO(data))
    if is_zip(path):
        with zipfile.ZipFile(path) as zf:
            suffixes = {
                "geojson": (".geojson", ".json"),
                "gpkg": (".gpkg",),
                "topojson": (".topojson", ".json"),
            }.get(fmt, (".shp",))
            member = _pick_member(zf, source.member, suffixes, where)
        target = f"/vsizip/{{{path}}}/{member}"  # braces: the archive may lack a .zip suffix
    elif fmt in ("gpkg", "topojson") and source.member:
        layer = source.member
    if fmt == "parquet":
        return gpd.read_parquet(path)
    return gpd.read_file(target, layer=layer)


def _read_table(path: Path, source: Source, where: str) -> pd.DataFrame:
    fmt = source.format
    if fmt in ("xlsx.zip", "xlsx"):
        if fmt == "xlsx":
            data = path.read_bytes()
        else:
            with zipfile.ZipFile(path) as zf:
                member = _pick_member(zf, source.member, (".xlsx", ".xls"), where)
                if zf.getinfo(member).file_size > MAX_MEMBER_BYTES:
                    raise DataUnavailable(f"{where}: {member} is too large to read.")
                data = zf.read(member)
        df = pd.read_excel(
            io.BytesIO(data), sheet_name=source.sheet or 0, skiprows=source.skiprows,
            dtype=str, engine="openpyxl",
        )
        return _strip_excel(df)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if fmt == "json":
        records = json.loads(raw.decode("utf-8-sig"))
        if isinstance(records, dict):
            records = records.get("features") or records.get("data") or [records]
        df = pd.DataFrame.from_records(records)
        return df.astype({c: "string" for c in df.columns if df[c].dtype == object})
    text = raw.decode("utf-8-sig", errors="replace")
    df = pd.read_csv(
        io.StringIO(text), sep=None, engine="python", dtype=str,
        skiprows=source.skiprows, keep_default_na=False, na_values=[""],
    )
    return _strip_excel(df)


def read_source(path: Path, source: Source, *, where: str) -> pd.DataFrame:
    """Read ``path`` as described by ``source``.

    Parameters
    ----------
    path : Path
        The local file (downloaded or in a mirror folder).
    source : Source
        Its catalogue description (format, zip member, sheet…).
    where : str
        Words naming the layer, for messages.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Tables for ``csv``, ``json`` and ``xlsx.zip``; GeoDataFrames otherwise.

    Raises
    ------
    DataUnavailable
        When the file cannot be parsed as its format.
    """
    try:
        if source.format in ("csv", "json", "xlsx.zip", "xlsx"):
            return _read_table(path, source, where)
        return _read_vector(path, source, where)
    except DataUnavailable:
        raise
    except Exception as exc:  # parser errors of GDAL, pandas, json, zip
        raise DataUnavailable(
            f"{where}: file {path} cannot be read as {source.format} ({exc.__class__.__name__}: "
            f"{exc}). Delete it from the cache to fetch it again, or check the mirror copy.",
            fr=f"{where} : le fichier {path.name} est illisible ; supprimez-le du cache "
            "pour le télécharger de nouveau.",
        ) from None
