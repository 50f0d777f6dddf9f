"""The cross-boundary scorecard, derived from the pieces table.

For the pieces of a perimeter P with measures a_i (area, or population when weighted):
share s_i = a_i / μ(P), share of the unit u_i = a_i / μ(U_i), IoU_i = a_i / (μ(P) + μ(U_i) − a_i).

A piece is *kept* (a unit of the perimeter) when s_i ≥ t, or when it is the whole unit
(u_i ≥ 1 − t): a small commune lying wholly inside a large pole is a member of it, not a
sliver. The other pieces are *slivers*, reported and not counted. Over the kept shares
renormalised to sum 1 (p_i): effective_units = 1 / Σ p_i², entropy_norm =
−Σ p_i ln p_i / ln(n_units) (0 when n_units ≤ 1). border_km = (Σ outline(piece_i) −
outline(∪ pieces)) / 2 on partition layers: the length of unit borders inside P (0 up to
:data:`BORDER_TOLERANCE_KM`, the rounding left when no two pieces touch).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InvalidInput
from .options import DEFAULT_THRESHOLD, check_share
from .overlay import Overlay

__all__ = ["SCORECARD_COLUMNS", "DEFAULT_THRESHOLD", "piece_shares", "layer_scorecard", "typology", "TYPOLOGIES",
           "check_threshold", "share_arrays", "layer_arrays"]

SCORECARD_COLUMNS = [
    "pole_id", "layer", "area_km2", "n_units", "n_slivers", "dominant_code", "dominant_name",
    "dominant_share", "effective_units", "entropy_norm", "best_iou_code", "best_iou", "border_km",
    "covered_share",
]
#: border lengths at or below this (km, 1 µm) are 0: what remains of rounding in (Σ outlines − outline of the union)
BORDER_TOLERANCE_KM = 1e-9
#: typology labels, from the narrowest to the widest
TYPOLOGIES = ("commune", "intra-EPCI", "inter-EPCI", "inter-départemental", "inter-régional")


def _weight(ov: Overlay, weight: str | None) -> str:
    weight = weight or ov.weight
    if weight not in ("area", "population"):
        raise InvalidInput(f"Unknown weight {weight!r}: use 'area' or 'population'.",
                           fr=f"Pondération inconnue « {weight} » : choisissez la surface ou la population.")
    if weight == "population" and ov.population is None:
        raise InvalidInput("this overlay was computed without population: call overlay(..., weight='population').",
                           fr="Ce calcul a été fait sans les populations : relancez-le pondéré par la population.")
    return weight


def check_threshold(threshold: object) -> float:
    """``threshold`` as a share in [0, 1), or an :class:`InvalidInput` naming the fix."""
    return check_share("threshold", threshold, "Seuil")


def share_arrays(ov: Overlay, *, weight: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """share_of_pole, share_of_unit and IoU of every piece (arrays in the order of ``ov.pieces``).

    ``weight`` defaults to the overlay's own.
    """
    weight = _weight(ov, weight)
    if weight == "population":
        a, whole, total = ov.population, ov.unit_population, ov.pole_population
    else:
        a, whole, total = ov.area, ov.unit_area, ov.pole_area
    total = total[ov.piece_pole]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.clip(np.where(total > 0, a / total, 0.0), 0, 1)
        u = np.clip(np.where(whole > 0, a / whole, 0.0), 0, 1)
        union = total + whole - a
        iou = np.clip(np.where(union > 0, a / union, 0.0), 0, 1)
    return np.nan_to_num(s), np.nan_to_num(u), np.nan_to_num(iou)


def piece_shares(ov: Overlay, *, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None) -> gpd.GeoDataFrame:
    """Each piece with ``share_of_pole``, ``share_of_unit``, ``iou`` and ``kept`` (a new table).

    Parameters
    ----------
    ov : Overlay
    threshold : float
        t, the share of the pole below which a partial piece is a sliver.
    weight : {None, "area", "population"}
        The measure of shares; default: the overlay's own (:attr:`Overlay.weight`).
        Population needs an overlay that carries populations.
    """
    threshold = check_threshold(threshold)
    s, u, iou = share_arrays(ov, weight=weight)
    return ov.pieces.assign(share_of_pole=s, share_of_unit=u, iou=iou,
                            kept=(s >= threshold) | (u >= 1 - threshold))


def _with_none(values: np.ndarray) -> np.ndarray:
    """``values`` as objects followed by None (read at index -1 for a perimeter without piece)."""
    out = np.empty(len(values) + 1, dtype=object)
    out[:-1] = values
    return out


def _first_by_group(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Row of the largest value in each group (first row on ties); -1 for empty groups."""
    order = np.lexsort((np.arange(len(values)), -values, groups))
    first = np.full(n, -1, dtype=np.int64)
    g = groups[order]
    starts = np.flatnonzero(np.concatenate(([True], g[1:] != g[:-1]))) if len(g) else np.empty(0, np.int64)
    first[g[starts]] = order[starts]
    return first


