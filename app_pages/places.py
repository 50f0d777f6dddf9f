"""Place names on the app's maps, offline: communes labelled by importance and zoom.

The communes' order of importance (seats first when the communes layer has a
``statut``, then population) is computed once per process; the labels of one view (a
point inside each candidate commune, the zoom from which each fits) are placed once per
view and cached, so that no rerun redoes them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely
import streamlit as st

from ptce_geo import maps

from . import common

#: at most this many candidate labels per view
MAX_LABELS = 1500
#: zoom levels labelled beyond the view's own (further in, the map shows no new names)
ZOOM_AHEAD = 4


@st.cache_resource(show_spinner=False, max_entries=4)
def _label_table(key: str) -> pd.DataFrame:
    communes = common.layer("communes")
    pop = communes["population"].to_numpy(dtype=float) if "population" in communes else np.zeros(len(communes))
    status = communes["statut"].to_numpy(dtype=object) if "statut" in communes else None
    priority = maps.label_priority(pop, status)
    major = (np.nan_to_num(pop) >= 100_000) | (priority < 2e9 - 9e8)  # large towns and préfectures
    b = shapely.bounds(communes.geometry.to_numpy())  # a rough position to select a view's candidates
    table = pd.DataFrame({"row": np.arange(len(communes)), "nom": communes["nom"].astype(str).to_numpy(),
                          "cx": (b[:, 0] + b[:, 2]) / 2, "cy": (b[:, 1] + b[:, 3]) / 2, "priority": priority,
                          "major": major})
    return table.sort_values("priority", kind="stable").reset_index(drop=True)


def label_table() -> pd.DataFrame:
    """Every commune's name, rough position and importance (read-only, shared)."""
    return _label_table(common.data_key())


@st.cache_resource(show_spinner=False, max_entries=256)
def _view_labels(key: str, bounds: tuple[float, float, float, float], width_px: int, height_px: int) -> pd.DataFrame:
    table = _label_table(key)
    minx, miny, maxx, maxy = bounds
    dx, dy = (maxx - minx) * 0.15 + 0.02, (maxy - miny) * 0.15 + 0.02
    inside = table[(table["cx"] >= minx - dx) & (table["cx"] <= maxx + dx)
                   & (table["cy"] >= miny - dy) & (table["cy"] <= maxy + dy)].head(MAX_LABELS)
    # a point inside each commune, for the candidates only (a few hundred, not 35 000)
    points = shapely.point_on_surface(common.layer("communes").geometry.to_numpy()[inside["row"].to_numpy()])
    inside = inside.assign(lon=shapely.get_x(points), lat=shapely.get_y(points))
    # Leaflet fits the bounds with a padding and in quarter steps, and the map's width is
    # only estimated: place from one level below, so that the first view has its names
    z0 = maps.view_zoom(bounds, width_px=width_px - 24, height_px=height_px - 24)
    zooms = [int(math.floor(z0)) - 1 + k for k in range(0, ZOOM_AHEAD + 2)]
    first = maps.place_labels(inside["nom"].tolist(), inside["lon"], inside["lat"], inside["priority"],
                              zooms=zooms, major=inside["major"].to_numpy())
    out = inside.assign(minzoom=first)
    return out[np.isfinite(first)].reset_index(drop=True)


def view_labels(bounds, *, width_px: int = 780, height_px: int = common.MAP_HEIGHT) -> pd.DataFrame:
    """The labels of a view of ``bounds``: ``nom``, ``lon``, ``lat``, ``major``, ``minzoom``."""
    b = tuple(round(float(v), 4) for v in bounds)
    return _view_labels(common.data_key(), b, int(width_px), int(height_px))


def add_place_labels(m, bounds, *, width_px: int = 780, height_px: int = common.MAP_HEIGHT) -> int:
    """Draw the communes' names of the view of ``bounds`` on ``m``; returns how many."""
    try:
        labels = view_labels(bounds, width_px=width_px, height_px=height_px)
    except Exception:  # noqa: BLE001 - names are a help, never a reason for a page to fail
        common.logger.exception("place labels failed")
        return 0
    return maps.add_labels(m, labels)
