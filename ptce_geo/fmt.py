"""French words and number formats shared by every French output (app, card, spreadsheets).

Numbers are written the French way: decimal comma, narrow no-break space (U+202F) between
thousands, a no-break space before ``%`` and units (« 12 345,6 km² », « 44,4 % »).
Counts agree with their noun (« 1 périmètre », « 2 périmètres », « 0 périmètre »).
"""

from __future__ import annotations

import math
import re
import unicodedata

__all__ = ["LEVEL_LABELS", "LEVEL_NOUNS", "RELATION_LABELS", "TYPOLOGY_LABELS", "METRIC_LABELS", "METRIC_HELP",
           "WEIGHT_LABELS", "fr_number", "fr_int", "fr_pct", "fr_km", "fr_km2", "fr_bytes", "fr_count", "plural",
           "fold", "search_key", "search_keys"]

#: French names of the partition levels
LEVEL_LABELS = {
    "communes": "Communes", "epci": "EPCI", "departements": "Départements", "regions": "Régions",
    "zones_emploi": "Zones d'emploi",
    "ept": "EPT (Grand Paris)", "bassins_vie": "Bassins de vie 2022",
    "aires_attraction": "Aires d'attraction des villes 2020", "unites_urbaines": "Unités urbaines 2020",
    "cantons": "Cantons (cantons-villes)", "arrondissements": "Arrondissements",
}
#: one unit of each level, in a sentence: (singular, plural)
LEVEL_NOUNS = {
    "communes": ("commune", "communes"), "epci": ("EPCI", "EPCI"), "ept": ("EPT", "EPT"),
    "departements": ("département", "départements"), "regions": ("région", "régions"),
    "zones_emploi": ("zone d'emploi", "zones d'emploi"), "bassins_vie": ("bassin de vie", "bassins de vie"),
    "aires_attraction": ("aire d'attraction", "aires d'attraction"),
    "unites_urbaines": ("unité urbaine", "unités urbaines"), "cantons": ("canton", "cantons"),
    "arrondissements": ("arrondissement", "arrondissements"), "qpv": ("QPV", "QPV"),
}
#: French names of the relations between a pole and a zone
RELATION_LABELS = {
    "coincides": "Confondus",
    "pole_inside_zone": "Pôle inclus dans la zone",
    "zone_inside_pole": "Zone incluse dans le pôle",
    "straddles": "Chevauchement",
    "touches": "Contact en bordure",
}
#: French names of how a zone's overlap is computed: on shared communes, or on outlines
METHOD_LABELS = {"membership": "communes", "geometry": "contours"}
#: French names of the kinds of zones (``zone_type`` of an overlap)
ZONE_TYPE_LABELS = {"communes": "communes", "polygon": "contour", "point": "site (point)"}
#: French names of the typologies (:data:`ptce_geo.metrics.TYPOLOGIES`)
TYPOLOGY_LABELS = {
    "commune": "Une seule commune",
    "intra-EPCI": "Intra-EPCI",
    "inter-EPCI": "Inter-EPCI",
    "inter-départemental": "Inter-départemental",
    "inter-régional": "Inter-régional",
}
#: the measures of shares
WEIGHT_LABELS = {"area": "surface", "population": "population"}
#: French names of the scorecard figures (:data:`ptce_geo.metrics.SCORECARD_COLUMNS`)
METRIC_LABELS = {
    "n_units": "Unités comptées",
    "n_slivers": "Fragments écartés",
    "dominant_name": "Unité dominante",
    "dominant_share": "Part de l'unité dominante",
    "effective_units": "Nombre effectif d'unités",
    "border_km": "Frontières internes",
    "best_iou": "Indice de recouvrement",
    "share_of_pole": "Part du pôle",
    "share_of_unit": "Part de l'unité",
    "covered_share": "Part couverte",
}
#: one line of plain French per figure, for an elected official
METRIC_HELP = {
    "n_units": "Nombre d'unités qui contiennent au moins 1 % du pôle, ou qui sont entièrement dans le pôle.",
    "n_slivers": "Petits morceaux de moins de 1 % du pôle, dus au tracé des contours : signalés, pas comptés.",
    "dominant_name": "L'unité qui contient la plus grande part du pôle.",
    "dominant_share": "La part du pôle située dans son unité dominante (100 % : le pôle tient dans une seule unité).",
    "effective_units": "Combien d'unités de même taille donneraient la même dispersion : 1 si une unité domine, "
                       "2 si deux unités se partagent le pôle à parts égales.",
    "border_km": "Longueur des frontières entre unités situées à l'intérieur du pôle.",
    "best_iou": "Ressemblance entre le pôle et une unité : surface commune divisée par la surface réunie "
                "des deux (1 = mêmes contours, 0 = aucun recouvrement).",
    "share_of_pole": "La part du pôle située dans l'unité.",
    "share_of_unit": "La part de l'unité couverte par le pôle.",
    "covered_share": "La part du pôle couverte par les unités de l'échelon.",
}


