"""Page « Carte des pôles »: every pole on a map, coloured by typology, and its card."""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import quote

import numpy as np
import shapely
import streamlit as st

from ptce_geo import maps
from ptce_geo.errors import CatalogueError, DataUnavailable
from ptce_geo.fmt import LEVEL_LABELS, METRIC_HELP, fr_count, fr_int, fr_km2, fr_number, fr_pct
from ptce_geo.poles import pole_details
from ptce_geo.scorecard import Scorecard

from . import common, downloads, places, state
from .present import (CARD_LEVELS, FILTERS, filter_options, filtered_ids, fr_table, layer_title, level_summary, md,
                      national_summary, qpv_words, summary_table, typology_label, untouched_levels)

#: context layers: id → (label, colour, national display allowed, tooltip prefix)
CONTEXT = {
    "departements": ("Départements", "#444444", True, "Département"),
    "regions": ("Régions", "#000000", True, "Région"),
    "epci": ("EPCI", "#6A3D9A", False, "EPCI"),
    "communes": ("Communes", "#888888", False, "Commune"),
    "zones_emploi": ("Zones d'emploi", "#1F78B4", False, "Zone d'emploi"),
    "qpv": ("Quartiers prioritaires (QPV)", "#E31A1C", False, "QPV"),
}
_URL_SAFE = ":/?#@!$&'*+,;=%~-._"
MAP_KEY = "carte_map"
POLE_KEY = "carte_pole"
HERE_KEY = "carte_here"
NONE = "—"
#: Île-de-France, where five poles sit side by side (minx, miny, maxx, maxy)
IDF_BOUNDS = (1.45, 48.12, 3.56, 49.24)
MAP_WIDTH_PX = 650
#: the national view (minx, miny, maxx, maxy): mainland France and Corsica
NATIONAL_BOUNDS = (-5.2, 41.3, 9.6, 51.1)
#: the page's first run, in a session or after another page, draws the map, and its two tables and
#: downloads only this many seconds later (a rerun): drawn together, their code held the map back,
#: about 1 s in a new browser (a session's first map), 0.3 s in a warm one (back from another page)
TABLES_DELAY_S = 1.0
ENTRY_TABLES_DELAY_S = 0.4
#: session key: None before the first run, False while the tables wait, True once drawn
TABLES_KEY = "_carte_tables"
#: the counts of the national table, in words
TOUCHED = {"communes": "Communes comptées", "epci": "EPCI comptés", "departements": "Départements comptés",
           "regions": "Régions comptées"}


def _poles_at(lng: float, lat: float) -> list[str]:
    """Ids of the poles whose perimeter holds the point, smallest first."""
    p = common.opening_scorecard()[0].perimeters  # the same perimeters in the first view
    geoms = p.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    hit = np.zeros(len(p), dtype=bool)
    hit[ok] = shapely.contains_xy(geoms[ok], lng, lat)
    if not hit.any():  # a click on a thin outline at national scale: a few hundred metres around
        hit[ok] = shapely.dwithin(geoms[ok], shapely.Point(lng, lat), 0.005)
    idx = np.flatnonzero(hit)
    order = np.argsort(shapely.area(geoms[idx]), kind="stable")
    return [str(i) for i in p["id"].to_numpy()[idx[order]]]


def _on_click() -> None:
    """A click on the map selects the pole under it; when several overlap, the others are listed."""
    value = st.session_state.get(MAP_KEY) or {}
    ids = set(st.session_state.get("_carte_ids", ()))
    feature = value.get("last_active_drawing") or {}
    props = feature.get("properties") if isinstance(feature, dict) else None
    pid = props.get("id") if isinstance(props, dict) else None
    if isinstance(pid, str):
        pid = html.unescape(pid)  # the map carries ids escaped for HTML
    clicked = pid if isinstance(pid, str) and pid in ids else None
    here: list[str] = []
    point = value.get("last_object_clicked")
    if isinstance(point, dict) and isinstance(point.get("lat"), (int, float)) and isinstance(point.get("lng"), (int, float)):
        try:
            here = [p for p in _poles_at(float(point["lng"]), float(point["lat"])) if p in ids]
        except Exception:  # noqa: BLE001 - the data is unavailable: keep the clicked feature only
            here = []
    if clicked is None and here:
        clicked = here[0]
    if clicked is not None:
        st.session_state[POLE_KEY] = clicked
        st.session_state[HERE_KEY] = [clicked] + [p for p in here if p != clicked]


