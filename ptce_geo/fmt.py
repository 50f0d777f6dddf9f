"""French words and number formats shared by every French output (app, card, spreadsheets).

Numbers are written the French way: decimal comma, narrow no-break space (U+202F) between
thousands, a no-break space before ``%`` and units (« 12 345,6 km² », « 44,4 % »).
"""

from __future__ import annotations

import math
import unicodedata

__all__ = ["LEVEL_LABELS", "RELATION_LABELS", "TYPOLOGY_LABELS", "fr_number", "fr_pct", "fold"]

#: French names of the partition levels
LEVEL_LABELS = {
    "communes": "Communes", "epci": "EPCI", "departements": "Départements", "regions": "Régions",
    "zones_emploi": "Zones d'emploi",
    "ept": "EPT (Grand Paris)", "bassins_vie": "Bassins de vie 2022",
    "aires_attraction": "Aires d'attraction des villes 2020", "unites_urbaines": "Unités urbaines 2020",
    "cantons": "Cantons (cantons-villes)", "arrondissements": "Arrondissements",
}
#: French names of the relations between a pole and a zone
RELATION_LABELS = {
    "coincides": "Confondus",
    "pole_inside_zone": "Pôle inclus dans la zone",
    "zone_inside_pole": "Zone incluse dans le pôle",
    "straddles": "Chevauchement",
    "touches": "Contact en bordure",
}
#: French names of the typologies (:data:`ptce_geo.metrics.TYPOLOGIES`)
TYPOLOGY_LABELS = {
    "commune": "Une seule commune",
    "intra-EPCI": "Intra-EPCI",
    "inter-EPCI": "Inter-EPCI",
    "inter-départemental": "Inter-départemental",
    "inter-régional": "Inter-régional",
}


def fr_number(value: object, decimals: int = 1) -> str:
    """A number written the French way: « 12 345,6 » (``—`` when missing)."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if math.isnan(x) or math.isinf(x):
        return "—"
    return f"{x:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def fr_pct(value: object, decimals: int = 1) -> str:
    """A share written as a French percentage: 0.1234 → « 12,3 % »."""
    try:
        return fr_number(float(value) * 100, decimals) + "\u00a0%"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"


def fold(text: object) -> str:
    """Lower case without accents, for searching (« Saint-Étienne » → « saint-etienne »)."""
    s = unicodedata.normalize("NFKD", str(text or ""))
    return "".join(ch for ch in s if not unicodedata.combining(ch)).lower().strip()
