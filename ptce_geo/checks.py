"""Find every problem of a perimeter file at once, each with its fix.

Used by ``ptce-geo poles check`` (which lists them all) and by
:func:`ptce_geo.perimeters.read_perimeters` (which refuses a file with errors).
Three passes: the JSON structure, the geometries (type, emptiness, coordinates that are
not lon/lat in France), and the codes (checked against the loaded communes layer, with
the likely reason of each unknown code and the code to use instead when it can be found:
from the layer's ``anciens_codes`` column when it has one, from the Paris/Lyon/Marseille
arrondissements, from a lost leading zero or the old Corsica number, and from the
feature's own geometry, which shows where a merged commune or EPCI lay).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from .projection import ZONES
from .textsafe import describe_characters, id_key, invisible_characters

__all__ = ["Problem", "by_feature", "structure_problems", "coordinate_problem", "code_problems", "crs_problem",
           "seat_problem", "feature_label", "CODE_KEYS", "SEAT_KEYS", "QPV_KEY", "PERIMETER_KEYS", "qpv_problems",
           "CONFIDENCE_LEVELS", "CONFIDENCE_SYNONYMS", "confidence_of", "confidence_problem"]

#: properties that define a perimeter by codes, and the unit each holds
CODE_KEYS = {"communes": "commune", "epci": "EPCI", "departements": "département"}
#: property that gives QPV (quartiers prioritaires) by their codes: a geometric perimeter (their outlines)
QPV_KEY = "qpv"
#: every property that defines a perimeter: the commune-based code lists and the QPV list
PERIMETER_KEYS = {**CODE_KEYS, QPV_KEY: "QPV"}
#: the longest code list accepted per key (France has about 35 000 communes, 1 300 EPCI,
#: 101 départements, 1 600 QPV): longer lists are mistakes or attacks, and cost time to check
MAX_CODES = {"communes": 40_000, "epci": 1_500, "departements": 110, "qpv": 3_000}
#: properties that may hold the INSEE code of the seat commune
SEAT_KEYS = ("siege_insee", "seat_insee", "insee_siege", "code_insee_siege")
#: property names people use for code lists, and the key to use instead
_ALIASES = {"commune": "communes", "insee": "communes", "code_insee": "communes", "codes_insee": "communes",
            "insee_com": "communes", "codes_communes": "communes", "code_commune": "communes",
            "siren": "epci", "siren_epci": "epci", "epcis": "epci", "code_epci": "epci",
            "departement": "departements", "département": "departements", "départements": "departements",
            "dep": "departements", "deps": "departements", "code_dep": "departements",
            "code_qp": "qpv", "code_qpv": "qpv", "codes_qpv": "qpv", "quartiers": "qpv", "qp": "qpv"}
#: confidence levels of a perimeter (the ``confiance`` property), surest first
CONFIDENCE_LEVELS = ("haute", "moyenne", "faible")
#: other words read as a confidence level (case, surrounding blanks ignored); docs/poles.md lists them
CONFIDENCE_SYNONYMS = {"high": "haute", "élevée": "haute", "elevee": "haute", "forte": "haute",
                       "medium": "moyenne", "moyen": "moyenne", "low": "faible"}
_PLM = {"75": ("75056", "Paris", range(75101, 75121)),
        "69": ("69123", "Lyon", range(69381, 69390)),
        "13": ("13055", "Marseille", range(13201, 13217))}
_MARGIN = 0.6  # degrees around each territory's box
#: projected CRS a coordinate file may be in without saying so, most likely first
_PROJECTED = (("EPSG:2154", "Lambert-93"), ("EPSG:3857", "Web Mercator"), ("EPSG:32631", "UTM zone 31N"),
              ("EPSG:32630", "UTM zone 30N"), ("EPSG:32632", "UTM zone 32N"), ("EPSG:27572", "Lambert II étendu"),
              ("EPSG:3035", "ETRS89 LAEA Europe"), ("EPSG:5490", "RGAF09 / UTM 20N (Antilles)"),
              ("EPSG:2972", "RGFG95 / UTM 22N (Guyane)"), ("EPSG:2975", "RGR92 / UTM 40S (La Réunion)"),
              ("EPSG:4471", "RGM04 / UTM 38S (Mayotte)"))


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


def by_feature(problems: list[Problem]) -> list[Problem]:
    """Problems in file order: the file's own first, then feature by feature (stable)."""
    def key(p: Problem) -> int:
        m = re.match(r"feature #(\d+)", p.feature)
        return int(m.group(1)) if m else 0
    return sorted(problems, key=key)


