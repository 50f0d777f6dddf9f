"""The scorecard of one layer, on synthetic partitions with hand-computed answers.

The perimeter is a 0.2° × 0.2° lon/lat box near 2°E 47°N. Units are columns bounded by
meridians, taller than the box: between the same two parallels the area of a lon/lat
box is proportional to its width in longitude (exactly, on the ellipsoid), so cutting
the perimeter at the fraction f of its width gives pieces of shares f and 1 − f. Other
areas come from pyproj.Geod on geometries densified along their lon/lat edges, and
border lengths from pyproj.Geod along the meridians.
"""

from __future__ import annotations

import dataclasses
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Polygon, box

from ptce_geo.errors import InvalidInput
from ptce_geo.metrics import SCORECARD_COLUMNS, layer_scorecard, piece_shares, typology
from ptce_geo.overlay import Overlay, overlay

GEOD = Geod(ellps="WGS84")
X0, Y0, W = 2.0, 47.0, 0.2
P = box(X0, Y0, X0 + W, Y0 + W)
#: length of a meridian cut across the perimeter (m)
CUT_M = GEOD.inv(X0 + W / 2, Y0, X0 + W / 2, Y0 + W)[2]


def geod_area(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(geom, 1e-4))[0])


def columns(*fractions: float, lo: float = -0.5, hi: float = 1.5) -> list[Polygon]:
    """Units cut at these fractions of the perimeter's width, from ``lo`` to ``hi`` widths."""
    xs = [lo, *fractions, hi]
    return [box(X0 + a * W, Y0 - W, X0 + b * W, Y0 + 2 * W) for a, b in zip(xs[:-1], xs[1:])]


def card(units, perimeter=P, *, kind="partition", threshold=0.01, codes=None):
    codes = codes or [chr(ord("A") + i) for i in range(len(units))]
    layer = gpd.GeoDataFrame({"code": codes, "nom": [f"unit {c}" for c in codes]}, geometry=units, crs=4326)
    per = gpd.GeoDataFrame({"id": ["p"]}, geometry=[perimeter], crs=4326)
    ov = overlay(per, layer, kind=kind)
    row = layer_scorecard(ov, threshold=threshold).set_index("pole_id").loc["p"]
    shares = piece_shares(ov, threshold=threshold).set_index("unit_code")["share_of_pole"]
    return row, shares


def entropy_norm(p) -> float:
    p = np.asarray(p, dtype=float)
    return float(-(p * np.log(p)).sum() / math.log(len(p)))


def test_square_split_half_and_half():
    units = columns(0.5)
    row, shares = card(units)
    assert ["pole_id", *row.index] == SCORECARD_COLUMNS
    assert shares.to_dict() == pytest.approx({"A": 0.5, "B": 0.5}, abs=1e-12)
    assert row["n_units"] == 2 and row["n_slivers"] == 0
    assert row["dominant_share"] == pytest.approx(0.5, abs=1e-12)
    assert row["dominant_code"] in ("A", "B")
    assert row["effective_units"] == pytest.approx(2.0, abs=1e-9)
    assert row["entropy_norm"] == pytest.approx(1.0, abs=1e-9)
    assert row["covered_share"] == pytest.approx(1.0, abs=1e-12)
    assert row["area_km2"] == pytest.approx(geod_area(P) / 1e6, rel=1e-8)
    assert row["border_km"] == pytest.approx(CUT_M / 1000, rel=1e-9)
    # IoU of a half: a / (area(P) + area(U) − a), every area measured independently
    a, p_area = geod_area(P) / 2, geod_area(P)
    iou = max(a / (p_area + geod_area(u) - a) for u in units)
    assert row["best_iou"] == pytest.approx(iou, rel=1e-8)
    assert iou == pytest.approx(0.5 / (1 + 3 - 0.5), rel=1e-3)  # each unit: as wide as P, 3 times as tall


