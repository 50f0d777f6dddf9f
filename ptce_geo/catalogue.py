"""The catalogue of boundary layers, read from a TOML file.

A catalogue lists layers. Each layer names where its file comes from (a URL, or a path
relative to the catalogue's ``base``), its vintage and licence, and which source fields
hold the code, the name, the population and the parent codes. See
``boundaries/catalogue.toml`` for the default and ``boundaries/mirror-2024.toml`` for a
mirror laid out like ``shared/data``.

A layer's geometry either comes from its own file (``geometry = "source"``) or is built by
dissolving the communes of the same catalogue on one of their parent codes
(``geometry = "dissolve"``, ``dissolve_by = "dep"``), which is how supra-communal levels
nest exactly in the communes. A layer whose units are unions of communes says so with
``commune_field``: the column of the communes layer that holds its code. The overlay
engine then computes its pieces exactly by codes.

Official tables give communes outside any unit a code of their own (``ZZZZZZZZZ`` for no
EPT, ``000`` for no aire d'attraction, ``DD000`` for the communes of a département outside
any unité urbaine): ``no_unit`` lists them as regular expressions matched against the
whole code, and those communes belong to no unit of the layer (a pole made of them is not
covered by it). A dissolved layer whose membership table holds the code in another column
than its names source says so with ``membership_code_field``; an ``exclude`` rule with
``not_in`` keeps only the rows whose field takes one of the values listed.

A zones layer drawn as outlines may also say who its **members** are (``[layer.members]``):
a field of its rows holding them (``"name (SIREN); …"`` lists of EPCI, ``"name (INSEE)"``
lists of communes, one EPCI SIREN…) or a commune → zone table. The loader turns them into
COG 2024 commune lists (:func:`ptce_geo.layers.zone_members`), and overlaps with poles
given by codes are then computed on shared communes.

Each layer has a **status**: ``"en vigueur"`` or ``"historique"`` (an expired generation,
such as the 2015 list of QPV), the latter with its ``period`` and a French ``notice`` that
the app and the exports show wherever the layer is used. ``[layer.programme]`` gives the
short label and the style of the layer in a pole's one-line programme summary.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import CatalogueError
from .settings import catalogue_path, mirror_base

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Source", "Join", "Members", "LayerSpec", "Catalogue", "load_catalogue", "KINDS", "FORMATS",
           "STATUSES", "MEMBER_FORMATS", "MEMBER_CODES", "PROGRAMME_STYLES"]

KINDS = ("partition", "zones")
FORMATS = (
    "geojson", "geojson.gz", "gpkg", "shp.zip", "topojson", "parquet",
    "csv", "json", "xlsx", "xlsx.zip",
)
#: normalised names of parent codes a layer may carry
PARENT_NAMES = ("dep", "reg", "epci", "ept", "ze", "communes", "deps", "regs")
#: status of a layer: in force, or an expired generation shown as history
STATUSES = ("en vigueur", "historique")
#: how a members field is written: ``"name (code); …"``, ``"code; code"``, or one code
MEMBER_FORMATS = ("name_code_list", "code_list", "code")
#: what member codes are: INSEE commune codes, EPCI SIREN, or any SIREN (EPCI, EPT, commune)
MEMBER_CODES = ("communes", "epci", "siren")
#: how a layer appears in a pole's programme summary: zones named with their share,
#: a count of member communes, or a count of zones
PROGRAMME_STYLES = ("named", "communes", "count")


@dataclass(frozen=True)
class Source:
    """One file to fetch.

    Attributes
    ----------
    location : str
        Absolute URL, absolute path, or path relative to the catalogue's base.
    format : str
        One of :data:`FORMATS`.
    member : str or None
        File to read inside a zip archive.
    sheet, skiprows : spreadsheet options for ``xlsx.zip``.
    sha256, size : optional integrity checks of the downloaded file.
    """

    location: str
    format: str
    member: str | None = None
    sheet: str | None = None
    skiprows: int = 0
    sha256: str | None = None
    size: int | None = None

    @property
    def filename(self) -> str:
        """Last path component of the location."""
        path = urlsplit(self.location).path if _is_url(self.location) else self.location
        return Path(path).name or "download"


@dataclass(frozen=True)
class Join:
    """A table whose fields are added to a layer's rows, matched on a key."""

    source: Source
    key: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Members:
    """How a zones layer gives its members (``[layer.members]`` in the catalogue).

    Attributes
    ----------
    field : str or None
        A field of the layer's rows holding its members, read as ``format``.
    format : str
        One of :data:`MEMBER_FORMATS`: ``"name_code_list"`` (``"CC X (200000000); …"``),
        ``"code_list"`` (codes split by ``separator``) or ``"code"`` (one code).
    codes : str
        One of :data:`MEMBER_CODES`: ``"communes"`` (INSEE codes), ``"epci"`` (SIREN of
        EPCI) or ``"siren"`` (SIREN of an EPCI, an EPT, or a commune through
        ``siren_table``).
    separator : str
    table : Source or None
        A commune → zone table instead of a field: one row per (commune, zone), the
        commune in ``commune_field`` (INSEE), the zone in ``zone_field``.
    commune_field, zone_field : str or None
    siren_table : Source or None
        A table of commune SIREN → INSEE code (``siren_field``, ``insee_field``), to read
        communes named by their SIREN.
    siren_field, insee_field : str
    count_field : str or None
        A field giving the number of communes the source declares for each zone: a zone
        whose resolved members do not add up to it is reported and measured by its outline.
    """

    field: str | None = None
    format: str = "name_code_list"
    codes: str = "communes"
    separator: str = ";"
    table: Source | None = None
    commune_field: str | None = None
    zone_field: str | None = None
    siren_table: Source | None = None
    siren_field: str = "siren_com"
    insee_field: str = "insee_com"
    count_field: str | None = None

    def describe(self) -> str:
        """One line saying how members are given (for ``ptce-geo layers``)."""
        if self.table is not None:
            return f"table {self.table.filename} ({self.commune_field} → {self.zone_field})"
        return f"field {self.field} ({self.format}, {self.codes})"