def feature_label(index: int, fid: object) -> str:
    """Words naming a feature: its position and its id when it has one."""
    if isinstance(fid, str) and fid:
        return f"feature #{index + 1} (id {fid!r})"
    return f"feature #{index + 1}"


def _list_fix(key: str, value: object) -> str:
    """How to write a code list that is not a list of strings."""
    width = {"communes": 5, "departements": 2}.get(key)
    items = value if isinstance(value, list) else re.split(r"[;,\s]+", value.strip()) if isinstance(value, str) else [value]
    fixed = []
    for v in items[:5]:
        if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, int) and abs(v) > 10**12):
            return f'write codes as strings, e.g. "{key}": ["01001"]'
        text = str(v).strip()[:20]
        fixed.append(text.zfill(width) if width and text.isdigit() else text)
    shown = ", ".join(f'"{c}"' for c in fixed) + (", …" if len(items) > 5 else "")
    return f'write a list of text codes (quoted, leading zeros kept): "{key}": [{shown}]'


def structure_problems(data: object) -> list[Problem]:
    """Problems of the GeoJSON structure: collection, ids, geometry or codes."""
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [Problem("file", "is a single GeoJSON Feature, not a FeatureCollection",
                        'wrap it: {"type": "FeatureCollection", "features": [<the feature>]}')]
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return [Problem("file", "is not a GeoJSON FeatureCollection",
                        'write {"type": "FeatureCollection", "features": [...]}')]
    feats = data.get("features")
    if not isinstance(feats, list):
        return [Problem("file", "'features' is missing or not a list", "give a list of Feature objects")]
    if not feats:
        return [Problem("file", "holds no feature", "add one Feature per perimeter")]
    out: list[Problem] = []
    seen: dict[str, tuple[int, str]] = {}
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
        bad = invisible_characters(fid) if isinstance(fid, str) else []
        if fid is None or (isinstance(fid, str) and not fid.strip()):
            out.append(Problem(label, "has no 'id' property", "add a unique text property \"id\" (e.g. \"ptce30\")"))
        elif not isinstance(fid, str):
            out.append(Problem(label, f"its id {str(fid)[:40]} is not text", f'write it as a string: "{str(fid)[:40]}"'))
        elif bad:
            out.append(Problem(f"feature #{i + 1}", f"its id holds control or invisible characters "
                               f"({describe_characters(bad)})", "write the id with visible characters only "
                               "(letters, digits, '-', '_')"))
        elif id_key(fid) in seen:
            first, other = seen[id_key(fid)]
            same = "is already used" if other == fid else f"differs only by case, blanks or accents' encoding from {other!r}, used"
            out.append(Problem(label, f"its id {fid!r} {same} by feature #{first + 1}",
                               "give every feature its own id (ids are compared ignoring case, surrounding blanks "
                               "and Unicode normalisation)"))
        else:
            seen[id_key(fid)] = (i, fid)
        nom = props.get("nom")
        bad_nom = [c for c in invisible_characters(nom) if c not in "\t"] if isinstance(nom, str) else []
        if bad_nom:
            out.append(Problem(label, f"its name holds control or invisible characters ({describe_characters(bad_nom)})",
                               "write the name with visible characters only"))
        confidence = confidence_problem(label, props)
        if confidence is not None:
            out.append(confidence)
        geom = feat.get("geometry")
        has_codes = any(props.get(k) not in (None, "", []) for k in PERIMETER_KEYS)
        for key in PERIMETER_KEYS:
            value = props.get(key)
            if value in (None, ""):
                continue
            if isinstance(value, list) and len(value) > MAX_CODES[key]:
                out.append(Problem(label, f"'{key}' lists {len(value)} codes, more than the {MAX_CODES[key]} "
                                   f"{PERIMETER_KEYS[key]}s France has", "list each code once; give 'departements' "
                                   "or 'epci' instead of every commune"))
            elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                out.append(Problem(label, f"'{key}' must be a list of text codes (got {str(value)[:60]})",
                                   _list_fix(key, value)))
        if geom is None and not has_codes:
            alias = next((k for k in props if isinstance(k, str) and k.lower() in _ALIASES and props[k]), None)
            if alias is not None:
                out.append(Problem(label, f"has neither a geometry nor codes (it has a property {alias!r}, "
                                   "which is not read)", f"rename {alias!r} to {_ALIASES[alias.lower()]!r}"))
            else:
                out.append(Problem(label, "has neither a geometry nor codes",
                                   "give a Polygon/MultiPolygon geometry, or 'communes', 'epci', "
                                   "'departements' or 'qpv' code lists"))
        elif geom is not None:
            if not isinstance(geom, dict) or "type" not in geom:
                out.append(Problem(label, "its geometry is not a GeoJSON geometry object",
                                   "give a Polygon or MultiPolygon, or null with codes"))
            elif geom["type"] not in ("Polygon", "MultiPolygon"):
                out.append(Problem(label, f"its geometry is a {str(geom['type'])[:40]}, not a Polygon or "
                                   "MultiPolygon", "draw the perimeter as a polygon (a point or line has no "
                                   "area), or set geometry to null and give codes"))
            elif not _has_coordinates(geom.get("coordinates")):
                out.append(Problem(label, "its geometry is empty (no coordinates)",
                                   "draw the perimeter, or set geometry to null and give codes"))
    return out


