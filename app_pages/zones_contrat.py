"""Page « Zones de contrat »: how each pole sits against contract zones (or a user's zones)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st

from ptce_geo import maps
from ptce_geo.errors import PtceGeoError
from ptce_geo.export import csv_bytes
from ptce_geo.fmt import METHOD_LABELS, RELATION_LABELS, fr_count, fr_pct
from ptce_geo.layers import UNRESOLVED_REASONS
from ptce_geo.options import Options
from ptce_geo.uploads import MAX_UPLOAD_BYTES
from ptce_geo.zones import ZoneOverlap, layer_notice, overlap_zones, programme_summary

from . import common, compute, downloads, state
from .french import percent_choice
from .present import ZONE_COLUMNS, ZONE_FORMATS, fr_table, layer_title, md

SOURCES = ("Couche du catalogue", "Fichier de zones téléversé")
RELATION_COLOURS = {"coincides": "#1B9E77", "pole_inside_zone": "#66A61E", "zone_inside_pole": "#7570B3",
                    "straddles": "#D95F02", "touches": "#999999"}
#: how a pair was measured, in the table's « Calcul » column
VIEWS = ("Recouvrements", "Contacts en bordure et recouvrements marginaux", "Synthèse par pôle",
         "Programmes par pôle")


@st.cache_resource(show_spinner="Calcul des recouvrements…", max_entries=32)
def _catalogue_overlap(dkey: str, pkey: str, path: str, layer_id: str, vintage: int, options: Options) -> ZoneOverlap:
    if path.startswith("upload:"):  # a session's own poles: measured in a worker process
        return compute.slots().run(compute.zone_overlap_layer, common.poles_input(), pkey, layer_id, options,
                                   what=f"the overlap with {layer_id}")
    return overlap_zones(common.poles(), layer_id, catalogue=common.catalogue(), options=options)


# read-only once built: a shared resource, not a pickled copy made again at every run
@st.cache_resource(show_spinner="Lecture du fichier de zones et calcul des recouvrements…", max_entries=16, ttl=3600)
def _upload_overlap(dkey: str, pkey: str, digest: str, _data: bytes, filename: str, code_field: str,
                    name_field: str, options: Options) -> tuple[ZoneOverlap, dict]:
    # a user's file: read and overlapped in a worker process (see app_pages/compute.py)
    return compute.slots().run(compute.zone_overlap_upload, _data, filename, code_field or None, name_field or None,
                               common.poles_input(), pkey, options, what=f"reading {filename}")


@st.cache_resource(show_spinner="Synthèse des programmes de tous les pôles…", max_entries=8)
def _programmes(dkey: str, pkey: str, path: str, options: Options) -> tuple[pd.DataFrame, list[str]]:
    """The programme summary over every zones layer that can be had, and the layers that cannot."""
    cat = common.catalogue()
    overlaps, missing = {}, []
    for lid in cat.ids(kind="zones"):
        try:
            overlaps[lid] = _catalogue_overlap(dkey, pkey, path, lid, cat[lid].vintage, options)
        except PtceGeoError:
            missing.append(cat[lid].title)
    return programme_summary(common.poles(), overlaps, catalogue=cat), missing


def _options() -> Options | None:
    c1, c2, c3 = st.columns(3)
    with c1:
        tolerance = percent_choice("Tolérance des relations", [0, 0.5, 1, 2, 3, 5, 10], value=1, key="zc_tol",
                                   help="« Confondus » quand au moins 100 % − tolérance du pôle et de la zone se "
                                      "recouvrent ; « Pôle inclus dans la zone » ou « Zone incluse dans le pôle » de "
                                      "même ; « Contact en bordure » quand les deux parts sont sous la tolérance.")
    with c2:
        threshold = percent_choice("Seuil des recouvrements marginaux", [0, 0.5, 1, 2, 5, 10, 20], value=1,
                                   key="zc_threshold", help="Un recouvrement dont la part du pôle et la part de la zone sont toutes deux "
                                      "sous ce seuil est listé à part et n'est pas compté.")
    weight = state.measure()
    c3.caption(f"Parts mesurées en {state.measure_words()[0]} (choix dans la barre latérale)."
               + (" Population : celle du pôle qui habite dans la zone, d'après les populations municipales des "
                  "communes." if weight == "population" else ""))
    try:
        return Options(threshold=threshold / 100, weight=weight, tolerance=tolerance / 100)
    except PtceGeoError as exc:
        st.error(exc.fr)
        return None


def _zones_source(options: Options) -> ZoneOverlap | None:
    cat = common.catalogue()
    source = st.radio("Zones", SOURCES, horizontal=True, key="zc_source")
    if source == SOURCES[0]:
        ids = cat.ids(kind="zones")
        if not ids:
            st.info("Le catalogue ne contient aucune couche de zones.")
            return None
        asked = state.initial("couche", "")
        default = ids.index(asked) if asked in ids else (
            ids.index("territoires_industrie") if "territoires_industrie" in ids else 0)
        lid = st.selectbox("Couche", ids, index=default, key="zc_layer",
                           format_func=lambda i: layer_title(cat[i]))
        state.set_params("zones", couche=lid)
        spec = cat[lid]
        period = f", période {md(spec.period)}" if spec.period else ""
        st.caption(f"Millésime {spec.vintage}{period} — {md(spec.attribution)}")
        return _catalogue_overlap(common.data_key(), common.poles_key(), common.poles_source(), lid,
                                  spec.vintage, options)
    state.set_params("zones")
    up = st.file_uploader("Fichier de zones (GeoJSON, GeoPackage ou Shapefile zippé ; polygones ou points ; tout "
                          "système de coordonnées)", type=["geojson", "json", "gpkg", "zip"], key="zc_upload")
    c1, c2 = st.columns(2)
    code_field = c1.text_input("Champ du code (facultatif)", key="zc_code_field",
                               help="Laissez vide pour que l'outil le devine ; il indique lequel il a utilisé.")
    name_field = c2.text_input("Champ du nom (facultatif)", key="zc_name_field")
    if up is None:
        st.info(f"Taille maximale : {MAX_UPLOAD_BYTES // 2**20} Mo.")
        return None
    data = up.getvalue()
    digest = common.digest(data)
    try:
        res, info = _upload_overlap(common.data_key(), common.poles_key(), digest, data, up.name, code_field.strip(),
                                    name_field.strip(), options)
    except PtceGeoError as exc:
        st.error(f"Fichier refusé : {md(exc.fr)}")
        return None
    if info.get("note_fr"):
        st.caption(md(info["note_fr"]))
    return res


def _table(t: pd.DataFrame, names: dict) -> pd.DataFrame:
    # the relation first, then the shares it comes from: « Pôle inclus dans la zone » reads with its
    # « Part du pôle » of 100 %, before the small share of a large zone and its small IoU
    return pd.DataFrame({
        "Pôle": t["pole_id"].map(names).fillna(t["pole_id"]), "Zone": t["zone_name"],
        "Relation": t["relation"].map(RELATION_LABELS).fillna(t["relation"]),
        "Part du pôle dans la zone": t["share_of_pole"],
        "Part de la zone dans le pôle": t["share_of_zone"], "IoU": t["iou"],
        "Surface commune (km²)": t["overlap_km2"], "Code de la zone": t["zone_code"],
        "Calcul": t["method"].map(METHOD_LABELS).fillna(t["method"]),
        "_pole": t["pole_id"], "_relation": t["relation"],
    })


def _with_pole_names(rows: pd.DataFrame, names: dict) -> pd.DataFrame:
    """Overlap rows with each pole's name after its id (column ``pole_nom``)."""
    out = rows.copy()
    out.insert(int(out.columns.get_loc("pole_id")) + 1, "pole_nom", out["pole_id"].map(names).fillna(out["pole_id"]))
    return out


