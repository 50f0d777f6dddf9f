"""A list of poles as a CSV table: any list of PTCE can be mapped without writing GeoJSON.

The table has one row per pole and the columns ``id`` (unique), ``nom`` (optional: the id
is used when absent), any of ``communes`` (INSEE codes), ``epci`` (SIREN), ``departements``
and ``qpv`` (QPV codes), each a list of codes separated by ``;`` (commas and spaces are
accepted too), and any other columns, kept as text properties of the pole (``confiance``,
``type_pole``, ``siege_insee``…). The delimiter of the table is ``,``, ``;`` or a tab
(found from the header), the encoding UTF-8 (with or without BOM) or, failing that,
Windows-1252 as spreadsheets export it.

:func:`read_poles_csv` turns the table into a perimeter FeatureCollection of the rows it
can use and a report of everything it could not: each unknown code (with the reason and the
code to use when it can be found, as ``ptce-geo poles check`` gives them) is left out of
its pole; a row without an id, with an id already used, or without any usable code is left
out whole. ``ptce-geo poles build --from-csv LIST.csv`` writes the collection as a poles
GeoJSON and prints the report; every command reading ``--poles`` reads such a CSV directly
(:func:`ptce_geo.perimeters.read_perimeters`), each problem logged as a warning.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .catalogue import Catalogue, load_catalogue
from .checks import _ALIASES, PERIMETER_KEYS, QPV_KEY, Problem, code_problems, qpv_problems
from .errors import InvalidPerimeter

logger = logging.getLogger(__name__)

__all__ = ["RowProblem", "PoleList", "is_csv_source", "read_poles_csv", "report_table"]

#: refuse tables larger than this (bytes)
MAX_CSV_BYTES = 16 * 1024**2
#: at most this many rows
MAX_ROWS = 20_000
_DELIMITERS = (",", ";", "\t")
_NAME_ALIASES = {"name", "nom_pole", "nom_ptce", "libelle", "libellé"}
#: free columns the project reads (descriptive columns, seat), matched whatever their case
_PROJECT_KEYS = {"confiance", "confidence", "type_pole", "filiere_pole", "appel_2011_pole_temoin",
                 "appel_2013_laureat", "siege_insee", "seat_insee", "insee_siege", "code_insee_siege"}


@dataclass(frozen=True)
class RowProblem:
    """One thing of a CSV list of poles that could not be used.

    Attributes
    ----------
    line : int
        Line of the file (the header is line 1); 0 for the file itself.
    id : str or None
        The row's id, when it has one.
    column : str or None
        The code column concerned (``communes``, ``epci``, ``departements``, ``qpv``).
    code : str or None
        The code left out.
    kind : str
        ``"unknown_code"`` (the code is left out of its pole), ``"no_id"``,
        ``"duplicate_id"``, ``"no_code"``, ``"no_usable_code"`` (the row is left out).
    message, fix : str
        What is wrong and what to do (English, as the other checks).
    """

    line: int
    id: str | None
    column: str | None
    code: str | None
    kind: str
    message: str
    fix: str

    @property
    def row_skipped(self) -> bool:
        """True when the whole row was left out (not only one code)."""
        return self.kind != "unknown_code"

    @property
    def where(self) -> str:
        return f"row {self.line}" + (f" (id {self.id!r})" if self.id else "")

    def __str__(self) -> str:
        action = "row skipped" if self.row_skipped else "code ignored"
        return f"{self.where}: {self.message} [{action}]. Fix: {self.fix}."

    @property
    def fr(self) -> str:
        """The problem in French, for the app."""
        where = f"ligne {self.line}" + (f" (« {self.id} »)" if self.id else "")
        if self.kind == "unknown_code":
            return (f"{where} : code {self.column} « {self.code} » inutilisable, ignoré "
                    f"({_FR_REASON.get(self._reason_key(), 'code inconnu du millésime en vigueur')}).")
        return f"{where} : {_FR_KIND[self.kind]}"

    def _reason_key(self) -> str:
        m = self.message
        for key in _FR_REASON:
            if key in m:
                return key
        return ""

    def as_problem(self) -> Problem:
        """The same problem in the form ``ptce-geo poles check`` lists."""
        action = "row skipped" if self.row_skipped else "code ignored"
        return Problem(self.where, f"{self.message} [{action}]", self.fix)


_FR_KIND = {
    "no_id": "ligne sans identifiant, ignorée : donnez un « id » unique.",
    "duplicate_id": "identifiant déjà utilisé par une ligne précédente, ligne ignorée : donnez un « id » unique.",
    "no_code": "aucun code (communes, epci, departements ou qpv), ligne ignorée.",
    "no_usable_code": "aucun de ses codes n'est utilisable, ligne ignorée.",
}
_FR_REASON = {
    "merged into": "commune fusionnée : utilisez le code de la commune nouvelle",
    "not a commune of this vintage": "commune absente du millésime (fusionnée ou supprimée ?)",
    "leading zero": "zéro initial perdu",
    "municipal arrondissement": "arrondissement municipal : utilisez le code de la commune",
    "SIREN": "SIREN au lieu d'un code commune, ou l'inverse",
    "département code": "code de département à placer dans « departements »",
    "is not an INSEE commune code": "format de code commune invalide",
    "not an EPCI of this vintage": "EPCI absent du millésime (fusionné ou dissous ?)",
    "is unknown": "code inconnu",
    "QPV code": "QPV inconnu des couches QPV du catalogue",
}


@dataclass
class PoleList:
    """A CSV list of poles, read: the collection of its usable rows and the report of the others."""

    collection: dict
    report: list[RowProblem] = field(default_factory=list)
    rows: int = 0

    @property
    def n_poles(self) -> int:
        return len(self.collection["features"])

    @property
    def skipped_rows(self) -> list[RowProblem]:
        return [p for p in self.report if p.row_skipped]


def is_csv_source(source: object) -> bool:
    """True when ``source`` is a CSV list of poles: a ``.csv`` path, or bytes that are not JSON."""
    if isinstance(source, (dict, list)):
        return False
    if isinstance(source, (str, os.PathLike)) and not isinstance(source, bytes):
        return Path(source).suffix.lower() in (".csv", ".tsv")
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:4096]).lstrip(b"\xef\xbb\xbf").lstrip()
        if not head or head[:1] in (b"{", b"["):
            return False
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
        return any(c.strip().strip('"') == "id" for d in _DELIMITERS for c in first.split(d))
    return False


def _read_text(source: object) -> tuple[str, str]:
    """The table's text and a name for messages."""
    if isinstance(source, (str, os.PathLike)) and not isinstance(source, bytes):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_CSV_BYTES:
                raise InvalidPerimeter(f"{path}: table larger than {MAX_CSV_BYTES // 2**20} MB: split it.",
                                       fr=f"{path.name} : tableau trop gros (plus de {MAX_CSV_BYTES // 2**20} Mo).")
            raw = path.read_bytes()
        except OSError as exc:
            raise InvalidPerimeter(f"{path}: cannot be read ({exc.strerror or exc}): check the path.",
                                   fr=f"Impossible de lire {path.name} : vérifiez le chemin.") from None
        name = str(path)
    else:
        raw = bytes(source)
        if len(raw) > MAX_CSV_BYTES:
            raise InvalidPerimeter(f"CSV list: larger than {MAX_CSV_BYTES // 2**20} MB: split it.",
                                   fr=f"Tableau trop gros (plus de {MAX_CSV_BYTES // 2**20} Mo).")
        name = "CSV list"
    if b"\x00" in raw[:4096]:
        raise InvalidPerimeter(f"{name}: is not a text table (binary content): save it as CSV (UTF-8).",
                               fr="Le fichier n'est pas un tableau CSV : enregistrez-le en CSV (UTF-8).")
    try:
        return raw.decode("utf-8-sig").lstrip("\ufeff"), name
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), name


