"""One row per pole across every level: the answer to "how far does it cut across?".

For each perimeter: kept units per level (communes, EPCI, départements, régions, zones
d'emploi), the typology, the dominant unit and its share at each level, the best-matching
zone d'emploi with its IoU (does the pole follow a labour market?), and the priority
districts (QPV) it touches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import geopandas as gpd

from .catalogue import Catalogue, load_catalogue
from .metrics import DEFAULT_THRESHOLD, layer_scorecard, piece_shares, typology
from .overlay import overlay

__all__ = ["LEVELS", "pole_scorecard", "all_layer_scorecards", "qpv_figures"]

#: partition levels of the typology, narrowest first
LEVELS = ("communes", "epci", "departements", "regions")


def all_layer_scorecards(
    perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
    threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
    layers: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The per-layer scorecard of every partition layer of the catalogue, stacked."""
    catalogue = catalogue or load_catalogue()
    ids = layers or tuple(catalogue.ids(kind="partition"))
    frames = [layer_scorecard(overlay(perimeters, lid, catalogue=catalogue, weight=weight),
                              threshold=threshold, weight=weight) for lid in ids]
    return pd.concat(frames, ignore_index=True)


def qpv_figures(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                layer: str = "qpv", tolerance: float = 0.01) -> pd.DataFrame:
    """QPV touched, QPV wholly inside, and the QPV area share of each perimeter.

    QPV straddle communes, so this is geometric, not by codes. A QPV counts as inside
    when at least ``1 - tolerance`` of its area lies in the perimeter.
    """
    ov = overlay(perimeters, layer, catalogue=catalogue)
    p = piece_shares(ov, threshold=0.0)
    grouped = p.groupby("pole_id")
    out = pd.DataFrame({
        "qpv_count": grouped.size(),
        "qpv_inside": grouped["share_of_unit"].apply(lambda s: int((s >= 1 - tolerance).sum())),
        "qpv_area_share": grouped["share_of_pole"].sum(),
    }).reindex(ov.poles.index)
    out[["qpv_count", "qpv_inside"]] = out[["qpv_count", "qpv_inside"]].fillna(0).astype(int)
    out["qpv_area_share"] = out["qpv_area_share"].fillna(0.0)
    return out


def pole_scorecard(
    perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
    threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
) -> pd.DataFrame:
    """One row per perimeter across all partition layers.

    Returns
    -------
    pandas.DataFrame
        ``pole_id``, ``nom``, ``area_km2``, ``typology``, ``n_<layer>`` and
        ``dominant_<layer>`` / ``dominant_<layer>_share`` for every partition layer,
        ``border_<layer>_km``, ``best_ze_code``, ``best_ze_name``, ``best_ze_iou``, and
        when the catalogue has a ``qpv`` layer ``qpv_count``, ``qpv_inside``,
        ``qpv_area_share``.
    """
    catalogue = catalogue or load_catalogue()
    stacked = all_layer_scorecards(perimeters, catalogue=catalogue, threshold=threshold, weight=weight)
    out = pd.DataFrame({"pole_id": perimeters["id"].to_numpy(), "nom": perimeters["nom"].to_numpy()
                        if "nom" in perimeters else perimeters["id"].to_numpy()}).set_index("pole_id")
    first = stacked.drop_duplicates("pole_id").set_index("pole_id")
    out["area_km2"] = first["area_km2"]
    for lid, card in stacked.groupby("layer", sort=False):
        card = card.set_index("pole_id")
        out[f"n_{lid}"] = card["n_units"]
        out[f"dominant_{lid}"] = card["dominant_name"]
        out[f"dominant_{lid}_share"] = card["dominant_share"]
        out[f"border_{lid}_km"] = card["border_km"]
    counts = [out.get(f"n_{lid}", pd.Series(0, index=out.index)) for lid in LEVELS]
    out["typology"] = [typology(*(int(c.loc[pid]) for c in counts)) for pid in out.index]
    if "zones_emploi" in set(stacked["layer"]):
        ze = stacked[stacked["layer"] == "zones_emploi"].set_index("pole_id")
        names = dict(zip(*_names(catalogue, "zones_emploi")))
        out["best_ze_code"] = ze["best_iou_code"]
        out["best_ze_name"] = ze["best_iou_code"].map(names)
        out["best_ze_iou"] = ze["best_iou"]
    if "qpv" in catalogue.layers:
        out = out.join(qpv_figures(perimeters, catalogue=catalogue))
    front = ["nom", "area_km2", "typology"]
    out = out[front + [c for c in out.columns if c not in front]]
    return out.reset_index()


def _names(catalogue: Catalogue, layer_id: str) -> tuple[np.ndarray, np.ndarray]:
    from .layers import load_layer

    table = load_layer(layer_id, catalogue=catalogue)
    return table["code"].to_numpy(), table["nom"].to_numpy()