def _confidence_text(props: dict) -> tuple[str, object]:
    """The property giving the confidence (``confiance``, else ``confidence``) and its raw value."""
    key = "confiance" if "confiance" in props else "confidence"
    return key, props.get(key)


def confidence_of(props: dict) -> str | None:
    """The confidence level of a pole's properties: ``haute``, ``moyenne``, ``faible`` or None.

    ``confiance`` (or ``confidence``) is read ignoring case and surrounding blanks, with
    the :data:`CONFIDENCE_SYNONYMS`; anything else (absent, empty, unknown) is None, which
    :func:`confidence_problem` reports when a value was given.
    """
    _, value = _confidence_text(props)
    if not isinstance(value, str):
        return None
    word = unicodedata.normalize("NFC", value).strip().lower()
    return word if word in CONFIDENCE_LEVELS else CONFIDENCE_SYNONYMS.get(word)


def confidence_problem(label: str, props: dict) -> Problem | None:
    """A warning when a pole gives a confidence that is no known level (it is then read as none)."""
    key, value = _confidence_text(props)
    if value is None or (isinstance(value, str) and not value.strip()) or confidence_of(props) is not None:
        return None
    synonyms = "; ".join(f"{', '.join(w for w, lvl in CONFIDENCE_SYNONYMS.items() if lvl == level)} → {level}"
                         for level in CONFIDENCE_LEVELS if level in CONFIDENCE_SYNONYMS.values())
    shown = repr(value[:40]) if isinstance(value, str) else str(value)[:40]
    return Problem(label, f"its '{key}' {shown} is not a confidence level, so the perimeter is read with no "
                   "confidence (not shown as 'faible', nor filtered as such)",
                   f"write one of {', '.join(CONFIDENCE_LEVELS)} (also read: {synonyms})", severity="warning")


def _has_coordinates(coords: object) -> bool:
    if isinstance(coords, (list, tuple)):
        nested = coords and isinstance(coords[0], (list, tuple))
        return any(_has_coordinates(c) for c in coords) if nested else bool(coords)
    return False