def _select(pole_id: str) -> None:
    st.session_state[POLE_KEY] = pole_id


def _open_decoupages(pole_id: str) -> None:
    st.session_state["page"] = "Découpages"
    st.session_state["dec_pole"] = pole_id


def context_choices(cat) -> dict[str, tuple[str, str, bool, str]]:
    """Context layers of the catalogue: the administrative ones, then the zones layers."""
    out = {k: v for k, v in CONTEXT.items() if k in cat.layers}
    if "qpv" in out and cat["qpv"].historical:  # an expired list is named as history
        out["qpv"] = (f"Quartiers prioritaires ({qpv_words(cat)[0]}, historique)", *out["qpv"][1:])
    for lid in cat.ids(kind="zones"):
        if lid not in out:
            out[lid] = (layer_title(cat[lid]), "#B15928", False, "")
    return out


def add_context(m, chosen: list[str], choices: dict, bounds, *, collapsed: bool = False) -> list[str]:
    """Draw the chosen context layers (nationally when light, else around ``bounds``); legend them."""
    drawn, legend = [], []
    for lid in chosen:
        label, colour, national, prefix = choices[lid]
        if bounds is None:
            if not national:
                continue
            sub = common.display_layer(lid, tolerance=0.01)
            tol = 0.01
        else:
            sub = maps.clip_layer(common.layer(lid), bounds, margin=1.0)
            tol = maps.tolerance_for(bounds, pixels=3000)
        zones = common.catalogue()[lid].kind == "zones"
        maps.add_outlines(m, sub, name=label, colour=colour, weight=1.6 if lid == "regions" else 0.8,
                          tolerance=tol, fill_opacity=0.15 if zones else 0.0, dash="4 3" if zones else None,
                          label=prefix)
        drawn.append(lid)
        legend.append((label, colour, "dash" if zones else "line"))
    if legend:
        maps.add_legend(m, "Légende des couches", legend, collapsed=collapsed)
    return drawn


def _qpv_line(b: Scorecard, s) -> str:
    what = qpv_words(b.catalogue)[1]
    n, inside = int(s["qpv_count"]), int(s["qpv_inside"])
    if not n:
        return f"**{what} :** aucun quartier touché."
    return (f"**{what} :** {fr_count(n, 'quartier touché', 'quartiers touchés')}, dont {fr_int(inside)} "
            f"entièrement dans le pôle ; {fr_pct(s['qpv_area_share'], 2)} de la surface du pôle.")


def _programme_lines(b: Scorecard, pole_id: str) -> None:
    """The programmes the pole sits in (the Scorecard's :attr:`~Scorecard.programmes`, as the
    page « Zones de contrat » and the printed card give them): in force, then history."""
    if not b.zone_ids:  # a first view, without the zones layers: they come with the full Scorecard
        if b.catalogue.ids(kind="zones"):
            st.caption("Programmes contractuels : affichés dans quelques secondes, avec tous les découpages.")
        return
    row = b.programmes.set_index("pole_id").loc[pole_id]
    st.markdown(f"**Programmes en vigueur :** {md(row['programmes'])}",
                help="Les zones de contrat en vigueur dont le pôle partage le territoire : chaque zone nommée avec la "
                     "part du pôle qui s'y trouve, puis le nombre de communes ou de sites (PVD, ACV). Le détail est "
                     "sur la page « Zones de contrat ».")
    if row["historique"]:
        st.markdown(f"**Générations expirées (historique) :** {md(row['historique'])}")


