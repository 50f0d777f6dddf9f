"""Find every problem of a perimeter file at once, each with its fix.

Used by ``ptce-geo poles check`` (which lists them all) and by
:func:`ptce_geo.perimeters.read_perimeters` (which refuses a file with errors).
Three passes: the JSON structure, the geometries (type, emptiness, coordinates that are
not lon/lat in France), and the codes (checked against the loaded communes layer, with
the likely reason of each unknown code and the code to use instead when it is known).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .projection import ZONES

__all__ = ["Problem", "structure_problems", "coordinate_problem", "code_problems", "CODE_KEYS"]

#: properties that define a perimeter by codes, and the unit each holds
CODE_KEYS = {"communes": "commune", "epci": "EPCI", "departements": "département"}
_PLM = {"75": ("75056", "Paris", range(75101, 75121)),
        "69": ("69123", "Lyon", range(69381, 69390)),
        "13": ("13055", "Marseille", range(13201, 13217))}
_MARGIN = 0.6  # degrees around each territory's box


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a perimeter file.

    Attributes
    ----------
    feature : str
        Which feature ("feature #3 (id 'ptce03')") or "file".
    message : str
        What is wrong.
    fix : str
        What to do about it.
    severity : str
        ``"error"`` (the file cannot be used) or ``"warning"`` (used, after a repair).
    """

    feature: str
    message: str
    fix: str
    severity: str = "error"

    def __str__(self) -> str:
        fix = f" Fix: {self.fix}." if self.fix else ""
        return f"{self.feature}: {self.message}.{fix}"


def feature_label(index: int, fid: object) -> str:
    """Words naming a feature: its position and its id when it has one."""
    if isinstance(fid, str) and fid:
        return f"feature #{index + 1} (id {fid!r})"
    return f"feature #{index + 1}"


