"""Load boundary layers as normalised GeoDataFrames.

:func:`load_layer` returns a layer in EPSG:4326 with the columns ``code`` (text),
``nom``, ``population`` (when known), the parent codes the catalogue names (``dep``,
``reg``, ``epci``, ``ze``…), the extra attributes it lists, and ``geometry``. The first
load fetches the source files (download, or a mirror folder read in place) and writes a
GeoParquet table to the cache; later loads read that table.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._http import fetch_file
from ._readers import read_source
from .cache import Cache, code_digest
from .catalogue import Catalogue, LayerSpec, Members, Source, load_catalogue
from .errors import DataUnavailable, IntegrityError, PtceGeoError
from .geometry import repair_polygonal
from .projection import AREA_METHOD, area_m2, length_m
from .settings import mirror_base
from .textsafe import C1_CONTROLS, repair_cp1252

logger = logging.getLogger(__name__)

__all__ = [
    "load_layer",
    "commune_membership",
    "ZoneMembers",
    "zone_members",
    "UNRESOLVED_COLUMNS",
    "fetch_layers",
    "layer_status",
    "source_files",
    "clear_memory_cache",
    "shared_key",
]

#: values that mean "no parent" in official tables
_NO_CODE = {"", "ZZZZZZZZZ", "ZZZZZ", "NR", "nan", "None", "<NA>"}
_MEMO: dict[tuple, gpd.GeoDataFrame] = {}
#: the tables of _MEMO by their token (see :func:`shared_key`)
_BY_TOKEN: dict[str, gpd.GeoDataFrame] = {}
#: guards _MEMO and _KEY_LOCKS only; never held while a layer is built or downloaded
_MEMO_LOCK = threading.RLock()
#: commune → unit rows of membership tables, by file and layer
_MEMBERS: dict[tuple, pd.DataFrame] = {}
#: the last membership file read, whole: one table (INSEE's table d'appartenance) feeds
#: several layers, and it is read once for all of them
_LAST_TABLE: dict[tuple, pd.DataFrame] = {}
#: one lock per layer key: a layer being built (or downloaded) blocks only its own loads
_KEY_LOCKS: dict[tuple, threading.RLock] = {}

Progress = Callable[[int, "int | None"], None]
ProgressFactory = Callable[[str], Progress]


def clear_memory_cache() -> None:
    """Forget the layers held in memory by this process."""
    with _MEMO_LOCK:
        _MEMO.clear()
        _BY_TOKEN.clear()
        _MEMBERS.clear()
        _LAST_TABLE.clear()
        _MEMBERS_MEMO.clear()


def _where(spec: LayerSpec) -> str:
    return f"layer {spec.id!r}"


def _obtain(
    spec: LayerSpec, source: Source, catalogue: Catalogue, cache: Cache,
    progress: ProgressFactory | None,
) -> Path:
    """Return a local path of ``source``: downloaded into the cache, or a mirror file."""
    location = catalogue.resolve(source)
    if location.startswith(("http://", "https://")):
        dest = cache.download_path(spec, source)
        if cache.verify_download(dest, source):
            return dest
        callback = progress(f"{spec.id}: {source.filename}") if progress else None
        return fetch_file(
            location, dest, sha256=source.sha256, size=source.size,
            progress=callback, layer_id=spec.id,
        )
    path = Path(location)
    if not path.is_file():
        from .settings import mirror_hint

        hint_en, hint_fr = mirror_hint()
        raise DataUnavailable(
            f"Layer {spec.id!r}: file {path} not found (catalogue {catalogue.path}). {hint_en}",
            fr=f"Couche « {spec.id} » : fichier {path} introuvable (catalogue {catalogue.path.name}). {hint_fr}",
        )
    size = path.stat().st_size
    if source.size is not None and size != source.size:
        raise IntegrityError(
            f"Layer {spec.id!r}: {path} has {size} bytes, the catalogue expects {source.size}: "
            "replace the mirror copy or update the catalogue."
        )
    if source.sha256 is not None:
        from ._http import file_sha256

        digest = file_sha256(path)
        if digest != source.sha256:
            raise IntegrityError(
                f"Layer {spec.id!r}: {path} has sha256 {digest}, the catalogue expects "
                f"{source.sha256}: replace the mirror copy or update the catalogue."
            )
    return path


def source_files(spec: LayerSpec) -> list[Source]:
    """Every file a layer reads (main source, membership table, joins, members tables)."""
    files = [s for s in (spec.source, spec.membership) if s is not None]
    if spec.members is not None:
        files += [s for s in (spec.members.table, spec.members.siren_table) if s is not None]
    return files + [j.source for j in spec.joins]


def _field(df: pd.DataFrame, name: str, spec: LayerSpec) -> str:
    """Find a source field by exact, then case-insensitive, name."""
    if name in df.columns:
        return name
    lower = {str(c).lower(): c for c in df.columns}
    if name.lower() in lower:
        return lower[name.lower()]
    raise DataUnavailable(
        f"Layer {spec.id!r}: the source has no field {name!r} (it has "
        f"{', '.join(map(str, list(df.columns)[:15]))}): fix the catalogue's field names."
    )


def _codes(values: pd.Series, width: int | None) -> pd.Series:
    """Normalise codes as stripped text; pad digit-only codes to ``width``."""
    s = values.astype("string").str.strip()
    s = s.str.replace(r"\.0$", "", regex=True)  # codes read as floats somewhere upstream
    if width:
        digits = s.str.fullmatch(r"\d+", na=False)
        s = s.mask(digits, s.str.zfill(width))
    return s.mask(s.isin(_NO_CODE))


def _apply_exclude(df: pd.DataFrame, spec: LayerSpec) -> pd.DataFrame:
    keep = np.ones(len(df), dtype=bool)
    for rule in spec.exclude:
        field = rule.get("field")
        if not isinstance(field, str) or field not in df.columns:
            continue  # a rule on an absent field excludes nothing
        col = df[field]
        if rule.get("notnull"):
            keep &= ~col.notna().to_numpy()
        if "in" in rule:
            keep &= ~col.astype("string").isin([str(v) for v in rule["in"]]).to_numpy()
        if "not_in" in rule:  # keep only the rows of the values listed
            keep &= col.astype("string").isin([str(v) for v in rule["not_in"]]).to_numpy()
    return df.loc[keep]


def _drop_no_unit(rows: pd.DataFrame, spec: LayerSpec) -> pd.DataFrame:
    """Rows (``code`` column) without the codes meaning "outside any unit" (``no_unit``)."""
    if not spec.no_unit or not len(rows):
        return rows
    pattern = "|".join(f"(?:{p})" for p in spec.no_unit)
    outside = rows["code"].astype("string").str.fullmatch(pattern, na=False).to_numpy()
    return rows.loc[~outside]


def _text(column: pd.Series) -> pd.Series:
    """A text field as strings, Windows punctuation read as control characters repaired
    (:func:`~ptce_geo.textsafe.repair_cp1252`)."""
    return column.astype("string").str.replace(C1_CONTROLS, lambda m: repair_cp1252(m.group()), regex=True)


def _normalise(raw: pd.DataFrame, spec: LayerSpec, *, code_field: str, name_field: str | None) -> pd.DataFrame:
    """Rename source fields to the normalised columns."""
    out = pd.DataFrame(index=raw.index)
    out["code"] = _codes(raw[_field(raw, code_field, spec)], spec.code_width)
    out["nom"] = (
        _text(raw[_field(raw, name_field, spec)]).str.strip()
        if name_field else out["code"]
    )
    if spec.population_field:
        out["population"] = pd.to_numeric(raw[_field(raw, spec.population_field, spec)], errors="coerce")
    for name, field in spec.parents.items():
        out[name] = _codes(raw[_field(raw, field, spec)], None)
    for name, field in spec.attributes.items():
        col = raw[_field(raw, field, spec)]
        out[name] = col if pd.api.types.is_numeric_dtype(col) else _text(col)
    if spec.members is not None and spec.members.field:  # read by zone_members
        out["members"] = raw[_field(raw, spec.members.field, spec)].astype("string")
    if spec.members is not None and spec.members.count_field:
        out["members_declared"] = pd.to_numeric(raw[_field(raw, spec.members.count_field, spec)], errors="coerce")
    if isinstance(raw, gpd.GeoDataFrame):
        out = gpd.GeoDataFrame(out, geometry=raw.geometry.values, crs=raw.crs)
    return out


def _join_tables(raw: pd.DataFrame, spec: LayerSpec, catalogue: Catalogue, cache: Cache, progress) -> pd.DataFrame:
    for join in spec.joins:
        path = _obtain(spec, join.source, catalogue, cache, progress)
        table = read_source(path, join.source, where=_where(spec))
        key = _field(table, join.key, spec)
        cols = {src: _field(table, src, spec) for src in join.fields.values()}
        sub = table[[key, *cols.values()]].drop_duplicates(subset=key)
        sub = sub.rename(columns={key: "__key", **{v: k for k, v in zip(join.fields, cols.values())}})
        sub["__key"] = _codes(sub["__key"], 5)
        left = _codes(raw[_field(raw, spec.code_field, spec)], spec.code_width)
        raw = raw.assign(__key=left.to_numpy()).merge(sub, on="__key", how="left").drop(columns="__key")
    return raw


def _membership_table(spec: LayerSpec, catalogue: Catalogue, cache: Cache, progress) -> pd.DataFrame:
    """Commune → unit rows (``commune``, ``code``, ``nom``) of a dissolved layer.

    Read from the source table once, then kept in the cache next to the layer's table
    (:meth:`Cache.computed_once`): the layer's build stores them, and every later process (the
    Scorecard's, the app's) reads them back instead of the source table.
    """
    assert spec.membership is not None
    stored = _index_path(spec, catalogue, cache, "membership")
    key = (str(stored),)
    with _MEMO_LOCK:
        if key in _MEMBERS:
            return _MEMBERS[key]
    rows, _ = cache.computed_once(stored, lambda: _read_membership(spec, catalogue, cache, progress),
                                  kind=pd.DataFrame, what=f"the membership of layer {spec.id}")
    with _MEMO_LOCK:
        _MEMBERS[key] = rows
    return rows


def _read_membership(spec: LayerSpec, catalogue: Catalogue, cache: Cache, progress) -> pd.DataFrame:
    """The rows of :func:`_membership_table`, read from the source table (one table, INSEE's
    table d'appartenance, feeds several layers: it is parsed once for all of them)."""
    assert spec.membership is not None
    path = _obtain(spec, spec.membership, catalogue, cache, progress)
    stat = path.stat()
    file_key = (str(path), stat.st_size, stat.st_mtime_ns, spec.membership)
    with _MEMO_LOCK:
        table = _LAST_TABLE.get(file_key)
    if table is None:
        table = read_source(path, spec.membership, where=_where(spec))
        with _MEMO_LOCK:
            _LAST_TABLE.clear()
            _LAST_TABLE[file_key] = table
    com = _field(table, spec.membership_commune_field or "CODGEO", spec)
    code = _field(table, spec.membership_code_field or spec.code_field, spec)
    # names come from the membership table, unless a names source gives them
    name_field = spec.membership_name_field or (spec.name_field if spec.source is None else None)
    name = _field(table, name_field, spec) if name_field else code
    rows = pd.DataFrame({"commune": _codes(table[com], 5), "code": table[code].astype("string"),
                         "nom": table[name].astype("string")})
    if spec.membership_separator:
        rows["code"] = rows["code"].str.split(spec.membership_separator)
        rows = rows.explode("code")
    rows["code"] = _codes(rows["code"], spec.code_width)
    rows = _drop_no_unit(rows.dropna(subset=["commune", "code"]), spec)
    return rows.drop_duplicates(subset=["commune", "code"]).reset_index(drop=True)


def _index_path(spec: LayerSpec, catalogue: Catalogue, cache: Cache, what: str) -> Path:
    """Where the cache keeps an index derived from ``spec``'s sources (``membership``, ``members``).

    Next to the layer's table; the key holds the layer's and the communes' fingerprints
    and the library's code (:func:`ptce_geo.cache.code_digest`).
    """
    parts = [what, code_digest(), _fingerprint(spec, catalogue)]
    if "communes" in catalogue.layers:
        parts.append(_fingerprint(catalogue["communes"], catalogue))
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    table = _table_path(spec, catalogue, cache)
    return table.with_name(f"{table.stem}.{what}-{key}.pickle")


def commune_membership(layer_id: str, *, catalogue: Catalogue | None = None,
                       cache: Cache | None = None) -> pd.DataFrame:
    """Which communes make each unit of a layer nested in the communes.

    Parameters
    ----------
    layer_id : str
        A layer whose units are unions of whole communes (``spec.nested_in_communes``).

    Returns
    -------
    pandas.DataFrame
        Columns ``commune`` and ``code`` (one row per commune and unit; a commune may
        belong to several units of a ``zones`` layer, and to none).
    """
    catalogue = catalogue or load_catalogue()
    spec = catalogue[layer_id]
    communes = load_layer("communes", catalogue=catalogue, cache=cache)
    if spec.id == "communes":
        return pd.DataFrame({"commune": communes["code"], "code": communes["code"]})
    if spec.membership is not None:
        rows = _membership_table(spec, catalogue, cache or Cache(), None)
        return rows[["commune", "code"]].reset_index(drop=True)
    column = spec.commune_field or spec.dissolve_by
    if column is None or column not in communes.columns:
        raise DataUnavailable(
            f"Layer {layer_id!r} is not nested in the communes: the communes layer has no "
            f"column {column!r}. Add it to the communes' parents in the catalogue."
        )
    rows = pd.DataFrame({"commune": communes["code"], "code": communes[column]})
    return _drop_no_unit(rows.dropna(), spec).reset_index(drop=True)


#: columns of :attr:`ZoneMembers.unresolved`
UNRESOLVED_COLUMNS = ["layer", "zone_code", "zone_name", "member_name", "member_code", "reason", "detail"]
#: why a member or a zone is unresolved (French wording for the app)
UNRESOLVED_REASONS = {
    "unreadable": "membre illisible",
    "unknown_code": "code absent du COG 2024",
    "count_mismatch": "nombre de communes différent de celui de la source",
    "no_members": "aucun membre indiqué",
}
_ITEM = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")
_NO_VALUE = {"", "none", "nan", "null", "<na>"}
_MEMBERS_MEMO: dict[tuple, "ZoneMembers"] = {}


@dataclass(frozen=True)
class ZoneMembers:
    """The COG communes of each zone of a layer, and the members that could not be read.

    Attributes
    ----------
    layer : str
        The layer id.
    rows : pandas.DataFrame
        ``commune`` (INSEE code of the communes layer) and ``code`` (the zone): one row
        per resolved (commune, zone). A commune may belong to several zones.
    unresolved : pandas.DataFrame
        Columns :data:`UNRESOLVED_COLUMNS`: one row per member that cannot be turned into
        communes (``reason`` ``"unreadable"`` or ``"unknown_code"``), or per zone whose
        members are missing (``"no_members"``) or do not add up to the number of communes
        the source declares (``"count_mismatch"``). ``detail`` says it in English;
        :data:`UNRESOLVED_REASONS` in French.
    complete : frozenset of str
        Zones every member of which was resolved: their communes are the zone, and their
        overlaps with poles given by codes are computed on shared communes. The other
        zones are measured by their outline.
    """

    layer: str
    rows: pd.DataFrame
    unresolved: pd.DataFrame
    complete: frozenset
    #: position of each row's commune in the communes layer and of its zone in the zones
    #: layer, as loaded when the members were read (``sizes`` = the two layers' lengths)
    commune_pos: np.ndarray | None = None
    zone_pos: np.ndarray | None = None
    sizes: tuple[int, int] = (0, 0)

    def communes(self, code: str) -> list[str]:
        """Sorted commune codes of one zone (empty for an unknown zone)."""
        return sorted(self.rows.loc[self.rows["code"] == code, "commune"])


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip().lower() in _NO_VALUE


def _parse_members(text: object, members: Members) -> list[tuple[str, str | None]]:
    """(name, code) of each member written in ``text``; code None when unreadable."""
    if _blank(text):
        return []
    text = str(text).strip()
    if members.format == "code":
        return [("", text)]
    out = []
    for item in text.split(members.separator):
        item = item.strip()
        if not item:
            continue
        if members.format == "code_list":
            out.append(("", item))
            continue
        m = _ITEM.match(item)
        out.append((m.group(1), m.group(2).strip()) if m and m.group(2).strip() else (item, None))
    return out


class _Resolver:
    """Turn member codes into COG communes: INSEE codes, EPCI/EPT SIREN, commune SIREN."""

    def __init__(self, communes: pd.DataFrame, siren_to_insee: dict[str, str]) -> None:
        codes = communes["code"].to_numpy(dtype=object)
        self.communes = set(codes)
        self.groups: dict[str, dict[str, list[str]]] = {}
        for col in ("epci", "ept"):
            if col in communes:
                keys = communes[col].to_numpy(dtype=object)
                self.groups[col] = {k: sorted(codes[i]) for k, i in _positions_by_key(keys)}
        self.siren = siren_to_insee

    def __call__(self, code: str, kind: str) -> list[str]:
        code = code.strip()
        if kind == "communes":
            code = code.zfill(5) if code.isdigit() else code.upper()
            return [code] if code in self.communes else []
        found = self.groups.get("epci", {}).get(code, [])
        if kind == "epci" or found:
            return list(found)
        found = self.groups.get("ept", {}).get(code, [])  # établissements publics territoriaux
        if found:
            return list(found)
        insee = self.siren.get(code)
        return [insee] if insee in self.communes else []


def _siren_table(members: Members, spec: LayerSpec, catalogue: Catalogue, cache: Cache) -> dict[str, str]:
    if members.siren_table is None:
        return {}
    path = _obtain(spec, members.siren_table, catalogue, cache, None)
    table = read_source(path, members.siren_table, where=_where(spec))
    siren = _codes(table[_field(table, members.siren_field, spec)], 9)
    insee = _codes(table[_field(table, members.insee_field, spec)], 5)
    return {s: i for s, i in zip(siren.to_numpy(dtype=object), insee.to_numpy(dtype=object))
            if isinstance(s, str) and isinstance(i, str)}


def _unresolved(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=UNRESOLVED_COLUMNS).astype(object)


def _declared_members(spec: LayerSpec, layer: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                      catalogue: Catalogue, cache: Cache) -> ZoneMembers:
    """Members given by a field of the layer or a commune → zone table (``[layer.members]``)."""
    members = spec.members
    assert members is not None
    resolve = _Resolver(communes, _siren_table(members, spec, catalogue, cache))
    names = dict(zip(layer["code"].to_numpy(dtype=object), layer["nom"].to_numpy(dtype=object)))
    pairs: list[tuple[str, str]] = []
    bad: list[tuple] = []
    if members.table is not None:
        path = _obtain(spec, members.table, catalogue, cache, None)
        table = read_source(path, members.table, where=_where(spec))
        com = _codes(table[_field(table, members.commune_field, spec)], 5)
        zone = _codes(table[_field(table, members.zone_field, spec)], spec.code_width)
        for c, z in zip(com.to_numpy(dtype=object), zone.to_numpy(dtype=object)):
            if z not in names or c is None or pd.isna(c):
                continue  # a zone this layer does not hold
            found = resolve(str(c), "communes")
            if found:
                pairs.append((found[0], z))
            else:
                bad.append((spec.id, z, names[z], "", c, "unknown_code",
                            f"{c} is not a commune of the communes layer (COG {catalogue['communes'].vintage})"))
    else:
        declared = layer["members_declared"] if "members_declared" in layer else pd.Series(np.nan, index=layer.index)
        for z, text, n_declared in zip(layer["code"].to_numpy(dtype=object), layer["members"].to_numpy(dtype=object),
                                       declared.to_numpy(dtype=object)):
            first = len(pairs)  # this zone's pairs start here (codes are unique)
            for name, code in _parse_members(text, members):
                name = name or (names[z] if members.format == "code" else "")  # a zone named after its member
                if code is None:
                    bad.append((spec.id, z, names[z], name, "", "unreadable",
                                f"cannot read {name!r}: expected 'name (code)'"))
                    continue
                found = resolve(code, members.codes)
                if not found:
                    what = {"communes": "a commune", "epci": "an EPCI"}.get(members.codes, "an EPCI, EPT or commune")
                    bad.append((spec.id, z, names[z], name, code, "unknown_code",
                                f"{code} is not {what} of COG {catalogue['communes'].vintage}"))
                pairs.extend((c, z) for c in found)
            if not pd.isna(n_declared):
                n = len({c for c, _ in pairs[first:]})
                if n and n != int(n_declared):
                    bad.append((spec.id, z, names[z], "", "", "count_mismatch",
                                f"the source declares {int(n_declared)} communes, its members make {n} communes "
                                f"of COG {catalogue['communes'].vintage} (the composition changed)"))
    rows = pd.DataFrame(pairs, columns=["commune", "code"]).drop_duplicates().reset_index(drop=True)
    present = set(rows["code"])
    reported = {b[1] for b in bad}
    bad += [(spec.id, z, names[z], "", "", "no_members", "no member given") for z in layer["code"]
            if z not in present and z not in reported]
    unresolved = _unresolved(bad)
    complete = frozenset(present - set(unresolved["zone_code"]))
    return ZoneMembers(layer=spec.id, rows=rows.astype(object), unresolved=unresolved, complete=complete)


def zone_members(layer_id: str, *, catalogue: Catalogue | None = None,
                 cache: Cache | None = None) -> ZoneMembers | None:
    """The COG communes of each zone of a layer, with the members that cannot be resolved.

    For a layer with ``[layer.members]`` in the catalogue, members are read from the
    field or table it names: INSEE codes, SIREN of EPCI (their communes in the communes
    layer), SIREN of EPT, or commune SIREN through a SIREN table. For a layer built from
    the communes (``geometry = "dissolve"`` or ``commune_field``), the members are its
    membership. Unresolved members are reported, never dropped silently: a zone with one
    is left out of :attr:`ZoneMembers.complete`.

    Parameters
    ----------
    layer_id : str
    catalogue : Catalogue, optional
    cache : Cache, optional

    Returns
    -------
    ZoneMembers or None
        None when the catalogue gives no members for the layer.
    """
    catalogue = catalogue or load_catalogue()
    spec = catalogue[layer_id]
    if not spec.has_members:
        return None
    cache = cache or Cache()
    key = (str(catalogue.path), layer_id, _fingerprint(spec, catalogue), str(cache.root), str(catalogue.base),
           str(mirror_base()))
    with _MEMO_LOCK:
        if key in _MEMBERS_MEMO:
            return _MEMBERS_MEMO[key]
    layer = load_layer(layer_id, catalogue=catalogue, cache=cache, shared=True)
    communes = load_layer("communes", catalogue=catalogue, cache=cache, shared=True)
    result, _ = cache.computed_once(_index_path(spec, catalogue, cache, "members"),
                                    lambda: _compute_members(spec, layer, communes, catalogue, cache),
                                    kind=ZoneMembers, what=f"the members of layer {layer_id}")
    result = ZoneMembers(
        layer=result.layer, rows=result.rows, unresolved=result.unresolved, complete=result.complete,
        commune_pos=pd.Index(communes["code"].to_numpy(dtype=object)).get_indexer(
            result.rows["commune"].to_numpy(dtype=object)),
        zone_pos=pd.Index(layer["code"].to_numpy(dtype=object)).get_indexer(result.rows["code"].to_numpy(dtype=object)),
        sizes=(len(communes), len(layer)))
    if len(result.unresolved):
        logger.info("layer %s: %d unresolved member(s) in %d zone(s)", layer_id, len(result.unresolved),
                    result.unresolved["zone_code"].nunique())
    with _MEMO_LOCK:
        _MEMBERS_MEMO[key] = result
    return result


def _compute_members(spec: LayerSpec, layer: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                     catalogue: Catalogue, cache: Cache) -> ZoneMembers:
    """The members of ``spec``'s zones, without positions (what :func:`zone_members` stores)."""
    if spec.members is not None:
        return _declared_members(spec, layer, communes, catalogue, cache)
    rows = commune_membership(spec.id, catalogue=catalogue, cache=cache)
    rows = rows[rows["code"].isin(set(layer["code"]))]
    known = set(communes["code"])
    lost = rows[~rows["commune"].isin(known)]
    names = dict(zip(layer["code"], layer["nom"]))
    unresolved = _unresolved([(spec.id, z, names.get(z, z), "", c, "unknown_code",
                               f"{c} is not a commune of the communes layer") for c, z in
                              zip(lost["commune"], lost["code"])])
    rows = rows[rows["commune"].isin(known)].drop_duplicates().reset_index(drop=True).astype(object)
    complete = frozenset(set(rows["code"]) - set(unresolved["zone_code"]))
    return ZoneMembers(layer=spec.id, rows=rows, unresolved=unresolved, complete=complete)


def _positions_by_key(keys: np.ndarray) -> list[tuple[object, np.ndarray]]:
    """``(key, positions)`` for each distinct non-missing key, keys sorted, positions in order.

    One factorisation and one sort for all the groups: iterating a pandas ``groupby``
    costs about half a millisecond per group on text keys.
    """
    labels, uniques = pd.factorize(keys, sort=True)  # missing keys get -1
    order = np.argsort(labels, kind="stable")
    order = order[labels[order] >= 0]
    if not len(order):
        return []
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return list(zip(uniques, np.split(order, bounds)))


def _dissolve(spec: LayerSpec, names: pd.DataFrame | None, catalogue: Catalogue, cache: Cache, progress) -> gpd.GeoDataFrame:
    communes = load_layer("communes", catalogue=catalogue, cache=cache, progress=progress)
    if spec.membership is not None:
        rows = _membership_table(spec, catalogue, cache, progress)
    else:
        if spec.dissolve_by not in communes.columns:
            raise DataUnavailable(
                f"Layer {spec.id!r} dissolves communes by {spec.dissolve_by!r}, which the "
                "communes layer lacks: add it to the communes' parents in the catalogue."
            )
        rows = pd.DataFrame({"commune": communes["code"], "code": communes[spec.dissolve_by]})
        rows = _drop_no_unit(rows.dropna(), spec)
    # one positional lookup and one sort for every unit (per-group pandas indexing cost
    # seconds on the 2 000 cantons); groups in code order, communes in row order
    where = pd.Index(communes["code"]).get_indexer(rows["commune"].to_numpy(dtype=object))
    rows = rows.loc[where >= 0]
    where = where[where >= 0]
    geoms = np.asarray(communes.geometry.values, dtype=object)
    pops = (communes["population"].to_numpy(dtype=float, na_value=np.nan) if "population" in communes
            else None)
    names_ = rows["nom"].to_numpy(dtype=object) if "nom" in rows else None
    records = []
    for code, idx in _positions_by_key(rows["code"].to_numpy(dtype=object)):
        parts = geoms[where[idx]]
        union = shapely.coverage_union_all(parts)
        if not shapely.is_valid(union):
            union = shapely.union_all(parts)
        rec = {"code": code, "geometry": union, "n_communes": len(parts)}
        if pops is not None:
            values = pops[where[idx]]
            rec["population"] = float(np.nansum(values)) if np.isfinite(values).any() else np.nan
        if names_ is not None:
            rec["nom"] = names_[idx[0]]
        records.append(rec)
    out = gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry="geometry", crs="EPSG:4326")
    if names is not None:
        extra = pd.DataFrame(names.drop(columns=[c for c in ("geometry",) if c in names]))
        extra = extra.drop_duplicates(subset="code")
        drop = [c for c in extra.columns if c in out.columns and c != "code" and c != "nom"]
        out = out.drop(columns=drop).merge(extra, on="code", how="left", suffixes=("_m", ""))
        if "nom_m" in out:
            out["nom"] = out["nom"].fillna(out.pop("nom_m"))
    if "nom" not in out:
        out["nom"] = out["code"]
    return out


