"""Overlap of poles with zones layers: hand-computed squares, then the real layers.

Hand computations use the sphere: the area of a longitude/latitude box is proportional
to Δλ · (sin φ2 − sin φ1). Shares are ratios of such areas; the ellipsoid's agree with
the sphere's to better than 1e-3 at these sizes. Real-data figures are checked against
geopandas.overlay with areas in EPSG:3035 (chords of that projection as edges: areas
agree with ptce_geo's to 1e-5 on large areas, 1e-3 on small pieces).
"""

from __future__ import annotations

import json
import zipfile
import math
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ptce_geo.cli import main
from ptce_geo.errors import InvalidInput
from ptce_geo.options import Options
from ptce_geo.perimeters import read_perimeters
from ptce_geo.zones import OVERLAP_COLUMNS, overlap_table, overlap_zones, qpv_by_pole, zone_overlaps, zone_summary


def box_area(x0, y0, x1, y1):
    """Spherical area of a lon/lat box, up to a constant factor."""
    return (x1 - x0) * (math.sin(math.radians(y1)) - math.sin(math.radians(y0)))


def feature(pid, geom=None, **props):
    return {"type": "Feature", "properties": {"id": pid, **props},
            "geometry": json.loads(shapely.to_geojson(geom)) if geom is not None else None}


def perimeters(*feats, catalogue=None):
    return read_perimeters({"type": "FeatureCollection", "features": list(feats)}, catalogue=catalogue)


def zones(**geoms):
    return gpd.GeoDataFrame({"code": list(geoms), "nom": [f"zone {k}" for k in geoms]},
                            geometry=list(geoms.values()), crs="EPSG:4326")


POLE = shapely.box(2, 46, 3, 47)


@pytest.fixture()
def squares():
    return perimeters(feature("p", POLE), feature("far", shapely.box(5, 44, 5.2, 44.2)))


def row(table, pole, zone):
    sel = table[(table["pole_id"] == pole) & (table["zone_code"] == zone)]
    assert len(sel) == 1, f"no single row for ({pole}, {zone})"
    return sel.iloc[0]


def test_pole_half_inside_a_zone_straddles(squares):
    table = zone_overlaps(squares, zones(Z=shapely.box(2.5, 46, 3.5, 47)))
    assert list(table.columns) == OVERLAP_COLUMNS
    r = row(table, "p", "Z")
    assert r["share_of_pole"] == pytest.approx(0.5, abs=1e-3)
    assert r["share_of_zone"] == pytest.approx(0.5, abs=1e-3)
    assert r["iou"] == pytest.approx(1 / 3, abs=1e-3)  # 0.5 / (1 + 1 - 0.5)
    assert r["relation"] == "straddles"
    assert (table["pole_id"] == "far").sum() == 0  # no row for poles not touching


def test_zone_inside_pole_and_pole_inside_zone(squares):
    table = zone_overlaps(squares, zones(small=shapely.box(2.2, 46.2, 2.4, 46.4), big=shapely.box(4.9, 43.9, 5.5, 44.5)))
    small = row(table, "p", "small")
    assert small["relation"] == "zone_inside_pole"
    assert small["share_of_zone"] == pytest.approx(1.0)
    expected = box_area(2.2, 46.2, 2.4, 46.4) / box_area(2, 46, 3, 47)
    assert small["share_of_pole"] == pytest.approx(expected, rel=1e-3)
    assert small["iou"] == pytest.approx(expected, rel=1e-3)  # the zone is the intersection
    big = row(table, "far", "big")
    assert big["relation"] == "pole_inside_zone"
    assert big["share_of_pole"] == pytest.approx(1.0)
    assert big["share_of_zone"] == pytest.approx(box_area(5, 44, 5.2, 44.2) / box_area(4.9, 43.9, 5.5, 44.5), rel=1e-3)
    assert big["overlap_km2"] > 0


def test_identical_pole_and_zone_coincide_with_iou_one(squares):
    r = row(zone_overlaps(squares, zones(same=POLE)), "p", "same")
    assert r["relation"] == "coincides"
    assert r["iou"] == pytest.approx(1.0, abs=1e-9)
    assert r["method"] == "geometry" and r["counted"]


