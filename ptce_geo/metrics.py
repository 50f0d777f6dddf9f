"""The cross-boundary scorecard, derived from the pieces table.

For the pieces of a perimeter P with measures a_i (area, or population when weighted):
share s_i = a_i / μ(P), share of the unit u_i = a_i / μ(U_i), IoU_i = a_i / (μ(P) + μ(U_i) − a_i).

A piece is *kept* (a unit of the perimeter) when s_i ≥ t, or when it is the whole unit
(u_i ≥ 1 − t): a small commune lying wholly inside a large pole is a member of it, not a
sliver. The other pieces are *slivers*, reported and not counted. Over the kept shares
renormalised to sum 1 (p_i): effective_units = 1 / Σ p_i², entropy_norm =
−Σ p_i ln p_i / ln(n_units) (0 when n_units ≤ 1). border_km = (Σ outline(piece_i) −
outline(∪ pieces)) / 2 on partition layers: the length of unit borders inside P.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InvalidInput
from .overlay import Overlay

__all__ = ["SCORECARD_COLUMNS", "DEFAULT_THRESHOLD", "piece_shares", "layer_scorecard", "typology", "TYPOLOGIES"]

SCORECARD_COLUMNS = [
    "pole_id", "layer", "area_km2", "n_units", "n_slivers", "dominant_code", "dominant_name",
    "dominant_share", "effective_units", "entropy_norm", "best_iou_code", "best_iou", "border_km",
    "covered_share",
]
DEFAULT_THRESHOLD = 0.01
#: typology labels, from the narrowest to the widest
TYPOLOGIES = ("commune", "intra-EPCI", "inter-EPCI", "inter-départemental", "inter-régional")


def piece_shares(ov: Overlay, *, weight: str | None = None, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Each piece with ``share_of_pole``, ``share_of_unit``, ``iou`` and ``kept``.

    Parameters
    ----------
    ov : Overlay
    weight : {None, "area", "population"}
        The measure of shares (population needs an overlay computed with it).
    threshold : float
        t, the share of the pole below which a partial piece is a sliver.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold < 1:
        raise InvalidInput(f"threshold {threshold!r} is not a share: give a number in [0, 1), such as 0.01.",
                           fr=f"Seuil {threshold!r} invalide : donnez une part entre 0 et 1, par exemple 0,01.")
    p = ov.pieces.copy()
    if weight == "population":
        if "population" not in p:
            raise InvalidInput("this overlay was computed without population: call overlay(..., weight='population').")
        a = p["population"].to_numpy(dtype=float)
        whole = p["unit_population"].to_numpy(dtype=float)
        total = ov.poles["population"].reindex(p["pole_id"]).to_numpy(dtype=float)
    else:
        a = p["area_m2"].to_numpy(dtype=float)
        whole = p["unit_area_m2"].to_numpy(dtype=float)
        total = ov.poles["area_m2"].reindex(p["pole_id"]).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.clip(np.where(total > 0, a / total, 0.0), 0, 1)
        u = np.clip(np.where(whole > 0, a / whole, 0.0), 0, 1)
        union = total + whole - a
        iou = np.clip(np.where(union > 0, a / union, 0.0), 0, 1)
    p["share_of_pole"] = s
    p["share_of_unit"] = u
    p["iou"] = iou
    p["kept"] = (s >= threshold) | (u >= 1 - threshold)
    return p


def _one_pole(g: pd.DataFrame) -> dict:
    kept = g[g["kept"]]
    n = len(kept)
    row = {"n_units": n, "n_slivers": int(len(g) - n)}
    if len(g):
        top = g.loc[g["share_of_pole"].idxmax()]
        row.update(dominant_code=top["unit_code"], dominant_name=top["unit_name"],
                   dominant_share=float(top["share_of_pole"]))
        best = g.loc[g["iou"].idxmax()]
        row.update(best_iou_code=best["unit_code"], best_iou=float(best["iou"]))
        row["covered_share"] = float(g["share_of_pole"].sum())
    if n:
        p = kept["share_of_pole"].to_numpy()
        p = p / p.sum() if p.sum() > 0 else np.full(n, 1 / n)
        row["effective_units"] = float(1.0 / np.sum(p**2))
        ent = -np.sum(p[p > 0] * np.log(p[p > 0]))
        row["entropy_norm"] = float(min(max(ent / np.log(n), 0.0), 1.0)) if n > 1 else 0.0
    return row


def layer_scorecard(ov: Overlay, *, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None) -> pd.DataFrame:
    """One scorecard row per perimeter for one layer (columns :data:`SCORECARD_COLUMNS`)."""
    if ov.kind == "partition":
        ov.with_lengths()
    shares = piece_shares(ov, weight=weight, threshold=threshold)
    rows = []
    groups = dict(tuple(shares.groupby("pole_id", sort=False)))
    for pole_id, info in ov.poles.iterrows():
        g = groups.get(pole_id, shares.iloc[0:0])
        row = {"pole_id": pole_id, "layer": ov.layer, "area_km2": info["area_m2"] / 1e6,
               "n_units": 0, "n_slivers": 0, "dominant_code": None, "dominant_name": None,
               "dominant_share": 0.0, "effective_units": np.nan, "entropy_norm": np.nan,
               "best_iou_code": None, "best_iou": 0.0, "covered_share": 0.0}
        row.update(_one_pole(g))
        if ov.kind == "partition":
            inner = (g["length_m"].sum() - info["union_length_m"]) / 2 / 1000 if len(g) else 0.0
            row["border_km"] = max(float(inner), 0.0)
        else:
            row["border_km"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORECARD_COLUMNS)


def typology(n_communes: int, n_epci: int, n_departements: int, n_regions: int) -> str:
    """Label of a perimeter by the widest level it spans (counts of kept units)."""
    if n_regions > 1:
        return "inter-régional"
    if n_departements > 1:
        return "inter-départemental"
    if n_epci > 1:
        return "inter-EPCI"
    if n_communes > 1:
        return "intra-EPCI"
    return "commune"