def test_three_unequal_parts():
    row, shares = card(columns(0.5, 0.8))
    assert shares.to_dict() == pytest.approx({"A": 0.5, "B": 0.3, "C": 0.2}, abs=1e-12)
    assert row["n_units"] == 3 and row["n_slivers"] == 0
    assert row["dominant_code"] == "A" and row["dominant_share"] == pytest.approx(0.5, abs=1e-12)
    assert row["effective_units"] == pytest.approx(1 / (0.25 + 0.09 + 0.04), rel=1e-9)
    expected_entropy = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    assert row["entropy_norm"] == pytest.approx(expected_entropy, rel=1e-9)
    assert row["border_km"] == pytest.approx(2 * CUT_M / 1000, rel=1e-9)
    assert row["covered_share"] == pytest.approx(1.0, abs=1e-12)


def test_sliver_below_threshold_is_reported_not_counted():
    row, shares = card(columns(0.995))  # 0.5 % of P in B, a sliver of a large unit
    assert shares.to_dict() == pytest.approx({"A": 0.995, "B": 0.005}, abs=1e-12)
    assert row["n_units"] == 1 and row["n_slivers"] == 1
    assert row["effective_units"] == pytest.approx(1.0, abs=1e-12)
    assert row["entropy_norm"] == 0.0
    assert row["covered_share"] == pytest.approx(1.0, abs=1e-12)  # slivers are covered area
    assert row["dominant_share"] == pytest.approx(0.995, abs=1e-12)


def test_kept_shares_are_renormalised_without_the_sliver():
    row, _ = card(columns(0.6, 0.995))  # 0.6 / 0.395 / 0.005
    assert row["n_units"] == 2 and row["n_slivers"] == 1
    p = np.array([0.6, 0.395]) / 0.995
    assert row["effective_units"] == pytest.approx(1 / (p**2).sum(), rel=1e-9)
    assert row["entropy_norm"] == pytest.approx(entropy_norm(p), rel=1e-9)
    assert row["dominant_share"] == pytest.approx(0.6, abs=1e-12)  # not renormalised
    assert row["border_km"] == pytest.approx(2 * CUT_M / 1000, rel=1e-9)
    # a lower threshold counts the sliver
    row, _ = card(columns(0.6, 0.995), threshold=0.004)
    assert row["n_units"] == 3 and row["n_slivers"] == 0
    assert row["effective_units"] == pytest.approx(1 / (0.36 + 0.395**2 + 0.005**2), rel=1e-9)


def test_perimeter_equal_to_one_unit():
    units = [box(X0 - W, Y0, X0, Y0 + W), P, box(X0 + W, Y0, X0 + 2 * W, Y0 + W), box(X0, Y0 + W, X0 + W, Y0 + 2 * W)]
    row, shares = card(units)
    assert shares.to_dict() == {"B": 1.0}  # the neighbours only touch it
    assert row["n_units"] == 1 and row["n_slivers"] == 0
    assert row["best_iou_code"] == "B" and row["best_iou"] == pytest.approx(1.0, abs=1e-12)
    assert row["effective_units"] == 1.0 and row["entropy_norm"] == 0.0
    assert row["border_km"] == pytest.approx(0.0, abs=1e-9)
    assert row["covered_share"] == pytest.approx(1.0, abs=1e-12)


def test_perimeter_partly_outside_the_partition():
    # the partition ends at 0.6 of the perimeter's width (a coastline)
    units = columns(0.3, hi=0.6)
    row, shares = card(units)
    assert shares.to_dict() == pytest.approx({"A": 0.3, "B": 0.3}, abs=1e-12)
    assert row["covered_share"] == pytest.approx(0.6, abs=1e-12)
    assert row["covered_share"] == pytest.approx(geod_area(P.intersection(box(0, 40, X0 + 0.6 * W, 50))) / geod_area(P),
                                                 rel=1e-8)
    assert row["n_units"] == 2
    assert row["effective_units"] == pytest.approx(2.0, rel=1e-9)  # 0.5 / 0.5 once renormalised
    assert row["entropy_norm"] == pytest.approx(1.0, rel=1e-9)
    assert row["border_km"] == pytest.approx(CUT_M / 1000, rel=1e-9)  # the coast is not a border


