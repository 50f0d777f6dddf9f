"""What the columns of exported tables hold, in French: headers and value kinds.

The machine formats (CSV, GeoJSON, GeoPackage fields) keep the snake_case names and raw
values. People read French headers: the « tableur » CSV dialect writes them and the
GeoPackage styles give them to QGIS as field aliases. A column's *kind* says how a
spreadsheet shows it: shares as percentages rounded to 0.1, areas and lengths to 0.1,
counts as integers, typologies and relations as French words.
"""

from __future__ import annotations

import re

from .fmt import LEVEL_LABELS

__all__ = ["KINDS", "column_kind", "french_header", "french_headers"]

#: value kinds: how a French table shows a column
KINDS = ("pct", "km2", "km", "ratio", "int", "typology", "relation", "method", "zone_type", "bool", "text", "number")

#: French header of a column, whatever the table
_HEADERS = {
    "id": "Identifiant", "pole_id": "Identifiant du pôle", "nom": "Nom", "pole_nom": "Pôle",
    "definition": "Définition du périmètre", "communes_membres": "Communes du périmètre (codes INSEE, calculé)",
    "confidence": "Confiance (tableau de bord)", "type_pole": "Type de pôle",
    "area_km2": "Surface (km²)", "population": "Population", "typology": "Typologie",
    "layer": "Échelon", "level": "Échelon", "n_units": "Unités comptées", "n_slivers": "Fragments écartés",
    "dominant_code": "Unité dominante (code)", "dominant_name": "Unité dominante",
    "dominant_share": "Part de l'unité dominante (%)", "effective_units": "Nombre effectif d'unités",
    "entropy_norm": "Entropie normalisée", "best_iou_code": "Meilleur recouvrement (code)",
    "best_iou": "Meilleur recouvrement (IoU)", "border_km": "Frontières traversées (km)",
    "covered_share": "Part couverte (%)",
    "unit_code": "Code de l'unité", "unit_name": "Unité", "unit_area_km2": "Surface de l'unité (km²)",
    "share_of_pole": "Part du pôle (%)", "share_of_unit": "Part de l'unité (%)", "iou": "Recouvrement (IoU)",
    "kept": "Retenue", "unit_population": "Population de l'unité",
    "zone_code": "Code de la zone", "zone_name": "Zone", "share_of_zone": "Part de la zone (%)",
    "relation": "Relation", "overlap_km2": "Surface commune (km²)", "zone_type": "Type de zone",
    "counted": "Recouvrement compté", "overlap_population": "Population commune",
    "shared_communes": "Communes en commun", "method": "Calcul",
    "programmes": "Programmes en vigueur", "historique": "Générations expirées (historique)",
    "qpv_count": "QPV touchés", "qpv_inside": "QPV entièrement inclus",
    "qpv_area_share": "Part de la surface en QPV (%)",
    "siege_insee": "Siège (code INSEE)", "siege_nom": "Siège", "siege_source": "Origine du point",
    "lon": "Longitude", "lat": "Latitude",
    # attributes of the poles file (docs/poles.md)
    "nom_annexe": "Nom dans l'annexe", "structure_porteuse": "Structure porteuse",
    "region_annexe": "Région (annexe)", "departement_annexe": "Département (annexe)",
    "regions_cog": "Régions traversées (codes)", "departements_cog": "Départements traversés (codes)",
    "note_siege": "Note sur le siège", "communes": "Communes du périmètre (saisie)",
    "epci": "EPCI du périmètre (saisie, SIREN)", "departements": "Départements entiers du périmètre (saisie)",
    "note_perimetre": "Note sur le périmètre", "confiance": "Confiance", "sources": "Sources",
    "filieres": "Filières", "annee": "Année", "annee_detail": "Création", "description": "Description",
    "cog": "Millésime du COG", "qpv": "QPV du périmètre (saisie, codes)",
    "filiere_pole": "Filière du pôle", "appel_2011_pole_temoin": "Pôle témoin de l'appel de 2011",
    "appel_2013_laureat": "Lauréat de l'appel à projets de 2013", "note_appels": "Note sur les appels",
    "fichier_type_pole": "Type de pôle (fichier des pôles)", "fichier_filiere_pole": "Filière du pôle (fichier des pôles)",
    "fichier_appel_2013_laureat": "Lauréat de l'appel de 2013 (fichier des pôles)",
    "territoire": "Profil du territoire (JSON)", "territoire_classe_densite": "Territoire : classe de densité",
    # the keys of the poles file's ``territoire`` profile, spread in French tables (docs/poles.md)
    "territoire_population": "Territoire : population", "territoire_population_source": "Territoire : source de la population",
    "territoire_superficie_km2": "Territoire : superficie (km²)", "territoire_densite": "Territoire : densité (hab./km²)",
    "territoire_unites_urbaines": "Territoire : source des unités urbaines",
    "territoire_part_population_qpv": "Territoire : part de la population en QPV (%)",
    "territoire_qpv_touches": "Territoire : QPV touchés", "territoire_qpv_liste": "Territoire : liste des QPV (année)",
    "territoire_methode": "Territoire : méthode du profil",
    "territoire_profil": "Territoire : profil (urbain ou rural)",
    "territoire_part_urbaine": "Territoire : part de la population en unité urbaine (%)",
    "programmes_historiques": "Générations expirées (historique)",
}
#: column-specific headers for tables where a name means something else
_TABLE_HEADERS = {
    "pieces": {"area_km2": "Surface du morceau (km²)", "population": "Population du morceau"},
    "territory": {"share_of_unit": "Part du territoire couverte par le pôle (%)",
                  "share_of_pole": "Part du pôle située dans le territoire (%)",
                  "area_km2": "Surface en commun (km²)"},
    "overlaps": {"share_of_pole": "Part du pôle dans la zone (%)", "share_of_zone": "Part de la zone dans le pôle (%)"},
}
_MATCHING = {"ze": "Zone d'emploi la mieux ajustée", "bv": "Bassin de vie le mieux ajusté",
             "aav": "Aire d'attraction la mieux ajustée"}