def _float(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def fr_number(value: object, decimals: int = 1) -> str:
    """A number written the French way: « 12 345,6 » (``—`` when missing)."""
    x = _float(value)
    if x is None:
        return "—"
    text = f"{x:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")
    return "0" + text[2:] if text.startswith("-0") and not any(c in "123456789" for c in text) else text


def fr_int(value: object) -> str:
    """A whole number with thin spaces between thousands: « 53 312 »."""
    return fr_number(value, 0)


def fr_pct(value: object, decimals: int = 1) -> str:
    """A share written as a French percentage: 0.1234 → « 12,3 % »."""
    x = _float(value)
    return "—" if x is None else fr_number(x * 100, decimals) + "\u00a0%"


def fr_km(value: object, decimals: int = 1) -> str:
    """A length in km: « 12,3 km »."""
    x = _float(value)
    return "—" if x is None else fr_number(x, decimals) + "\u00a0km"


def fr_km2(value: object, decimals: int = 1) -> str:
    """An area in km²: « 152,2 km² »."""
    x = _float(value)
    return "—" if x is None else fr_number(x, decimals) + "\u00a0km²"


def fr_bytes(size: object) -> str:
    """A file size in French units: « 229 o », « 12,4 ko », « 3,1 Mo »."""
    x = _float(size)
    if x is None:
        return "—"
    for unit, scale in (("Go", 2**30), ("Mo", 2**20), ("ko", 2**10)):
        if abs(x) >= scale:
            return fr_number(x / scale, 1) + "\u00a0" + unit
    return fr_int(x) + "\u00a0o"


def plural(n: object, singular: str, plural_form: str | None = None) -> str:
    """The noun agreeing with ``n``: singular for 0 and 1 (French rule), plural from 2.

    ``plural_form`` defaults to ``singular + "s"``; give it for invariable or irregular
    nouns (« EPCI », « zones d'emploi »).
    """
    x = _float(n)
    many = x is not None and abs(x) >= 2
    return (plural_form if plural_form is not None else singular + "s") if many else singular


def fr_count(n: object, singular: str, plural_form: str | None = None) -> str:
    """A count and its noun: « 1 périmètre », « 12 345 communes »."""
    return f"{fr_int(n)}\u00a0{plural(n, singular, plural_form)}"


def fold(text: object) -> str:
    """Lower case without accents, for searching (« Saint-Étienne » → « saint-etienne »)."""
    s = unicodedata.normalize("NFKD", str(text or ""))
    return "".join(ch for ch in s if not unicodedata.combining(ch)).lower().strip()


_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "Œ": "OE", "Æ": "AE"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—'’‘`´ʼ.,;:/()\[\]«»\"_]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_ABBREVIATION = re.compile(r"(?<![^ ])(sts|stes|st|ste)(?![^ ])")


def search_key(text: object) -> str:
    """A name reduced for matching: case, accents, hyphens, apostrophes and « St »/« Ste » ignored.

    « Saint-Denis », « st denis » and « SAINT DENIS » give « saint denis »;
    « L'Île-Saint-Denis » gives « l ile saint denis »; « Cœur » gives « coeur ».
    """
    words = _SEPARATORS.split(fold(str(text or "").translate(_LIGATURES)))
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words if w)


def search_keys(texts) -> "list[str]":
    """:func:`search_key` of many names at once (vectorised with pandas string methods)."""
    import pandas as pd

    s = pd.Series(list(texts), dtype=object).fillna("").astype(str).str.translate(_LIGATURES)
    s = s.str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True).str.lower()
    s = s.str.replace(_SEPARATORS, " ", regex=True).str.strip()
    s = s.str.replace(_ABBREVIATION, lambda m: _ABBREVIATIONS[m.group(1)], regex=True)
    return s.tolist()