def test_slanted_perimeter_pieces_add_up():
    """Regression: a drawn triangle with 50 km edges across a partition had covered_share
    0.997 while the partition covers it (areas measured with EPSG:3035 chords)."""
    tri = Polygon([(2.0, 47.0), (2.5, 47.1), (2.3, 47.6)])
    grid = [box(1.9 + 0.1 * i, 46.9 + 0.1 * j, 2.0 + 0.1 * i, 47.0 + 0.1 * j) for i in range(7) for j in range(8)]
    row, shares = card(grid, tri)
    assert row["covered_share"] == pytest.approx(1.0, abs=1e-9)
    independent = {f"u{k}": geod_area(tri.intersection(g)) / geod_area(tri) for k, g in enumerate(grid)}
    got = card(grid, tri, codes=[f"u{k}" for k in range(len(grid))])[1]
    for code, share in got.items():
        assert share == pytest.approx(independent[code], abs=1e-9)


def test_zones_layer_has_no_border_length():
    row, shares = card(columns(0.5, 0.8), kind="zones")
    assert math.isnan(row["border_km"])
    assert shares.to_dict() == pytest.approx({"A": 0.5, "B": 0.3, "C": 0.2}, abs=1e-12)
    assert row["n_units"] == 3


def test_small_unit_wholly_inside_counts_even_below_the_threshold():
    """The rule of metrics.py: a whole unit inside the pole is a member, not a sliver."""
    small = box(X0 + 0.05, Y0 + 0.05, X0 + 0.06, Y0 + 0.06)  # 0.25 % of P
    big = box(X0 - W, Y0 - W, X0 + 2 * W, Y0 + 2 * W).difference(small)
    row, shares = card([big, small])
    assert shares["B"] == pytest.approx(geod_area(small) / geod_area(P), rel=1e-8)
    assert shares["B"] < 0.01
    assert row["n_units"] == 2 and row["n_slivers"] == 0
    assert row["border_km"] == pytest.approx(GEOD.geometry_area_perimeter(small)[1] / 1000, rel=1e-9)


def test_pole_without_pieces():
    row, shares = card(columns(0.5), perimeter=box(5.0, 45.0, 5.1, 45.1))
    assert len(shares) == 0
    assert row["n_units"] == 0 and row["n_slivers"] == 0
    assert row["covered_share"] == 0.0 and row["dominant_code"] is None
    assert math.isnan(row["effective_units"]) and math.isnan(row["entropy_norm"])
    # no dominant unit, so no dominant share (a 0 % would read as a unit holding none of the pole)
    assert row["dominant_name"] is None and math.isnan(row["dominant_share"])
    assert row["best_iou_code"] is None and math.isnan(row["best_iou"])
    assert row["border_km"] == 0.0