def render_card(b: Scorecard, pole_id: str) -> None:
    """The card of one pole: description, sources and scorecard by level, all in French."""
    p = b.perimeters.set_index("id")
    if pole_id not in p.index:
        st.info("Ce pôle n'est plus dans le fichier des pôles.")
        return
    row = p.loc[pole_id]
    d = pole_details(row["properties"])
    s = b.summary.set_index("pole_id").loc[pole_id]
    st.subheader(md(row["nom"]))
    facts = f"**Typologie :** {md(typology_label(s.get('typology')))} — **Surface :** {fr_km2(s['area_km2'])}"
    if "population" in s and s["population"] == s["population"]:
        facts += f" — **Population :** {fr_int(s['population'])} hab."
    st.markdown(facts)
    if "n_interco" in s and s["n_interco"] != s.get("n_epci"):
        st.caption("Dans la Métropole du Grand Paris, la typologie compte les établissements publics territoriaux "
                   "(EPT) comme intercommunalités : "
                   f"{fr_count(s['n_interco'], 'territoire intercommunal', 'territoires intercommunaux')}.")
    facts = [("Structure porteuse", d["structure_porteuse"]), ("Siège", d["siege_nom"]),
             ("Filières", ", ".join(d["filieres"])), ("Création", d["annee"]), ("Confiance", d["confiance"]),
             *_seed_facts(s, row["properties"]), ("Note sur le périmètre", d["note_perimetre"])]
    for label, value in facts:
        if value:
            st.markdown(f"**{label} :** {md(value)}")
    if d["description"]:
        with st.expander("Description", expanded=False):
            st.markdown(md(d["description"]))
    if d["sources"]:
        with st.expander(f"Sources ({len(d['sources'])})", expanded=False):
            for src in d["sources"]:
                link = f"[{md(src['label'])}]({quote(src['url'], safe=_URL_SAFE)})" if src["url"] else md(src["label"])
                st.markdown(f"- {link}" + (f" ({md(src['date'])})" if src["date"] else ""))
    noun, _ = state.measure_words()
    st.markdown(f"**Découpage par échelon** (parts en {noun})")
    st.table(level_summary(b, pole_id, CARD_LEVELS), hide_index=True)
    others = [lid for lid in b.levels if lid not in CARD_LEVELS]
    if others:
        with st.expander(f"Autres découpages ({len(others)})"):
            st.table(level_summary(b, pole_id, others), hide_index=True)
            untouched = untouched_levels(b, pole_id)
            if untouched:
                st.caption(untouched)
    if "dominant_zones_emploi" in s and isinstance(s["dominant_zones_emploi"], str):
        st.markdown(f"**Zone d'emploi dominante :** {md(s['dominant_zones_emploi'])} "
                    f"({fr_pct(s['dominant_zones_emploi_share'])} du pôle)")
    if "best_ze_name" in s and isinstance(s["best_ze_name"], str):
        # a small pole wholly in a large zone: 100 % of the pole, a small index (the zone is much larger)
        small = (s.get("dominant_zones_emploi") == s["best_ze_name"] and s["best_ze_iou"] < 0.5
                 and s.get("dominant_zones_emploi_share", 0) >= 0.5)
        st.markdown(f"**Zone d'emploi la mieux ajustée :** {md(s['best_ze_name'])} — indice de recouvrement "
                    f"{fr_number(s['best_ze_iou'], 2)}"
                    + (" (faible : le pôle n'occupe qu'une petite partie de la zone)" if small else ""),
                    help=METRIC_HELP["best_iou"])
    for prefix, label, none in (("bv", "Bassin de vie le mieux ajusté", "aucun"),
                                ("aav", "Aire d'attraction la mieux ajustée",
                                 "aucune (communes hors attraction des villes)")):
        if f"best_{prefix}_name" not in s:
            continue
        name = s[f"best_{prefix}_name"]
        st.markdown(f"**{label} :** {md(name)} — indice de recouvrement {fr_number(s[f'best_{prefix}_iou'], 2)}"
                    if isinstance(name, str) else f"**{label} :** {none}", help=METRIC_HELP["best_iou"])
    if "qpv_count" in s:
        st.markdown(_qpv_line(b, s))
    _programme_lines(b, pole_id)
    with st.expander("Que signifient ces chiffres ?"):
        st.markdown("\n".join(f"- **{label}** : {md(text)}" for label, text in (
            ("Unités", METRIC_HELP["n_units"]), ("Dominante", METRIC_HELP["dominant_name"]),
            ("Part du pôle", METRIC_HELP["dominant_share"]), ("Frontières", METRIC_HELP["border_km"]),
            ("Indice de recouvrement", METRIC_HELP["best_iou"]),
            ("Zone d'emploi dominante", "La zone d'emploi qui contient la plus grande part du pôle."),
            ("Zone d'emploi la mieux ajustée", "La zone d'emploi dont les contours ressemblent le plus à ceux du "
                                               "pôle (le plus fort indice de recouvrement)."),
        )))
    st.button("Voir le détail par échelon", key="carte_to_dec", on_click=_open_decoupages, args=(pole_id,),
              help="Ouvre la page « Découpages » sur ce pôle : les morceaux du pôle dans chaque unité.")