def _show(df: pd.DataFrame, **kw) -> None:
    st.dataframe(fr_table(df.drop(columns=[c for c in df.columns if c.startswith("_")]), ZONE_FORMATS),
                 hide_index=True, width="stretch", column_config=ZONE_COLUMNS, **kw)


def _unresolved(res: ZoneOverlap) -> None:
    bad = res.unresolved
    if not len(bad):
        return
    n = bad["zone_code"].nunique()
    with st.expander(f"{fr_count(n, 'zone')} dont des membres n'ont pas pu être rattachés aux communes "
                     f"{'(mesurée' if n == 1 else '(mesurées'} par {'son' if n == 1 else 'leur'} contour)"):
        st.dataframe(pd.DataFrame({
            "Code de la zone": bad["zone_code"], "Zone": bad["zone_name"], "Membre": bad["member_name"],
            "Code du membre": bad["member_code"], "Raison": bad["reason"].map(UNRESOLVED_REASONS).fillna(bad["reason"]),
        }), hide_index=True, width="stretch")


def _synthesis(res: ZoneOverlap, names: dict) -> None:
    s = res.summary
    st.caption("Seuls les recouvrements réels sont comptés ; les contacts en bordure et recouvrements marginaux "
               "sont dénombrés à part.")
    st.dataframe(pd.DataFrame({
        "Pôle": s["pole_id"].map(names).fillna(s["nom"]), "Zones (recouvrements réels)": s["n_zones"],
        "Confondus": s["n_coincides"], "Pôle inclus dans une zone": s["n_pole_inside_zone"],
        "Zones incluses dans le pôle": s["n_zone_inside_pole"], "Chevauchements": s["n_straddles"],
        "Contacts en bordure et marginaux": s["n_slivers"], "Part du pôle couverte par les zones": s["covered_share"],
    }).pipe(fr_table, {"Part du pôle couverte par les zones": "pct"}), hide_index=True, width="stretch")


