"""Which fields of a user's file hold the code and the name of each feature.

The user may name them; otherwise they are guessed from the field names (accents and
case ignored) and checked against the values (a code field has one distinct value per
row), and the guess is said.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InvalidInput

__all__ = ["Fields", "guess_fields", "text_codes"]

#: field names that look like a code or a name, best first (accents and case ignored)
_CODE_HINTS = (r"code", r"code[_ -].*", r".*[_ -]code", r"id|ident|identifiant", r"id[_ -].*", r".*[_ -]id",
               r"(insee|siren|siret).*", r"(ref|num|numero|cle|key)([_ -].*)?", r".*code.*")
#: the same for perimeters, whose format names the identifier ``id``
_ID_HINTS = (r"id",) + _CODE_HINTS
_NAME_HINTS = (r"nom|name|libelle|lib|label|titre|title|intitule",
               r"(nom|name|libelle|lib|label|titre|title|intitule)[_ -].*",
               r".*[_ -](nom|name|libelle|lib|label)", r".*(nom|name|libelle|label).*")


@dataclass
class Fields:
    """The fields used for codes and names, and which were guessed."""

    code: str | None
    name: str | None
    guessed: list[str] = field(default_factory=list)

    def notes(self, n: int, dropped: int, merged: int, *, what: str = "zone") -> tuple[str, str]:
        """One sentence in English and in French saying what was used (``what``: zone or perimeter)."""
        code = f"field {self.code!r}" if self.code else "row numbers (no field with one distinct value per row)"
        code_fr = f"du champ « {self.code} »" if self.code else "des numéros de ligne (aucun champ à valeurs uniques)"
        name = f"field {self.name!r}" if self.name else "the codes"
        name_fr = f"du champ « {self.name} »" if self.name else "des codes"
        what_fr = {"perimeter": "périmètre"}.get(what, what)
        en = (f"{n} {what}(s): codes from {code}{' (guessed)' if 'code_field' in self.guessed else ''}, "
              f"names from {name}{' (guessed)' if 'name_field' in self.guessed else ''}")
        fr = f"{n} {what_fr}(s) : codes tirés {code_fr}, noms tirés {name_fr}"
        if dropped:
            en += f"; {dropped} feature(s) without a polygon, point or code left out"
            fr += f" ; {dropped} entité(s) sans polygone, point ou code écartée(s)"
        if merged:
            en += f"; {merged} row(s) sharing a code merged"
            fr += f" ; {merged} ligne(s) de même code fusionnée(s)"
        if self.guessed:
            en += ": name other fields if these are wrong"
            fr += " ; choisissez d'autres champs si ce ne sont pas les bons"
        return en + ".", fr + "."


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower().strip()


def _rank(column: str, hints: tuple[str, ...]) -> int | None:
    plain = _plain(column)
    return next((i for i, h in enumerate(hints) if re.fullmatch(h, plain)), None)


def text_codes(values: pd.Series) -> np.ndarray:
    """Codes as stripped text (``1.0`` → ``"1"``); ``None`` where missing or blank."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
            out[i] = None
            continue
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        text = str(v).strip()
        out[i] = text or None
    return out


def _match(columns: list[str], wanted: str, where: str, role: str) -> str:
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    listed = ", ".join(columns)[:300] or "none"
    raise InvalidInput(f"{where}: no field {wanted!r} for the {role}: use one of {listed}.",
                       fr=f"{where} : pas de champ « {wanted} » ; champs disponibles : {listed}.")


def guess_fields(gdf: pd.DataFrame, *, code_field: str | None = None, name_field: str | None = None,
                 where: str = "upload", ids: bool = False) -> Fields:
    """The fields holding codes and names: as named, or guessed.

    A guessed code field has a code-like name (``code``, ``code_…``, ``…_code``, then
    ``id``, ``id_…``, ``…_id``, then ``insee…``, ``siren…``; ``id`` first when ``ids``)
    and one distinct, non-empty value per row; when none has, row numbers stand in
    (``code`` is then ``None``). A guessed name field has a
    name-like name (``nom``, ``name``, ``libellé``, ``lib_…``…) and text values; when
    none has, the codes stand in.
    """
    columns = [str(c) for c in gdf.columns if c != getattr(gdf, "geometry", pd.Series(name=None)).name]
    guessed = []
    if code_field:
        code = _match(columns, code_field, where, "code")
    else:
        guessed.append("code_field")
        ranked = []
        for pos, col in enumerate(columns):
            rank = _rank(col, _ID_HINTS if ids else _CODE_HINTS)
            if rank is None:
                continue
            codes = text_codes(gdf[col])
            if all(c is not None for c in codes) and len(set(codes)) == len(codes):
                ranked.append((rank, pos, col))
        code = min(ranked)[2] if ranked else None
    if name_field:
        name = _match(columns, name_field, where, "name")
    else:
        guessed.append("name_field")
        ranked = [(_rank(c, _NAME_HINTS), pos, c) for pos, c in enumerate(columns) if c != code
                  and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c]))]
        ranked = [r for r in ranked if r[0] is not None]
        name = min(ranked)[2] if ranked else None
    return Fields(code=code, name=name, guessed=guessed)