def crs_problem(data: dict) -> Problem | None:
    """A ``crs`` member that names no coordinate system pyproj understands."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    from pyproj.exceptions import ProjError

    member = data.get("crs")
    if member is None:
        return None
    props = member.get("properties") if isinstance(member, dict) else None
    name = props.get("name") if isinstance(props, dict) else None
    try:
        if isinstance(name, str):
            crs = CRS.from_user_input(name)
            # a CRS of another body (a sphere of radius 1, Mars) converts to nothing on Earth
            Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            return None
    except (CRSError, ProjError):
        pass
    return Problem("file", f"its 'crs' member ({str(member)[:80]}) names no known coordinate system of the Earth",
                   'write it as {"type": "name", "properties": {"name": "EPSG:2154"}}, or reproject the file '
                   "to WGS84 longitude/latitude and remove 'crs'")


def _in_france(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ok = np.zeros(len(x), dtype=bool)
    for x0, y0, x1, y1, _ in ZONES.values():
        ok |= (x >= x0 - _MARGIN) & (x <= x1 + _MARGIN) & (y >= y0 - _MARGIN) & (y <= y1 + _MARGIN)
    return ok


@lru_cache(maxsize=None)
def _to_lonlat(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _projected_guess(x: np.ndarray, y: np.ndarray) -> list[tuple[str, str]]:
    """Projected CRS in which (x, y) would be positions in France."""
    step = max(len(x) // 200, 1)
    xs, ys = x[::step], y[::step]
    out = []
    for crs, name in _PROJECTED:
        with np.errstate(all="ignore"):
            lon, lat = _to_lonlat(crs).transform(xs, ys, errcheck=False)
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        if np.isfinite(lon).all() and _in_france(lon, lat).mean() > 0.9:
            out.append((crs, name))
    return out


def coordinate_problem(label: str, coords: np.ndarray, *, outside: bool = True,
                       source: str = "the file") -> Problem | None:
    """Whether lon/lat coordinates are really lon/lat in France.

    Parameters
    ----------
    label : str
        Words naming the feature.
    coords : numpy.ndarray
        ``(n, 2)`` array of the feature's coordinates.
    outside : bool
        Also report degrees that lie outside France (default). ``False`` reports only
        coordinates that cannot be longitude/latitude: metres, swapped, not finite.
    source : str
        What declares no CRS, in the messages (``"the file"``).
    """
    if coords.size == 0:
        return None
    x, y = coords[:, 0], coords[:, 1]
    if not np.isfinite(coords).all():
        return Problem(label, "has coordinates that are not finite numbers (NaN or infinity)",
                       "remove or correct those vertices")
    if (np.abs(x) > 360).any() or (np.abs(y) > 90).any():
        guesses = _projected_guess(x, y)
        fix = "reproject the file to WGS84 (EPSG:4326) longitude/latitude, or declare its CRS"
        if len(guesses) == 1:
            crs, name = guesses[0]
            return Problem(label, f"has coordinates in metres that look like {name} ({crs}) and {source} "
                           "declares no CRS", f'{fix} ("crs": {{"type": "name", "properties": {{"name": "{crs}"}}}})')
        if guesses:
            names = " or ".join(f"{name} ({crs})" for crs, name in guesses[:3])
            return Problem(label, f"has coordinates in metres (perhaps {names}) and {source} declares no CRS", fix)
        return Problem(label, "has projected coordinates (metres) that fall in France in no usual CRS, and "
                       f"{source} declares no CRS", fix)
    inside = _in_france(x, y)
    if inside.all():
        return None
    if _in_france(y, x).mean() > 0.9:
        return Problem(label, "has coordinates that look swapped (latitude, longitude)",
                       "write each position as [longitude, latitude], as GeoJSON requires")
    if not outside:
        return None
    share = 1 - inside.mean()
    return Problem(label, f"has {share:.0%} of its vertices outside France (mainland, Corsica, DROM), "
                   f"around lon {np.median(x):.2f}, lat {np.median(y):.2f}",
                   "check the coordinates are WGS84 longitude/latitude of a French territory")


def _successors(geometry: object, layer: pd.DataFrame | None, exclude: set[str], prefix: str = "",
                min_share: float = 0.1, min_width: float = 0.0015) -> list[tuple[str, str]]:
    """Units of ``layer`` holding the part of the feature's geometry that no code gives.

    A feature drawn from an older vintage still shows where a merged commune or EPCI lay:
    the unit that now holds that ground is its likely successor. Overlaps thinner than
    ``min_width`` degrees (mean width 2·area/outline, about 150 m) are slivers along
    borders drawn differently, not ground; a unit qualifies when it holds at least
    ``min_share`` of the remaining ground.
    """
    if geometry is None or layer is None or "geometry" not in layer or not len(layer):
        return []
    try:
        geom = geometry if geometry.is_valid else shapely.make_valid(geometry)
        cand = layer.iloc[layer.sindex.query(geom, predicate="intersects")]
        cand = cand[~cand["code"].isin(exclude) & cand["code"].str.startswith(prefix)]
        if cand.empty:
            return []
        pieces = shapely.intersection(cand.geometry.to_numpy(), geom)
        area = shapely.area(pieces)
        width = 2 * area / np.maximum(shapely.length(pieces), 1e-300)
    except (shapely.errors.GEOSException, ValueError, TypeError):
        return []
    area = np.where(width >= min_width, area, 0.0)
    share = area / max(area.sum(), 1e-300)
    order = np.argsort(-share, kind="stable")
    return [(cand["code"].iloc[i], str(cand["nom"].iloc[i])) for i in order if area[i] > 0 and share[i] >= min_share][:3]


_SETS: tuple = (None, {})  # (communes table key, its code sets): one entry, replaced as a whole (thread-safe)


def _sets(communes: pd.DataFrame) -> dict[str, set[str]]:
    """Commune, département and EPT codes of a communes table (computed once per table)."""
    global _SETS
    from .layers import shared_key

    key = shared_key(communes)  # the process-wide table (a copy or subset is computed again)
    held, sets = _SETS
    if key is None or held != key:
        sets = {col: set(communes[col].dropna().to_numpy(dtype=object)) if col in communes.columns else set()
                for col in ("code", "dep", "ept")}
        _SETS = (key, sets)
    return sets


def _dep_prefix(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def _commune_reason(code: str, communes: pd.DataFrame, *, epci_codes: set[str] = frozenset(),
                    geometry: object = None, exclude: set[str] = frozenset()) -> str:
    """Why a commune code is unknown, and the code to use instead when it can be found."""
    sets = _sets(communes)
    known = sets["code"]
    clean = code.strip().upper()
    if clean != code and clean in known:
        return f"has spaces or lower-case letters: write '{clean}'"
    if re.fullmatch(r"\d{4}", clean):
        padded = clean.zfill(5)
        hint = f"use '{padded}'" if padded in known else "check the code"
        return f"has 4 digits: a leading zero was lost ({hint})"
    if re.fullmatch(r"20\d{3}", clean):
        match = [c for c in (f"2A{clean[2:]}", f"2B{clean[2:]}") if c in known]
        hint = f"use '{match[0]}'" if match else "use 2A (Corse-du-Sud) or 2B (Haute-Corse)"
        return f"uses the pre-1976 Corsica number 20: {hint}"
    if re.fullmatch(r"\d{9}", clean):
        if clean in epci_codes:
            return "is the SIREN of an EPCI, not an INSEE commune code: move it to 'epci'"
        if clean in sets["ept"]:
            members = sorted(communes.loc[communes["ept"] == clean, "code"])
            return (f"is the SIREN of an EPT (Grand Paris), not a commune code: list its {len(members)} "
                    f"communes instead: {', '.join(members)}")
        return "is a 9-digit SIREN, not a 5-character INSEE commune code"
    deps = sets["dep"]
    if clean in deps:
        return "is a département code: move it to 'departements'"
    if not re.fullmatch(r"(\d{5}|2[AB]\d{3})", clean):
        return "is not an INSEE commune code (5 characters: digits, or 2A/2B then 3 digits)"
    num = int(clean) if clean.isdigit() else -1
    for parent, name, arr in _PLM.values():
        if num in arr:
            return (f"is a municipal arrondissement of {name}: the communes layer has {name} "
                    f"as one commune, use '{parent}'")
    if "anciens_codes" in communes.columns:
        old = communes["anciens_codes"].astype("string").fillna("").str.split(r"[;,\s]+", regex=True)
        hit = communes[old.apply(lambda v: clean in v)]
        if len(hit):
            row = hit.iloc[0]
            return f"was merged into the commune nouvelle {row['nom']}: use '{row['code']}'"
    dep = _dep_prefix(clean)
    if deps and dep not in deps:
        return f"starts with {dep}, which is no département: check the code"
    found = _successors(geometry, communes, exclude, prefix=dep)
    if found:
        names = " or ".join(f"'{c}' ({n})" for c, n in found)
        return ("is not a commune of this vintage, probably merged into a commune nouvelle; the feature's "
                f"geometry lies on {names}, which no code of the feature gives: use that code")
    return (f"is not a commune of this vintage (département {dep}): it was probably merged into a commune "
            "nouvelle or deleted; find its successor in INSEE's COG history (insee.fr, 'historique des "
            "communes') and use that code")


def _expanded(props: dict, communes: pd.DataFrame) -> set[str]:
    """Known communes the feature's codes give (to rule them out as successors)."""
    known = _sets(communes)["code"]
    out = {c for c in props.get("communes") or [] if c in known}
    if props.get("epci") and "epci" in communes.columns:
        out |= set(communes.loc[communes["epci"].isin(props["epci"]), "code"])
    if props.get("departements") and "dep" in communes.columns:
        out |= set(communes.loc[communes["dep"].isin(props["departements"]), "code"])
    return out


