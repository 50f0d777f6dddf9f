"""Page « Nouveau périmètre »: the full scorecard of a perimeter chosen, drawn or uploaded."""

from __future__ import annotations

import json

import geopandas as gpd
import streamlit as st

from ptce_geo import maps
from ptce_geo.errors import PtceGeoError
from ptce_geo.fmt import METRIC_HELP, fr_count, fr_int, fr_km2, fr_number, fr_pct
from ptce_geo.options import Options
from ptce_geo.scorecard import Scorecard
from ptce_geo.export import export_bytes, export_name

from ptce_geo.uploads import MAX_UPLOAD_BYTES

from . import common, compute, downloads, places, state
from .carte import NATIONAL_BOUNDS
from .territoire import territory_index
from .present import (LEVEL_FORMATS, fr_table, level_columns, level_table, md, perimeter_from_codes,
                      perimeter_from_drawings, qpv_words, typology_label, untouched_levels)

MODES = ("Choisir des communes ou des EPCI", "Dessiner sur la carte", "Téléverser un fichier")
FORMATS = {"geojson": "GeoJSON (zip avec provenance)", "gpkg": "GeoPackage (QGIS)", "csv": "CSV (zip avec provenance)"}
DRAW_KEY = "nouv_draw"


# Scorecards are read-only once built: kept as shared resources (cache_data would pickle a copy
# of each one into and out of its store on every run of the page).
@st.cache_resource(show_spinner="Calcul du tableau de bord…", max_entries=32, ttl=3600)
def _from_json(dkey: str, text: str, weight: str = "area") -> tuple[gpd.GeoDataFrame, Scorecard]:
    # drawn or chosen by the user: computed in a worker process (see app_pages/compute.py)
    return compute.slots().run(compute.score_document, json.loads(text), Options(weight=weight),
                               what="the perimeter's scorecard")


@st.cache_resource(show_spinner="Lecture du fichier et calcul du tableau de bord…", max_entries=16, ttl=3600)
def _from_upload(dkey: str, digest: str, _data: bytes, filename: str,
                 weight: str = "area") -> tuple[gpd.GeoDataFrame, Scorecard, str]:
    # read and computed in a worker process: a hostile file can never take the server down
    return compute.slots().run(compute.score_upload, _data, filename, Options(weight=weight),
                               what=f"reading {filename}")


EXPORT_STEM = "nouveau-perimetre"
#: the drawing map's width at 1400 px (the page's whole width): how many place names it holds
DRAW_MAP_WIDTH_PX = 870


def _keep_communes(dep: str) -> None:
    st.session_state.setdefault("_nouv_communes", {})[dep] = list(st.session_state.get(f"nouv_communes_{dep}") or [])


def _add_commune(code: str, dep: str) -> None:
    """Add a commune found by the search to the communes chosen in its département."""
    store = st.session_state.setdefault("_nouv_communes", {})
    chosen = list(store.get(dep, []))
    if code not in chosen:
        chosen.append(code)
    store[dep] = chosen
    st.session_state.pop(f"nouv_communes_{dep}", None)  # the list box of that département starts again from it
    st.session_state["nouv_dep"] = dep  # and is the one shown: the commune appears in it at once
    st.session_state["nouv_search"] = ""


def _clear_communes() -> None:
    for dep in list(st.session_state.get("_nouv_communes", {})):
        st.session_state.pop(f"nouv_communes_{dep}", None)
    st.session_state["_nouv_communes"] = {}


def _commune_search(by_dep: dict) -> None:
    """A commune anywhere in France, found as on « Mon territoire » (« st » for « saint »,
    hyphens and accents optional, INSEE code), added with a button."""
    query = st.text_input("Chercher une commune dans toute la France", key="nouv_search",
                          placeholder="par exemple : « st jean de luz », « 64483 »",
                          help="Majuscules, accents, tirets et apostrophes sont facultatifs ; « st » vaut « saint ». "
                               "La commune choisie s'ajoute à celles de son département.")
    if not (query or "").strip():
        return
    found = territory_index().search(query, levels=["communes"], limit=8)
    found = found[found["level"] == "communes"]
    if not len(found):
        st.caption(f"Aucune commune ne correspond à « {md(query)} ».")
        return
    labels = dict(zip(found["code"], found["label"]))
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    code = c1.selectbox("Commune trouvée", list(found["code"]), key="nouv_found",
                        format_func=lambda c: f"{labels.get(c, c)} — {c}")
    dep = str(found.set_index("code").loc[code, "dep"])
    c2.button("Ajouter", key="nouv_add", on_click=_add_commune, args=(code, dep), width="stretch",
              disabled=dep not in by_dep)


