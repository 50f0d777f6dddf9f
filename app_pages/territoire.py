"""Page « Mon territoire »: the poles acting in a région, département, EPCI or commune."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import streamlit as st

from ptce_geo import maps
from ptce_geo.fmt import fr_number, fr_pct
from ptce_geo.projection import area_m2
from ptce_geo.territory import search_units, territory_poles

from . import common, downloads
from .present import md

#: échelon → layer id
LEVELS = {"Région": "regions", "Département": "departements", "EPCI": "epci", "Commune": "communes"}


def page() -> None:
    st.title("Mon territoire")
    st.caption("Choisissez votre territoire : les pôles qui y agissent s'affichent, avec la part du territoire "
               "couverte par chacun et la part de chaque pôle située dans le territoire.")
    c1, c2 = st.columns([1, 2])
    level = c1.radio("Échelon", list(LEVELS), horizontal=True, key="terr_level")
    layer_id = LEVELS[level]
    query = c2.text_input("Rechercher par nom ou par code", key="terr_query",
                          placeholder="par exemple : Landes, 40, Bayonne, 64102, 244000659")
    units = common.layer(layer_id)[["code", "nom"]]
    found = search_units(units, query, limit=200)
    if not len(found):
        st.warning(f"Aucun(e) {level.lower()} ne correspond à « {md(query)} ». Essayez un autre nom ou un code.")
        return
    labels = dict(zip(found["code"], found["nom"]))
    code = st.selectbox(f"{level} ({len(found)} résultat{'s' if len(found) > 1 else ''})", list(found["code"]),
                        format_func=lambda c: f"{labels.get(c, c)} ({c})", key=f"terr_choice_{layer_id}")
    if code is None:
        return
    b = common.scorecard()
    table = territory_poles(b, layer_id, code)
    full = common.layer(layer_id).set_index("code")
    unit_geom = full.geometry.loc[code]
    name = full["nom"].loc[code]
    st.subheader(md(f"{name} ({code})"))
    if not len(table):
        st.info("Aucun pôle recensé n'agit sur ce territoire.")
    else:
        shares = b.shares(layer_id)
        inside = shares[shares["unit_code"] == code].geometry.to_numpy()
        union = np.array([shapely.union_all(inside)], dtype=object)
        covered = float(area_m2(union)[0]) / float(full["area_m2"].loc[code])
        m1, m2 = st.columns(2)
        m1.metric("Pôles qui agissent ici", len(table))
        m2.metric("Part du territoire couverte par au moins un pôle", fr_pct(min(covered, 1.0)))
        view = table.assign(typology=table["typology"].map(lambda t: maps.TYPOLOGY_LABELS.get(t, "—")))
        view = view.rename(columns={
            "nom": "Pôle", "typology": "Typologie", "share_of_unit": "Part du territoire couverte par le pôle",
            "share_of_pole": "Part du pôle située dans le territoire", "area_km2": "Surface en commun (km²)"})
        st.dataframe(view.drop(columns=["pole_id"]), hide_index=True, width="stretch", column_config={
            "Part du territoire couverte par le pôle": st.column_config.ProgressColumn(
                format="percent", min_value=0.0, max_value=1.0),
            "Part du pôle située dans le territoire": st.column_config.ProgressColumn(
                format="percent", min_value=0.0, max_value=1.0),
            "Surface en commun (km²)": st.column_config.NumberColumn(format="%.1f"),
        })
        st.caption("Un pôle peut déborder du territoire (part du pôle inférieure à 100 %) ; plusieurs pôles "
                   f"peuvent se superposer. Surface du territoire : {fr_number(full['area_m2'].loc[code] / 1e6)} km².")
    bounds = tuple(unit_geom.bounds)
    m = maps.new_map(bounds=bounds, tiles=common.tiles())
    tol = maps.tolerance_for(bounds)
    maps.add_outlines(m, full.loc[[code]].reset_index(), name=level, colour="#000000", weight=2.5,
                      tolerance=tol, label=level)
    if len(table):
        disp = common.poles_display()
        sel = disp[disp["id"].isin(table["pole_id"])]
        full_geoms = b.perimeters.set_index("id").geometry.reindex(sel["id"]).to_numpy()
        sel = sel.set_geometry(gpd.GeoSeries(full_geoms, index=sel.index, crs="EPSG:4326"))
        maps.add_poles(m, sel, name="Pôles", tolerance=tol)
        maps.typology_legend(m, present=set(table["typology"].dropna()) or None)
    maps.add_attribution(m, common.data_attribution([layer_id]))
    common.show_map(maps.finish(m), key="terr_map")
    downloads.territory(b, layer_id, code)