def test_tolerance_decides_the_relation(squares):
    z = zones(almost=shapely.box(2.005, 45.5, 3.5, 47.5))  # covers 99.5 % of the pole
    assert row(zone_overlaps(squares, z), "p", "almost")["share_of_pole"] == pytest.approx(0.995, abs=1e-4)
    assert row(zone_overlaps(squares, z), "p", "almost")["relation"] == "pole_inside_zone"
    assert row(zone_overlaps(squares, z, options=Options(tolerance=0.001)), "p", "almost")["relation"] == "straddles"
    with pytest.raises(InvalidInput):
        zone_overlaps(squares, z, options=Options(tolerance=1.5))


def test_point_zones_inside_outside_and_partly(squares):
    z = zones(inside=shapely.Point(2.3, 46.4), outside=shapely.Point(4, 46.5),
              multi=shapely.MultiPoint([(2.1, 46.1), (2.9, 46.9), (7, 48)]),
              elsewhere=shapely.MultiPoint([(8, 48), (8.1, 48.1)]))
    res = overlap_zones(squares, z)
    table = res.table
    assert set(table["zone_code"]) == {"inside", "multi"}
    inside = row(table, "p", "inside")
    assert inside["relation"] == "zone_inside_pole" and inside["zone_type"] == "point"
    assert inside["share_of_zone"] == 1.0 and inside["share_of_pole"] == 0.0 and inside["iou"] == 0.0
    multi = row(table, "p", "multi")
    assert multi["share_of_zone"] == pytest.approx(2 / 3)
    assert multi["relation"] == "straddles"
    geom = res.pieces.set_index("zone_code").loc["multi", "geometry"]
    assert shapely.get_num_geometries(geom) == 2  # the two points in the pole
    summary = res.summary.set_index("pole_id")
    assert summary.loc["p", "n_zones"] == 2 and summary.loc["p", "covered_share"] == 0.0


def test_union_of_overlapping_zones_is_not_the_sum(squares):
    # A = [2, 2.5], B = [2.25, 2.75] over the pole's latitudes: the union is [2, 2.75] (3/4),
    # the sum of shares 1/2 + 1/2 = 1; C lies outside the pole
    z = zones(A=shapely.box(2, 46, 2.5, 47), B=shapely.box(2.25, 46, 2.75, 47), C=shapely.box(3.5, 46, 4, 47))
    res = overlap_zones(squares, z)
    assert res.table.loc[res.table["pole_id"] == "p", "share_of_pole"].sum() == pytest.approx(1.0, abs=1e-3)
    summary = zone_summary(squares, z).set_index("pole_id")
    assert summary.loc["p", "covered_share"] == pytest.approx(0.75, abs=1e-3)
    assert summary.loc["p", "n_zones"] == 2
    assert summary.loc["p", "n_zone_inside_pole"] == 2 and summary.loc["p", "n_straddles"] == 0
    assert summary.loc["far", "n_zones"] == 0 and summary.loc["far", "covered_share"] == 0.0
    assert summary.loc["far", "zones"] == ""


def test_zones_table_must_have_a_crs_and_codes(squares):
    z = zones(A=POLE).set_crs(None, allow_override=True)
    with pytest.raises(InvalidInput, match="no CRS"):
        zone_overlaps(squares, z)
    with pytest.raises(InvalidInput, match="layer id or a GeoDataFrame"):
        zone_overlaps(squares, gpd.GeoDataFrame(geometry=[POLE], crs="EPSG:4326"))


def test_a_user_area_column_is_not_trusted(squares):
    z = zones(Z=shapely.box(2.5, 46, 3.5, 47)).assign(area_m2=1.0)  # wrong on purpose
    assert row(zone_overlaps(squares, z), "p", "Z")["share_of_zone"] == pytest.approx(0.5, abs=1e-3)


# --- real data ------------------------------------------------------------------------

def _epci_pole(pid, siren, catalogue):
    return feature(pid, epci=[siren])


