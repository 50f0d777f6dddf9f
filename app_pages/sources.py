"""Page « Sources »: data vintages, licences and the attributions the data requires."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ptce_geo import __version__
from ptce_geo.fmt import fr_count
from ptce_geo.poles import pole_details
from ptce_geo.errors import PtceGeoError
from ptce_geo.layers import layer_status

from . import common
from .present import md

KINDS = {"partition": "Découpage", "zones": "Zones"}


def page() -> None:
    st.title("Sources et licences")
    st.caption("Les couches utilisées, leur millésime, leur licence et la mention que leur licence impose. Toute "
               "réutilisation des cartes et tableaux doit reprendre ces mentions.")
    env = common.env_summary()
    cat = common.catalogue()
    with st.expander("Réglages techniques (pour l'administrateur de l'application)"):
        st.markdown(f"**Catalogue des couches :** {md(cat.name)} ({md(env['catalogue'])})  \n"
                    f"**Copie locale des contours (PTCE_GEO_MIRROR) :** {md(env['miroir'])}  \n"
                    f"**Cache (PTCE_GEO_CACHE) :** {md(env['cache'])}  \n"
                    f"**Fichier des pôles (PTCE_GEO_POLES) :** {md(env['poles'])}")
    try:
        status = layer_status(catalogue=cat).set_index("id")["cached"]
    except PtceGeoError:
        status = pd.Series(dtype=object)
    rows = [{
        "Couche": spec.title, "Identifiant": spec.id, "Type": KINDS.get(spec.kind, spec.kind),
        "Millésime": str(spec.vintage), "Licence": spec.licence, "Mention obligatoire": spec.attribution,
        "Préparée": "oui" if status.get(spec.id) == "yes" else "non",
    } for spec in cat]
    st.table(pd.DataFrame(rows), hide_index=True)  # long licences and mentions wrap: nothing is cut
    st.caption("« Préparée » : la couche est déjà dans le cache local ; sinon elle est lue (ou téléchargée) à la "
               "première utilisation. " + common.MIRROR_HELP)
    st.subheader("Pôles")
    mine = common.session_poles()
    path = common.poles_file() if common.poles_path().is_file() else None
    if mine is not None:
        st.markdown(f"**Pôles importés pour cette session :** {md(mine['name'])} (page « Mes pôles ») ; le fichier "
                    "des pôles de l'application reste inchangé.")
        path = None
        try:
            perims = common.poles()
        except PtceGeoError as exc:
            common.show_error(exc)
        else:
            st.markdown(f"**{len(perims)} pôles.**")
    elif path is None:
        st.warning("Fichier des pôles introuvable : définissez PTCE_GEO_POLES ou ajoutez poles.geojson.")
    else:
        st.markdown(f"**Fichier :** {md(path.name)}")
        try:
            perims = common.poles()
        except PtceGeoError as exc:
            common.show_error(exc)
        else:
            counts = pd.Series([pole_details(p)["confiance"] or "non indiquée" for p in perims["properties"]])
            st.markdown(f"**{fr_count(len(perims), 'pôle')}.** Chaque fiche cite ses sources (page « Carte des "
                        "pôles »).")
            st.table(counts.value_counts().rename_axis("Confiance").reset_index(name="Pôles"), hide_index=True)
    st.subheader("Logiciels et fonds de carte")
    tiles = common.tiles()
    st.markdown(
        f"- ptce_geo {md(__version__)} (licence MIT).\n"
        "- Cartes : Leaflet (BSD-2-Clause) et folium (MIT), servis par l'application elle-même depuis le paquet "
        "folium-offline : aucune requête vers un CDN.\n"
        + (f"- Fond de carte : {md(tiles.attribution)}." if tiles else
           "- Fond de carte : aucun (définissez `PTCE_GEO_TILES` et `PTCE_GEO_TILES_ATTRIBUTION` pour en ajouter un)."
           "\n- Noms de lieux : communes du millésime en usage, par ordre d'importance (préfectures, puis population), "
           "affichés selon le niveau de zoom, sans connexion."))