@dataclass(frozen=True)
class LayerSpec:
    """A layer of the catalogue, as the rest of ptce_geo sees it."""

    id: str
    title: str
    kind: str
    vintage: int
    licence: str
    attribution: str
    source: Source | None
    code_field: str
    name_field: str | None
    population_field: str | None = None
    parents: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    exclude: tuple[dict[str, Any], ...] = ()
    geometry: str = "source"
    dissolve_by: str | None = None
    membership: Source | None = None
    membership_commune_field: str | None = None
    membership_name_field: str | None = None
    membership_separator: str | None = None
    joins: tuple[Join, ...] = ()
    commune_field: str | None = None
    code_width: int | None = None
    description: str = ""
    url_info: str = ""
    no_unit: tuple[str, ...] = ()
    membership_code_field: str | None = None
    members: Members | None = None
    status: str = "en vigueur"
    period: str = ""
    notice: str = ""
    programme_label: str = ""
    programme_style: str = "named"

    @property
    def historical(self) -> bool:
        """True for an expired generation (``status = "historique"``)."""
        return self.status == "historique"

    @property
    def has_members(self) -> bool:
        """True when the layer's units can be given as lists of COG communes."""
        return self.members is not None or self.nested_in_communes

    @property
    def nested_in_communes(self) -> bool:
        """True when each unit is a union of whole communes of the same vintage."""
        return (
            self.id == "communes"
            or self.commune_field is not None
            or self.geometry == "dissolve"
        )

    def fingerprint(self) -> str:
        """Short hash of everything that changes the loaded table (cache key), computed once.

        Display-only fields (status, period, notice, programme label) are left out, and so is
        ``members`` when absent: adding them changes no cached table.
        """
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            text = json.dumps({k: v for k, v in asdict(self).items()
                               if not k.startswith("_") and k not in _DISPLAY_ONLY
                               and not (k in _UNSET_IF_EMPTY and not v)},
                              sort_keys=True, default=str)
            cached = hashlib.sha256(text.encode()).hexdigest()[:12]
            object.__setattr__(self, "_fingerprint", cached)  # the spec is frozen: set once
        return cached