def test_pole_equal_to_a_territoire_d_industrie_epci(catalogue):
    from ptce_geo.layers import load_layer

    ti = load_layer("territoires_industrie", catalogue=catalogue).set_index("code")
    sirens = re.findall(r"\((\d{9})\)", ti.loc["ti-0301", "groupements"])
    assert len(sirens) == 1  # Ouest Guyanais is one EPCI: CC de l'Ouest Guyanais
    poles = perimeters(feature("og", epci=sirens), catalogue=catalogue)
    r = row(zone_overlaps(poles, "territoires_industrie", catalogue=catalogue), "og", "ti-0301")
    assert r["method"] == "membership"  # the pole and the zone are the same communes
    assert r["relation"] == "coincides" and r["iou"] == 1.0
    # drawn (no codes), the same pole takes the geometry path against the ANCT outline;
    # independently: geopandas intersection in UTM 22N (metres, local scale ≈ 1)
    drawn = perimeters(feature("og", poles.geometry.iloc[0]))
    r = row(zone_overlaps(drawn, "territoires_industrie", catalogue=catalogue), "og", "ti-0301")
    pole = drawn.to_crs(2972).geometry.iloc[0]
    zone = gpd.GeoSeries([ti.loc["ti-0301", "geometry"]], crs=4326).to_crs(2972).iloc[0]
    inter = pole.intersection(zone).area
    assert r["method"] == "geometry"
    assert r["iou"] == pytest.approx(inter / (pole.area + zone.area - inter), abs=1e-3)
    assert 0.99 < r["iou"] < 1
    assert r["relation"] in ("coincides", "pole_inside_zone")


def test_mainland_ti_epci_matches_geopandas_overlay(catalogue):
    from ptce_geo.layers import load_layer

    ti = load_layer("territoires_industrie", catalogue=catalogue).set_index("code")
    siren = re.findall(r"\((\d{9})\)", ti.loc["ti-7514", "groupements"])  # Pays Basque
    assert siren == ["200067106"]
    by_codes = perimeters(feature("pb", epci=siren), catalogue=catalogue)
    assert row(zone_overlaps(by_codes, "territoires_industrie", catalogue=catalogue), "pb", "ti-7514")["iou"] == 1.0
    poles = perimeters(feature("pb", by_codes.geometry.iloc[0]))  # drawn: the geometry path
    table = zone_overlaps(poles, "territoires_industrie", catalogue=catalogue)
    r = row(table, "pb", "ti-7514")
    a = poles[["id", "geometry"]].to_crs(3035)
    b = gpd.GeoDataFrame({"code": ["ti-7514"]}, geometry=[ti.loc["ti-7514", "geometry"]], crs=4326).to_crs(3035)
    inter = gpd.overlay(a, b, how="intersection").area.sum()
    assert r["share_of_pole"] == pytest.approx(inter / a.area.iloc[0], abs=1e-4)
    assert r["share_of_zone"] == pytest.approx(inter / b.area.iloc[0], abs=1e-4)
    assert r["iou"] > 0.97
    s, u = r["share_of_pole"], r["share_of_zone"]
    expected = ("coincides" if min(s, u) >= 0.99 else "pole_inside_zone" if s >= 0.99 else
                "zone_inside_pole" if u >= 0.99 else "straddles")
    assert r["relation"] == expected
    assert row(zone_overlaps(poles, "territoires_industrie", catalogue=catalogue, options=Options(tolerance=0.03)),
               "pb", "ti-7514")["relation"] == "coincides"


@pytest.fixture()
def occitanie(catalogue):
    return perimeters(feature("castres", epci=["248100430"]), feature("sicoval", epci=["243100633"]),
                      feature("grandcombe", communes=["30132"]), catalogue=catalogue)


def _independent_qpv(poles, path):
    """QPV pieces from a QPV file with geopandas.overlay, areas in EPSG:3035."""
    qpv = gpd.read_file(path).to_crs(3035)
    qpv["qpv_area"] = qpv.area
    p = poles[["id", "geometry"]].to_crs(3035)
    p["pole_area"] = p.area
    ov = gpd.overlay(p, qpv[["code_qp", "qpv_area", "geometry"]], how="intersection")
    ov["a"] = ov.area
    ov = ov[ov["a"] > 1.0]
    ov["share"] = ov["a"] / ov["qpv_area"]
    return ov, p.set_index("id")["pole_area"]