def _seed_facts(s, props) -> list[tuple[str, str]]:
    """The 2014 document's attributes of a pole, in French (only those known)."""
    out = []
    kind = s.get("type_pole")
    if kind == "filière":
        out.append(("Type de pôle", "PTCE filière" + (f" ({s.get('filiere_pole')})" if s.get("filiere_pole") else "")))
    elif kind == "multi-activités":
        out.append(("Type de pôle", "PTCE multi-activités"))
    call = s.get("appel_2013_laureat")
    if call is True or call is False:
        out.append(("Appel à projets interministériel de 2013", "lauréat" if call else "non lauréat"))
    terr = props.get("territoire") if isinstance(props, dict) else None
    if isinstance(terr, dict):
        bits = []
        if isinstance(terr.get("population"), int):
            bits.append(f"{fr_number(terr['population'], 0)} habitants")
        if terr.get("classe_densite"):  # the Insee grid's class: « peu dense », « très peu dense »…
            bits.append(f"territoire {terr['classe_densite']} (grille de densité de l'Insee)")
        if terr.get("profil"):
            bits.append(f"à dominante {terr['profil']}e" if terr["profil"] == "rural" else "à dominante urbaine")
        if bits:
            out.append(("Territoire", ", ".join(bits)))
    return out


# The tables below depend on the poles, the measure and the filters only: built once per
# process for every session (a page run then only draws them).
@st.cache_resource(show_spinner=False, max_entries=16)
def _filter_options(dkey: str, pkey: str, measure: str, _summary) -> dict:
    return filter_options(_summary)


@st.cache_resource(show_spinner=False, max_entries=64)
def _national_tables(dkey: str, pkey: str, measure: str, counted: tuple[str, ...], levels: tuple[str, ...],
                     _card: Scorecard):
    """(national summary, table of the poles) of the poles ``counted``."""
    summary = _card.summary
    table = summary_table(_card)
    return (national_summary(summary[summary["pole_id"].isin(counted)]),
            table[table.index.isin(counted)].drop(columns=["Type de pôle"], errors="ignore"))  # in the filters


