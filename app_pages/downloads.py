"""Downloads offered at the end of every page: what the page shows, in every format.

Each page calls one function of this module with what it shows (a pole, a level, a
territory, an overlap table); the module draws a row of download buttons: GeoJSON,
GeoPackage (QGIS, styled), « Tableur » (CSV for French spreadsheets, the default for
people) and CSV for programs, and the card of the pole as PDF and HTML where a pole is
shown. Files are made only when a button is clicked (Streamlit's deferred downloads),
from the shared Scorecard: showing a page costs nothing. File names say what they hold
(``ptce05_pieces_epci.gpkg``); every file carries its provenance.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import streamlit as st

from ptce_geo.card import card_filename, pole_card
from ptce_geo.export import MIME, Dataset, dataset_bytes, overlaps_dataset, pieces_dataset, poles_dataset, \
    safe_name, territory_dataset
from ptce_geo.scorecard import Scorecard

logger = logging.getLogger("ptce_geo.app")

#: button label, format, CSV dialect, help
BUTTONS = (
    ("GeoJSON", "geojson", "machine", "Carte en GeoJSON (RFC 7946) avec tous les attributs et la provenance."),
    ("GeoPackage (QGIS)", "gpkg", "machine", "Toutes les couches, stylées comme dans l'application, pour QGIS."),
    ("Tableur (CSV)", "csv", "fr", "Pour Excel ou LibreOffice : séparateur « ; », virgule décimale, parts en %."),
    ("CSV (programmes)", "csv", "machine", "CSV brut pour les programmes : virgule, point décimal, valeurs exactes."),
)
_FILE_NAMES = {("geojson", "machine"): "{}.geojson", ("gpkg", "machine"): "{}.gpkg",
               ("csv", "fr"): "{}_tableur.zip", ("csv", "machine"): "{}_csv.zip"}


def deferred(make: Callable[[], bytes], what: str) -> Callable[[], bytes]:
    """``make`` run on click; a failure is logged on the server (the page shows Streamlit's notice)."""
    def run() -> bytes:
        try:
            return make()
        except Exception:
            logger.exception("download of %s failed", what)
            raise
    return run


def _buttons(name: str, build: Callable[[], Dataset], *, key: str, label: str) -> None:
    st.markdown(f"**{label}**")
    cols = st.container(key=f"pairs_{key}").columns(len(BUTTONS))  # two by two in a narrow window
    for col, (text, fmt, dialect, help_text) in zip(cols, BUTTONS):
        filename = _FILE_NAMES[(fmt, dialect)].format(name)
        data = deferred(lambda fmt=fmt, dialect=dialect: dataset_bytes(build(), fmt=fmt, dialect=dialect)[0],
                         filename)
        col.download_button(text, data=data, file_name=filename,
                            mime=MIME["zip"] if fmt == "csv" else MIME[fmt], key=f"{key}_{fmt}_{dialect}",
                            help=help_text, on_click="ignore", width="stretch")


def _card_in_worker(card: Scorecard, pole_id: str, fmt: str) -> bytes:
    """A user's perimeter: its card is made in a worker process (deadline, memory cap; see compute.py)."""
    from . import compute

    return compute.slots().run(functools.partial(pole_card, fmt=fmt), card, pole_id, what="the perimeter's card")


def card_buttons(card: Scorecard, pole_id: str, *, key: str, isolate: bool = False) -> None:
    """The card of one pole (or of a user's perimeter, made in a worker when ``isolate``) as PDF and HTML."""
    make = _card_in_worker if isolate else (lambda c, p, fmt: pole_card(c, p, fmt=fmt))
    c1, c2, _ = st.columns([1, 1, 2])
    for col, fmt, text in ((c1, "pdf", "Fiche PDF (A4)"), (c2, "html", "Fiche HTML")):
        col.download_button(text, data=deferred(lambda fmt=fmt: make(card, pole_id, fmt), pole_id),
                            file_name=card_filename(pole_id, fmt), mime=MIME[fmt], key=f"{key}_card_{fmt}",
                            on_click="ignore", width="stretch",
                            help="La fiche imprimable : carte, tableau de bord, programmes, sources et mentions.")


def poles(card: Scorecard, pole_id: str | None, *, key: str = "dl_carte") -> None:
    """Carte des pôles: the selected pole (with its card) or all poles."""
    st.divider()
    choice = "all"
    if pole_id is not None:
        choice = st.radio("Télécharger", ["pole", "all"], horizontal=True, key=f"{key}_what",
                          format_func={"pole": "Le pôle sélectionné", "all": "Tous les pôles"}.get)
    if choice == "pole":
        card_buttons(card, pole_id, key=key)
        _buttons(f"{safe_name(pole_id)}_pole", lambda: poles_dataset(card, pole_id, levels=card.levels,
                                                                        zones=card.catalogue.ids(kind="zones")),
                 key=f"{key}_pole", label="Données du pôle (périmètre, attributs, tableau de bord, découpages, zones)")
    else:
        # what one pole's download holds, for every pole (GeoPackage: 7,6 MB for the 29 poles, built in about 1 s)
        _buttons("ptce_poles", lambda: poles_dataset(card, levels=card.levels, zones=card.catalogue.ids(kind="zones")),
                 key=f"{key}_all", label=f"Tous les pôles ({len(card.ids)}) : périmètres, attributs, tableau de bord, "
                                         "découpages, zones")


def pieces(card: Scorecard, pole_id: str, level: str, *, key: str = "dl_dec") -> None:
    """Découpages: the pieces of the chosen level, with geometry."""
    st.divider()
    _buttons(f"{safe_name(pole_id)}_pieces_{safe_name(level)}", lambda: pieces_dataset(card, level, pole_id),
             key=key, label="Télécharger les morceaux du pôle (avec leur géométrie)")


def territory(card: Scorecard, layer_id: str, code: str, *, communes=None, key: str = "dl_terr") -> None:
    """Mon territoire: the poles of the territory with both shares (``communes``: its members)."""
    st.divider()
    _buttons(f"territoire_{safe_name(layer_id)}_{safe_name(code)}_poles",
             lambda: territory_dataset(card, layer_id, code, communes=communes), key=key,
             label="Télécharger les pôles du territoire (avec les deux parts)")


def overlaps(card: Scorecard, overlap, rows=None, *, key: str = "dl_zc") -> None:
    """Zones de contrat: the overlap table shown (its filtered rows), with geometry."""
    st.divider()
    _buttons(f"ptce_overlaps_{safe_name(overlap.layer)}", lambda: overlaps_dataset(card, overlap, rows=rows),
             key=key, label="Télécharger les recouvrements affichés (avec leur géométrie)")


def perimeter_card(card: Scorecard, pole_id: str, *, key: str = "dl_nouv") -> None:
    """Nouveau périmètre: the card of the drawn or uploaded perimeter (made in a worker process)."""
    card_buttons(card, pole_id, key=key, isolate=True)