def test_occitanie_poles_touch_the_occitanie_qpv(occitanie, catalogue, mirror_dir):
    res = qpv_by_pole(occitanie, catalogue=catalogue)  # the catalogue's national QPV layer
    poles = res.poles.set_index("pole_id")
    # counts from the Occitanie extract (coordinates rounded to 4 decimals), figures from the
    # national file, both with geopandas.overlay
    occ, _ = _independent_qpv(occitanie, mirror_dir / "qpv" / "qpv_2015_occitanie.geojson")
    ov, pole_area = _independent_qpv(occitanie, mirror_dir / "qpv" / "qpv_2015_france.geojson")
    for pid in ("castres", "sicoval", "grandcombe"):
        assert poles.loc[pid, "qpv_count"] == (occ["id"] == pid).sum(), pid
        assert poles.loc[pid, "qpv_inside"] == int((occ.loc[occ["id"] == pid, "share"] >= 0.99).sum()), pid
        mine = ov[ov["id"] == pid]
        assert poles.loc[pid, "qpv_count"] == len(mine), pid
        assert poles.loc[pid, "qpv_area_share"] == pytest.approx(mine["a"].sum() / pole_area[pid], rel=1e-3, abs=1e-12)
    assert poles.loc["castres", "qpv_count"] == 5 and poles.loc["castres", "qpv_inside"] == 5
    assert poles.loc["sicoval", "qpv_count"] == 0
    # La Grand-Combe: two QPV straddle its limits (Centre Ville - Arboux, Trescol - La Levade)
    d = res.districts[res.districts["pole_id"] == "grandcombe"].set_index("qpv_code")
    assert set(d.index) == {"QP030016", "QP030017"}
    exp = ov[ov["id"] == "grandcombe"].set_index("code_qp")["share"]
    for code in d.index:
        assert d.loc[code, "share_inside"] == pytest.approx(exp[code], rel=1e-3)
        assert not d.loc[code, "wholly_inside"]
    assert d.loc["QP030016", "qpv_name"] == "Centre Ville - Arboux"


def test_qpv_by_pole_agrees_with_the_scorecard_figures(occitanie, catalogue):
    from ptce_geo.scorecard import qpv_figures

    mine = qpv_by_pole(occitanie, catalogue=catalogue).poles.set_index("pole_id")
    theirs = qpv_figures(occitanie, catalogue=catalogue)
    assert (mine["qpv_count"] == theirs["qpv_count"]).all()
    assert (mine["qpv_inside"] == theirs["qpv_inside"]).all()
    assert np.allclose(mine["qpv_area_share"], theirs["qpv_area_share"], rtol=1e-9)  # QPV do not overlap


def test_point_layer_of_programme_sites(occitanie, catalogue, mirror_dir):
    from ptce_geo.layers import load_layer

    # poles given by codes meet the sites by their member communes: independently, the
    # INSEE codes written in the raw file's liste_geo that are communes of each pole
    raw = json.loads((mirror_dir / "contrats" / "action_coeur_de_ville_anct_2024_points.geojson").read_text())
    members = {f["properties"]["id_territoire"]: set(re.findall(r"\((\w{5})\)", f["properties"]["liste_geo"]))
               for f in raw["features"]}
    table = zone_overlaps(occitanie, "action_coeur_de_ville", catalogue=catalogue)
    expected = sorted((pid, code) for pid, coms in zip(occitanie["id"], occitanie["communes"])
                      for code, m in members.items() if m & set(coms))
    assert sorted(zip(table["pole_id"], table["zone_code"])) == expected
    assert ("castres", "acv-047") in expected  # Castres - Mazamet is an Action cœur de ville site (2 communes)
    assert (table["method"] == "membership").all() and (table["zone_type"] == "communes").all()
    assert set(table["relation"]) <= {"zone_inside_pole", "coincides"}
    # drawn perimeters meet the sites as points: sjoin of the sites' points with the poles
    acv = load_layer("action_coeur_de_ville", catalogue=catalogue)
    drawn = perimeters(*(feature(pid, geom) for pid, geom in zip(occitanie["id"], occitanie.geometry)))
    table = zone_overlaps(drawn, "action_coeur_de_ville", catalogue=catalogue)
    hits = gpd.sjoin(acv[["code", "geometry"]], drawn[["id", "geometry"]], predicate="intersects")
    assert sorted(zip(hits["id"], hits["code"])) == sorted(zip(table["pole_id"], table["zone_code"]))
    assert (table["zone_type"] == "point").all() and set(table["relation"]) <= {"zone_inside_pole"}


