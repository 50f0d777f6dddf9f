"""Page « Mon territoire »: one search box; the poles acting in the territory found, or the nearest ones."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
import streamlit as st

from ptce_geo import maps
from ptce_geo.fmt import LEVEL_NOUNS, fr_count, fr_int, fr_km, fr_km2, fr_pct
from ptce_geo.territory import (POSTAL_LIKE, SEARCH_LEVELS, TIERS, TerritoryIndex, nearest_poles, territory_communes,
                                territory_coverage, territory_poles)

from . import common, downloads, places, state
from .present import fr_table, md, typology_label

QUERY_KEY = "terr_query"
CHOICE_KEY = "terr_choice"
PLACEHOLDER = "un nom ou un code : Bayonne, saint denis, Landes, 40, 64102, 200067106…"
MAP_WIDTH_PX = 1000


@st.cache_resource(show_spinner="Préparation de la recherche des territoires…", max_entries=4)
def _index(key: str) -> TerritoryIndex:
    cat = common.catalogue()
    return TerritoryIndex({lid: common.layer(lid) for lid in SEARCH_LEVELS if lid in cat.layers})


def territory_index() -> TerritoryIndex:
    """The search index of every territory (shared by all sessions)."""
    return _index(common.data_key())


@st.cache_resource(show_spinner=False, max_entries=512)
def _nearest(dkey: str, pkey: str, level: str, code: str, n: int) -> pd.DataFrame:
    table = common.layer(level)
    geom = table.geometry.to_numpy()[(table["code"].astype(str) == code).to_numpy()]
    return nearest_poles(common.scorecard().perimeters, geom[0] if len(geom) else None, n=n)


def nearest(level: str, code: str, n: int = 3) -> pd.DataFrame:
    """The ``n`` poles nearest to a territory (distance in km between outlines, geodesic)."""
    return _nearest(common.data_key(), common.poles_key(), level, code, n)


def level_noun(level: str) -> str:
    return LEVEL_NOUNS.get(level, (level, level))[0]


#: what the page says of a query that may be a postal code (``POSTAL_LIKE``) and matches nothing
POSTAL_NOTE = ("Les codes postaux ne sont pas reconnus (les contours officiels n'en donnent pas) : pour une commune, "
               "tapez son nom ou son code INSEE.")


def option_label(row) -> str:
    """« Bayonne (64) — commune, 53 312 hab. »; an EPCI found through a town says so."""
    noun = level_noun(row["level"])
    text = f"{row['label']} — {noun}"
    if row.get("via"):
        text += f" de {row['via']}"
    if row["population"] == row["population"] and row["population"] > 0:
        text += f", {fr_int(row['population'])} hab."
    return text


def parse(value: object) -> tuple[str, str] | None:
    """``"communes:64102"`` → ``("communes", "64102")`` (``None`` when malformed)."""
    if not isinstance(value, str) or ":" not in value:
        return None
    level, code = value.split(":", 1)
    return (level, code) if level in SEARCH_LEVELS and code else None


def go_to(level: str, code: str) -> None:
    """Callback: show the territory ``code`` of ``level`` on this page (from anywhere)."""
    st.session_state["page"] = "Mon territoire"
    st.session_state[QUERY_KEY] = code
    st.session_state[CHOICE_KEY] = f"{level}:{code}"
    st.session_state["_terr_last"] = code


def sidebar_search() -> None:
    """The search box of the sidebar: a query opens « Mon territoire » with its results."""
    def submit() -> None:
        query = (st.session_state.get("side_query") or "").strip()
        if query:
            st.session_state["page"] = "Mon territoire"
            st.session_state[QUERY_KEY] = query

    st.text_input("Chercher un territoire", key="side_query", on_change=submit,
                  placeholder="commune, EPCI, département…",
                  help="Une commune, une intercommunalité, un département ou une région, par son nom ou son "
                       "code : la page « Mon territoire » s'ouvre sur les résultats.")


def _results(index: TerritoryIndex, query: str) -> pd.DataFrame:
    return index.search(query, limit=8) if query.strip() else index.search("", limit=0)


def page() -> None:
    st.title("Mon territoire")
    st.caption("Cherchez votre commune, votre intercommunalité (EPCI), votre département ou votre région : les pôles "
               "qui y agissent s'affichent, avec la part du territoire couverte par chacun et la part de chaque pôle "
               "située dans le territoire. Si aucun pôle n'y agit, les pôles les plus proches sont indiqués.")
    index = territory_index()
    if QUERY_KEY not in st.session_state:  # a link: ?territoire=communes:64102
        linked = parse(state.initial("territoire"))
        if linked and index.get(*linked):
            st.session_state[QUERY_KEY] = linked[1]
            st.session_state[CHOICE_KEY] = f"{linked[0]}:{linked[1]}"
            st.session_state["_terr_last"] = linked[1]
    query = st.text_input("Rechercher un territoire", key=QUERY_KEY, placeholder=PLACEHOLDER, live="400ms",
                          help="Majuscules, accents, tirets et apostrophes sont facultatifs ; « st » vaut « saint ». "
                               "Codes acceptés : code INSEE d'une commune, SIREN d'un EPCI, numéro de département.")
    query = query or ""
    if not query.strip():
        st.info("Tapez le nom ou le code de votre territoire. Par exemple : « Bayonne », « saint denis », "
                "« Landes », « 64102 » (code INSEE), « 200067106 » (SIREN d'une intercommunalité).")
        state.set_params("territoire")
        return
    found = _results(index, query)
    postal = POSTAL_LIKE.fullmatch(query.strip()) is not None
    if not len(found):
        st.warning(f"Aucun territoire ne correspond à « {md(query)} ». "
                   + (POSTAL_NOTE if postal else "Vérifiez l'orthographe, ou essayez un code INSEE, un SIREN ou un "
                                                 "numéro de département."))
        state.set_params("territoire")
        return
    best = found["match"].iloc[0]
    if best == TIERS[9]:  # « nom approchant »
        st.caption(f"Aucun nom ne correspond exactement à « {md(query)} » : voici les noms les plus proches.")
    elif best == TIERS[7]:  # « code sans son zéro initial »
        st.caption(f"« {md(query)} » est lu comme le code INSEE {md(found['code'].iloc[0])} : un code de commune a "
                   "cinq caractères, le zéro initial a sans doute été perdu par un tableur.")
    elif postal and found["level"].iloc[0] == "communes":
        st.caption(f"« {md(query)} » est lu comme le code INSEE de {md(found['label'].iloc[0])}. S'il s'agit d'un "
                   "code postal, tapez plutôt le nom de la commune : les codes postaux ne sont pas reconnus (les "
                   "contours officiels n'en donnent pas).")
    options = [f"{lv}:{c}" for lv, c in zip(found["level"], found["code"])]
    labels = {o: option_label(r) for o, (_, r) in zip(options, found.iterrows())}
    if st.session_state.get("_terr_last") != query or st.session_state.get(CHOICE_KEY) not in options:
        # a new query shows its best match (a choice of the previous query, even among the new results,
        # is not what was just typed); the same query keeps the choice made in its list
        st.session_state[CHOICE_KEY] = options[0]
        st.session_state["_terr_last"] = query
    choice = st.radio(f"{fr_count(len(options), 'résultat')} — choisissez votre territoire", options,
                      format_func=labels.get, key=CHOICE_KEY)
    level, code = choice.split(":", 1)
    state.set_params("territoire", territoire=choice)
    show_territory(index, level, code)


def show_territory(index: TerritoryIndex, level: str, code: str) -> None:
    """The poles acting in one territory (or the nearest ones), a table and a map."""
    info = index.get(level, code)
    if info is None:
        st.warning("Ce territoire n'existe pas dans les contours de ce millésime.")
        return
    measure = state.measure()
    noun, of_measure = state.measure_words()
    card = common.scorecard_for(measure)
    communes = common.layer("communes")
    members = territory_communes(communes, level, code)
    table = territory_poles(card, level, code, communes=members)
    layer = common.layer(level)
    unit = layer[layer["code"].astype(str) == code]
    st.subheader(md(f"{info['label']} — {level_noun(level)}"))
    if level == "communes":
        for parent in ("epci", "ept"):
            parent_code = communes.loc[communes["code"] == code, parent].iloc[0] if parent in communes else None
            parent_info = index.get(parent, parent_code) if isinstance(parent_code, str) and parent_code else None
            if parent_info is not None:
                c1, c2 = st.columns([3, 1])
                c1.markdown(f"{md(info['nom'])} fait partie de l'intercommunalité **{md(parent_info['label'])}**"
                            if parent == "epci" else
                            f"{md(info['nom'])} fait partie de l'établissement public territorial "
                            f"**{md(parent_info['label'])}**")
                c2.button("Voir ce territoire", key=f"terr_parent_{parent}", on_click=go_to,
                          args=(parent, parent_code))
    area_km2 = float(unit["area_m2"].iloc[0]) / 1e6 if len(unit) and "area_m2" in unit else float("nan")
    # the middle label, « Part de la population couverte… », is long; two by two in a narrow window
    m1, m2, m3 = st.container(key="pairs_terr_metrics").columns([1, 1.6, 1])
    m1.metric("Pôles qui agissent ici", fr_int(len(table)))
    if len(table):
        covered = territory_coverage(card, communes, members)
        m2.metric(f"Part {of_measure} couverte par au moins un pôle", fr_pct(covered),
                  help="Un pôle peut couvrir une partie seulement du territoire ; plusieurs pôles peuvent se "
                       "superposer (comptés une fois).")
    if measure == "population" and info["population"] == info["population"]:
        m3.metric("Population", f"{fr_int(info['population'])} hab.")
    else:
        m3.metric("Surface", fr_km2(area_km2))
    if len(table):
        typ = card.summary.set_index("pole_id")["typology"]
        view = pd.DataFrame({
            "Pôle": table["nom"], "Typologie": [typology_label(typ.get(p)) for p in table["pole_id"]],
            "Part du territoire couverte par le pôle": table["share_of_unit"],
            "Part du pôle située dans le territoire": table["share_of_pole"],
        })
        if measure == "population" and "population" in table:
            view["Habitants en commun"] = table["population"]
        else:
            view["Surface en commun (km²)"] = table["area_km2"]
        st.dataframe(fr_table(view, {"Part du territoire couverte par le pôle": "pct",
                                     "Part du pôle située dans le territoire": "pct",
                                     "Surface en commun (km²)": "num1", "Habitants en commun": "int"}),
                     hide_index=True, width="stretch", column_config={
                         "Pôle": st.column_config.TextColumn(width=300),
                         "Typologie": st.column_config.TextColumn(width=140),
                         "Part du territoire couverte par le pôle": st.column_config.NumberColumn(
                             "Part du territoire", width=140,
                             help=f"La part {of_measure} du territoire couverte par le pôle."),
                         "Part du pôle située dans le territoire": st.column_config.NumberColumn(
                             "Part du pôle", width=120,
                             help=f"La part {of_measure} du pôle située dans le territoire (100 % : le pôle est "
                                  "entièrement dans le territoire)."),
                         "Surface en commun (km²)": st.column_config.NumberColumn("km² en commun", width=120),
                         "Habitants en commun": st.column_config.NumberColumn(width=140),
                     })
        tiny = ((table["share_of_unit"] > 0) & (table["share_of_unit"] < 0.0005)).any()
        st.caption(f"Parts mesurées en {noun}. Un pôle peut déborder du territoire (part du pôle inférieure à "
                   "100 %) ; plusieurs pôles peuvent se superposer."
                   + (" « 0,0 % » : une part qui n'est pas nulle, mais inférieure à 0,05 % (un petit pôle dans un "
                      "grand territoire)." if tiny else ""))
        near = None
    else:
        near = nearest(level, code)
        if not len(near):
            st.info("Aucun pôle recensé n'agit sur ce territoire.")
        else:
            st.info("Aucun pôle recensé n'agit sur ce territoire. Les pôles les plus proches :")
            typ = card.summary.set_index("pole_id")["typology"]
            st.dataframe(pd.DataFrame({
                "Pôle": near["nom"],
                "Distance": ["limitrophe" if d < 0.05 else f"à {fr_km(d)}" for d in near["distance_km"]],
                "Typologie": [typology_label(typ.get(p)) for p in near["pole_id"]],
            }), hide_index=True, width="stretch", column_config={"Pôle": st.column_config.TextColumn(width=320)})
            st.caption("Distance mesurée sur l'ellipsoïde entre le contour du territoire et celui du pôle "
                       "(« limitrophe » : les contours se touchent).")
    _map(card, layer, unit, level, table, near)
    if len(table):  # no pole acting here: nothing to take away
        downloads.territory(card, level, code, communes=members)


def _map(card, layer, unit, level: str, table: pd.DataFrame, near: pd.DataFrame | None) -> None:
    if not len(unit):
        return
    geom = unit.geometry.iloc[0]
    bounds = tuple(geom.bounds)
    shown_ids = list(table["pole_id"]) if len(table) else list(near["pole_id"][:1]) if near is not None else []
    disp = common.poles_display()
    sel = disp[disp["id"].isin(shown_ids)]
    if near is not None and len(sel):  # the nearest pole in view too
        bounds = tuple(shapely.total_bounds(list(sel.geometry) + [geom]))
    common.show_map(lambda: _build_map(card, unit, level, sel, bounds), key="terr_map",
                    spec=("territoire", level, str(unit["code"].iloc[0]), tuple(sel["id"]), bounds))


def _build_map(card, unit, level: str, sel, bounds):
    m = maps.new_map(bounds=bounds, tiles=common.tiles())
    tol = maps.tolerance_for(bounds, pixels=3000)
    if len(sel):
        full_geoms = card.perimeters.set_index("id").geometry.reindex(sel["id"]).to_numpy()
        sel = sel.set_geometry(gpd.GeoSeries(full_geoms, index=sel.index, crs="EPSG:4326"))
        maps.add_poles(m, sel, name="Pôles", tolerance=tol)
        maps.typology_legend(m, present=set(sel["typology"].dropna()) or None)
    maps.add_outlines(m, unit[["code", "nom", "geometry"]], name=level_noun(level).capitalize(), colour="#000000",
                      weight=3, tolerance=tol, label=level_noun(level).capitalize())
    maps.add_legend(m, "Territoire", [(md_free(unit["nom"].iloc[0]), "#000000", "line")])
    places.add_place_labels(m, bounds, width_px=MAP_WIDTH_PX)
    maps.add_attribution(m, common.data_attribution([level]))
    return maps.finish(m)


def md_free(text: object) -> str:
    """A name for the map legend (escaped there as HTML, not Markdown)."""
    return str(text)