def _programme_view(options: Options, names: dict) -> None:
    table, missing = _programmes(common.data_key(), common.poles_key(), common.poles_source(), options)
    st.caption("Pour chaque pôle, les programmes en vigueur dont il partage le territoire (zones nommées avec la "
               "part du pôle qui s'y trouve, puis le nombre de communes ou de sites), et à part les générations "
               "expirées, avec leur période.")
    if missing:
        st.warning("Couches indisponibles, non prises en compte : " + md(", ".join(missing)) + ".")
    # a table whose cells wrap: the lines are long, and a grid would cut them; its cells read Markdown
    st.table(pd.DataFrame({
        "Pôle": [md(n) for n in table["pole_id"].map(names).fillna(table["nom"])],
        "Programmes en vigueur": [md(t) for t in table["programmes"]],
        "Historique": [md(t) if t else "—" for t in table["historique"]],
    }), hide_index=True)
    csv = downloads.deferred(lambda: csv_bytes(table, dialect="fr"), "programmes-par-pole.csv")
    st.download_button("Télécharger la synthèse des programmes (CSV)", csv, file_name="programmes-par-pole.csv",
                       mime="text/csv", on_click="ignore", key="zc_programmes_download")


def page() -> None:
    st.title("Zones de contrat")
    st.caption("Comment chaque pôle se situe par rapport aux zones de contrat (Territoires d'industrie, contrats de "
               "ville, CRTE, contrats de ruralité, QPV…) ou à vos propres zones : part du pôle dans chaque zone, part "
               "de la zone dans le pôle, et relation. Les zones définies par leurs membres (EPCI, communes) sont "
               "comparées aux pôles sur les communes qu'ils ont en commun : des parts exactes, sans artefact de "
               "contour.")
    options = _options()
    if options is None:
        return
    res = _zones_source(options)
    if res is None:
        return
    notice = layer_notice(res)
    if notice:
        st.warning(md(notice))
    b = common.scorecard()
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    full = _table(res.table, names)
    if not len(full):
        st.info("Aucun pôle ne touche ces zones.")
        _unresolved(res)
        return
    counted = res.table["counted"].to_numpy(dtype=bool)
    real, slivers = full[counted], full[~counted]
    view = st.radio("Vue", VIEWS, horizontal=True, key="zc_view", label_visibility="collapsed")
    if view == VIEWS[3]:  # every layer at once: the chosen layer's counts do not describe it
        _programme_view(options, names)
        return
    st.markdown(f"**{fr_count(len(real), 'recouvrement')}** entre {fr_count(real['_pole'].nunique(), 'pôle')} et "
                f"{fr_count(real['Code de la zone'].nunique(), 'zone')}"
                + (f" ; {fr_count(len(slivers), 'contact en bordure ou recouvrement marginal', 'contacts en bordure ou recouvrements marginaux')} "
                   f"{'listé' if len(slivers) == 1 else 'listés'} à part" if len(slivers) else ""))
    st.caption(f"Parts mesurées en {'population (populations municipales des communes)' if options.weight == 'population' else 'surface'}. "
               "Calcul « communes » : zone et pôle comparés sur les communes qu'ils ont en commun, parts exactes ; "
               "« contours » : intersection des contours.")
    _unresolved(res)
    if view == VIEWS[2]:
        _synthesis(res, names)
        return
    if view == VIEWS[1]:
        st.caption("Paires dont les deux parts sont sous la tolérance (contact en bordure, souvent un artefact de "
                   "contours dessinés à des échelles différentes) ou sous le seuil : elles ne comptent pas comme "
                   "recouvrements.")
        if len(slivers):
            _show(slivers)
        else:
            st.info("Aucun contact en bordure ni recouvrement marginal.")
        return
    show_slivers = st.checkbox("Montrer aussi les contacts en bordure et les recouvrements marginaux",
                               key="zc_slivers", value=False)
    c1, c2, c3 = st.columns([2, 2, 1])
    table = full if show_slivers else real
    poles = c1.multiselect("Pôles", sorted(table["_pole"].unique(), key=lambda i: names.get(i, i)),
                           format_func=lambda i: names.get(i, i), key="zc_poles", placeholder="Tous les pôles")
    choices = list(RELATION_LABELS) if show_slivers else [r for r in RELATION_LABELS if r != "touches"]
    relations = c2.multiselect("Relations", choices, format_func=RELATION_LABELS.get, key="zc_relations",
                               placeholder="Toutes les relations")
    with c3:
        minimum = percent_choice("Part du pôle minimale", [0, 1, 5, 10, 25, 50, 75, 90], value=0, key="zc_min")
    sel = table
    if poles:
        sel = sel[sel["_pole"].isin(poles)]
    if relations:
        sel = sel[sel["_relation"].isin(relations)]
    sel = sel[sel["Part du pôle dans la zone"] >= minimum / 100]
    _show(sel)
    name = f"recouvrements-{res.layer}.csv"
    rows = res.table.loc[sel.index]  # the rows shown, with their machine columns: French in the spreadsheet
    csv = downloads.deferred(lambda: csv_bytes(_with_pole_names(rows, names), dialect="fr", table="overlaps"), name)
    st.download_button("Télécharger le tableau (CSV)", csv, file_name=name,
                       mime="text/csv", on_click="ignore", key="zc_download")
    shown = sorted(sel["_pole"].unique(), key=lambda i: names.get(i, i))
    if not shown:
        return
    pole = st.selectbox("Carte du pôle", shown, format_func=lambda i: names.get(i, i), key="zc_map_pole")
    summary = res.summary.set_index("pole_id")
    if pole in summary.index:
        row = summary.loc[pole]
        st.caption(f"{md(names.get(pole, pole))} : {fr_count(row['n_zones'], 'zone en recouvrement réel', 'zones en recouvrement réel')} ; "
                   "part du pôle couverte "
                   f"par l'ensemble de ces zones : {fr_pct(row['covered_share'])}.")
    rel = sel[sel["_pole"] == pole].set_index("Code de la zone")["_relation"]
    catalogued = res.layer in common.catalogue().layers  # a user's zone file is drawn afresh each time
    common.show_map(lambda: _build_map(b, res, pole, rel, catalogued=catalogued), key="zc_map",
                    spec=("zones", res.layer, pole, tuple(rel.items())) if catalogued else None)
    downloads.overlaps(b, res, sel.index)


