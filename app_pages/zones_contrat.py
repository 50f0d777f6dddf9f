"""Page « Zones de contrat »: how each pole sits against contract zones (or a user's zones)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st

from ptce_geo import maps
from ptce_geo.fmt import RELATION_LABELS, fr_count, fr_number
from ptce_geo.errors import PtceGeoError
from ptce_geo.export import csv_safe
from ptce_geo.uploads import MAX_UPLOAD_BYTES
from ptce_geo.zones import ZoneOverlap, overlap_zones

from . import common, compute
from .french import percent_choice
from .present import ZONE_COLUMNS, ZONE_FORMATS, fr_table, md

SOURCES = ("Couche du catalogue", "Fichier de zones téléversé")
RELATION_COLOURS = {"pole_inside_zone": "#1B9E77", "zone_inside_pole": "#7570B3", "straddles": "#D95F02"}
ALL = "— tous les pôles —"


@st.cache_resource(show_spinner="Calcul des recouvrements…", max_entries=32)
def _catalogue_overlap(dkey: str, pkey: str, path: str, layer_id: str, vintage: int, tolerance: float) -> ZoneOverlap:
    return overlap_zones(common.poles(), layer_id, catalogue=common.catalogue(), tolerance=tolerance)


@st.cache_data(show_spinner="Lecture du fichier de zones et calcul des recouvrements…", max_entries=16, ttl=3600)
def _upload_overlap(dkey: str, pkey: str, digest: str, _data: bytes, filename: str, code_field: str,
                    name_field: str, tolerance: float) -> tuple[ZoneOverlap, dict]:
    # a user's file: read and overlapped in a worker process (see app_pages/compute.py)
    return compute.slots().run(compute.zone_overlap_upload, _data, filename, code_field or None, name_field or None,
                               str(common.poles_file()), pkey, tolerance, what=f"reading {filename}")


def _zones_source(tolerance: float) -> ZoneOverlap | None:
    cat = common.catalogue()
    source = st.radio("Zones", SOURCES, horizontal=True, key="zc_source")
    if source == SOURCES[0]:
        ids = cat.ids(kind="zones")
        if not ids:
            st.info("Le catalogue ne contient aucune couche de zones.")
            return None
        default = ids.index("territoires_industrie") if "territoires_industrie" in ids else 0
        lid = st.selectbox("Couche", ids, index=default, format_func=lambda i: cat[i].title, key="zc_layer")
        st.caption(f"Millésime {cat[lid].vintage} — {md(cat[lid].attribution)}")
        return _catalogue_overlap(common.data_key(), common.poles_key(), str(common.poles_file()), lid,
                                  cat[lid].vintage, tolerance)
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
                                    name_field.strip(), tolerance)
    except PtceGeoError as exc:
        st.error(f"Fichier refusé : {exc.fr}")
        return None
    if info.get("note_fr"):
        st.caption(md(info["note_fr"]))
    return res


def _table(res: ZoneOverlap, names: dict) -> pd.DataFrame:
    t = res.table
    return pd.DataFrame({
        "Pôle": t["pole_id"].map(names).fillna(t["pole_id"]), "Code de la zone": t["zone_code"],
        "Zone": t["zone_name"], "Part du pôle dans la zone": t["share_of_pole"],
        "Part de la zone dans le pôle": t["share_of_zone"], "IoU": t["iou"],
        "Relation": t["relation"].map(RELATION_LABELS).fillna(t["relation"]),
        "Surface commune (km²)": t["overlap_km2"], "_pole": t["pole_id"], "_relation": t["relation"],
    })


def page() -> None:
    st.title("Zones de contrat")
    st.caption("Comment chaque pôle se situe par rapport aux zones de contrat (Territoires d'industrie, contrats de "
               "ville, CRTE, contrats de ruralité, QPV…) ou à vos propres zones : part du pôle dans chaque zone, part "
               "de la zone dans le pôle, et relation.")
    c1, c2 = st.columns([3, 1])
    with c2:
        tolerance = percent_choice("Tolérance des relations", [0, 0.5, 1, 2, 5, 10], value=1, key="zc_tol",
                                   help="« Pôle inclus dans la zone » quand au moins 100 % − tolérance du pôle est "
                                        "dans la zone ; de même pour « Zone incluse dans le pôle ».")
    with c1:
        res = _zones_source(tolerance / 100)
    if res is None:
        return
    b = common.scorecard()
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    table = _table(res, names)
    if not len(table):
        st.info("Aucun pôle ne touche ces zones.")
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    poles = c1.multiselect("Pôles", sorted(table["_pole"].unique(), key=lambda i: names.get(i, i)),
                           format_func=lambda i: names.get(i, i), key="zc_poles", placeholder="Tous les pôles")
    relations = c2.multiselect("Relations", list(RELATION_LABELS), format_func=RELATION_LABELS.get,
                               key="zc_relations", placeholder="Toutes les relations")
    with c3:
        minimum = percent_choice("Part du pôle minimale", [0, 1, 5, 10, 25, 50, 75, 90], value=0, key="zc_min")
    sel = table
    if poles:
        sel = sel[sel["_pole"].isin(poles)]
    if relations:
        sel = sel[sel["_relation"].isin(relations)]
    sel = sel[sel["Part du pôle dans la zone"] >= minimum / 100]
    st.markdown(f"**{fr_count(len(sel), 'recouvrement')}** entre {fr_count(sel['_pole'].nunique(), 'pôle')} et "
                f"{fr_count(sel['Code de la zone'].nunique(), 'zone')}")
    matrix, synth = st.tabs(["Recouvrements", "Synthèse par pôle"])
    matrix.dataframe(fr_table(sel.drop(columns=["_pole", "_relation"]), ZONE_FORMATS), hide_index=True,
                     width="stretch", column_config=ZONE_COLUMNS)
    s = res.summary
    synth.dataframe(pd.DataFrame({
        "Pôle": s["pole_id"].map(names).fillna(s["nom"]), "Zones touchées": s["n_zones"],
        "Pôle inclus dans une zone": s["n_pole_inside_zone"], "Zones incluses dans le pôle": s["n_zone_inside_pole"],
        "Chevauchements": s["n_straddles"], "Part du pôle couverte par les zones": s["covered_share"],
    }).pipe(fr_table, {"Part du pôle couverte par les zones": "pct"}), hide_index=True, width="stretch")
    csv = csv_safe(sel.drop(columns=["_pole", "_relation"])).to_csv(index=False).encode("utf-8-sig")
    st.download_button("Télécharger le tableau (CSV)", csv, file_name=f"recouvrements-{res.layer}.csv",
                       mime="text/csv", on_click="ignore", key="zc_download")
    shown = sorted(sel["_pole"].unique(), key=lambda i: names.get(i, i))
    if not shown:
        return
    pole = st.selectbox("Carte du pôle", shown, format_func=lambda i: names.get(i, i), key="zc_map_pole")
    summary = res.summary.set_index("pole_id")
    if pole in summary.index:
        row = summary.loc[pole]
        st.caption(f"{md(names.get(pole, pole))} : {fr_count(row['n_zones'], 'zone touchée', 'zones touchées')} ; "
                   "part du pôle couverte "
                   f"par l'ensemble des zones : {fr_number(100 * row['covered_share'])} %.")
    geom = b.perimeters.set_index("id").geometry.loc[pole]
    bounds = tuple(geom.bounds)
    m = maps.new_map(bounds=bounds, tiles=common.tiles())
    tol = maps.tolerance_for(bounds)
    rel = res.table[res.table["pole_id"] == pole].set_index("zone_code")["relation"]
    zones = res.zones[res.zones["code"].isin(rel.index)]
    if len(zones):
        zones = maps.clip_layer(zones, bounds, margin=0.5)
    for r, label in RELATION_LABELS.items():
        part = zones[zones["code"].map(rel).eq(r)]
        maps.add_outlines(m, part, name=f"Zones : {label.lower()}", colour=RELATION_COLOURS[r], weight=1.5,
                          tolerance=tol, fill_opacity=0.25, label="Zone")
    disp = common.poles_display()
    one = disp[disp["id"] == pole]
    maps.add_poles(m, one.set_geometry(gpd.GeoSeries([geom], index=one.index, crs="EPSG:4326")), name="Pôle",
                   tolerance=tol, selected=pole)
    maps.add_legend(m, "Relation de la zone au pôle", [(RELATION_LABELS[r], c) for r, c in RELATION_COLOURS.items()])
    maps.add_attribution(m, common.data_attribution([res.layer] if res.layer in common.catalogue().layers else []))
    common.show_map(maps.finish(m), key="zc_map")