def _delimiter(header: str, name: str) -> str:
    for d in _DELIMITERS:
        if any(c.strip().strip('"').lower() == "id" for c in header.split(d)):
            return d
    raise InvalidPerimeter(f"{name}: its header has no 'id' column (header: {header[:120]!r}): name the first "
                           "column 'id' and separate columns with ',' or ';'.",
                           fr="Le tableau n'a pas de colonne « id » : nommez ainsi la colonne des identifiants "
                           "(colonnes séparées par « , » ou « ; »).")


def _column_key(name: str) -> str:
    key = name.strip().strip("\ufeff").lower()
    if key in PERIMETER_KEYS or key in ("id", "nom"):
        return key
    if key in _NAME_ALIASES:
        return "nom"
    if key in _PROJECT_KEYS:
        return key
    return _ALIASES.get(key, name.strip())


def _split(cell: str | None) -> list[str]:
    return [c for c in re.split(r"[;,\s]+", (cell or "").strip()) if c]


def read_poles_csv(source: str | os.PathLike | bytes, *, catalogue: Catalogue | None = None,
                   check_codes: bool = True) -> PoleList:
    """Read a CSV list of poles.

    Parameters
    ----------
    source : path or bytes
        The table (see the module docstring for its columns).
    catalogue : Catalogue, optional
        Where the communes, EPCI and QPV layers come from (to check the codes).
    check_codes : bool
        Check the codes against the layers (False: only the table's structure).

    Returns
    -------
    PoleList
        ``collection``: a perimeter FeatureCollection (geometry null, codes as lists,
        other columns as text properties, empty cells as null) of the usable rows, in
        table order; ``report``: every code left out and every row skipped, in table order.

    Raises
    ------
    InvalidPerimeter
        When the file cannot be read as a table or has no ``id`` column.
    """
    text, name = _read_text(source)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InvalidPerimeter(f"{name}: is empty: give a header line (id,nom,communes,…) and one row per pole.",
                               fr="Le tableau est vide : donnez une ligne d'en-tête puis une ligne par pôle.")
    delimiter = _delimiter(lines[0], name)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [_column_key(h) for h in next(reader)]
    if header.count("id") > 1:
        raise InvalidPerimeter(f"{name}: the header has several 'id' columns: keep one.",
                               fr="Le tableau a plusieurs colonnes « id » : n'en gardez qu'une.")
    layers = _Layers(catalogue) if check_codes else None
    rows: list[tuple[int, dict[str, str]]] = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise InvalidPerimeter(f"{name}: more than {MAX_ROWS} rows: split the table.",
                                   fr=f"Le tableau a plus de {MAX_ROWS} lignes : découpez-le.")
        rows.append((line, {header[i]: c.strip() for i, c in enumerate(cells) if i < len(header)}))
    report: list[RowProblem] = []
    seen: dict[str, int] = {}
    features = []
    for line, row in rows:
        fid = row.get("id") or None
        if fid is None:
            report.append(RowProblem(line, None, None, None, "no_id", "has no id", "give the row a unique 'id'"))
            continue
        if fid in seen:
            report.append(RowProblem(line, fid, None, None, "duplicate_id",
                                     f"its id {fid!r} is already used by row {seen[fid]}",
                                     "give every pole its own id"))
            continue
        seen[fid] = line
        lists = {k: _split(row.get(k)) for k in PERIMETER_KEYS}
        if not any(lists.values()):
            report.append(RowProblem(line, fid, None, None, "no_code",
                                     "has no code in 'communes', 'epci', 'departements' or 'qpv'",
                                     "list the pole's codes, separated by ';'"))
            continue
        if layers is not None:
            bad = layers.problems(f"row {line} (id {fid!r})", lists)
            for key, code, problem in bad:
                report.append(RowProblem(line, fid, key, code, "unknown_code", problem.message, problem.fix))
                lists[key] = [c for c in lists[key] if c != code]
            if not any(lists.values()):
                report.append(RowProblem(line, fid, None, None, "no_usable_code", "none of its codes can be used",
                                         "correct the codes listed above"))
                continue
        props: dict[str, Any] = {"id": fid, "nom": row.get("nom") or fid}
        props.update(lists)
        for key, value in row.items():
            if key not in props and key not in PERIMETER_KEYS and key:
                props[key] = value or None
        features.append({"type": "Feature", "properties": props, "geometry": None})
    return PoleList({"type": "FeatureCollection", "features": features}, report, rows=len(rows))


