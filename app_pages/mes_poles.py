"""Page « Mes pôles »: a list of poles of one's own (CSV or GeoJSON), shown on every page for the session.

The file is read as the command line reads ``--poles`` (:func:`ptce_geo.perimeters.read_perimeters`):
a CSV list keeps its usable rows and reports every code or row it could not use; a GeoJSON
with an error is refused whole. Only a file read without error replaces the poles, for this
session only; the application's poles file stays the default.
"""

from __future__ import annotations

import streamlit as st

from ptce_geo import maps
from ptce_geo.errors import PtceGeoError
from ptce_geo.fmt import fr_count
from ptce_geo.polelist import is_csv_source, read_poles_csv
from ptce_geo.uploads import MAX_UPLOAD_BYTES

from . import common, places
from .carte import NATIONAL_BOUNDS
from .present import fr_table, md, summary_table

#: a small example list: three ways of giving a perimeter
TEMPLATE = ("id;nom;communes;epci;departements;qpv;confiance;type_pole\n"
            "pole-1;Pôle du Seignanx;;244000659;;;haute;multi-activités\n"
            "pole-2;Annonay et Boulieu-lès-Annonay;07010, 07041;;;;moyenne;filière\n"
            "pole-3;Quartier des Grésilles (Dijon);;;;QP021004;moyenne;\n")
#: largest file accepted (bytes): the uploader's own cap, as on every page
MAX_BYTES = MAX_UPLOAD_BYTES
_GEN = "_mes_upload_gen"
#: the map's width at 1400 px (place names are chosen for it)
MAP_WIDTH_PX = 920


def _read(digest: str, data: bytes, filename: str) -> tuple[int, list[str]]:
    """How many poles the file gives, and every problem (French) of a CSV list.

    The file is read, and its poles measured, in a worker process (a user's file: see
    app_pages/compute.py); the result is kept for every page of the session.
    """
    if filename.lower().endswith((".csv", ".tsv")) and not is_csv_source(data):
        read_poles_csv(data, check_codes=False)  # a table that is not a poles list: says what is missing
    common.register_upload(digest, data)
    n, report, _ = common.session_card(digest)
    return n, report


def _back() -> None:
    common.drop_session_poles()
    st.session_state[_GEN] = st.session_state.get(_GEN, 0) + 1  # an empty uploader


def page() -> None:
    st.title("Mes pôles")
    st.caption("Importez votre propre liste de pôles : un tableau CSV (une ligne par pôle : `id`, `nom`, et les "
               "codes des communes, EPCI, départements ou QPV séparés par des virgules ; colonnes séparées par des "
               "points-virgules, comme les enregistre un tableur en français) ou un fichier "
               "GeoJSON de périmètres. Toutes les pages montrent alors vos pôles, pour cette session seulement ; "
               "le fichier des pôles de l'application n'est pas modifié.")
    st.download_button("Télécharger un modèle de tableau (CSV)", TEMPLATE.encode("utf-8-sig"),
                       file_name="modele-poles.csv", mime="text/csv", key="mes_template")
    gen = st.session_state.get(_GEN, 0)
    up = st.file_uploader("Votre liste de pôles (CSV ou GeoJSON)", type=["csv", "geojson", "json"],
                          key=f"mes_upload_{gen}", help=f"{MAX_BYTES // 2**20} Mo au plus.")
    report: list[str] = []
    if up is not None:
        data = up.getvalue()
        if len(data) > MAX_BYTES:
            st.error(f"Fichier refusé : plus de {MAX_BYTES // 2**20} Mo. Les pôles affichés restent inchangés.")
        else:
            d = common.digest(data)
            try:
                n, report = _read(d, data, up.name)
            except PtceGeoError as exc:
                st.error(f"Fichier refusé : {md(exc.fr)} Les pôles affichés restent inchangés.")
            else:
                mine = common.session_poles()
                if mine is None or mine["digest"] != d:
                    common.use_session_poles(up.name, data, n)
                    st.rerun()  # the sidebar and every page now read these poles
    mine = common.session_poles()
    if mine is None:
        st.info(f"Les pages montrent {fr_count(len(common.poles()), 'pôle')} du fichier des pôles de l'application "
                f"(« {md(common.poles_file().name)} »). Importez un fichier pour les "
                "remplacer par les vôtres.")
        return
    st.success(f"Toutes les pages montrent vos {mine['n']} pôles (fichier « {md(mine['name'])} »), pour cette "
               "session.")
    st.button("Revenir aux pôles de l'application", on_click=_back, key="mes_back")
    if report:
        st.warning(f"{fr_count(len(report), 'élément')} du tableau "
                   f"{'n’a pas pu être utilisé' if len(report) == 1 else 'n’ont pas pu être utilisés'} : les codes en cause ont été "
                   "ignorés, les lignes sans identifiant, en double ou sans code utilisable ont été écartées.")
        with st.expander("Détail des problèmes", expanded=len(report) <= 10):
            st.markdown("\n".join(f"- {md(line)}" for line in report[:500]))
    card = common.scorecard()
    disp = common.poles_display()
    def build():
        bounds = maps.bounds_of(disp.geometry) if len(disp) else None
        m = maps.new_map(bounds=bounds, tiles=common.tiles())
        # where the poles are: the départements and the names of places (small poles far apart are
        # specks on an empty map otherwise)
        common.add_departement_outlines(m)
        places.add_place_labels(m, bounds or NATIONAL_BOUNDS, width_px=MAP_WIDTH_PX)
        maps.add_poles(m, disp, name="Mes pôles", tolerance=0.0)
        maps.typology_legend(m, present=set(disp["typology"].dropna()) or None,
                             low_confidence="confidence" in disp and disp["confidence"].eq("faible").any())
        maps.add_attribution(m, common.data_attribution(["communes", "departements"]))
        return maps.finish(m)

    common.show_map(build, key="mes_map", spec=("mes-poles",))
    st.subheader(f"Vos pôles ({len(card.summary)})")
    st.dataframe(fr_table(summary_table(card), {"Surface (km²)": "num1"}), hide_index=True, width="stretch",
                 column_config={"Zone d'emploi la mieux ajustée": st.column_config.TextColumn("ZE la mieux ajustée")})
