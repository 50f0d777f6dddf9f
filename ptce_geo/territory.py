"""Territories and the poles acting in them: search by name or code, shares both ways."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .fmt import fold
from .scorecard import Scorecard

__all__ = ["search_units", "territory_poles"]


def search_units(units: pd.DataFrame, query: str, *, limit: int = 100) -> pd.DataFrame:
    """Units (``code``, ``nom``) matching ``query`` by code or name, best matches first.

    Exact code, then code prefix, then name prefix, then name containing the query
    (case and accents ignored). An empty query returns the first ``limit`` units by name.
    """
    q = fold(query)
    names = units["nom"].astype(str).map(fold)
    codes = units["code"].astype(str).str.lower()
    if not q:
        return units.assign(_n=names).sort_values("_n").drop(columns="_n").head(limit)
    rank = np.full(len(units), 9)
    for r, hit in enumerate((codes == q, codes.str.startswith(q), names.str.startswith(q),
                             names.str.contains(q, regex=False))):
        rank = np.where(hit.to_numpy() & (rank == 9), r, rank)
    found = units.assign(_r=rank, _n=names)
    found = found[found["_r"] < 9].sort_values(["_r", "_n", "code"])
    return found.drop(columns=["_r", "_n"]).head(limit)


def territory_poles(card: Scorecard, layer_id: str, code: str) -> pd.DataFrame:
    """The poles of a Scorecard acting in one unit of a layer, with both shares (largest first).

    Parameters
    ----------
    card : Scorecard
    layer_id : str
        A partition level of the Scorecard.
    code : str
        The unit's code.
    """
    if layer_id not in card.levels:
        return pd.DataFrame(columns=["pole_id", "nom", "typology", "share_of_unit", "share_of_pole", "area_km2"])
    shares = card.shares(layer_id)
    rows = shares[shares["unit_code"] == code]
    info = card.summary.set_index("pole_id")
    out = pd.DataFrame({
        "pole_id": rows["pole_id"].to_numpy(),
        "nom": info["nom"].reindex(rows["pole_id"]).to_numpy(),
        "typology": info["typology"].reindex(rows["pole_id"]).to_numpy(),
        "share_of_unit": rows["share_of_unit"].to_numpy(),
        "share_of_pole": rows["share_of_pole"].to_numpy(),
        "area_km2": rows["area_m2"].to_numpy() / 1e6,
    })
    return out.sort_values(["share_of_unit", "nom"], ascending=[False, True]).reset_index(drop=True)
