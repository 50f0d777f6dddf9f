"""PTCE géo: the Streamlit app (French interface) over the ptce_geo library.

Run it from the repository root::

    streamlit run app.py

Data: ``PTCE_GEO_CATALOGUE``, ``PTCE_GEO_MIRROR`` and ``PTCE_GEO_CACHE`` as for the
command line; ``PTCE_GEO_POLES`` names the poles file (default ``poles.geojson``);
``PTCE_GEO_TILES`` (a tile URL template) and ``PTCE_GEO_TILES_ATTRIBUTION`` add a base
map (none by default: the app needs no network). Leaflet is served from ``static/vendor``
(written at start from the folium-offline package), never from a CDN.

The URL holds the page and what it shows (``?page=territoire&territoire=communes:64102``,
``?page=carte&pole=ptce01``, ``?page=decoupages&pole=ptce01&echelon=epci``, ``&mesure=population``):
a link pasted in an email opens the same view.
"""

from __future__ import annotations

import streamlit as st

from app_pages import carte, common, decoupages, french, mes_poles, nouveau, sources, state, territoire, zones_contrat

st.set_page_config(page_title="PTCE géo", page_icon="🗺️", layout="wide", initial_sidebar_state="expanded")

#: page title → (URL slug, function)
PAGES = {
    "Carte des pôles": ("carte", carte.page),
    "Mon territoire": ("territoire", territoire.page),
    "Découpages": ("decoupages", decoupages.page),
    "Nouveau périmètre": ("nouveau", nouveau.page),
    "Zones de contrat": ("zones", zones_contrat.page),
    "Mes pôles": ("mes-poles", mes_poles.page),
    "Sources": ("sources", sources.page),
}
_BY_SLUG = {slug: title for title, (slug, _) in PAGES.items()}


def _sync_url() -> None:
    st.query_params["page"] = PAGES[st.session_state["page"]][0]


def _measure_help() -> str:
    return ("Toutes les parts de l'application — part du pôle dans une unité, part d'un territoire couverte par un "
            "pôle, unité dominante, unités touchées — mesurées en surface, ou en habitants (population municipale "
            "Insee des communes ; une commune coupée par un périmètre dessiné compte au prorata de sa surface).")


def main() -> None:
    state.init()
    french.install()
    try:
        common.setup_assets()
    except OSError as exc:
        st.error(f"Les fichiers de Leaflet n'ont pas pu être copiés dans static/vendor ({exc.strerror or exc}) : "
                 "les cartes resteront vides. Vérifiez que le dossier de l'application est accessible en écriture.")
    if not st.get_option("server.enableStaticServing"):
        st.warning("Le service des fichiers statiques est désactivé : les cartes resteront vides. Lancez "
                   "l'application avec `streamlit run app.py` (le fichier .streamlit/config.toml l'active) ou "
                   "ajoutez l'option `--server.enableStaticServing true`.")
    if "page" not in st.session_state:
        st.session_state["page"] = _BY_SLUG.get(state.initial("page", ""), "Carte des pôles")
    if state.MEASURE_KEY not in st.session_state:
        st.session_state[state.MEASURE_KEY] = state.measure()
    with st.sidebar:
        st.markdown("## PTCE géo")
        st.caption("Les pôles territoriaux de coopération économique et les découpages qu'ils traversent.")
        st.radio("Page", list(PAGES), key="page", on_change=_sync_url, label_visibility="collapsed")
        territoire.sidebar_search()
        st.radio("Parts mesurées en", list(state.MEASURES), format_func=state.MEASURES.get, horizontal=True,
                 key=state.MEASURE_KEY, help=_measure_help())
        common.sidebar_status()
    slug, page_fn = PAGES[st.session_state["page"]]
    state.note_page(slug)
    if slug not in state.PAGE_PARAMS:  # pages that hold nothing else in the URL
        state.set_params(slug)
    common.run_page(page_fn)


main()