def test_crte_layer_covers_castres_whole(occitanie, catalogue):
    res = overlap_zones(occitanie, "crte", catalogue=catalogue)
    s = res.summary.set_index("pole_id")
    # both CRTE and the EPCI pole are unions of the same communes
    assert s.loc["castres", "covered_share"] == pytest.approx(1.0, abs=1e-9)
    assert row(res.table, "castres", "crte-76-81-2")["iou"] == pytest.approx(1.0, abs=1e-9)


# --- command line ---------------------------------------------------------------------

@pytest.fixture()
def poles_file(tmp_path, mirror_env):
    path = tmp_path / "poles.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature("castres", epci=["248100430"]), feature("og", epci=["249730037"])]}))
    return path


def test_cli_overlap_with_a_layer(poles_file, capsys):
    assert main(["overlap", "--poles", str(poles_file), "--zones", "territoires_industrie"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split(",") == OVERLAP_COLUMNS
    assert "og,ti-0301,Ouest Guyanais,1.0,1.0,1.0,coincides,True," in "\n".join(lines)


def test_cli_overlap_with_a_file_and_a_code_field(poles_file, tmp_path, mirror_dir, capsys, caplog):
    ti = gpd.read_file(mirror_dir / "contrats" / "territoires_industrie_anct_2024.geojson").to_crs(2154)
    path = tmp_path / "ti.gpkg"
    ti.rename(columns={"id_territoire": "REF", "lib_territoire": "LIBELLE"}).to_file(path, layer="ti")
    assert main(["overlap", "--poles", str(poles_file), "--zones", str(path), "--code-field", "ref"]) == 0
    out = capsys.readouterr().out
    assert "og,ti-0301,Ouest Guyanais," in out  # read from Lambert-93
    assert "field 'REF'," in caplog.text and "'LIBELLE' (guessed)" in caplog.text


@pytest.mark.parametrize(("content", "words"), [
    (b"not a geo file", "unknown format"),
    (b'{"type": "FeatureCollection", "features": [', "cannot be read as GeoJSON"),
    (b"PK\x03\x04broken", "zip"),
])
def test_cli_overlap_bad_file_is_one_line_exit_2(poles_file, tmp_path, capsys, content, words):
    bad = tmp_path / "zones.geojson"
    bad.write_bytes(content)
    assert main(["overlap", "--poles", str(poles_file), "--zones", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err
    assert "/tmp/ptce_upload" not in err


def test_cli_overlap_unknown_layer_or_missing_field(poles_file, tmp_path, mirror_dir, capsys):
    assert main(["overlap", "--poles", str(poles_file), "--zones", "nope"]) == 2
    assert "neither a layer" in capsys.readouterr().err
    src = mirror_dir / "contrats" / "territoires_industrie_anct_2024.geojson"
    assert main(["overlap", "--poles", str(poles_file), "--zones", str(src), "--code-field", "missing"]) == 2
    err = capsys.readouterr().err
    assert "no field 'missing'" in err and "id_territoire" in err


def test_overlap_table_note_for_guessed_fields(occitanie, catalogue, mirror_dir):
    table, note, _ = overlap_table(occitanie, mirror_dir / "qpv" / "qpv_2015_occitanie.geojson", catalogue=catalogue)
    assert "'code_qp' (guessed)" in note and "'nom_qp' (guessed)" in note
    assert (table.loc[table["pole_id"] == "castres", "relation"] == "zone_inside_pole").sum() == 5
    _, note, res = overlap_table(occitanie, "qpv", catalogue=catalogue)
    assert res.historical and "liste 2015" in res.notice
    assert note == ""


def test_cli_overlap_assume_crs_for_a_shapefile_without_prj(poles_file, tmp_path, mirror_dir, capsys):
    ti = gpd.read_file(mirror_dir / "contrats" / "territoires_industrie_anct_2024.geojson")
    ti = ti[ti["id_territoire"] == "ti-0301"].to_crs(2154)  # Ouest Guyanais, in metres
    folder = tmp_path / "shp"
    folder.mkdir()
    ti.to_file(folder / "ti.shp")
    path = tmp_path / "ti.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for suffix in (".shp", ".shx", ".dbf"):  # no .prj: the CRS is unknown
            zf.write(folder / f"ti{suffix}", f"ti{suffix}")
    assert main(["overlap", "--poles", str(poles_file), "--zones", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "EPSG:2154" in err
    assert main(["overlap", "--poles", str(poles_file), "--zones", str(path), "--assume-crs", "EPSG:2154"]) == 0
    out = capsys.readouterr().out  # a file is known by its outlines: the geometry path
    assert ",coincides,True," in out and out.strip().endswith(",geometry,polygon")


def test_drawn_disc_against_zones_layers_matches_independent_geometry(catalogue):
    # a drawn perimeter meets zones layers by their outlines only (their communes are
    # not read): each polygon piece's area is the geodesic area of the shapely
    # intersection; each point zone counts its points in the disc; QPV districts carry
    # their layer row's area
    from pyproj import Geod

    from ptce_geo.layers import load_layer
    from ptce_geo.scorecard import Scorecard

    disc = shapely.Point(4.95, 44.95).buffer(0.19, quad_segs=16)
    card = Scorecard(perimeters(feature("disc", disc), catalogue=catalogue), catalogue=catalogue, levels=())
    geod = Geod(ellps="WGS84")
    for lid in ("territoires_industrie", "crte", "qpv"):
        layer = load_layer(lid, catalogue=catalogue).set_index("code")
        table = card.zones(lid).table
        polygons = table[table["zone_type"] == "polygon"]
        assert len(polygons) and (polygons["method"] == "geometry").all()
        for code, km2 in zip(polygons["zone_code"], polygons["overlap_km2"]):
            piece = shapely.segmentize(disc.intersection(layer.loc[code, "geometry"]), 1e-4)
            assert km2 == pytest.approx(abs(geod.geometry_area_perimeter(piece)[0]) / 1e6, rel=1e-6), (lid, code)
    for lid in ("petites_villes_de_demain", "action_coeur_de_ville"):
        layer = load_layer(lid, catalogue=catalogue)
        points = layer[layer.geom_type.isin(["Point", "MultiPoint"])]
        expected = {}
        for code, geom in zip(points["code"], points.geometry):
            parts = shapely.get_parts(geom)
            inside = shapely.intersects(disc, parts).sum()
            if inside:
                expected[code] = inside / len(parts)
        table = card.zones(lid).table
        rows = table[table["zone_type"] == "point"]
        assert expected and dict(zip(rows["zone_code"], rows["share_of_zone"])) == pytest.approx(expected)
    qpv = load_layer("qpv", catalogue=catalogue).set_index("code")
    districts = card.qpv.districts
    assert len(districts)
    assert list(districts["qpv_area_km2"]) == list(qpv.loc[districts["qpv_code"], "area_m2"] / 1e6)
    assert list(districts["qpv_name"]) == list(qpv.loc[districts["qpv_code"], "nom"])


@pytest.mark.realdata
def test_a_catalogue_layers_overlap_pickles_the_layer_by_name(catalogue, squares):
    """A worker's result comes back without the zones layer in it; a user's own table travels whole."""
    import pickle

    poles = perimeters(feature("tarnos", communes=["40312", "40209"]), catalogue=catalogue)
    ov = overlap_zones(poles, "qpv", catalogue=catalogue)
    blob = pickle.dumps(ov)
    assert len(blob) < 100_000 < len(pickle.dumps(ov.zones))  # 1 514 districts with their outlines
    back = pickle.loads(blob)
    assert back.zones is ov.zones  # the process-wide table, read again by its id
    assert back.table.equals(ov.table) and back.summary.equals(ov.summary)
    own = overlap_zones(squares, zones(a=shapely.box(2.5, 46, 4, 47)))
    again = pickle.loads(pickle.dumps(own))
    assert again.zones.equals(own.zones) and again.table.equals(own.table)
