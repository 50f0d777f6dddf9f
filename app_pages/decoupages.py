"""Page « Découpages »: how one pole is cut by one level (pieces, shares, borders)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ptce_geo import maps
from ptce_geo.fmt import LEVEL_LABELS, fr_number

from . import common, downloads
from .present import md


def page() -> None:
    st.title("Découpages")
    st.caption("Pour un pôle et un échelon, les morceaux du pôle dans chaque unité : leur part du pôle, leur part "
               "de l'unité, et la longueur des frontières que le pôle traverse.")
    b = common.scorecard()
    ids = list(b.summary["pole_id"])
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    levels = list(b.levels)
    c1, c2 = st.columns([2, 1])
    pole = c1.selectbox("Pôle", ids, format_func=lambda i: names.get(i, i), key="dec_pole")
    level = c2.selectbox("Échelon", levels, index=levels.index("communes") if "communes" in levels else 0,
                         format_func=lambda k: LEVEL_LABELS.get(k, k), key="dec_level")
    if pole is None:
        st.info("Aucun pôle dans le fichier des pôles.")
        return
    shares = b.shares(level)
    pieces = shares[shares["pole_id"] == pole].sort_values("share_of_pole", ascending=False).reset_index(drop=True)
    card = b.level_table(level).set_index("pole_id").loc[pole]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Unités touchées", int(card["n_units"]),
              help="Unités contenant au moins 1 % du pôle, ou entièrement incluses dans le pôle.")
    m2.metric("Fragments écartés", int(card["n_slivers"]), help="Morceaux de moins de 1 % du pôle.")
    m3.metric("Nombre effectif d'unités", fr_number(card["effective_units"], 2),
              help="1 / Σ parts² : 1 quand une unité domine, n quand n unités se partagent le pôle à parts égales.")
    m4.metric("Frontières internes traversées", f"{fr_number(card['border_km'])} km",
              help="Longueur des frontières entre unités à l'intérieur du pôle.")
    label = LEVEL_LABELS.get(level, level)
    table = pd.DataFrame({
        "Unité": pieces["unit_name"], "Code": pieces["unit_code"], "Surface (km²)": pieces["area_m2"] / 1e6,
        "Part du pôle": pieces["share_of_pole"], "Part de l'unité": pieces["share_of_unit"],
        "Statut": ["retenue" if k else "fragment (< 1 %)" for k in pieces["kept"]],
    })
    left, right = st.columns([1, 1])
    with left:
        st.markdown(f"**Morceaux du pôle — {md(label)}** ({len(table)})")
        st.dataframe(table, hide_index=True, width="stretch", height=360 if len(table) > 9 else "auto", column_config={
            "Surface (km²)": st.column_config.NumberColumn(format="%.2f"),
            "Part du pôle": st.column_config.NumberColumn(format="percent"),
            "Part de l'unité": st.column_config.NumberColumn(format="percent"),
        })
        top = table.head(25)
        chart = pd.DataFrame({"Unité": [f"{n} ({c})" for n, c in zip(top["Unité"], top["Code"])],
                              "Part du pôle (%)": (top["Part du pôle"] * 100).round(2)})
        st.markdown("**Part du pôle dans chaque unité**" + (" (25 premières)" if len(table) > 25 else ""))
        st.bar_chart(chart, x="Unité", y="Part du pôle (%)", horizontal=True, sort="-Part du pôle (%)",
                     height=max(160, 28 * len(chart)))
    with right:
        geom = b.perimeters.set_index("id").geometry.loc[pole]
        bounds = tuple(geom.bounds)
        tol = maps.tolerance_for(bounds, pixels=2500)
        m = maps.new_map(bounds=bounds, tiles=common.tiles())
        maps.add_units(m, pieces, name=f"Morceaux — {label}", tolerance=tol)
        shown = maps.display_geometries(pieces.geometry.to_numpy(), tolerance=tol, coverage=True)
        borders = maps.internal_borders(shown)
        maps.add_lines(m, borders, name="Frontières internes", tooltip="Frontière interne traversée par le pôle")
        maps.add_legend(m, "Frontières", [("Frontière interne au pôle", "#C00000")])
        maps.add_attribution(m, common.data_attribution([level]))
        common.show_map(maps.finish(m), key="dec_map")
        st.caption("Couleurs : une par unité. En rouge : les frontières entre unités à l'intérieur du pôle "
                   "(tracé simplifié pour l'affichage ; la longueur est mesurée sur les contours complets).")
    downloads.pieces(b, pole, level)
