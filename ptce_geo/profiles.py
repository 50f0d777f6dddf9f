"""The profile of a pole's territory: population, density class, urban or rural, QPV.

The 2014 document places PTCE "sur des territoires désindustrialisés, périurbains, ruraux
ou dans des quartiers populaires urbains". :func:`territory_profile` describes each
perimeter in those terms from official data:

* ``population``: the sum of the municipal populations of its communes (the communes
  layer's population column: Insee population municipale, the vintage the catalogue gives);
  exact for a perimeter given by codes. For a geometric perimeter (drawn, or QPV outlines)
  the population is not known from communes without an assumption, so it is ``None``.
* ``superficie_km2``: its area on the ellipsoid (the engine's measure).
* ``densite``: population / area (inhabitants per km²) and ``classe_densite``, the class of
  that mean density: ``dense`` (≥ 1 500), ``intermédiaire`` (≥ 300), ``peu dense`` (≥ 25),
  ``très peu dense`` (< 25). The thresholds are those of the density grid of Insee and
  Eurostat (cells of 1 km²), applied here to the perimeter's mean density: an indication,
  not the official grille communale de densité.
* ``part_urbaine`` and ``profil``: the share of the population living in communes of an
  unité urbaine (Insee UU2020: a commune is urban when it belongs to one, rural otherwise);
  for a geometric perimeter, the share of its area lying in such communes (``methode``
  says which). ``profil`` is ``urbain`` when that share is at least one half, ``rural``
  otherwise.
* ``part_population_qpv``: the share of the population living in QPV. It needs the QPV
  populations (Insee publishes them; the QPV layers of the catalogues give outlines only),
  so it is ``None`` unless the QPV layer has a ``population`` column; each QPV's population
  is then shared among the perimeters by the share of its area in each.
* ``qpv``: how many QPV of the catalogue's ``qpv`` layer the perimeter touches (a QPV
  touched by less than 1 % of its area is a border sliver and does not count).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from .catalogue import Catalogue, load_catalogue
from .layers import commune_membership, load_layer
from .overlay import overlay
from .projection import area_m2

logger = logging.getLogger(__name__)

__all__ = ["DENSITY_CLASSES", "territory_profile", "density_class", "urban_units_from_table", "PROFILE_COLUMNS"]

#: (lower bound in inhabitants per km², class), densest first
DENSITY_CLASSES = ((1500.0, "dense"), (300.0, "intermédiaire"), (25.0, "peu dense"), (0.0, "très peu dense"))
PROFILE_COLUMNS = ("population", "superficie_km2", "densite", "classe_densite", "part_urbaine", "profil",
                   "part_population_qpv", "qpv", "methode")
#: layer of the catalogue giving each commune's unité urbaine, when it has one
URBAN_UNITS_LAYER = "unites_urbaines"


def density_class(density: float | None) -> str | None:
    """The class of a mean density (inhabitants per km²); ``None`` for an unknown density."""
    if density is None or not np.isfinite(density):
        return None
    return next(name for low, name in DENSITY_CLASSES if density >= low)


def urban_units_from_table(table: pd.DataFrame, *, code: str = "CODGEO", unit: str = "UU2020") -> pd.Series:
    """Commune → unité urbaine code from an Insee table d'appartenance, communes outside any UU left out.

    In the table, a commune outside any unité urbaine has the code of its département
    followed by ``000`` ("Communes hors unité urbaine du département").
    """
    codes = table[unit].astype(str)
    urban = ~codes.str.endswith("000")
    return pd.Series(codes[urban].to_numpy(), index=table.loc[urban, code].astype(str).to_numpy(), name="uu")


def _urban_units(catalogue: Catalogue) -> pd.Series | None:
    if URBAN_UNITS_LAYER not in catalogue.layers:
        return None
    members = commune_membership(URBAN_UNITS_LAYER, catalogue=catalogue)
    members = members[~members["code"].astype(str).str.endswith("000")]
    return pd.Series(members["code"].to_numpy(), index=members["commune"].to_numpy(), name="uu")


def territory_profile(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                      urban_units: pd.Series | None = None) -> pd.DataFrame:
    """The profile of each perimeter's territory (see the module docstring).

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As :func:`ptce_geo.perimeters.read_perimeters` returns them.
    catalogue : Catalogue, optional
    urban_units : pandas.Series, optional
        Commune code → unité urbaine code, urban communes only (e.g.
        :func:`urban_units_from_table` of the Insee table). Default: the catalogue's
        ``unites_urbaines`` layer when it has one; else the urban columns are ``None``.

    Returns
    -------
    pandas.DataFrame
        Indexed by pole id, the columns of :data:`PROFILE_COLUMNS`.
    """
    catalogue = catalogue or load_catalogue()
    if urban_units is None:
        urban_units = _urban_units(catalogue)
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    ov = overlay(perimeters, "communes", catalogue=catalogue)
    pieces = pd.DataFrame({"pole_id": ov.pieces["pole_id"].to_numpy(), "commune": ov.pieces["unit_code"].to_numpy(),
                           "area_m2": ov.pieces["area_m2"].to_numpy(dtype=float)})
    pieces["population"] = communes["population"].reindex(pieces["commune"]).to_numpy(dtype=float) \
        if "population" in communes else np.nan
    urban = pieces["commune"].isin(urban_units.index) if urban_units is not None else None
    qpv_touched, qpv_pop = _qpv_figures(perimeters, catalogue)
    rows = []
    for pid, definition, geom in zip(perimeters["id"], perimeters.get("definition", pd.Series("geometry",
                                     index=perimeters.index)), perimeters.geometry.to_numpy()):
        g = pieces[pieces["pole_id"] == pid]
        by_codes = definition == "codes"
        area = float(g["area_m2"].sum()) if by_codes else float(area_m2(np.array([geom], dtype=object))[0])
        pop = float(g["population"].sum()) if by_codes and g["population"].notna().all() and len(g) else None
        density = pop / (area / 1e6) if pop is not None and area > 0 else None
        share_urban = None
        if urban is not None and len(g):
            u = urban[g.index]
            if by_codes and pop:
                share_urban = float(g.loc[u, "population"].sum() / pop)
            elif not by_codes and g["area_m2"].sum() > 0:
                share_urban = float(g.loc[u, "area_m2"].sum() / g["area_m2"].sum())
        qpv_share = None
        if pop and qpv_pop is not None:
            qpv_share = float(qpv_pop.get(pid, 0.0) / pop)
        rows.append({
            "pole_id": pid,
            "population": int(round(pop)) if pop is not None else None,
            "superficie_km2": area / 1e6,
            "densite": density,
            "classe_densite": density_class(density),
            "part_urbaine": share_urban,
            "profil": None if share_urban is None else ("urbain" if share_urban >= 0.5 else "rural"),
            "part_population_qpv": qpv_share,
            "qpv": int(qpv_touched.get(pid, 0)) if qpv_touched is not None else None,
            "methode": "communes" if by_codes else "géométrie",
        })
    out = pd.DataFrame(rows, columns=["pole_id", *PROFILE_COLUMNS]).set_index("pole_id").astype(object)
    return out.where(out.notna(), None)


def _qpv_figures(perimeters: gpd.GeoDataFrame, catalogue: Catalogue) -> tuple[pd.Series | None, pd.Series | None]:
    """QPV touched by each perimeter (≥ 1 % of the QPV's area), and their population inside it when known."""
    if "qpv" not in catalogue.layers:
        return None, None
    ov = overlay(perimeters, "qpv", catalogue=catalogue)
    p = ov.pieces
    share = p["area_m2"].to_numpy(dtype=float) / np.maximum(p["unit_area_m2"].to_numpy(dtype=float), 1e-300)
    touched = pd.Series(share >= 0.01, index=p.index).groupby(p["pole_id"].to_numpy()).sum()
    table = load_layer("qpv", catalogue=catalogue)
    if "population" not in table:
        return touched, None
    pop = table.set_index("code")["population"].reindex(p["unit_code"]).to_numpy(dtype=float)
    inside = pd.Series(np.nan_to_num(pop) * np.minimum(share, 1.0), index=p.index).groupby(p["pole_id"].to_numpy()).sum()
    return touched, inside