def layer_arrays(ov: Overlay, *, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None) -> dict:
    """The columns of :func:`layer_scorecard` as arrays, one value per perimeter (``ov.pole_ids`` order)."""
    threshold = check_threshold(threshold)
    s, u, iou = share_arrays(ov, weight=weight)
    kept = (s >= threshold) | (u >= 1 - threshold)
    n = len(ov.pole_ids)
    pos = ov.piece_pole
    n_units = np.bincount(pos[kept], minlength=n)
    n_pieces = np.bincount(pos, minlength=n)
    codes = _with_none(ov.unit_code)  # index -1: no piece
    names = _with_none(ov.unit_name)
    s_, iou_ = np.append(s, np.nan), np.append(iou, np.nan)  # no piece: no dominant unit, no best fit
    dom, best = _first_by_group(pos, s, n), _first_by_group(pos, iou, n)
    kept_sum = np.bincount(pos[kept], weights=s[kept], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        # kept shares renormalised to sum 1 (equal shares when they sum to 0)
        p = np.where(kept_sum[pos] > 0, s / kept_sum[pos], 1.0 / np.maximum(n_units[pos], 1))
        p = np.where(kept, p, 0.0)
        sq = np.bincount(pos, weights=p * p, minlength=n)
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        ent = -np.bincount(pos, weights=plogp, minlength=n)
        effective = np.where(n_units > 0, 1.0 / sq, np.nan)
        entropy = np.where(n_units > 1, np.clip(ent / np.log(np.maximum(n_units, 2)), 0.0, 1.0),
                           np.where(n_units == 1, 0.0, np.nan))
    if ov.kind == "partition":
        inner = np.bincount(pos, weights=ov.piece_length_m, minlength=n) - ov.union_length_m
        border = inner / 2 / 1000
        # pieces that share no border: the difference of two equal sums is rounding noise (±1e-14 km), not a border
        border = np.where((n_pieces > 0) & (border > BORDER_TOLERANCE_KM), border, 0.0)
    else:
        border = np.full(n, np.nan)
    return {
        "pole_id": ov.pole_ids,
        "layer": np.full(n, ov.layer, dtype=object),
        "area_km2": ov.pole_area / 1e6,
        "n_units": n_units,
        "n_slivers": n_pieces - n_units,
        "dominant_code": codes[dom],
        "dominant_name": names[dom],
        "dominant_share": s_[dom],
        "effective_units": effective,
        "entropy_norm": entropy,
        "best_iou_code": codes[best],
        "best_iou": iou_[best],
        "border_km": border,
        "covered_share": np.bincount(pos, weights=s, minlength=n),
    }


def layer_scorecard(ov: Overlay, *, threshold: float = DEFAULT_THRESHOLD, weight: str | None = None) -> pd.DataFrame:
    """One scorecard row per perimeter for one layer (columns :data:`SCORECARD_COLUMNS`).

    The overlay is not modified. ``weight`` defaults to the overlay's own.
    """
    cols = layer_arrays(ov, threshold=threshold, weight=weight)
    return pd.DataFrame({k: (pd.Series(v, dtype=object) if v.dtype == object else v) for k, v in cols.items()},
                        columns=SCORECARD_COLUMNS)


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