def _hand_overlay() -> Overlay:
    """Two pieces with populations 600 and 400 of a pole of 1000 inhabitants."""
    pieces = gpd.GeoDataFrame({
        "pole_id": ["p", "p"], "unit_code": ["A", "B"], "unit_name": ["a", "b"],
        "area_m2": [3e6, 7e6], "unit_area_m2": [3e6, 70e6],
        "population": [600.0, 400.0], "unit_population": [600.0, 4000.0],
    }, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    poles = pd.DataFrame({"area_m2": [10e6], "method": ["codes"], "population": [1000.0]},
                         index=pd.Index(["p"], name="pole_id"))
    return Overlay.from_frames(layer="hand", kind="zones", pieces=pieces, poles=poles)


def test_population_weighted_shares():
    ov = _hand_overlay()
    pop = piece_shares(ov, weight="population").set_index("unit_code")
    assert pop["share_of_pole"].to_dict() == pytest.approx({"A": 0.6, "B": 0.4})
    assert pop["share_of_unit"].to_dict() == pytest.approx({"A": 1.0, "B": 0.1})
    assert pop["iou"].to_dict() == pytest.approx({"A": 0.6, "B": 400 / (1000 + 4000 - 400)})
    area = piece_shares(ov).set_index("unit_code")
    assert area["share_of_pole"].to_dict() == pytest.approx({"A": 0.3, "B": 0.7})
    row = layer_scorecard(ov, weight="population").iloc[0]
    assert row["dominant_code"] == "A" and row["effective_units"] == pytest.approx(1 / (0.36 + 0.16))
    assert layer_scorecard(ov).iloc[0]["dominant_code"] == "B"


def test_piece_shares_refuses_bad_options():
    ov = _hand_overlay()
    with pytest.raises(InvalidInput, match="threshold"):
        piece_shares(ov, threshold=1.0)
    with pytest.raises(InvalidInput, match="threshold"):
        piece_shares(ov, threshold=-0.1)
    bare = dataclasses.replace(ov, population=None, unit_population=None)
    with pytest.raises(InvalidInput, match="population"):
        piece_shares(bare, weight="population")
    with pytest.raises(InvalidInput, match="weight"):
        piece_shares(ov, weight="households")


def test_an_overlay_weighted_by_population_reads_in_population_by_default():
    """The overlay records its weight: the scorecard needs no second, matching option."""
    ov = dataclasses.replace(_hand_overlay(), weight="population")
    assert layer_scorecard(ov).iloc[0]["dominant_code"] == "A"
    assert piece_shares(ov).set_index("unit_code")["share_of_pole"].to_dict() == pytest.approx({"A": 0.6, "B": 0.4})
    assert layer_scorecard(ov, weight="area").iloc[0]["dominant_code"] == "B"


def test_the_scorecard_of_a_layer_leaves_its_overlay_unchanged():
    units = columns(0.3, 0.7)
    layer = gpd.GeoDataFrame({"code": list("ABC"), "nom": list("abc")}, geometry=units, crs=4326)
    ov = overlay(gpd.GeoDataFrame({"id": ["p"]}, geometry=[P], crs=4326), layer, kind="partition")
    pieces, poles = ov.pieces.copy(), ov.poles.copy()
    layer_scorecard(ov)
    piece_shares(ov)
    pd.testing.assert_frame_equal(ov.poles, poles)
    assert list(ov.pieces.columns) == list(pieces.columns)


@pytest.mark.parametrize("counts, label", [
    ((1, 1, 1, 1), "commune"),
    ((0, 0, 0, 0), "commune"),
    ((5, 1, 1, 1), "intra-EPCI"),
    ((5, 2, 1, 1), "inter-EPCI"),
    ((40, 6, 2, 1), "inter-départemental"),
    ((70, 2, 2, 2), "inter-régional"),
    ((1, 1, 1, 2), "inter-régional"),  # the widest level decides
])
def test_typology(counts, label):
    assert typology(*counts) == label


@pytest.mark.realdata
def test_two_communes_that_do_not_touch_cross_no_border(mirror_env):
    """Σ outlines − outline of the union is rounding noise (7.3e-15 km here), written 0, not 7.275957614183426e-15."""
    from ptce_geo.layers import load_layer
    from ptce_geo.perimeters import read_perimeters

    communes = load_layer("communes").set_index("code")
    apart = ["07010", "07019"]  # Annonay and Aubenas (Ardèche), about 69 km apart
    assert not communes.loc[apart[0], "geometry"].intersects(communes.loc[apart[1], "geometry"])
    poles = read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "apart", "communes": apart}, "geometry": None},
        {"type": "Feature", "properties": {"id": "seignanx", "epci": ["244000659"]}, "geometry": None}]})
    card = layer_scorecard(overlay(poles, "communes")).set_index("pole_id")
    assert card.loc["apart", "n_units"] == 2
    assert card.loc["apart", "border_km"] == 0.0
    assert card.loc["seignanx", "border_km"] > 10  # eight communes side by side: real borders stay
