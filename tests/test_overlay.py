"""The pieces table and the area measure, on synthetic geometries with known answers.

Expected areas come from two independent sources: the closed form of the area of a
longitude/latitude box on the WGS84 ellipsoid (authalic latitude), and pyproj's
``Geod`` (Karney's geodesic polygon area) on the geometry densified to 1e-4 degree, so
that its geodesic edges follow the straight lon/lat lines of GeoJSON.
"""

from __future__ import annotations

import importlib
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Polygon, box

from ptce_geo.errors import InvalidInput
from ptce_geo.overlay import overlay
from ptce_geo.projection import area_m2, length_m

overlay_module = importlib.import_module("ptce_geo.overlay")  # the package exports the function
GEOD = Geod(ellps="WGS84")
_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
_E = math.sqrt(_E2)


def box_area(x0: float, y0: float, x1: float, y1: float) -> float:
    """Exact area (m²) of the lon/lat box on the WGS84 ellipsoid: a² Δλ (q(φ1) − q(φ0)) / 2."""
    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return (1 - _E2) * (s / (1 - _E2 * s * s) - math.log((1 - _E * s) / (1 + _E * s)) / (2 * _E))

    return _A * _A * math.radians(x1 - x0) * (q(y1) - q(y0)) / 2


def geod_area(geom, step: float = 1e-4) -> float:
    """Independent area: pyproj.Geod on the geometry densified along its lon/lat edges."""
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(geom, step))[0])


def frame(geoms, codes=None, **cols) -> gpd.GeoDataFrame:
    codes = codes or [f"u{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"code": codes, "nom": [f"unit {c}" for c in codes], **cols},
                            geometry=list(geoms), crs="EPSG:4326")