def structure_problems(data: object) -> list[Problem]:
    """Problems of the GeoJSON structure: collection, ids, geometry or codes."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return [Problem("file", "is not a GeoJSON FeatureCollection",
                        'write {"type": "FeatureCollection", "features": [...]}')]
    feats = data.get("features")
    if not isinstance(feats, list):
        return [Problem("file", "'features' is missing or not a list", "give a list of Feature objects")]
    if not feats:
        return [Problem("file", "holds no feature", "add one Feature per perimeter")]
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for i, feat in enumerate(feats):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            out.append(Problem(f"feature #{i + 1}", "is not a GeoJSON Feature object",
                               'give each item "type": "Feature", "properties" and "geometry"'))
            continue
        props = feat.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            out.append(Problem(f"feature #{i + 1}", "'properties' is not an object", "give a JSON object"))
            continue
        fid = props.get("id", feat.get("id"))
        label = feature_label(i, fid)
        if fid is None or (isinstance(fid, str) and not fid.strip()):
            out.append(Problem(label, "has no 'id' property", "add a unique text property \"id\""))
        elif not isinstance(fid, str):
            out.append(Problem(label, f"its id {fid!r} is not text", f'write it as a string: "{fid}"'))
        elif fid in seen:
            out.append(Problem(label, f"its id {fid!r} is already used by feature #{seen[fid] + 1}",
                               "give every feature its own id"))
        else:
            seen[fid] = i
        geom = feat.get("geometry")
        has_codes = any(props.get(k) not in (None, "", []) for k in CODE_KEYS)
        for key in CODE_KEYS:
            value = props.get(key)
            if value in (None, ""):
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                out.append(Problem(label, f"'{key}' must be a list of text codes (got {str(value)[:60]})",
                                   f'write codes as strings, e.g. "{key}": ["01001"]'))
        if geom is None and not has_codes:
            out.append(Problem(label, "has neither a geometry nor codes",
                               "give a Polygon/MultiPolygon geometry, or 'communes', 'epci' or "
                               "'departements' code lists"))
        elif geom is not None:
            if not isinstance(geom, dict) or "type" not in geom:
                out.append(Problem(label, "its geometry is not a GeoJSON geometry object",
                                   "give a Polygon or MultiPolygon, or null with codes"))
            elif geom["type"] not in ("Polygon", "MultiPolygon"):
                out.append(Problem(label, f"its geometry is a {geom['type']}, not a Polygon or MultiPolygon",
                                   "draw the perimeter as a polygon (a point or line has no area)"))
            elif not _has_coordinates(geom.get("coordinates")):
                out.append(Problem(label, "its geometry is empty (no coordinates)",
                                   "draw the perimeter, or set geometry to null and give codes"))
    return out


def _has_coordinates(coords: object) -> bool:
    if isinstance(coords, list):
        return any(_has_coordinates(c) for c in coords) if coords and isinstance(coords[0], list) else bool(coords)
    return False


def _in_france(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ok = np.zeros(len(x), dtype=bool)
    for x0, y0, x1, y1, _ in ZONES.values():
        ok |= (x >= x0 - _MARGIN) & (x <= x1 + _MARGIN) & (y >= y0 - _MARGIN) & (y <= y1 + _MARGIN)
    return ok


def coordinate_problem(label: str, coords: np.ndarray) -> Problem | None:
    """Whether lon/lat coordinates are really lon/lat in France.

    Parameters
    ----------
    label : str
        Words naming the feature.
    coords : numpy.ndarray
        ``(n, 2)`` array of the feature's coordinates.
    """
    if coords.size == 0:
        return None
    x, y = coords[:, 0], coords[:, 1]
    if not np.isfinite(coords).all():
        return Problem(label, "has coordinates that are not finite numbers (NaN or infinity)",
                       "remove or correct those vertices")
    if (np.abs(x) > 360).any() or (np.abs(y) > 90).any():
        l93 = (x > 50_000) & (x < 1_300_000) & (y > 6_000_000) & (y < 7_200_000)
        if l93.mean() > 0.9:
            return Problem(label, "has coordinates in metres that look like Lambert-93 (EPSG:2154) "
                           "and the file declares no CRS",
                           "reproject the file to WGS84 (EPSG:4326) lon/lat, or declare its CRS")
        return Problem(label, "has projected coordinates (metres) and the file declares no CRS",
                       "reproject the file to WGS84 (EPSG:4326) longitude/latitude")
    inside = _in_france(x, y)
    if inside.all():
        return None
    if _in_france(y, x).mean() > 0.9:
        return Problem(label, "has coordinates that look swapped (latitude, longitude)",
                       "write each position as [longitude, latitude], as GeoJSON requires")
    share = 1 - inside.mean()
    return Problem(label, f"has {share:.0%} of its vertices outside France (mainland, Corsica, DROM), "
                   f"around lon {np.median(x):.2f}, lat {np.median(y):.2f}",
                   "check the coordinates are WGS84 longitude/latitude of a French territory")


def _commune_reason(code: str, communes: pd.DataFrame) -> str:
    """Why a commune code is unknown, and the code to use instead when known."""
    if not re.fullmatch(r"(\d{5}|2[AB]\d{3})", code):
        if re.fullmatch(r"\d{4}", code):
            padded = code.zfill(5)
            hint = f"use '{padded}'" if padded in set(communes["code"]) else "check the code"
            return f"has 4 digits: a leading zero was lost ({hint})"
        if re.fullmatch(r"20\d{3}", code):
            return "uses the pre-1976 Corsica number 20: use 2A (Corse-du-Sud) or 2B (Haute-Corse)"
        return "is not an INSEE commune code (5 characters: digits, or 2A/2B then 3 digits)"
    num = int(code) if code.isdigit() else -1
    for parent, name, arr in _PLM.values():
        if num in arr:
            return (f"is a municipal arrondissement of {name}: the communes layer has {name} "
                    f"as one commune, use '{parent}'")
    if "anciens_codes" in communes.columns:
        hit = communes[communes["anciens_codes"].fillna("").str.split(";").apply(lambda v: code in v)]
        if len(hit):
            row = hit.iloc[0]
            return (f"was merged into the commune nouvelle {row['nom']}: use '{row['code']}'")
    return ("is not a commune of this vintage: it was probably merged into a commune nouvelle "
            "or deleted; find its successor in INSEE's COG history and use that code")


def code_problems(label: str, props: dict, communes: pd.DataFrame, epci_codes: Iterable[str]) -> list[Problem]:
    """Unknown commune, EPCI or département codes of one feature, with reasons."""
    out: list[Problem] = []
    known = set(communes["code"])
    for code in props.get("communes") or []:
        if code not in known:
            out.append(Problem(label, f"commune code {code!r} {_commune_reason(code, communes)}",
                               "replace it in 'communes'"))
    epcis = set(epci_codes)
    epts = set(communes["ept"].dropna()) if "ept" in communes.columns else set()
    for code in props.get("epci") or []:
        if code in epcis:
            continue
        if code in epts:
            members = sorted(communes.loc[communes["ept"] == code, "code"])
            out.append(Problem(label, f"'{code}' is an EPT (établissement public territorial of the Grand "
                               "Paris), not an EPCI à fiscalité propre",
                               f"list its {len(members)} communes in 'communes' instead: {', '.join(members)}"))
        elif re.fullmatch(r"\d{9}", code):
            out.append(Problem(label, f"EPCI SIREN {code!r} is not an EPCI of this vintage (merged or dissolved?)",
                               "use the SIREN of the EPCI in force, or list the communes"))
        else:
            out.append(Problem(label, f"EPCI code {code!r} is not a 9-digit SIREN", "write the EPCI's SIREN"))
    deps = set(communes["dep"].dropna()) if "dep" in communes.columns else set()
    for code in props.get("departements") or []:
        if code in deps:
            continue
        if code.zfill(2) in deps:
            fix = f"write '{code.zfill(2)}' (leading zero lost)"
        elif code == "20":
            fix = "use '2A' and/or '2B' (Corsica has two départements since 1976)"
        else:
            fix = "use an INSEE département code such as '07', '2A' or '974'"
        out.append(Problem(label, f"département code {code!r} is unknown", fix))
    return out


def is_number(value: object) -> bool:
    """True for a finite real number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
