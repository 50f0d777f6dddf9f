"""Page « Découpages »: how one pole is cut by one level (pieces, shares, borders)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ptce_geo import maps
from ptce_geo.fmt import LEVEL_LABELS, LEVEL_NOUNS, METRIC_HELP, fr_count, fr_int, fr_km, fr_number, fr_pct

from . import common, downloads, places, state
from .present import fr_table, md

POLE_KEY = "dec_pole"
LEVEL_KEY = "dec_level"
MAP_WIDTH_PX = 430
#: levels whose units cover part of France only: where they are
PARTIAL_COVERAGE = {"ept": "les établissements publics territoriaux ne couvrent que les communes de la petite "
                           "couronne membres de la Métropole du Grand Paris (Paris n'en fait pas partie)."}


def bar_chart_spec(labels: list[str], shares: list[float], texts: list[str]) -> dict:
    """A horizontal bar chart of shares (0-100), axis, tooltips and screen-reader texts in French.

    The chart's data, which its « Afficher les données » button shows as a table, holds French
    texts only (rank, unit, share written « 30,4 % », no index column); the bar lengths (30.382)
    are in the specification, read by rank.
    """
    import json

    import pyarrow as pa

    parts = [round(100 * s, 3) for s in shares]
    rows = pa.table({"Rang": pa.array(range(1, len(parts) + 1), pa.int32()), "Unité": pa.array(labels, pa.string()),
                     "Part du pôle": pa.array(texts, pa.string())})
    return {
        "description": "Diagramme en barres : la part du pôle dans chaque unité",
        "data": {"values": rows},
        "transform": [{"calculate": f"{json.dumps(parts)}[datum['Rang'] - 1]", "as": "part"},
                      {"calculate": "datum['Unité'] + ' : ' + datum['Part du pôle']", "as": "Description"}],
        "mark": {"type": "bar", "color": "#4E79A7"},
        "height": {"step": 22},
        "encoding": {
            "y": {"field": "Unité", "type": "nominal", "sort": "-x", "title": None,
                  "axis": {"labelLimit": 220, "labelOverlap": False,
                           "description": "Axe vertical : les unités, de la plus grande part à la plus petite"}},
            "x": {"field": "part", "type": "quantitative", "title": "Part du pôle (%)",
                  "axis": {"format": "d", "tickMinStep": 1, "description": "Axe horizontal : part du pôle, en %"}},
            "tooltip": [{"field": "Unité", "type": "nominal"}, {"field": "Part du pôle", "type": "nominal"}],
            "description": {"field": "Description", "type": "nominal"},
        },
    }


def page() -> None:
    st.title("Découpages")
    st.caption("Pour un pôle et un échelon, les morceaux du pôle dans chaque unité : leur part du pôle, leur part "
               "de l'unité, et la longueur des frontières que le pôle traverse.")
    measure = state.measure()
    noun, of_measure = state.measure_words()
    b = common.scorecard_for(measure)
    ids = list(b.summary["pole_id"])
    names = dict(zip(b.summary["pole_id"], b.summary["nom"]))
    levels = list(b.levels)
    if POLE_KEY not in st.session_state and state.initial("pole") in ids:
        st.session_state[POLE_KEY] = state.initial("pole")
    if LEVEL_KEY not in st.session_state and state.initial("echelon") in levels:
        st.session_state[LEVEL_KEY] = state.initial("echelon")
    c1, c2 = st.columns([2, 1])
    pole = c1.selectbox("Pôle", ids, format_func=lambda i: names.get(i, i), key=POLE_KEY, filter_mode="contains")
    level = c2.selectbox("Échelon", levels, index=levels.index("communes") if "communes" in levels else 0,
                         format_func=lambda k: LEVEL_LABELS.get(k, k), key=LEVEL_KEY, filter_mode="contains")
    if pole is None:
        st.info("Aucun pôle dans le fichier des pôles.")
        return
    state.set_params("decoupages", pole=pole, echelon=level)
    shares = b.shares(level)
    pieces = shares[shares["pole_id"] == pole].sort_values("share_of_pole", ascending=False).reset_index(drop=True)
    card = b.level_table(level).set_index("pole_id").loc[pole]
    one, many = LEVEL_NOUNS.get(level, (level, level))
    if not len(pieces):  # a layer that covers part of France only (the EPT: the Grand Paris)
        where = PARTIAL_COVERAGE.get(level, "")
        st.info(f"**{md(names.get(pole, pole))}** ne rencontre aucune unité de l'échelon « "
                f"{md(LEVEL_LABELS.get(level, level))} »" + (f" : {where}" if where else ".")
                + " Choisissez un autre échelon.")
        return
    m1, m2, m3, m4 = st.container(key="pairs_dec_metrics").columns(4)  # two by two in a narrow window
    m1.metric("Unités comptées", fr_int(card["n_units"]), help=METRIC_HELP["n_units"])
    m2.metric("Fragments écartés", fr_int(card["n_slivers"]), help=METRIC_HELP["n_slivers"])
    m3.metric("Nombre effectif d'unités", fr_number(card["effective_units"], 1), help=METRIC_HELP["effective_units"])
    m4.metric("Frontières internes traversées", fr_km(card["border_km"]), help=METRIC_HELP["border_km"])
    label = LEVEL_LABELS.get(level, level)
    table = pd.DataFrame({
        "Unité": [f"{n} ({c})" for n, c in zip(pieces["unit_name"], pieces["unit_code"])],
        "Part du pôle": pieces["share_of_pole"], "Part de l'unité": pieces["share_of_unit"],
        "Surface (km²)": pieces["area_m2"] / 1e6,
        "Retenue": pieces["kept"].astype(bool),
    })
    left, right = st.container(key="stack_dec").columns([6, 5])  # the map under the table in a narrow window
    with left:
        st.markdown(f"**Morceaux du pôle — {md(label)}** ({fr_count(len(table), 'morceau', 'morceaux')} ; "
                    f"parts en {noun})")
        st.dataframe(fr_table(table, {"Part du pôle": "pct", "Part de l'unité": "pct", "Surface (km²)": "num1"}),
                     hide_index=True, width="stretch", height=360 if len(table) > 9 else "auto", column_config={
                         # 488 px in all: the left column's 500 px at 1400 px wide
                         "Unité": st.column_config.TextColumn(width=180),
                         "Part du pôle": st.column_config.NumberColumn(width=84, help=METRIC_HELP["share_of_pole"]),
                         "Part de l'unité": st.column_config.NumberColumn(width=96, help=METRIC_HELP["share_of_unit"]),
                         "Surface (km²)": st.column_config.NumberColumn("km²", width=62,
                                                                        help="Surface du morceau (km²)."),
                         "Retenue": st.column_config.CheckboxColumn(
                             width=66, help="Décochée : fragment de moins de 1 % du pôle, signalé mais pas compté."),
                     })
        top = pieces.head(25)
        st.markdown("**Part du pôle dans chaque " + md(one) + "**" + (" (les 25 plus grandes parts)"
                                                                      if len(pieces) > 25 else ""))
        st.vega_lite_chart(bar_chart_spec([f"{n} ({c})" for n, c in zip(top["unit_name"], top["unit_code"])],
                                          list(top["share_of_pole"]), [fr_pct(s) for s in top["share_of_pole"]]),
                           width="stretch")
    with right:
        def build():
            bounds = tuple(b.perimeters.set_index("id").geometry.loc[pole].bounds)
            tol = maps.tolerance_for(bounds, pixels=2500)
            m = maps.new_map(bounds=bounds, tiles=common.tiles())
            maps.add_units(m, pieces, name=f"Morceaux — {label}", tolerance=tol)
            shown = maps.display_geometries(pieces.geometry.to_numpy(), tolerance=tol, coverage=True)
            borders = maps.internal_borders(shown)
            maps.add_lines(m, borders, name="Frontières internes",
                           tooltip="Frontière interne traversée par le pôle")
            places.add_place_labels(m, bounds, width_px=MAP_WIDTH_PX)
            maps.add_legend(m, "Légende", [(f"Une couleur par {one}", "#4E79A7"),
                                           ("Frontière interne au pôle", "#C00000", "line")])
            maps.add_attribution(m, common.data_attribution([level]))
            return maps.finish(m)

        common.show_map(build, key="dec_map", spec=("decoupages", pole, level, measure))
        st.caption(f"Une couleur par {one}. En rouge : les frontières entre {many} à l'intérieur du pôle (tracé "
                   "simplifié pour l'affichage ; la longueur est mesurée sur les contours complets).")
    downloads.pieces(b, pole, level)