#: the zones layers of the catalogues, for the per-layer columns of the programmes' summary
_ZONE_LAYERS = {"qpv": "QPV", "territoires_industrie": "Territoires d'industrie", "contrats_de_ville": "Contrats de ville",
                "contrats_de_ruralite": "Contrats de ruralité",
                "contrats_transition_ecologique": "Contrats de transition écologique",
                "petites_villes_de_demain": "Petites villes de demain", "action_coeur_de_ville": "Action cœur de ville",
                "crte": "CRTE", "pnr": "Parcs naturels régionaux"}
#: the programmes' summary's per-layer columns (``crte_n``…): what follows the layer's name
_ZONE_COLUMNS = (("_covered_share", "part du pôle couverte (%)"), ("_codes", "codes des zones"),
                 ("_n", "zones comptées"))
#: per-level columns: (pattern whose group 1 is the level, what follows the level's label),
#: tried in this order (``dominant_<level>_share`` before ``dominant_<level>``)
_LEVEL_COLUMNS = (
    (r"n_(\w+)", "unités comptées"),
    (r"dominant_(\w+?)_share", "part de l'unité dominante (%)"),
    (r"dominant_(\w+)", "unité dominante"),
    (r"border_(\w+)_km", "frontières traversées (km)"),
)
_PCT = {"share_of_pole", "share_of_unit", "share_of_zone", "covered_share", "qpv_area_share", "dominant_share",
        "share_inside", "territoire_part_urbaine", "territoire_part_population_qpv"}
_INT = {"population", "unit_population", "n_units", "n_slivers", "qpv_count", "qpv_inside", "cog", "annee",
        "overlap_population", "shared_communes", "territoire_population", "territoire_qpv_touches",
        "territoire_qpv_liste"}
_RATIO = {"iou", "best_iou", "effective_units", "entropy_norm"}


def _level(lid: str) -> str:
    return LEVEL_LABELS.get(lid, lid.replace("_", " ").capitalize())


def _level_header(column: str) -> str | None:
    """The French header of a per-level column (``n_epci``, ``dominant_ze``…), or ``None``.

    Parameters
    ----------
    column : str
        A machine column name.

    Returns
    -------
    str or None
        ``"<level> : <what>"`` for the first pattern of :data:`_LEVEL_COLUMNS` that
        matches ``column`` whole; ``None`` when none does.
    """
    for pattern, what in _LEVEL_COLUMNS:
        m = re.fullmatch(pattern, column)
        if m:
            return f"{_level(m.group(1))} : {what}"
    return None


def french_header(column: str, *, table: str = "") -> str:
    """The French header of ``column`` (the name itself when unknown).

    Parameters
    ----------
    column : str
        A machine column name (``share_of_pole``, ``n_epci``, ``best_ze_iou``…).
    table : str
        ``"pieces"``, ``"territory"``, ``"overlaps"`` or ``""``: a few names mean
        something else in those tables (``area_km2`` is the piece's area in ``pieces``).
    """
    special = _TABLE_HEADERS.get(table, {})
    if column in special:
        return special[column]
    if column in _HEADERS:
        return _HEADERS[column]
    header = _level_header(column)
    if header is not None:
        return header
    m = re.fullmatch(r"best_(ze|bv|aav)_(code|name|iou)", column)
    if m:
        what = {"code": "code", "name": "nom", "iou": "recouvrement (IoU)"}[m.group(2)]
        return f"{_MATCHING[m.group(1)]} : {what}"
    for suffix, what in _ZONE_COLUMNS:
        lid = column.removesuffix(suffix)
        if column.endswith(suffix) and lid in _ZONE_LAYERS:
            return f"{_ZONE_LAYERS[lid]} : {what}"
    return column


def french_headers(columns, *, table: str = "") -> list[str]:
    """French headers of ``columns``, made unique (a repeated header gets its machine name)."""
    heads = [french_header(c, table=table) for c in columns]
    seen: dict[str, int] = {}
    for h in heads:
        seen[h] = seen.get(h, 0) + 1
    return [f"{h} [{c}]" if seen[h] > 1 and h != c else h for h, c in zip(heads, columns)]


def column_kind(column: str) -> str:
    """How a French table shows ``column``: one of :data:`KINDS`."""
    if column in _PCT or column.endswith("_share"):
        return "pct"
    if column.endswith("_km2"):
        return "km2"
    if column.endswith("_km"):
        return "km"
    if column in _RATIO or column.endswith("_iou"):
        return "ratio"
    if column in _INT or re.fullmatch(r"n_\w+", column) or (
            column.endswith("_n") and column.removesuffix("_n") in _ZONE_LAYERS):
        return "int"
    if column == "typology":
        return "typology"
    if column == "relation":
        return "relation"
    if column in ("method", "zone_type"):
        return column
    if column in ("kept", "counted"):
        return "bool"
    return "number"