@st.cache_resource(show_spinner=False, max_entries=8)
def _choices(dkey: str) -> tuple[list[str], dict[str, str], list[str], dict[str, str], dict[str, tuple[list[str], dict]]]:
    """The EPCI, the départements and, per département, its communes sorted by name, with their names
    (the same for every session and every run: built once)."""
    epci, deps, communes = common.layer("epci"), common.layer("departements"), common.layer("communes")
    by_dep = {}
    for dep, group in communes[["code", "nom", "dep"]].sort_values("nom", kind="stable").groupby("dep", sort=False):
        codes = group["code"].to_numpy(dtype=object).tolist()
        by_dep[dep] = (codes, dict(zip(codes, group["nom"].to_numpy(dtype=object).tolist())))
    return (list(epci["code"]), dict(zip(epci["code"], epci["nom"])), sorted(deps["code"]),
            dict(zip(deps["code"], deps["nom"])), by_dep)


def _codes_mode() -> dict | None:
    epci_codes, e_names, dep_codes, d_names, by_dep = _choices(common.data_key())
    # « contains »: typing « Tarnos » offers Tarnos only (fuzzy matching also offers Saint-Laurent-de-Gosse),
    # and no « select all matches » entry that Enter would pick
    chosen_epci = st.multiselect("EPCI", epci_codes, key="nouv_epci", filter_mode="contains", select_all=False,
                                 format_func=lambda c: f"{e_names.get(c, c)} ({c})",
                                 placeholder="Tapez un nom ou un SIREN d'EPCI")
    _commune_search(by_dep)
    c1, c2 = st.columns([1, 2])
    dep = c1.selectbox("Communes du département", dep_codes, key="nouv_dep", filter_mode="contains",
                       format_func=lambda c: f"{d_names.get(c, c)} ({c})")
    in_dep, c_names = by_dep.get(dep, ([], {}))
    # widget states vanish when their département is not shown: keep the choices apart
    store = st.session_state.setdefault("_nouv_communes", {})
    c2.multiselect("Communes", list(in_dep), key=f"nouv_communes_{dep}", default=store.get(dep, []),
                   filter_mode="contains", select_all=False,
                   format_func=lambda c: f"{c_names.get(c, c)} ({c})", placeholder="Tapez un nom ou un code INSEE",
                   on_change=_keep_communes, args=(dep,))
    chosen_communes = sorted({c for values in store.values() for c in values})
    if chosen_communes:
        named = [f"{by_dep[d][1].get(c, c)} ({d})" for d in sorted(store) if d in by_dep for c in store[d]]
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(f"{fr_count(len(chosen_communes), 'commune choisie', 'communes choisies')} dans l'ensemble des "
                   "départements : " + md(", ".join(named)) + ".")
        c2.button("Tout effacer", key="nouv_clear", on_click=_clear_communes, width="stretch",
                  help="Retire toutes les communes choisies, dans tous les départements.")
    if not chosen_epci and not chosen_communes:
        st.info("Choisissez au moins un EPCI ou une commune.")
        return None
    name = st.session_state.get("nouv_name") or "Nouveau périmètre"
    return perimeter_from_codes(name, communes=chosen_communes, epci=chosen_epci)


def _draw_mode() -> dict | None:
    st.caption("Tracez un ou plusieurs polygones (ou rectangles) avec les outils en haut à gauche de la carte ; "
               "leur réunion forme le périmètre.")
    def build():
        m = maps.new_map(tiles=common.tiles())
        common.add_departement_outlines(m)
        places.add_place_labels(m, NATIONAL_BOUNDS, width_px=DRAW_MAP_WIDTH_PX)  # more names as one zooms in
        maps.add_draw(m)
        maps.add_attribution(m, common.data_attribution(["communes", "departements"]))
        return maps.finish(m)

    out = common.show_map(build, key=DRAW_KEY, returned=["all_drawings"], spec=("nouveau-dessin",)) or {}
    drawings = out.get("all_drawings") or []
    if not drawings:
        st.info("Aucun polygone dessiné pour l'instant.")
        return None
    return perimeter_from_drawings(drawings, st.session_state.get("nouv_name") or "Périmètre dessiné")