def perims(geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids or [f"p{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"id": ids}, geometry=list(geoms), crs="EPSG:4326")


# --- the area measure -------------------------------------------------------------------

@pytest.mark.parametrize("x0, y0, w", [
    (2.0, 47.0, 0.2),      # mainland France
    (8.8, 41.6, 0.3),      # Corsica
    (55.4, -21.2, 0.1),    # La Réunion
    (-53.0, 4.0, 0.5),     # Guyane
    (-5.0, 48.0, 1.0),     # a large box (Brittany)
])
def test_box_area_equals_the_closed_form_and_geod(x0, y0, w):
    b = box(x0, y0, x0 + w, y0 + w)
    expected = box_area(x0, y0, x0 + w, y0 + w)
    got = area_m2(np.array([b]))[0]
    assert got == pytest.approx(expected, rel=1e-10)
    assert got == pytest.approx(geod_area(b), rel=1e-8)


def test_area_of_a_slanted_polygon_with_a_hole_equals_geod():
    tri = Polygon([(2.0, 47.0), (2.5, 47.1), (2.3, 47.6)], [[(2.2, 47.1), (2.3, 47.3), (2.35, 47.2)]])
    assert area_m2(np.array([tri]))[0] == pytest.approx(geod_area(tri), rel=1e-8)
    # the hole is subtracted: area(shell) − area(hole)
    shell, hole = Polygon(tri.exterior), Polygon(tri.interiors[0])
    assert area_m2(np.array([tri]))[0] == pytest.approx(geod_area(shell) - geod_area(hole), rel=1e-8)


def test_area_does_not_change_when_vertices_are_inserted_on_edges():
    """Regression: areas were planar in EPSG:3035 (edges as chords). A vertex inserted on a
    long lon/lat edge by an intersection then changed the area (by 0.3 % for this 50 km
    triangle), so the pieces of a perimeter did not add up to it."""
    tri = Polygon([(2.0, 47.0), (2.5, 47.1), (2.3, 47.6)])
    base = area_m2(np.array([tri]))[0]
    for step in (0.2, 0.05, 0.01, 0.001):
        assert area_m2(np.array([shapely.segmentize(tri, step)]))[0] == pytest.approx(base, rel=1e-9)
    # two halves cut by a meridian add up to the whole
    left, right = tri.intersection(box(0, 40, 2.3, 50)), tri.intersection(box(2.3, 40, 5, 50))
    assert area_m2(np.array([left, right])).sum() == pytest.approx(base, rel=1e-9)


def test_area_ignores_orientation_and_opens_multi_parts():
    a, b = box(2.0, 47.0, 2.1, 47.1), box(3.0, 47.0, 3.2, 47.1)
    areas = area_m2(np.array([a, a.reverse(), MultiPolygon([a, b]),
                              GeometryCollection([MultiPolygon([a, b]), LineString([(2, 47), (3, 48)])]),
                              None, Polygon(), LineString([(2, 47), (3, 48)])], dtype=object))
    ea, eb = box_area(2.0, 47.0, 2.1, 47.1), box_area(3.0, 47.0, 3.2, 47.1)
    np.testing.assert_allclose(areas, [ea, ea, ea + eb, ea + eb, 0, 0, 0], rtol=1e-10)
    assert area_m2(np.array([], dtype=object)).shape == (0,)


def test_length_is_geodesic():
    b = box(2.0, 47.0, 2.2, 47.2)
    assert length_m(np.array([b]))[0] == pytest.approx(GEOD.geometry_area_perimeter(b)[1], rel=1e-12)
    meridian = LineString([(2.1, 47.0), (2.1, 47.2)])
    assert length_m(np.array([meridian]))[0] == pytest.approx(GEOD.inv(2.1, 47.0, 2.1, 47.2)[2], rel=1e-12)


def test_area_of_polygons_alone_or_with_multi_parts_is_the_same_number():
    # an array of Polygons only is measured without opening parts; with a MultiPolygon in
    # it, every part is opened: each geometry's area is the same to the last bit either
    # way, alone or in a batch, and equals Geod's
    polys = [Polygon([(2.05, 47.0), (2.27, 47.05), (2.2, 47.2), (2.03, 47.12)]),
             box(2.0, 47.0, 2.3, 47.2).difference(box(2.1, 47.05, 2.2, 47.1)),  # with a hole
             shapely.Point(4.95, 44.95).buffer(0.19, quad_segs=16), Polygon()]
    multi = MultiPolygon([box(3.0, 47.0, 3.2, 47.1), box(3.3, 47.0, 3.4, 47.1)])
    alone = [area_m2(np.array([p], dtype=object))[0] for p in polys]
    batch = area_m2(np.array(polys, dtype=object))
    opened = area_m2(np.array(polys + [multi], dtype=object))
    assert list(batch) == alone and list(opened[:-1]) == alone
    for p, a in zip(polys[:-1], alone):
        assert a == pytest.approx(geod_area(p), rel=1e-8)
    assert alone[-1] == 0.0


# --- the pieces -------------------------------------------------------------------------

X0, Y0 = 2.0, 47.0
#: three columns 0.1° wide, taller than the perimeters
COLUMNS = [box(X0 + 0.1 * i, Y0 - 0.1, X0 + 0.1 * (i + 1), Y0 + 0.3) for i in range(3)]


def test_pieces_areas_equal_independent_intersections():
    p = Polygon([(2.05, 47.0), (2.27, 47.05), (2.2, 47.2), (2.03, 47.12)])
    ov = overlay(perims([p]), frame(COLUMNS), kind="partition")
    pieces = ov.pieces.set_index("unit_code")
    assert sorted(pieces.index) == ["u0", "u1", "u2"]
    for i, col in enumerate(COLUMNS):
        expected = geod_area(p.intersection(col))
        assert pieces.loc[f"u{i}", "area_m2"] == pytest.approx(expected, rel=1e-8)
        assert pieces.loc[f"u{i}", "unit_area_m2"] == pytest.approx(box_area(*col.bounds), rel=1e-10)
    assert ov.poles.loc["p0", "area_m2"] == pytest.approx(geod_area(p), rel=1e-8)
    assert ov.poles.loc["p0", "method"] == "geometry"
    # the pieces add up to the perimeter
    assert pieces["area_m2"].sum() == pytest.approx(ov.poles.loc["p0", "area_m2"], rel=1e-10)


def test_covered_unit_is_taken_whole_and_touching_units_give_no_piece():
    # the perimeter covers column u1 exactly and half of u0; it touches u2 along a meridian
    p = box(X0 + 0.05, Y0 - 0.1, X0 + 0.2, Y0 + 0.3)
    ov = overlay(perims([p]), frame(COLUMNS))
    pieces = ov.pieces.set_index("unit_code")
    assert sorted(pieces.index) == ["u0", "u1"]
    assert shapely.equals_exact(pieces.loc["u1", "geometry"], COLUMNS[1], 0)  # not clipped
    assert pieces.loc["u1", "area_m2"] == pieces.loc["u1", "unit_area_m2"]
    assert pieces.loc["u0", "area_m2"] == pytest.approx(box_area(X0 + 0.05, Y0 - 0.1, X0 + 0.1, Y0 + 0.3), rel=1e-10)


def test_perimeter_inside_one_unit_is_one_piece_with_share_one():
    p = box(X0 + 0.12, Y0 + 0.01, X0 + 0.18, Y0 + 0.05)
    ov = overlay(perims([p]), frame(COLUMNS))
    assert list(ov.pieces["unit_code"]) == ["u1"]
    assert shapely.equals_exact(ov.pieces.geometry.iloc[0], p, 0)
    assert ov.pieces["area_m2"].iloc[0] == ov.poles.loc["p0", "area_m2"]
    assert ov.poles.loc["p0", "area_m2"] == pytest.approx(box_area(*p.bounds), rel=1e-10)


def test_pole_outside_every_unit_has_no_piece_but_a_row():
    ov = overlay(perims([box(5.0, 45.0, 5.1, 45.1), box(X0, Y0, X0 + 0.1, Y0 + 0.1)], ["far", "near"]), frame(COLUMNS))
    assert set(ov.pieces["pole_id"]) == {"near"}
    assert list(ov.poles.index) == ["far", "near"]
    assert ov.poles.loc["far", "area_m2"] == pytest.approx(box_area(5.0, 45.0, 5.1, 45.1), rel=1e-10)


def test_kind_of_a_table_layer():
    p = perims([box(X0, Y0, X0 + 0.2, Y0 + 0.2)])
    assert overlay(p, frame(COLUMNS)).kind == "zones"
    assert overlay(p, frame(COLUMNS), kind="partition").kind == "partition"
    with pytest.raises(InvalidInput, match="kind"):
        overlay(p, frame(COLUMNS), kind="tiles")
    with pytest.raises(InvalidInput, match="weight"):
        overlay(p, frame(COLUMNS), weight="jobs")


def test_projected_inputs_are_converted_to_lonlat():
    """Perimeters (and a layer) given in EPSG:3035 give the same pieces as in lon/lat."""
    p = Polygon([(2.05, 47.0), (2.27, 47.05), (2.2, 47.2), (2.03, 47.12)])
    ref = overlay(perims([p]), frame(COLUMNS)).pieces.set_index("unit_code")["area_m2"]
    per3035 = perims([shapely.segmentize(p, 0.001)]).to_crs(3035)  # dense: edges stay lon/lat lines
    lay3035 = frame([shapely.segmentize(c, 0.001) for c in COLUMNS]).to_crs(3035)
    got = overlay(per3035, lay3035).pieces.set_index("unit_code")["area_m2"]
    assert sorted(got.index) == sorted(ref.index)
    np.testing.assert_allclose(got.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-6)


def test_lengths_of_pieces_and_of_their_union():
    p = box(X0 + 0.05, Y0, X0 + 0.25, Y0 + 0.2)
    ov = overlay(perims([p]), frame(COLUMNS), kind="partition")
    columns_before = list(ov.pieces.columns)
    # the union of the pieces is the perimeter: its outline is the perimeter's, geodesically
    assert ov.union_length_m[0] == pytest.approx(GEOD.geometry_area_perimeter(p)[1], rel=1e-7)
    for geom, length in zip(ov.pieces.geometry, ov.piece_length_m):
        assert length == pytest.approx(GEOD.geometry_area_perimeter(geom)[1], rel=1e-12)
    assert list(ov.pieces.columns) == columns_before  # measuring outlines changes no table


def test_outlines_measured_together_equal_each_measured_alone():
    # piece and union outlines are measured in one batch: the same numbers as each
    # geometry measured alone, and as Geod's (several pieces, a perimeter without piece)
    ps = [Polygon([(2.05, 47.0), (2.27, 47.05), (2.2, 47.2), (2.03, 47.12)]), box(X0 + 0.12, Y0, X0 + 0.18, Y0 + 0.1),
          box(5.0, 45.0, 5.1, 45.1)]
    ov = overlay(perims(ps), frame(COLUMNS), kind="partition")
    geoms = ov.pieces.geometry.to_numpy()
    assert list(ov.piece_length_m) == [length_m(np.array([g], dtype=object))[0] for g in geoms]
    for g, length in zip(geoms, ov.piece_length_m):
        assert length == pytest.approx(GEOD.geometry_area_perimeter(g)[1], rel=1e-12)
    for k in range(len(ps)):
        mine = geoms[ov.piece_pole == k]
        if not len(mine):
            assert ov.union_length_m[k] == 0.0
            continue
        union = shapely.union_all(mine)
        assert ov.union_length_m[k] == pytest.approx(GEOD.geometry_area_perimeter(union)[1], rel=1e-9)
        assert ov.union_length_m[k] == length_m(np.array([overlay_module._union(mine)], dtype=object))[0]


def test_multipolygon_of_touching_parts_is_repaired_not_lost(caplog):
    """Regression: predicates on an invalid perimeter (two halves sharing an edge) are
    undefined; the unit lying across the shared edge was neither 'covered' nor
    'overlapping' and its piece was silently dropped."""
    halves = MultiPolygon([box(X0, Y0, X0 + 0.1, Y0 + 0.2), box(X0 + 0.1, Y0, X0 + 0.2, Y0 + 0.2)])
    assert not halves.is_valid
    units = [box(X0 + 0.05, Y0 + 0.05, X0 + 0.15, Y0 + 0.15),  # straddles the shared edge
             box(X0 - 0.1, Y0 - 0.1, X0 + 0.3, Y0 + 0.3).difference(box(X0 + 0.05, Y0 + 0.05, X0 + 0.15, Y0 + 0.15))]
    with caplog.at_level("WARNING", logger="ptce_geo"):
        ov = overlay(perims([halves], ["halves"]), frame(units), kind="partition")
    assert "halves" in caplog.text and "invalid" in caplog.text
    pieces = ov.pieces.set_index("unit_code")
    assert sorted(pieces.index) == ["u0", "u1"]
    assert pieces.loc["u0", "area_m2"] == pytest.approx(box_area(X0 + 0.05, Y0 + 0.05, X0 + 0.15, Y0 + 0.15), rel=1e-10)
    assert pieces["area_m2"].sum() == pytest.approx(box_area(X0, Y0, X0 + 0.2, Y0 + 0.2), rel=1e-10)


def test_a_loaded_layer_table_keeps_its_kind():
    table = frame(COLUMNS)
    table.attrs["kind"] = "partition"
    p = perims([box(X0, Y0, X0 + 0.2, Y0 + 0.2)])
    assert overlay(p, table).kind == "partition"
    assert overlay(p, table, kind="zones").kind == "zones"