def _filters(summary, *, later: bool = False) -> tuple[list[str], list[str], bool]:
    """The filter widgets: ids shown on the map, ids in the national summaries, and the switch.

    ``later``: the session's first map, whose tables come in a rerun a moment later
    (:func:`_tables_timer`): the widgets come with them (no filter is set yet). Their browser
    code held a new browser's first map back by 0.3 to 0.4 s, though the box is closed.
    """
    if later:
        with st.expander("Filtres", expanded=False):
            st.caption("Les filtres s'affichent dans un instant…")
        ids = filtered_ids(summary, {})
        return ids, list(ids), False
    options = _filter_options(common.data_key(), common.poles_key(), state.measure(), summary)
    chosen = {}
    with st.expander("Filtres", expanded=False):
        cols = st.columns(len(FILTERS))
        for col, (key, label) in zip(cols, FILTERS.items()):
            if len(options[key]) > 1:
                chosen[key] = col.multiselect(label, options[key], key=f"carte_f_{key}", placeholder="Tous")
        exclude_low = st.toggle("Exclure les périmètres de confiance faible des synthèses nationales",
                                key="carte_sans_faible",
                                help="Les pôles dont le périmètre est déduit ou non documenté restent sur la carte "
                                     "(contour en tirets) mais sortent du tableau et de la synthèse.")
    shown = filtered_ids(summary, chosen)
    counted = filtered_ids(summary, chosen, exclude_low=exclude_low)
    return shown, counted, exclude_low


def _fallback_map() -> None:
    """Boundaries unavailable: draw the poles as the file gives them, without figures."""
    try:
        raw = common.raw_poles()
    except Exception:  # the poles file itself is unusable: nothing to draw
        return
    if not len(raw):
        st.info("Le fichier des pôles ne contient pas de géométries dessinables sans les contours.")
        return
    st.warning("Carte partielle : périmètres tels qu'enregistrés dans le fichier des pôles, sans "
               "typologie ni tableau de bord.")
    m = maps.new_map(bounds=maps.bounds_of(raw.geometry), tiles=common.tiles())
    maps.add_poles(m, raw, name="Pôles")
    maps.typology_legend(m, present=[None])
    common.show_map(maps.finish(m), key="carte_fallback")


def _prepare_national_map() -> None:
    """While another process computes the poles' Scorecard (a cold start): the national map's parts
    that do not need it — place names, départements, the communes the seats are placed in — from
    the layers it has written (the seats' codes come with the perimeters, stored with the Scorecard)."""
    with st.spinner("Calcul des découpages de tous les pôles…"):
        try:
            places.view_labels(NATIONAL_BOUNDS, width_px=MAP_WIDTH_PX)
            if "departements" in common.catalogue().layers:
                common.display_layer("departements", tolerance=0.01)
            common.layer("communes")  # the seats' points are read from it
        except Exception:  # noqa: BLE001 - only a head start: the page does it again and says what fails
            common.logger.info("preparing the national map failed", exc_info=True)


def _tables_timer(delay: float) -> Callable[[], None]:
    """A fragment that reruns the page once, ``delay`` seconds after the page's first map, to draw
    its tables and downloads (the page's next run does not call it: its timer stops)."""
    @st.fragment(run_every=delay)
    def timer() -> None:
        if st.session_state.get(TABLES_KEY) is False:  # the timer's run (the page's own run sets False after)
            st.session_state[TABLES_KEY] = True
            st.rerun()
    return timer


#: after a session's first map, and after a return from another page (the browser has the map's code)
_tables_after_first_map, _tables_after_entry = _tables_timer(TABLES_DELAY_S), _tables_timer(ENTRY_TABLES_DELAY_S)


@st.fragment(run_every=1.0)
def _await_full_scorecard() -> None:
    """Rerun the page once the full Scorecard is stored (a cold start's first view is shown)."""
    if common.scorecard_stored():
        st.rerun()