def _show_results(perims: gpd.GeoDataFrame, b: Scorecard, key: str) -> None:
    noun, _ = state.measure_words()
    st.success(f"Tableau de bord calculé pour {fr_count(len(perims), 'périmètre')} (parts en {noun}).")
    ids = list(b.summary["pole_id"])
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    pid = ids[0] if len(ids) == 1 else st.selectbox("Périmètre", ids, format_func=lambda i: names.get(i, i),
                                                    key="nouv_show")
    s = b.summary.set_index("pole_id").loc[pid]
    st.subheader(md(s["nom"]))
    # two by two: « Inter-départemental » and a zone d'emploi's name are cut in a quarter of the page
    c1, c2 = st.columns(2)
    c3, c4 = st.columns(2)
    c1.metric("Typologie", typology_label(s["typology"]))
    c2.metric("Surface", fr_km2(s["area_km2"]))
    if "dominant_zones_emploi" in s and isinstance(s["dominant_zones_emploi"], str):
        c3.metric("Zone d'emploi dominante", s["dominant_zones_emploi"],
                  help=f"Elle contient la plus grande part du périmètre : {fr_pct(s['dominant_zones_emploi_share'])}.")
    if "best_ze_name" in s and isinstance(s["best_ze_name"], str):
        c4.metric("Zone d'emploi la mieux ajustée", s["best_ze_name"],
                  help=f"Indice de recouvrement {fr_number(s['best_ze_iou'], 2)}. {METRIC_HELP['best_iou']}")
    st.dataframe(fr_table(level_table(b, pid), LEVEL_FORMATS), hide_index=True, width="stretch",
                 column_config=level_columns())
    untouched = untouched_levels(b, pid)
    if untouched:
        st.caption(untouched)
    if "qpv_count" in s:
        st.caption(f"{qpv_words(b.catalogue)[1]} touchés : {fr_int(s['qpv_count'])} (dont "
                   f"{fr_int(s['qpv_inside'])} entièrement inclus).")
    geom = perims.set_index("id").geometry.loc[pid]
    bounds = tuple(geom.bounds)

    def build():
        m = maps.new_map(bounds=bounds, tiles=common.tiles())
        shown = gpd.GeoDataFrame({"id": [pid], "nom": [s["nom"]], "typology": [s["typology"]]}, geometry=[geom],
                                 crs="EPSG:4326")
        maps.add_poles(m, shown, name="Périmètre", tolerance=maps.tolerance_for(bounds, pixels=3000))
        places.add_place_labels(m, bounds, width_px=1000, height_px=400)
        maps.typology_legend(m, present={s["typology"]} if isinstance(s["typology"], str) else None)
        maps.add_attribution(m, common.data_attribution(["communes"]))
        return maps.finish(m)

    common.show_map(build, key="nouv_result_map", height=400,
                    spec=("nouveau-resultat", key, state.measure(), pid, s["nom"]))
    st.markdown("**Télécharger**")
    fmt = st.radio("Format", list(FORMATS), format_func=FORMATS.get, horizontal=True, key="nouv_fmt")
    filename, mime = export_name(fmt, filename=EXPORT_STEM)
    # written when clicked, not on every change of the perimeter
    data = downloads.deferred(lambda: export_bytes(b, fmt=fmt, filename=EXPORT_STEM)[0], filename)
    st.download_button("Télécharger le tableau de bord", data=data, file_name=filename, mime=mime,
                       on_click="ignore", key="nouv_download")
    downloads.perimeter_card(b, pid)


def page() -> None:
    st.title("Nouveau périmètre")
    st.caption("Définissez un périmètre (un projet de pôle, un territoire d'action) et obtenez d'un coup son tableau "
               "de bord : unités comptées à chaque échelon, unité dominante, nombre effectif, zones d'emploi "
               "dominante et la mieux ajustée, quartiers prioritaires.")
    mode = st.radio("Comment définir le périmètre ?", MODES, horizontal=True, key="nouv_mode")
    if mode != MODES[2]:
        st.text_input("Nom du périmètre", key="nouv_name", placeholder="Nouveau périmètre")
    dkey = common.data_key()
    if mode == MODES[2]:
        up = st.file_uploader("Fichier du périmètre (GeoJSON, GeoPackage ou Shapefile zippé ; tout système de "
                              "coordonnées)", type=["geojson", "json", "gpkg", "zip"], key="nouv_upload")
        if up is None:
            st.info(f"Taille maximale : {MAX_UPLOAD_BYTES // 2**20} Mo. Chaque entité du fichier est un périmètre.")
            return
        data = up.getvalue()
        try:
            perims, b, note = _from_upload(dkey, common.digest(data), data, up.name, state.measure())
        except PtceGeoError as exc:
            st.error(f"Fichier refusé : {md(exc.fr)}")
            return
        if note:
            st.caption(md(note))
        _show_results(perims, b, common.digest(data))
        return
    doc = _codes_mode() if mode == MODES[0] else _draw_mode()
    if doc is None:
        return
    text = json.dumps(doc, sort_keys=True)
    perims, b = _from_json(dkey, text, state.measure())
    _show_results(perims, b, common.digest(text.encode()))
