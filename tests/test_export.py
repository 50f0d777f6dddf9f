"""Exports: GeoJSON (RFC 7946), GeoPackage, CSV, provenance, atomic writes, downloads."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

import ptce_geo
from ptce_geo.cli import main
from ptce_geo.errors import CatalogueError, InvalidInput
from ptce_geo.export import export, export_bytes, geojson_bytes
from ptce_geo.perimeters import read_perimeters
from ptce_geo.scorecard import pole_scorecard

# a drawn pole around Toulouse with a hole, and two poles given by codes (one in Guyane)
DRAWN = shapely.Polygon(shapely.box(1.2, 43.45, 1.6, 43.75).exterior.coords[::-1],  # clockwise on purpose
                        [shapely.box(1.40, 43.58, 1.46, 43.62).exterior.coords])  # counter-clockwise hole
DOC = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"id": "castres", "nom": "Castres-Mazamet", "epci": ["248100430"]},
     "geometry": None},
    {"type": "Feature", "properties": {"id": "og", "nom": "Ouest guyanais", "epci": ["249730037"]}, "geometry": None},
    {"type": "Feature", "properties": {"id": "tls", "nom": "Autour de Toulouse"},
     "geometry": json.loads(shapely.to_geojson(DRAWN))},
]}


@pytest.fixture()
def poles(catalogue):
    return read_perimeters(DOC, catalogue=catalogue)


def _rings(geom: dict):
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    for poly in polys:
        yield True, poly[0]
        for hole in poly[1:]:
            yield False, hole


def test_geojson_export_is_rfc7946_and_rereads_to_the_same_figures(poles, catalogue, tmp_path):
    out = export(poles, fmt="geojson", output=tmp_path / "ptce.geojson", layers=["epci", "qpv"], catalogue=catalogue)
    assert out == tmp_path / "ptce.geojson"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ptce-epci.geojson", "ptce-qpv.geojson", "ptce.geojson", "ptce.geojson.provenance.json"]
    text = out.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    n_holes = 0
    for feat in doc["features"]:
        for exterior, ring in _rings(feat["geometry"]):
            assert shapely.is_ccw(shapely.LinearRing(ring)) == exterior  # exteriors CCW, holes CW
            n_holes += not exterior
    assert n_holes >= 1
    decimals = [len(m) for m in re.findall(r"-?\d+\.(\d+)", json.dumps([f["geometry"] for f in doc["features"]]))]
    assert max(decimals) <= 6
    back = gpd.read_file(out)
    assert back.crs.equals("EPSG:4326")
    card = pole_scorecard(poles, catalogue=catalogue).set_index("pole_id")
    back = back.set_index("id")
    for col in ("area_km2", "n_communes", "n_epci", "dominant_epci_share", "border_communes_km", "best_ze_iou",
                "qpv_count", "qpv_inside", "qpv_area_share"):
        for pid in card.index:
            assert back.loc[pid, col] == pytest.approx(card.loc[pid, col], rel=1e-12, abs=0), (pid, col)
    assert list(back["typology"]) == list(card["typology"])
    # the geometry survives rounding: areas in EPSG:3035 match the scorecard's to 1e-4
    assert (back.to_crs(3035).area / 1e6 / card["area_km2"].reindex(back.index) - 1).abs().max() < 1e-4
    qpv = gpd.read_file(tmp_path / "ptce-qpv.geojson")
    assert (qpv["pole_id"] == "castres").sum() == 5 and set(qpv["relation"]) <= {"zone_inside_pole", "straddles"}
    epci = gpd.read_file(tmp_path / "ptce-epci.geojson")
    assert epci.groupby("pole_id")["share_of_pole"].sum().loc["castres"] == pytest.approx(1.0)


def test_provenance_sidecar(poles, catalogue, tmp_path):
    out = export(poles, fmt="csv", output=tmp_path / "t.csv", layers=["qpv"], catalogue=catalogue,
                 threshold=0.05, weight="population")
    meta = json.loads((tmp_path / "t.csv.provenance.json").read_text())
    assert meta["version"] == ptce_geo.__version__ and meta["generator"] == "ptce_geo"
    assert meta["threshold"] == 0.05 and meta["weighting"] == "population"
    assert datetime.fromisoformat(meta["created"]).tzinfo is not None
    layers = {layer["id"]: layer for layer in meta["layers"]}
    assert {"communes", "epci", "departements", "regions", "zones_emploi", "qpv"} <= set(layers)
    assert layers["qpv"]["vintage"] == 2015 and layers["qpv"]["licence"] == "Licence Ouverte"
    assert layers["communes"]["source"] == "communes/communes_2024.geojson.gz"
    assert meta["files"] == {"poles": "t.csv", "overlaps_qpv": "t-qpv.csv"}
    table = pd.read_csv(out, dtype={"id": str})
    card = pole_scorecard(poles, catalogue=catalogue, threshold=0.05, weight="population").set_index("pole_id")
    assert table.set_index("id")["n_communes"].to_dict() == card["n_communes"].to_dict()
    assert "geometry" not in table and "properties" not in table
    assert len(pd.read_csv(tmp_path / "t-qpv.csv").query("pole_id == 'castres'")) == 5


def test_geopackage_lists_its_layers_with_an_equal_area_copy_and_metadata(poles, catalogue, tmp_path):
    out = export(poles, fmt="gpkg", output=tmp_path / "p.gpkg", layers=["epci", "petites_villes_de_demain"],
                 catalogue=catalogue)
    names = [str(n) for n, _ in pyogrio.list_layers(out)]
    assert names == ["poles", "poles_epsg3035", "poles_laea_973", "seats", "pieces_epci",
                     "overlaps_petites_villes_de_demain", "scorecard", "metadata", "layer_styles"]
    assert [p.name for p in tmp_path.iterdir()] == ["p.gpkg"]  # provenance inside, no part file left
    mainland = gpd.read_file(out, layer="poles_epsg3035")
    assert mainland.crs.equals("EPSG:3035") and set(mainland["id"]) == {"castres", "tls"}
    rel = (mainland.area / 1e6 / mainland["area_km2"] - 1).abs()
    assert rel.max() < 1e-4  # QGIS measures the scorecard's areas on this copy
    guyane = gpd.read_file(out, layer="poles_laea_973")
    assert list(guyane["id"]) == ["og"]
    assert guyane.crs.coordinate_operation.method_name == "Lambert Azimuthal Equal Area"
    meta = pyogrio.read_dataframe(out, layer="metadata").set_index("key")["value"]
    assert json.loads(meta["version"]) == ptce_geo.__version__
    assert {layer["id"] for layer in json.loads(meta["layers"])} >= {"epci", "petites_villes_de_demain"}
    sites = gpd.read_file(out, layer="overlaps_petites_villes_de_demain")
    # poles given by codes meet the sites by their member communes: the pieces are those communes
    assert (sites.geometry.geom_type.isin(["Polygon", "MultiPolygon"])).all() and len(sites)
    assert (sites["method"] == "membership").all() and (sites["share_of_zone"] == 1.0).all()
    assert set(sites["relation"]) <= {"zone_inside_pole", "coincides"}


def test_failed_export_leaves_the_previous_file_intact(poles, catalogue, tmp_path, monkeypatch):
    target = tmp_path / "keep.geojson"
    target.write_text("OLD")

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("ptce_geo.export.layer_table", boom)
    with pytest.raises(RuntimeError):
        export(poles, fmt="geojson", output=target, layers=["epci"], catalogue=catalogue)
    assert target.read_text() == "OLD"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.geojson"]


def test_export_bytes_for_downloads(poles, catalogue):
    data, name, mime = export_bytes(poles, fmt="gpkg", filename="mes-poles", catalogue=catalogue)
    assert data[:16] == b"SQLite format 3\x00" and name == "mes-poles.gpkg"
    assert mime == "application/geopackage+sqlite3"
    data, name, mime = export_bytes(poles, fmt="geojson", filename="mes-poles.zip", layers=["qpv"],
                                    catalogue=catalogue)
    assert name == "mes-poles-geojson.zip" and mime == "application/zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["mes-poles-qpv.geojson", "mes-poles.geojson",
                                         "mes-poles.geojson.provenance.json"]
        assert len(json.loads(zf.read("mes-poles.geojson"))["features"]) == 3


def test_bad_format_or_layer(poles, catalogue, tmp_path):
    with pytest.raises(InvalidInput, match="geojson, gpkg or csv"):
        export(poles, fmt="shp", output=tmp_path / "x.shp", catalogue=catalogue)
    with pytest.raises(CatalogueError, match="nope"):
        export(poles, fmt="csv", output=tmp_path / "x.csv", layers=["nope"], catalogue=catalogue)
    assert list(tmp_path.iterdir()) == []


def test_geojson_bytes_handles_points_nan_and_holes():
    gdf = gpd.GeoDataFrame({"v": [1.5, float("nan")], "flag": [True, False]},
                           geometry=[shapely.Point(2.1234567, 46.7654321), DRAWN], crs="EPSG:4326")
    doc = json.loads(geojson_bytes(gdf))
    assert doc["features"][0]["geometry"]["coordinates"] == [2.123457, 46.765432]
    assert doc["features"][1]["properties"] == {"v": None, "flag": False}
    ext, hole = doc["features"][1]["geometry"]["coordinates"]
    assert shapely.is_ccw(shapely.LinearRing(ext)) and not shapely.is_ccw(shapely.LinearRing(hole))


def test_cli_export(poles, catalogue, tmp_path, capsys):
    path = tmp_path / "poles.geojson"
    path.write_text(json.dumps(DOC))
    out = tmp_path / "out" / "e.gpkg"
    assert main(["export", "--poles", str(path), "--format", "gpkg", "-o", str(out), "--layer", "qpv"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert "overlaps_qpv" in [str(n) for n, _ in pyogrio.list_layers(out)]
    assert main(["export", "--poles", str(path), "--format", "csv", "-o", str(out), "--layer", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown layer 'nope'") and err.count("\n") == 1


def test_a_layer_without_overlaps_is_an_empty_spatial_layer(catalogue, tmp_path):
    sicoval = read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "sic", "epci": ["243100633"]}, "geometry": None}]},
        catalogue=catalogue)  # the Sicoval has no QPV of the 2015 list
    out = export(sicoval, fmt="gpkg", output=tmp_path / "s.gpkg", layers=["qpv"], catalogue=catalogue)
    layers = {str(n): g for n, g in pyogrio.list_layers(out)}
    assert layers["overlaps_qpv"] == "MultiPolygon"  # the type its rows would have: QGIS styles it as such
    assert layers["seats"] == "Point" and layers["poles"] in ("Polygon", "MultiPolygon")
    assert pyogrio.read_info(out, layer="overlaps_qpv")["features"] == 0
    assert "relation" in list(pyogrio.read_info(out, layer="overlaps_qpv")["fields"])