def code_problems(label: str, props: dict, communes: pd.DataFrame, epci: Iterable[str] | pd.DataFrame,
                  *, geometry: object = None) -> list[Problem]:
    """Unknown commune, EPCI or département codes of one feature, with reasons.

    Parameters
    ----------
    label : str
        Words naming the feature.
    props : dict
        Its properties; ``communes``, ``epci`` and ``departements`` lists of strings.
    communes : pandas.DataFrame
        The communes layer (``code``, ``nom``, ``dep``, ``epci``, ``ept``; optional
        ``anciens_codes`` and ``geometry``).
    epci : iterable of str or DataFrame
        EPCI codes in force, or the EPCI layer (with its geometry, successors are found).
    geometry : shapely geometry, optional
        The feature's own geometry in WGS84, used to find the successor of a merged unit.
    """
    out: list[Problem] = []
    epci_layer = epci if isinstance(epci, pd.DataFrame) else None
    epcis = set(epci_layer["code"]) if epci_layer is not None else set(epci)
    sets = _sets(communes)
    known = sets["code"]
    unknown = [c for c in props.get("communes") or [] if c not in known]
    exclude = _expanded(props, communes) if geometry is not None and unknown else set()
    for code in unknown:
        reason = _commune_reason(code, communes, epci_codes=epcis, geometry=geometry, exclude=exclude)
        out.append(Problem(label, f"commune code {code!r} {reason}", "replace it in 'communes'"))
    epts = sets["ept"]
    for code in props.get("epci") or []:
        if code in epcis:
            continue
        clean = code.strip()
        if code in epts:
            members = sorted(communes.loc[communes["ept"] == code, "code"])
            out.append(Problem(label, f"'{code}' is an EPT (établissement public territorial of the Grand "
                               "Paris), not an EPCI à fiscalité propre",
                               f"list its {len(members)} communes in 'communes' instead: {', '.join(members)}"))
        elif clean != code and clean in epcis:
            out.append(Problem(label, f"EPCI code {code!r} has spaces", f"write '{clean}'"))
        elif re.fullmatch(r"(\d{5}|2[AB]\d{3})", clean) and clean in known:
            out.append(Problem(label, f"'{code}' in 'epci' is the INSEE code of the commune "
                               f"{communes.loc[communes['code'] == clean, 'nom'].iloc[0]}",
                               "move it to 'communes' (EPCI are given by their 9-digit SIREN)"))
        elif re.fullmatch(r"21\d{7}", clean):
            out.append(Problem(label, f"'{code}' looks like the SIREN of a commune, not of an EPCI",
                               "give the commune's 5-character INSEE code in 'communes'"))
        elif re.fullmatch(r"\d{9}", clean):
            found = _successors(geometry, epci_layer, set(props.get("epci") or []))
            msg = f"EPCI SIREN {code!r} is not an EPCI of this vintage (merged or dissolved since?)"
            if found:
                names = " or ".join(f"'{c}' ({n})" for c, n in found)
                out.append(Problem(label, f"{msg}; the feature's geometry lies on {names}, likely its successor",
                                   f"use '{found[0][0]}' if it is the successor, or list the communes"))
            else:
                out.append(Problem(label, msg, "use the SIREN of the EPCI now in force (see the 'epci' layer), "
                                   "or list the communes"))
        else:
            out.append(Problem(label, f"EPCI code {code!r} is not a 9-digit SIREN", "write the EPCI's SIREN"))
    deps = sets["dep"]
    for code in props.get("departements") or []:
        if code in deps:
            continue
        clean = code.strip().upper()
        if clean in deps:
            fix = f"write '{clean}'"
        elif clean.zfill(2) in deps:
            fix = f"write '{clean.zfill(2)}' (leading zero lost)"
        elif clean == "20":
            fix = "use '2A' and/or '2B' (Corsica has two départements since 1976)"
        elif clean in known:
            fix = "it is a commune code: move it to 'communes'"
        else:
            fix = "use an INSEE département code such as '07', '2A' or '974'"
        out.append(Problem(label, f"département code {code!r} is unknown", fix))
    return out