#: options left out of the cache key while unset, so that layers not using them keep theirs
_UNSET_IF_EMPTY = ("no_unit", "membership_code_field", "members")
#: LayerSpec fields that change no loaded table (kept out of the cache key)
_DISPLAY_ONLY = ("status", "period", "notice", "programme_label", "programme_style")


@dataclass(frozen=True)
class Catalogue:
    """A set of layers and the base their relative paths hang from."""

    path: Path
    name: str
    #: as written in the file: a folder, a URL, or ``env:PTCE_GEO_MIRROR``; expanded
    #: only when a file is resolved, so listing layers needs no mirror
    base: str | None
    layers: dict[str, LayerSpec]

    def __getitem__(self, layer_id: str) -> LayerSpec:
        try:
            return self.layers[layer_id]
        except KeyError:
            known = ", ".join(self.layers)
            raise CatalogueError(
                f"Unknown layer {layer_id!r} in catalogue {self.path}: use one of {known}.",
                fr=f"Couche inconnue « {layer_id} » : couches disponibles : {known}.",
            ) from None

    def __iter__(self):
        return iter(self.layers.values())

    def ids(self, *, kind: str | None = None) -> list[str]:
        """Layer ids in catalogue order, optionally of one kind."""
        return [s.id for s in self.layers.values() if kind is None or s.kind == kind]

    def resolve(self, source: Source) -> str:
        """Return where to read ``source``: a local path or an http(s) URL.

        Relative locations hang from the catalogue's ``base``. When a mirror is set
        (``PTCE_GEO_MIRROR``), an absolute URL ``https://host/path`` is read from
        ``<mirror>/host/path`` instead: the layout ``wget --mirror`` makes.
        """
        loc = source.location
        mirror = mirror_base()
        if _is_url(loc):
            if mirror:
                parts = urlsplit(loc)
                return _join(mirror, parts.netloc + parts.path)
            return loc
        if Path(loc).is_absolute():
            return loc
        base = _expand_base(self.base, self.path)
        if base is None:
            base = str(self.path.parent)
        return _join(base, loc)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _join(base: str, rel: str) -> str:
    if _is_url(base):
        return base.rstrip("/") + "/" + rel.lstrip("/")
    return str(Path(base).expanduser() / rel)


def _expand_base(raw: str | None, path: Path) -> str | None:
    """Expand ``env:NAME`` (or ``${NAME}``) in a catalogue base."""
    if raw is None:
        return None
    name = None
    if raw.startswith("env:"):
        name = raw[4:]
    elif raw.startswith("${") and raw.endswith("}"):
        name = raw[2:-1]
    if name is None:
        return raw if _is_url(raw) or Path(raw).is_absolute() else str(path.parent / raw)
    value = mirror_base() if name == "PTCE_GEO_MIRROR" else os.environ.get(name)
    if not value:
        raise CatalogueError(
            f"Catalogue {path} reads its files from ${name}, which is not set: "
            f"set {name} to the mirror folder or http(s) base URL "
            f"(for example {name}=../shared/data).",
            fr=f"Le catalogue {path.name} lit ses fichiers depuis la variable {name}, "
            f"qui n'est pas définie : indiquez le dossier ou l'URL du miroir.",
        )
    return value