def _build_map(b, res, pole: str, rel: pd.Series, *, catalogued: bool):
    """The pole and the zones it overlaps, coloured by their relation to it."""
    geom = b.perimeters.set_index("id").geometry.loc[pole]
    bounds = tuple(geom.bounds)
    m = maps.new_map(bounds=bounds, tiles=common.tiles())
    tol = maps.tolerance_for(bounds)
    zones = res.zones[res.zones["code"].isin(rel.index)]
    if len(zones):
        zones = maps.clip_layer(zones, bounds, margin=0.5)
    drawn = [r for r in RELATION_COLOURS if r in set(rel)]
    for r in drawn:
        part = zones[zones["code"].map(rel).eq(r)]
        maps.add_outlines(m, part, name=f"Zones : {RELATION_LABELS[r].lower()}", colour=RELATION_COLOURS[r],
                          weight=1.5, tolerance=tol, fill_opacity=0.25, label="Zone")
    disp = common.poles_display()
    one = disp[disp["id"] == pole]
    maps.add_poles(m, one.set_geometry(gpd.GeoSeries([geom], index=one.index, crs="EPSG:4326")), name="Pôle",
                   tolerance=tol, selected=pole)
    maps.add_legend(m, "Relation de la zone au pôle", [(RELATION_LABELS[r], RELATION_COLOURS[r]) for r in drawn])
    maps.add_attribution(m, common.data_attribution([res.layer] if catalogued else []))
    return maps.finish(m)
