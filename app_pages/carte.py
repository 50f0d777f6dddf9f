"""Page « Carte des pôles »: every pole on a map, coloured by typology, and its card."""

from __future__ import annotations

import html
from urllib.parse import quote

import streamlit as st

from ptce_geo import maps
from ptce_geo.errors import CatalogueError, DataUnavailable
from ptce_geo.fmt import LEVEL_LABELS, fr_number, fr_pct
from ptce_geo.poles import pole_details
from ptce_geo.scorecard import Scorecard

from . import common, downloads
from .present import FILTERS, filter_options, filtered_ids, level_table, md, national_summary, summary_table

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
NONE = "—"


def _on_click() -> None:
    """A click on a pole (or its seat) selects it: read the id of the clicked feature."""
    value = st.session_state.get(MAP_KEY) or {}
    feature = value.get("last_active_drawing") or {}
    props = feature.get("properties") if isinstance(feature, dict) else None
    pid = props.get("id") if isinstance(props, dict) else None
    if isinstance(pid, str):
        pid = html.unescape(pid)  # the map carries ids escaped for HTML
    if isinstance(pid, str) and pid in st.session_state.get("_carte_ids", ()):
        st.session_state[POLE_KEY] = pid


def context_choices(cat) -> dict[str, tuple[str, str, bool]]:
    """Context layers of the catalogue: the administrative ones, then the zones layers."""
    out = {k: v for k, v in CONTEXT.items() if k in cat.layers}
    for lid in cat.ids(kind="zones"):
        if lid not in out:
            out[lid] = (cat[lid].title, "#B15928", False, "")
    return out


def add_context(m, chosen: list[str], choices: dict, bounds) -> list[str]:
    """Draw the chosen context layers: nationally when light, else around ``bounds``."""
    drawn = []
    for lid in chosen:
        label, colour, national, prefix = choices[lid]
        if bounds is None:
            if not national:
                continue
            sub = common.display_layer(lid, tolerance=0.01)
            tol = 0.01
        else:
            sub = maps.clip_layer(common.layer(lid), bounds, margin=1.0)
            tol = maps.tolerance_for(bounds)
        zones = common.catalogue()[lid].kind == "zones"
        maps.add_outlines(m, sub, name=label, colour=colour, weight=1.6 if lid == "regions" else 0.8,
                          tolerance=tol, fill_opacity=0.15 if zones else 0.0, dash="4 3" if zones else None,
                          label=prefix)
        drawn.append(lid)
    return drawn


def render_card(b: Scorecard, pole_id: str) -> None:
    """The card of one pole: description, sources and scorecard."""
    p = b.perimeters.set_index("id")
    if pole_id not in p.index:
        st.info("Ce pôle n'est plus dans le fichier des pôles.")
        return
    row = p.loc[pole_id]
    d = pole_details(row["properties"])
    s = b.summary.set_index("pole_id").loc[pole_id]
    st.subheader(md(row["nom"]))
    typ = s.get("typology")
    st.markdown(f"**Typologie :** {md(maps.TYPOLOGY_LABELS.get(typ, 'non calculée'))} — "
                f"**Surface :** {fr_number(s['area_km2'])} km²")
    if "n_interco" in s and s["n_interco"] != s.get("n_epci"):
        st.caption(f"Dans la Métropole du Grand Paris, la typologie compte les établissements publics "
                   f"territoriaux (EPT) comme intercommunalités : {int(s['n_interco'])} territoire(s) "
                   "intercommunal(aux).")
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
    st.markdown("**Tableau de bord**")
    st.dataframe(level_table(b, pole_id), hide_index=True, width="stretch", column_config={
        "Part de l'unité dominante": st.column_config.NumberColumn(format="percent"),
        "Nombre effectif d'unités": st.column_config.NumberColumn(format="%.2f"),
        "Frontières internes (km)": st.column_config.NumberColumn(format="%.1f"),
        "Meilleur recouvrement (IoU)": st.column_config.NumberColumn(format="%.2f"),
    })
    if "best_ze_name" in s and isinstance(s["best_ze_name"], str):
        st.markdown(f"**Zone d'emploi la plus proche :** {md(s['best_ze_name'])} ({md(s['best_ze_code'])}), "
                    f"recouvrement (IoU) {fr_number(s['best_ze_iou'], 2)}")
    for prefix, label, none in (("bv", "Bassin de vie le plus proche", "aucun"),
                                ("aav", "Aire d'attraction la plus proche", "aucune (communes hors attraction des villes)")):
        if f"best_{prefix}_name" not in s:
            continue
        name = s[f"best_{prefix}_name"]
        st.markdown(f"**{label} :** {md(name)} ({md(s[f'best_{prefix}_code'])}), recouvrement (IoU) "
                    f"{fr_number(s[f'best_{prefix}_iou'], 2)}" if isinstance(name, str) else f"**{label} :** {none}")
    if "qpv_count" in s:
        st.markdown(f"**Quartiers prioritaires :** {int(s['qpv_count'])} touché(s), {int(s['qpv_inside'])} "
                    f"entièrement inclus, {fr_pct(s['qpv_area_share'], 2)} de la surface du pôle"
                    if s["qpv_count"] else "**Quartiers prioritaires :** aucun QPV touché.")


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
        if terr.get("classe_densite"):
            bits.append(f"densité {terr['classe_densite']}")
        if terr.get("profil"):
            bits.append(f"à dominante {terr['profil']}e" if terr["profil"] == "rural" else "à dominante urbaine")
        if bits:
            out.append(("Territoire", ", ".join(bits)))
    return out