def _unique_codes(gdf: gpd.GeoDataFrame, spec: LayerSpec) -> gpd.GeoDataFrame:
    gdf = gdf[gdf["code"].notna()]
    dup = gdf["code"].duplicated(keep=False).to_numpy()
    if dup.any():  # repeated rows (same code, same geometry) can only be among rows sharing a code
        shared = gdf.loc[dup]
        wkb = shapely.to_wkb(shared.geometry.values)
        repeated = np.zeros(len(gdf), dtype=bool)
        repeated[np.flatnonzero(dup)] = pd.DataFrame({"code": shared["code"].to_numpy(), "wkb": wkb}).duplicated()
        if repeated.any():
            logger.info("layer %s: %d repeated rows dropped", spec.id, int(repeated.sum()))
            gdf = gdf.loc[~repeated]
    dup = gdf["code"].duplicated(keep=False)
    if dup.any():
        rank = gdf.groupby("code").cumcount() + 1
        new = gdf["code"].where(~dup | (rank == 1), gdf["code"] + "#" + rank.astype("string"))
        logger.warning("layer %s: %d codes shared by different units, suffixed with #n",
                       spec.id, int(dup.sum()))
        gdf = gdf.assign(code=new)
    return gdf


def _build(spec: LayerSpec, catalogue: Catalogue, cache: Cache, progress) -> gpd.GeoDataFrame:
    raw = None
    if spec.source is not None:
        path = _obtain(spec, spec.source, catalogue, cache, progress)
        raw = read_source(path, spec.source, where=_where(spec))
        raw = _apply_exclude(raw, spec)
        raw = _join_tables(raw, spec, catalogue, cache, progress)
    if spec.geometry == "dissolve":
        names = _normalise(raw, spec, code_field=spec.code_field, name_field=spec.name_field) if raw is not None else None
        if isinstance(names, gpd.GeoDataFrame):
            names = pd.DataFrame(names.drop(columns="geometry"))
        gdf = _dissolve(spec, names, catalogue, cache, progress)
    else:
        if not isinstance(raw, gpd.GeoDataFrame):
            raise DataUnavailable(f"Layer {spec.id!r}: its source has no geometry: use a geographic format.")
        gdf = _normalise(raw, spec, code_field=spec.code_field, name_field=spec.name_field)
        if gdf.crs is None:
            gdf = gdf.set_crs("EPSG:4326")
        elif not gdf.crs.equals("EPSG:4326"):
            gdf = gdf.to_crs("EPSG:4326")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    gdf = gdf.set_geometry(repair_polygonal(gdf.geometry.values, labels=gdf["code"], where=_where(spec)))
    gdf = _unique_codes(gdf, spec).reset_index(drop=True)
    # measured once here, on the full-precision geometry: equal-area area, geodesic outline
    gdf["area_m2"] = area_m2(gdf.geometry.values)
    gdf["length_m"] = length_m(gdf.geometry.values)
    front = ["code", "nom"] + [c for c in ("population",) if c in gdf]
    return gdf[front + [c for c in gdf.columns if c not in front and c != "geometry"] + ["geometry"]]