def page() -> None:
    st.title("Carte des pôles")
    st.caption("Chaque pôle territorial de coopération économique (PTCE) recensé, coloré selon l'étendue de son "
               "périmètre. Cliquez sur un pôle pour afficher sa fiche.")
    # progress messages, then the notice of a first view, all in one place: whatever it holds, the
    # elements after it keep their places across reruns (the map is not reloaded when it empties)
    with st.container():
        if common.scorecard_elsewhere():
            _prepare_national_map()
        try:
            b, complete = common.opening_scorecard(state.measure())
        except (DataUnavailable, CatalogueError) as exc:
            common.show_error(exc)
            _fallback_map()
            return
        if not complete:
            st.info("Premiers résultats : carte, typologie et découpages principaux. Les autres découpages (bassins "
                    "de vie, aires d'attraction, unités urbaines, cantons, arrondissements) et les téléchargements "
                    "arrivent dans quelques secondes ; la page se met à jour seule.")
            _await_full_scorecard()
    disp = common.poles_display(b)
    ids = list(b.summary["pole_id"])
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    st.session_state["_carte_ids"] = tuple(ids)
    if POLE_KEY not in st.session_state and state.initial("pole") in ids:
        st.session_state[POLE_KEY] = state.initial("pole")  # a link to one pole's card
    if st.session_state.get(POLE_KEY) not in [NONE, *ids]:
        st.session_state[POLE_KEY] = NONE
    cat = common.catalogue()
    choices = context_choices(cat)
    c1, c2, c3 = st.columns([2, 3, 1.3])  # « Sièges » whole at 1024 px too
    selected = c1.selectbox("Pôle", [NONE, *ids], key=POLE_KEY, filter_mode="contains",
                            format_func=lambda i: "— France entière —" if i == NONE else names.get(i, i))
    default = [k for k in ("departements",) if k in choices]
    chosen = c2.multiselect("Couches de contexte", list(choices), default=default,
                            format_func=lambda k: choices[k][0], key="carte_context", placeholder="Aucune couche",
                            help="Les communes, EPCI, zones d'emploi, QPV et zones de contrat ne s'affichent "
                                 "qu'autour du pôle choisi.")
    show_seats = c3.checkbox("Sièges", value=True, key="carte_seats", help="Un point à la commune siège de chaque pôle.")
    first_map = st.session_state.get(TABLES_KEY) is None  # the session's first: tables and filters a moment later
    shown, counted, exclude_low = _filters(b.summary, later=first_map)
    disp = disp[disp["id"].isin(shown) | disp["id"].eq(selected)]
    pole = None if selected == NONE else selected
    state.set_params("carte", pole=pole)
    bounds = None
    if pole is not None:
        geom = b.perimeters.set_index("id").geometry.loc[pole]
        bounds = tuple(geom.bounds)

    def build():
        drawn_poles = disp
        m = maps.new_map(bounds=bounds, tiles=common.tiles())
        drawn = add_context(m, chosen, choices, bounds, collapsed=True)
        if pole is not None:  # the selected pole at the precision of its own view
            drawn_poles = disp.copy()
            drawn_poles.loc[drawn_poles["id"] == pole, "geometry"] = maps.display_geometries(
                [geom], tolerance=maps.tolerance_for(bounds, pixels=3000), decimals=5)[0]
        else:
            maps.add_zoom_button(m, "Île-de-France", IDF_BOUNDS, title="Zoomer sur l'Île-de-France, où plusieurs "
                                                                      "pôles sont voisins")
        maps.add_poles(m, drawn_poles, name="Pôles", selected=pole, tolerance=0.0)
        if show_seats:
            maps.add_seats(m, common.seats(b))
        places.add_place_labels(m, bounds or NATIONAL_BOUNDS, width_px=MAP_WIDTH_PX)
        maps.typology_legend(m, present=set(disp["typology"].dropna()) or None, collapsed=pole is not None,
                             low_confidence="confidence" in disp and disp["confidence"].eq("faible").any())
        maps.add_attribution(m, common.data_attribution(["communes", *drawn]))
        return maps.finish(m)

    hidden = [choices[k][0] for k in chosen if not choices[k][2] and pole is None]
    # side by side; below 1180 px of window, the card under the map (french.CSS: « stack_ » containers)
    col_map, col_card = st.container(key="stack_carte").columns([5, 3])
    with col_map:
        common.show_map(build, key=MAP_KEY, returned=["last_active_drawing", "last_object_clicked"],
                        on_change=_on_click, spec=("carte", pole, tuple(chosen), show_seats, tuple(disp["id"])))
        if hidden:
            st.caption("Choisissez un pôle pour afficher : " + ", ".join(hidden) + ".")
    with col_card:
        if pole is None:
            st.info("Cliquez sur un pôle de la carte, ou choisissez-le dans la liste, pour afficher sa fiche : "
                    "structure porteuse, filières, sources et découpage par échelon. En Île-de-France, le bouton "
                    "« Île-de-France » de la carte rapproche la vue.")
        else:
            here = [p for p in st.session_state.get(HERE_KEY, []) if p in names and p != pole]
            if here and pole in st.session_state.get(HERE_KEY, []):
                st.markdown(f"**{len(here) + 1} pôles à cet endroit.** Les autres :")
                for other in here:
                    st.button(names[other], key=f"carte_here_{other}", on_click=_select, args=(other,),
                              width="stretch")
            render_card(b, pole)
    st.subheader(f"Tous les pôles ({len(counted)})" if len(counted) == len(ids) else
                 f"Pôles retenus : {len(counted)} sur {len(ids)}")
    if exclude_low:
        st.caption("Les périmètres de confiance faible sont exclus du tableau et de la synthèse.")
    st.markdown("**Synthèse nationale**")
    if first_map or state.entered():  # the page's first map: the rest a moment later
        st.caption("Les tableaux et les téléchargements s'affichent dans un instant…")
        (_tables_after_first_map if first_map else _tables_after_entry)()
        st.session_state[TABLES_KEY] = False
        return
    st.session_state[TABLES_KEY] = True
    _tables(b, counted)
    if complete:
        downloads.poles(b, pole)
    else:
        st.caption("Les téléchargements seront proposés dès que tous les découpages seront calculés.")