def _source(raw: Any, where: str) -> Source:
    if isinstance(raw, str):
        raw = {"location": raw}
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: a source must be a table or a string.")
    loc = raw.get("location") or raw.get("url") or raw.get("path")
    if not isinstance(loc, str) or not loc:
        raise CatalogueError(f"{where}: the source has no 'url' or 'path': add one.")
    fmt = raw.get("format") or _guess_format(loc)
    if fmt not in FORMATS:
        raise CatalogueError(
            f"{where}: unknown format {fmt!r}: use one of {', '.join(FORMATS)}."
        )
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise CatalogueError(f"{where}: 'size' must be a whole number of bytes.")
    sha = raw.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise CatalogueError(f"{where}: 'sha256' must be 64 hexadecimal characters.")
    skip = raw.get("skiprows", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise CatalogueError(f"{where}: 'skiprows' must be a whole number.")
    return Source(
        location=loc,
        format=fmt,
        member=_opt_str(raw, "member", where),
        sheet=_opt_str(raw, "sheet", where),
        skiprows=skip,
        sha256=sha.lower() if sha else None,
        size=size,
    )


def _guess_format(loc: str) -> str:
    low = loc.lower()
    for fmt in ("geojson.gz", "shp.zip", "xlsx.zip"):
        if low.endswith("." + fmt):
            return fmt
    suffix = low.rsplit(".", 1)[-1]
    return {"json": "geojson", "zip": "shp.zip"}.get(suffix, suffix)


def _opt_str(raw: dict, key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise CatalogueError(f"{where}: {key!r} must be a string.")
    return value


def _str_map(raw: Any, key: str, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise CatalogueError(f"{where}: {key!r} must map names to field names (strings).")
    return dict(raw)


def _members(raw: Any, where: str) -> Members | None:
    if raw is None:
        return None
    where = f"{where}, members"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: [layer.members] must be a table.")
    known = {"field", "format", "codes", "separator", "table", "commune_field", "zone_field", "siren_table",
             "siren_field", "insee_field", "count_field"}
    extra = sorted(set(raw) - known)
    if extra:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(extra)}: use {', '.join(sorted(known))}.")
    table = _source(raw["table"], where) if raw.get("table") is not None else None
    fld = _opt_str(raw, "field", where)
    if (table is None) == (fld is None):
        raise CatalogueError(f"{where}: give either 'field' (a field of the layer holding its members) "
                             "or 'table' (a commune → zone table), not both nor neither.")
    if table is not None and not (raw.get("commune_field") and raw.get("zone_field")):
        raise CatalogueError(f"{where}: a members table needs 'commune_field' (INSEE code) and 'zone_field' "
                             "(the zone's code).")
    fmt = raw.get("format", "name_code_list")
    if fmt not in MEMBER_FORMATS:
        raise CatalogueError(f"{where}: format {fmt!r} is unknown: use one of {', '.join(MEMBER_FORMATS)}.")
    codes = raw.get("codes", "communes")
    if codes not in MEMBER_CODES:
        raise CatalogueError(f"{where}: codes {codes!r} is unknown: use one of {', '.join(MEMBER_CODES)}.")
    sep = raw.get("separator", ";")
    if not isinstance(sep, str) or not sep:
        raise CatalogueError(f"{where}: 'separator' must be a non-empty string, such as ';'.")
    return Members(
        field=fld, format=fmt, codes=codes if table is None else "communes", separator=sep, table=table,
        commune_field=_opt_str(raw, "commune_field", where), zone_field=_opt_str(raw, "zone_field", where),
        siren_table=_source(raw["siren_table"], where) if raw.get("siren_table") is not None else None,
        siren_field=_opt_str(raw, "siren_field", where) or "siren_com",
        insee_field=_opt_str(raw, "insee_field", where) or "insee_com",
        count_field=_opt_str(raw, "count_field", where),
    )


def _status(raw: dict, where: str) -> tuple[str, str, str]:
    status = raw.get("status", "en vigueur")
    if status not in STATUSES:
        raise CatalogueError(f"{where}: status {status!r} is unknown: use \"en vigueur\" or \"historique\".")
    period = _opt_str(raw, "period", where) or ""
    notice = _opt_str(raw, "notice", where) or ""
    if status == "historique" and not (period and notice):
        raise CatalogueError(f"{where}: a historical layer needs 'period' (such as \"2015-2023\") and a French "
                             "'notice' saying what replaced it.")
    return status, period, notice


def _programme(raw: Any, where: str, title: str) -> tuple[str, str]:
    if raw is None:
        return title, "named"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: [layer.programme] must be a table with 'label' and 'style'.")
    label = _opt_str(raw, "label", where) or title
    style = raw.get("style", "named")
    if style not in PROGRAMME_STYLES:
        raise CatalogueError(f"{where}: programme style {style!r} is unknown: use one of "
                             f"{', '.join(PROGRAMME_STYLES)}.")
    return label, style


def _layer(raw: Any, index: int, path: Path) -> LayerSpec:
    if not isinstance(raw, dict):
        raise CatalogueError(f"Catalogue {path}: layer #{index + 1} is not a table.")
    lid = raw.get("id")
    where = f"Catalogue {path}, layer {lid!r}" if lid else f"Catalogue {path}, layer #{index + 1}"
    if not isinstance(lid, str) or not lid.replace("_", "").isalnum():
        raise CatalogueError(f"{where}: 'id' must be a word of letters, digits and '_'.")
    for key in ("title", "kind", "licence", "attribution", "code_field"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise CatalogueError(f"{where}: '{key}' is missing: add it.")
    if raw["kind"] not in KINDS:
        raise CatalogueError(f"{where}: kind must be one of {', '.join(KINDS)}.")
    vintage = raw.get("vintage")
    if not isinstance(vintage, int) or isinstance(vintage, bool) or not 1900 < vintage < 2200:
        raise CatalogueError(f"{where}: 'vintage' must be a year, such as 2024.")
    geometry = raw.get("geometry", "source")
    if geometry not in ("source", "dissolve"):
        raise CatalogueError(f"{where}: geometry must be 'source' or 'dissolve'.")
    source = _source(raw["source"], where) if raw.get("source") is not None else None
    membership = _source(raw["membership"], where) if raw.get("membership") else None
    if geometry == "source" and source is None:
        raise CatalogueError(f"{where}: 'source' is missing: give a url or path.")
    dissolve_by = _opt_str(raw, "dissolve_by", where)
    if geometry == "dissolve" and not (dissolve_by or membership):
        raise CatalogueError(
            f"{where}: a dissolved layer needs 'dissolve_by' (a parent code of the "
            "communes) or a 'membership' table."
        )
    exclude = raw.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        raise CatalogueError(f"{where}: 'exclude' must be a list of tables.")
    joins = []
    for j, rj in enumerate(raw.get("join", []) or []):
        if not isinstance(rj, dict) or not isinstance(rj.get("key"), str):
            raise CatalogueError(f"{where}: join #{j + 1} needs a 'key' field name.")
        joins.append(
            Join(
                source=_source(rj.get("source"), f"{where}, join #{j + 1}"),
                key=rj["key"],
                fields=_str_map(rj.get("fields"), "fields", where),
            )
        )
    no_unit = raw.get("no_unit", [])
    if isinstance(no_unit, str):
        no_unit = [no_unit]
    if not isinstance(no_unit, list) or not all(isinstance(p, str) and p for p in no_unit):
        raise CatalogueError(f"{where}: 'no_unit' must be a list of codes or regular expressions (strings).")
    for pat in no_unit:
        try:
            re.compile(pat)
        except re.error as exc:
            raise CatalogueError(
                f"{where}: 'no_unit' pattern {pat!r} is not a regular expression ({exc}): "
                "write the code itself, such as \"000\", or a valid pattern."
            ) from None
    width = raw.get("code_width")
    if width is not None and (not isinstance(width, int) or not 1 <= width <= 20):
        raise CatalogueError(f"{where}: 'code_width' must be a small whole number.")
    members = _members(raw.get("members"), where)
    if members is not None and raw["kind"] != "zones":
        raise CatalogueError(f"{where}: only zones layers take [layer.members]; a partition layer made of "
                             "communes says so with 'commune_field' or geometry = \"dissolve\".")
    status, period, notice = _status(raw, where)
    label, style = _programme(raw.get("programme"), where, raw["title"])
    return LayerSpec(
        id=lid,
        title=raw["title"],
        kind=raw["kind"],
        vintage=vintage,
        licence=raw["licence"],
        attribution=raw["attribution"],
        source=source,
        code_field=raw["code_field"],
        name_field=_opt_str(raw, "name_field", where),
        population_field=_opt_str(raw, "population_field", where),
        parents=_str_map(raw.get("parents"), "parents", where),
        attributes=_str_map(raw.get("attributes"), "attributes", where),
        exclude=tuple(exclude),
        geometry=geometry,
        dissolve_by=dissolve_by,
        membership=membership,
        membership_commune_field=_opt_str(raw, "membership_commune_field", where),
        membership_name_field=_opt_str(raw, "membership_name_field", where),
        membership_separator=_opt_str(raw, "membership_separator", where),
        joins=tuple(joins),
        commune_field=_opt_str(raw, "commune_field", where),
        code_width=width,
        description=raw.get("description", "") if isinstance(raw.get("description", ""), str) else "",
        url_info=raw.get("info", "") if isinstance(raw.get("info", ""), str) else "",
        no_unit=tuple(no_unit),
        membership_code_field=_opt_str(raw, "membership_code_field", where),
        members=members,
        status=status,
        period=period,
        notice=notice,
        programme_label=label,
        programme_style=style,
    )


def load_catalogue(path: str | os.PathLike | None = None) -> Catalogue:
    """Read a catalogue file.

    Parameters
    ----------
    path : path-like, optional
        The TOML file. Default: ``PTCE_GEO_CATALOGUE`` or ``boundaries/catalogue.toml``.

    Returns
    -------
    Catalogue

    Raises
    ------
    CatalogueError
        When the file is missing, is not TOML, or describes a layer wrongly.
    """
    file = catalogue_path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(
            f"Catalogue file {file} not found: check PTCE_GEO_CATALOGUE or --catalogue.",
            fr=f"Catalogue introuvable : {file}. Vérifiez PTCE_GEO_CATALOGUE.",
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(
            f"Catalogue file {file} cannot be read ({exc}): fix its TOML syntax.",
            fr=f"Le catalogue {file.name} est illisible ({exc}).",
        ) from None
    head = data.get("catalogue", {})
    if not isinstance(head, dict):
        raise CatalogueError(f"Catalogue {file}: [catalogue] must be a table.")
    base = head.get("base")
    if base is not None and not isinstance(base, str):
        raise CatalogueError(f"Catalogue {file}: 'base' must be a string.")
    raw_layers = data.get("layer")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise CatalogueError(
            f"Catalogue {file} lists no layer: add [[layer]] tables.",
            fr=f"Le catalogue {file.name} ne contient aucune couche.",
        )
    layers: dict[str, LayerSpec] = {}
    for i, raw in enumerate(raw_layers):
        spec = _layer(raw, i, file)
        if spec.id in layers:
            raise CatalogueError(f"Catalogue {file}: layer id {spec.id!r} appears twice.")
        layers[spec.id] = spec
    for spec in layers.values():
        if (spec.geometry == "dissolve" or spec.commune_field or spec.members) and "communes" not in layers:
            raise CatalogueError(
                f"Catalogue {file}, layer {spec.id!r} is built from communes, "
                "but the catalogue has no 'communes' layer."
            )
    name = head.get("name") if isinstance(head.get("name"), str) else file.stem
    return Catalogue(path=file, name=name, base=base, layers=layers)