def _plain_strings(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Hold text columns as Python objects (NA as None).

    pandas 3 reads text as Arrow strings, whose element-wise iteration from Python (sets,
    dict lookups, loops over codes) is two orders of magnitude slower than for objects.
    """
    for col in table.columns:
        if col != "geometry" and pd.api.types.is_string_dtype(table[col]) and table[col].dtype != object:
            values = table[col].to_numpy(dtype=object, na_value=None)
            table[col] = pd.Series(values, index=table.index, dtype=object)
    return table


def _fingerprint(spec: LayerSpec, catalogue: Catalogue) -> str:
    fp = hashlib.sha256((spec.fingerprint() + AREA_METHOD).encode()).hexdigest()[:12]
    if spec.geometry == "dissolve" and spec.id != "communes":
        fp = fp[:6] + catalogue["communes"].fingerprint()[:6]
    return fp


def _table_path(spec: LayerSpec, catalogue: Catalogue, cache: Cache) -> Path:
    """Where the cache keeps the built table of ``spec`` (its fingerprint in the name)."""
    return cache.table_path(spec, _fingerprint(spec, catalogue))


def shared_key(table: pd.DataFrame) -> str | None:
    """The token of a table this process holds in memory, when ``table`` is that very table.

    Indexes built from a layer (code positions, membership, spatial trees) are cached per
    process under this key. A copy, a subset or a reordering of a loaded table carries the
    same ``attrs["token"]`` (pandas copies ``attrs``) but not the same rows: it gets no key,
    so no index of the whole layer is ever used for it. Read tables with
    ``load_layer(..., shared=True)`` to benefit from the cached indexes.
    """
    token = table.attrs.get("token") if hasattr(table, "attrs") else None
    if token is None:
        return None
    with _MEMO_LOCK:
        held = _BY_TOKEN.get(token)
    return token if held is table else None


def load_layer(
    layer_id: str,
    *,
    catalogue: Catalogue | None = None,
    cache: Cache | None = None,
    progress: ProgressFactory | None = None,
    refresh: bool = False,
    shared: bool = False,
) -> gpd.GeoDataFrame:
    """Return one boundary layer, normalised, in EPSG:4326.

    Parameters
    ----------
    layer_id : str
        A layer id of the catalogue (``communes``, ``epci``, ``departements``…).
    catalogue : Catalogue, optional
        Default: the catalogue named by ``PTCE_GEO_CATALOGUE``.
    cache : Cache, optional
        Default: the folder named by ``PTCE_GEO_CACHE``.
    progress : callable, optional
        ``progress(label)`` returns a ``callback(done, total)`` for each download.
    refresh : bool
        Rebuild the cached table from the source files.
    shared : bool
        Return the table this process holds in memory itself, not a shallow copy of it
        (faster; the caller must not modify it). For the library's own readers.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code``, ``nom``, optional ``population``, parent codes and attributes,
        ``geometry``; one row per unit with a unique ``code``. ``attrs`` holds the layer
        id, kind, vintage, title, licence and attribution.

    Raises
    ------
    DataUnavailable
        When a source file cannot be had (offline, missing mirror file, bad format).
    """
    catalogue = catalogue or load_catalogue()
    cache = cache or Cache()
    spec = catalogue[layer_id]
    fingerprint = _fingerprint(spec, catalogue)
    key = (str(catalogue.path), catalogue.resolve(spec.source) if spec.source else "", str(cache.root), layer_id, fingerprint)
    with _MEMO_LOCK:
        if not refresh and key in _MEMO:
            return _MEMO[key] if shared else _MEMO[key].copy(deep=False)
        key_lock = _KEY_LOCKS.setdefault(key, threading.RLock())
    path = cache.table_path(spec, fingerprint)
    if refresh or not cache.has_table(path):  # downloads happen here, before any lock is taken
        _prefetch(spec, catalogue, cache, progress)
    with key_lock:
        with _MEMO_LOCK:
            if not refresh and key in _MEMO:
                return _MEMO[key] if shared else _MEMO[key].copy(deep=False)
        cache.ensure_folder(path.parent)
        with cache.lock(path):
            table = None if refresh else cache.read_table(path)
            if table is None:
                logger.info("building layer %s from its sources", layer_id)
                table = _build(spec, catalogue, cache, progress)
                try:
                    cache.write_table(path, table, layer=spec.id, vintage=spec.vintage)
                except OSError as exc:  # a full disk: the layer is still good, only not kept for later
                    logger.warning("layer %s: cannot write its cache table %s (%s); using it without caching. "
                                   "Free some space or set PTCE_GEO_CACHE to a writable folder.",
                                   layer_id, path, exc.strerror or exc)
        table = _plain_strings(table)
        table.attrs.update(
            layer=spec.id, kind=spec.kind, vintage=spec.vintage, title=spec.title,
            licence=spec.licence, attribution=spec.attribution,
            nested=spec.nested_in_communes,
            # identifies this loaded table (its indexes are cached per process under it)
            token=f"{layer_id}:{fingerprint}:{id(table):x}",
        )
        with _MEMO_LOCK:
            old = _MEMO.get(key)
            if old is not None:
                _BY_TOKEN.pop(old.attrs.get("token"), None)
            _MEMO[key] = table
            _BY_TOKEN[table.attrs["token"]] = table
        return table if shared else table.copy(deep=False)


def _needs_communes(spec: LayerSpec, catalogue: Catalogue) -> bool:
    """Whether building ``spec`` reads the communes layer (units made of communes)."""
    return spec.id != "communes" and (spec.geometry == "dissolve" or spec.membership is not None) \
        and "communes" in catalogue.layers


def _is_local(spec: LayerSpec, catalogue: Catalogue) -> bool:
    """Whether every file ``spec`` is built from is read from disk (a mirror), none downloaded."""
    items = [spec, catalogue["communes"]] if _needs_communes(spec, catalogue) else [spec]
    return not any(catalogue.resolve(source).startswith(("http://", "https://"))
                   for item in items for source in source_files(item))


def _build_tables(catalogue: Catalogue, root: str, layer_ids: list[str]) -> list[str]:
    """Build the cache tables of ``layer_ids`` in order (in a child process); the ids built.

    A layer whose table another process is writing is put back at the end of the list
    once, then left to that process. A layer that cannot be built is logged and skipped:
    the process that needs it will build it and report the error. Then the members of
    the zones layers built (:func:`zone_members`) are computed and kept in the cache,
    unless another process is computing them.
    """
    cache = Cache(root)
    communes = _table_path(catalogue["communes"], catalogue, cache) if "communes" in catalogue.layers else None
    pending, deferred, built = list(layer_ids), set(), []
    while pending:
        # in order, but a layer made of communes only once the communes table is written
        ready = communes is None or cache.has_table(communes)
        lid = next((x for x in pending if ready or not _needs_communes(catalogue[x], catalogue)), None)
        if lid is None:
            if cache.busy(communes):  # the caller is building them
                time.sleep(0.05)
                continue
            lid = pending[0]  # nobody is: load_layer builds them first
        pending.remove(lid)
        spec = catalogue[lid]
        path = _table_path(spec, catalogue, cache)
        if cache.has_table(path):
            continue
        if cache.busy(path):
            if lid not in deferred:
                deferred.add(lid)
                pending.append(lid)
            continue
        try:
            load_layer(lid, catalogue=catalogue, cache=cache, shared=True)
        except PtceGeoError as exc:
            logger.info("layer %s not prepared in the background (%s)", lid, exc)
            continue
        built.append(lid)
    # then the communes of the zones layers built here, which the caller reads last (zone_members)
    for lid in built:
        spec = catalogue[lid]
        if spec.kind != "zones" or not spec.has_members:
            continue
        path = _index_path(spec, catalogue, cache, "members")
        if cache.has_object(path) or cache.busy(path):  # there, or being computed by the caller
            continue
        try:
            zone_members(lid, catalogue=catalogue, cache=cache)
        except PtceGeoError as exc:
            logger.info("members of layer %s not prepared in the background (%s)", lid, exc)
    return built


def prepare_layers(layer_ids: Iterable[str] | None = None, *, catalogue: Catalogue | None = None,
                   cache: Cache | None = None) -> threading.Thread | None:
    """Start building, in a child process, the cache tables of layers not cached yet.

    On a cold cache the first computation would build some twenty layers one after the
    other while it computes. This hands the layers it will need to a child process, in
    the order given, while the caller goes on: the caller builds the communes (what
    every computation reads first) and any layer it reaches before the child, and reads
    the others from the cache as the child writes them. The cache's file locks keep the
    two from building the same table; the results are the same tables either way.

    Only layers read from local files (a mirror) are handed over, so that downloads
    keep their progress reports in the caller; nothing happens with a single core or
    when every table is cached.

    Parameters
    ----------
    layer_ids : iterable of str, optional
        In the order the caller will need them (default: the catalogue's order).
    catalogue : Catalogue, optional
    cache : Cache, optional

    Returns
    -------
    threading.Thread or None
        The (daemon) thread waiting for the child, to ``join`` if needed; ``None`` when
        nothing was started.
    """
    from ._worker import start
    from .overlay import cores

    catalogue = catalogue or load_catalogue()
    cache = cache or Cache()
    if cores() < 2 or multiprocessing.current_process().daemon:  # a daemonic process may not have children
        return None
    ids = [lid for lid in (layer_ids if layer_ids is not None else catalogue.ids()) if lid != "communes"]
    missing = [lid for lid in ids
               if not cache.has_table(_table_path(catalogue[lid], catalogue, cache))
               and _is_local(catalogue[lid], catalogue)]
    if not missing:
        return None
    # the child starts from what the caller needs last, the caller from what it needs first
    order = missing[::-1]

    try:  # started from this thread: a fork when the caller runs one thread (see _worker.start)
        call = start(_build_tables, args=(catalogue, str(cache.root), order), memory=None,
                     label=("preparing the layers", "la préparation des couches"))
    except (OSError, RuntimeError) as exc:  # no child process here (no fork, no guard): the caller builds them all
        logger.info("layers not prepared in the background (%s)", exc)
        return None

    def background() -> None:
        try:
            built = call.result(timeout=1800)
            logger.info("prepared in the background: %s", ", ".join(built) or "none")
        except PtceGeoError as exc:  # the caller builds what is missing itself
            logger.info("background preparation of the layers stopped: %s", exc)

    thread = threading.Thread(target=background, name="ptce_geo-prepare-layers", daemon=True)
    thread.start()
    return thread


def _prefetch(spec: LayerSpec, catalogue: Catalogue, cache: Cache, progress: ProgressFactory | None) -> None:
    """Download the files a layer reads (and the communes' when it is built from them), lock-free.

    Each download holds only the lock of its own file, so a stalled server never blocks
    the loads of other layers; the build then finds the files in the cache.
    """
    specs = [spec, catalogue["communes"]] if _needs_communes(spec, catalogue) else [spec]
    for item in specs:
        if item is not spec and cache.has_table(_table_path(item, catalogue, cache)):
            continue
        for source in source_files(item):
            if catalogue.resolve(source).startswith(("http://", "https://")):
                _obtain(item, source, catalogue, cache, progress)


def fetch_layers(
    layer_ids: Iterable[str] | None = None, *, catalogue: Catalogue | None = None,
    cache: Cache | None = None, progress: ProgressFactory | None = None,
) -> dict[str, int]:
    """Fetch and prepare layers (all of the catalogue when none named).

    Returns
    -------
    dict
        Row count of each layer loaded.
    """
    catalogue = catalogue or load_catalogue()
    ids = list(layer_ids) if layer_ids else catalogue.ids()
    prepare_layers(ids, catalogue=catalogue, cache=cache)  # a child builds from the end, this loop from the start
    return {lid: len(load_layer(lid, catalogue=catalogue, cache=cache, progress=progress)) for lid in ids}


def layer_status(*, catalogue: Catalogue | None = None, cache: Cache | None = None) -> pd.DataFrame:
    """One row per layer: id, title, kind, vintage, status, period, licence, how its members
    are given, whether it is cached, and the French notice of a historical layer."""
    catalogue = catalogue or load_catalogue()
    cache = cache or Cache()
    rows = []
    for spec in catalogue:
        ready = cache.has_table(_table_path(spec, catalogue, cache))
        members = spec.members.describe() if spec.members else ("communes" if spec.nested_in_communes else "")
        rows.append({"id": spec.id, "title": spec.title, "kind": spec.kind,
                     "vintage": spec.vintage, "status": spec.status, "period": spec.period,
                     "licence": spec.licence, "members": members,
                     "cached": "yes" if ready else "no", "notice": spec.notice})
    return pd.DataFrame(rows)