def _tables(b: Scorecard, counted: list[str]) -> None:
    """The national summary and the table of the poles ``counted``."""
    national, table = _national_tables(common.data_key(), common.poles_key(), state.measure(), tuple(counted),
                                       b.levels, b)
    st.dataframe(fr_table(national, {"Surface totale (km²)": "int"}), hide_index=True)
    noun, _ = state.measure_words()
    qpv_column, qpv_phrase = qpv_words(b.catalogue)
    widths = {"Communes": 78, "EPCI": 50, "Départements": 56, "Régions": 56}
    short = {"Départements": "Dép.", "Régions": "Rég."}  # the poles' names wider (the help names them in full)
    st.dataframe(fr_table(table, {"Surface (km²)": "num1"}), hide_index=True, width="stretch", column_config={
        # 928 px in all: the table's 938 px at 1400 px wide (an expired QPV list's column, « QPV 2015 »,
        # takes 25 px from the poles' names)
        "Pôle": st.column_config.TextColumn(width=225 if qpv_column == "QPV" else 200),
        "Typologie": st.column_config.TextColumn(width=140),
        "Surface (km²)": st.column_config.NumberColumn("km²", width=70, help="Surface du périmètre du pôle."),
        "Confiance": st.column_config.TextColumn(width=84, help="Fiabilité du périmètre : haute, moyenne ou "
                                                               "faible (déduit ou non documenté)."),
        "Zone d'emploi la mieux ajustée": st.column_config.TextColumn(
            "ZE ajustée", width=124,
            help="La zone d'emploi dont les contours ressemblent le plus à ceux du pôle. " + METRIC_HELP["best_iou"]),
        qpv_column: st.column_config.NumberColumn(width=45 if qpv_column == "QPV" else 70,
                                                  help=f"{qpv_phrase} touchés par le pôle."),
        **{LEVEL_LABELS[k]: st.column_config.NumberColumn(
            short.get(LEVEL_LABELS[k]), width=widths[LEVEL_LABELS[k]],
            help=f"{touched} : au moins 1 % du pôle (en {noun}), ou entièrement dans le pôle.")
           for k, touched in TOUCHED.items() if LEVEL_LABELS[k] in table},
    })