class _Layers:
    """The communes, EPCI and QPV codes a table's codes are checked against (loaded on first use)."""

    def __init__(self, catalogue: Catalogue | None):
        self.catalogue = catalogue
        self.communes = None
        self.epci: set[str] = set()
        self.qpv: tuple[set[str], str] | None = None
        self.commune_codes: set[str] = set()

    def problems(self, label: str, lists: dict[str, list[str]]) -> list[tuple[str, str, Problem]]:
        from .layers import load_layer

        if self.communes is None:
            self.catalogue = self.catalogue or load_catalogue()
            self.communes = load_layer("communes", catalogue=self.catalogue)
            self.epci = set(load_layer("epci", catalogue=self.catalogue)["code"])
            self.commune_codes = set(self.communes["code"])
        out = []
        for key in ("communes", "epci", "departements"):
            for code in lists[key]:
                for problem in code_problems(label, {key: [code]}, self.communes, self.epci):
                    out.append((key, code, problem))
        if lists[QPV_KEY]:
            if self.qpv is None:
                from .perimeters import _qpv_known

                self.qpv = _qpv_known({"features": [{"properties": {QPV_KEY: lists[QPV_KEY]}}]}, self.catalogue)
            known, words = self.qpv
            missing = [c for c in lists[QPV_KEY] if c not in known]
            if missing:  # codes met later in the table: look them up too
                from .perimeters import _qpv_known

                more = _qpv_known({"features": [{"properties": {QPV_KEY: missing}}]}, self.catalogue)[0]
                known |= more
            for code in lists[QPV_KEY]:
                for problem in qpv_problems(label, [code], known, communes=self.commune_codes, lists=words):
                    out.append((QPV_KEY, code, problem))
        return out


def report_table(report: list[RowProblem]) -> pd.DataFrame:
    """The report as a table: ``line``, ``id``, ``column``, ``code``, ``action``, ``message``, ``fix``."""
    return pd.DataFrame({
        "line": [p.line for p in report], "id": [p.id for p in report], "column": [p.column for p in report],
        "code": [p.code for p in report],
        "action": ["row skipped" if p.row_skipped else "code ignored" for p in report],
        "message": [p.message for p in report], "fix": [p.fix for p in report],
    })