def _filters(summary) -> tuple[list[str], list[str], bool]:
    """The filter widgets: ids shown on the map, ids in the national summaries, and the switch."""
    options = filter_options(summary)
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


def page() -> None:
    st.title("Carte des pôles")
    st.caption("Chaque pôle territorial de coopération économique (PTCE) recensé, coloré selon l'étendue de son "
               "périmètre. Cliquez sur un pôle pour afficher sa fiche.")
    try:
        b = common.scorecard()
    except (DataUnavailable, CatalogueError) as exc:
        common.show_error(exc)
        _fallback_map()
        return
    disp = common.poles_display()
    ids = list(b.summary["pole_id"])
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    st.session_state["_carte_ids"] = tuple(ids)
    if POLE_KEY not in st.session_state and st.query_params.get("pole") in ids:
        st.session_state[POLE_KEY] = st.query_params["pole"]  # a link to one pole's card
    if st.session_state.get(POLE_KEY) not in [NONE, *ids]:
        st.session_state[POLE_KEY] = NONE
    cat = common.catalogue()
    choices = context_choices(cat)
    c1, c2, c3 = st.columns([2, 3, 1])
    selected = c1.selectbox("Pôle", [NONE, *ids], key=POLE_KEY,
                            format_func=lambda i: "— aucun (vue nationale) —" if i == NONE else names.get(i, i))
    default = [k for k in ("departements",) if k in choices]
    chosen = c2.multiselect("Couches de contexte", list(choices), default=default,
                            format_func=lambda k: choices[k][0], key="carte_context",
                            help="Les communes, EPCI, zones d'emploi, QPV et zones de contrat ne s'affichent "
                                 "qu'autour du pôle sélectionné.")
    show_seats = c3.checkbox("Sièges", value=True, key="carte_seats")
    shown, counted, exclude_low = _filters(b.summary)
    disp = disp[disp["id"].isin(shown) | disp["id"].eq(selected)]
    pole = None if selected == NONE else selected
    bounds = None
    if pole is not None:
        geom = b.perimeters.set_index("id").geometry.loc[pole]
        bounds = tuple(geom.bounds)
    m = maps.new_map(bounds=bounds, tiles=common.tiles())
    drawn = add_context(m, chosen, choices, bounds)
    if pole is not None:  # the selected pole at the precision of its own view
        disp = disp.copy()
        disp.loc[disp["id"] == pole, "geometry"] = maps.display_geometries(
            [geom], tolerance=maps.tolerance_for(bounds), decimals=5)[0]
    maps.add_poles(m, disp, name="Pôles", selected=pole, tolerance=0.0)
    if show_seats:
        maps.add_seats(m, common.seats())
    maps.typology_legend(m, present=set(disp["typology"].dropna()) or None)
    if "confidence" in disp and disp["confidence"].eq("faible").any():
        maps.confidence_legend(m)
    maps.add_attribution(m, common.data_attribution(["communes", *drawn]))
    hidden = [choices[k][0] for k in chosen if not choices[k][2] and pole is None]
    col_map, col_card = st.columns([5, 3])
    with col_map:
        common.show_map(maps.finish(m), key=MAP_KEY, returned=["last_active_drawing"], on_change=_on_click)
        if hidden:
            st.caption("Choisissez un pôle pour afficher : " + ", ".join(hidden) + ".")
    with col_card:
        if pole is None:
            st.info("Cliquez sur un pôle de la carte, ou choisissez-le dans la liste, pour afficher sa fiche : "
                    "structure porteuse, filières, sources et tableau de bord du découpage.")
        else:
            render_card(b, pole)
    st.subheader(f"Tous les pôles ({len(counted)})" if len(counted) == len(ids) else
                 f"Pôles retenus : {len(counted)} sur {len(ids)}")
    if exclude_low:
        st.caption("Les périmètres de confiance faible sont exclus du tableau et de la synthèse.")
    st.markdown("**Synthèse nationale**")
    st.dataframe(national_summary(b.summary[b.summary["pole_id"].isin(counted)]), hide_index=True)
    table = summary_table(b)
    table = table[table.index.isin(counted)]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "IoU zone d'emploi": st.column_config.NumberColumn(format="%.2f"),
        **{LEVEL_LABELS[k]: st.column_config.NumberColumn(help=f"{LEVEL_LABELS[k]} touché(e)s (hors fragments < 1 %)")
           for k in ("communes", "epci", "departements", "regions") if LEVEL_LABELS[k] in table},
    })
    downloads.poles(b, pole)