def seat_problem(label: str, props: dict, communes: pd.DataFrame) -> Problem | None:
    """A seat commune code (``siege_insee``…) that is not in the communes layer (a warning)."""
    for key in SEAT_KEYS:
        code = props.get(key)
        if code is None:
            continue
        if not isinstance(code, str):
            return Problem(label, f"its seat code '{key}' is not text", f'write it as a string, e.g. "{key}": "01427"',
                           severity="warning")
        if code and code not in _sets(communes)["code"]:
            return Problem(label, f"its seat commune {key}={code!r} {_commune_reason(code, communes)}; the seat "
                           "point falls back to the perimeter's representative point",
                           f"correct '{key}'", severity="warning")
        return None
    return None


def is_number(value: object) -> bool:
    """True for a finite real number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: the generation of a QPV code, from its first two letters
_QPV_GENERATIONS = {"QP": "the 2015 list (décrets 2014-1750/1751)", "QN": "the 2024 list (décret 2023-1314)"}


def _qpv_reason(code: str, known: set[str], communes: set[str], lists: str) -> tuple[str, str]:
    """Why a QPV code is unknown, and the fix."""
    clean = code.strip().upper()
    if clean != code and clean in known:
        return "has spaces or lower-case letters", f"write '{clean}'"
    if clean in communes or re.fullmatch(r"\d{5}|2[AB]\d{3}", clean):
        return "is an INSEE commune code, not a QPV code", "move it to 'communes'"
    if not re.fullmatch(r"Q[A-Z][0-9A-Z]{6}", clean):
        return ("is not a QPV code (8 characters: QP then 6 for the 2015 list, e.g. 'QP021004'; QN… for the 2024 "
                "list)", "copy the code from the official QPV list (sig.ville.gouv.fr, data.gouv.fr)")
    generation = _QPV_GENERATIONS.get(clean[:2])
    held = {_QPV_GENERATIONS.get(c[:2]) for c in list(known)[:50]} - {None}
    if generation is not None and held and generation not in held:
        return (f"is a code of {generation}, but the catalogue's QPV layers ({lists}) hold "
                f"{' and '.join(sorted(held))}", "give the code of the same neighbourhood in that list, or use a "
                "catalogue with a QPV layer of that list (id 'qpv' or 'qpv_…')")
    return (f"is in none of the catalogue's QPV layers ({lists})",
            "check the code against the official QPV list of that generation")


def qpv_problems(label: str, codes: list[str], known: set[str], *, communes: set[str] = frozenset(),
                 lists: str = "qpv") -> list[Problem]:
    """Unknown QPV codes of one feature, with reasons.

    Parameters
    ----------
    label : str
        Words naming the feature.
    codes : list of str
        Its ``qpv`` list.
    known : set of str
        Codes of the catalogue's QPV layers.
    communes : set of str
        Commune codes (to recognise a commune code put in ``qpv``).
    lists : str
        Words naming the QPV layers searched (their ids and vintages).
    """
    out = []
    for code in codes:
        if code in known:
            continue
        message, fix = _qpv_reason(code, known, communes, lists)
        out.append(Problem(label, f"QPV code {code!r} {message}", fix))
    return out
