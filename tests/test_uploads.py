"""Reading users' zone and perimeter files: formats, CRS, fields, and malicious uploads."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ptce_geo.errors import InvalidInput, InvalidPerimeter, UploadRejected
from ptce_geo.uploads import read_perimeter_upload, read_upload, read_zone_upload

# three zones in Occitanie and Provence, in WGS84
ZONES = gpd.GeoDataFrame(
    {"CODE_Z": ["Z1", "Z2", "Z3"], "Libellé": ["Zone un", "Zone deux", "Zone trois"], "pop": [10, 20, 30]},
    geometry=[shapely.box(1.4, 43.5, 1.5, 43.6), shapely.box(3.8, 43.5, 3.9, 43.7), shapely.box(5.3, 43.2, 5.5, 43.4)],
    crs="EPSG:4326")


def shapefile_zip(gdf: gpd.GeoDataFrame, folder: Path, *, name="zones", keep=(".shp", ".shx", ".dbf", ".prj", ".cpg"),
                  extra: dict[str, bytes] | None = None, prefix: str = "") -> bytes:
    gdf.to_file(folder / f"{name}.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for suffix in keep:
            if (folder / f"{name}{suffix}").exists():
                zf.write(folder / f"{name}{suffix}", prefix + f"{name}{suffix}")
        for member, data in (extra or {}).items():
            zf.writestr(member, data)
    return buf.getvalue()


def geojson(gdf: gpd.GeoDataFrame) -> bytes:
    return gdf.to_json(drop_id=True).encode()


# --- formats and CRS ------------------------------------------------------------------

def test_geojson_with_guessed_fields():
    zones, info = read_zone_upload(geojson(ZONES), filename="zones.geojson")
    assert list(zones["code"]) == ["Z1", "Z2", "Z3"]
    assert list(zones["nom"]) == ["Zone un", "Zone deux", "Zone trois"]
    assert info["code_field"] == "CODE_Z" and info["name_field"] == "Libellé"
    assert info["guessed"] == ["code_field", "name_field"]
    assert "'CODE_Z' (guessed)" in info["note"] and "« CODE_Z »" in info["note_fr"]
    assert zones.crs.equals("EPSG:4326") and zones.attrs["layer"] == "upload"
    assert list(zones["pop"]) == [10, 20, 30]  # other fields kept


def test_zipped_shapefile_in_lambert93_is_reprojected(tmp_path):
    data = shapefile_zip(ZONES.to_crs(2154), tmp_path, prefix="export/")  # inside a folder of the zip
    zones, info = read_zone_upload(data, filename="zones.zip", code_field="code_z", name_field="LIBELLÉ")
    assert info["crs"] == "EPSG:2154" and info["format"] == "shp" and info["guessed"] == []
    assert info["code_field"] == "CODE_Z"  # matched without regard to case
    for got, want in zip(zones.geometry, ZONES.geometry):
        assert got.symmetric_difference(want).area < 1e-10  # the same boxes back in lon/lat
        assert np.allclose(got.bounds, want.bounds, atol=1e-7)


def test_shapefile_without_prj_in_lambert93_is_refused_with_the_fix(tmp_path):
    data = shapefile_zip(ZONES.to_crs(2154), tmp_path, keep=(".shp", ".shx", ".dbf"))
    with pytest.raises(InvalidInput) as exc:
        read_zone_upload(data, filename="zones.zip")
    assert "Lambert-93" in str(exc.value) and ".prj" in str(exc.value) and "EPSG:2154" in str(exc.value)
    assert "Lambert-93" in exc.value.fr and ".prj" in exc.value.fr
    zones, info = read_zone_upload(data, filename="zones.zip", assume_crs="EPSG:2154")
    assert info["crs"] == "EPSG:2154"
    assert np.allclose(zones.total_bounds, ZONES.total_bounds, atol=1e-7)


def test_geojson_in_lambert93_without_crs_member_is_refused():
    doc = json.loads(geojson(ZONES.to_crs(2154)))
    doc.pop("crs", None)
    with pytest.raises(InvalidInput, match="Lambert-93"):
        read_zone_upload(json.dumps(doc).encode(), filename="l93.geojson")


def test_geojson_with_a_legacy_crs_member_is_reprojected():
    doc = json.loads(geojson(ZONES.to_crs(2154)))
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    zones, info = read_zone_upload(json.dumps(doc).encode(), filename="l93.geojson")
    assert info["crs"] == "EPSG:2154"
    assert np.allclose(zones.total_bounds, ZONES.total_bounds, atol=1e-7)


def test_swapped_coordinates_are_refused():
    swapped = ZONES.set_geometry(ZONES.geometry.map(lambda g: shapely.transform(g, lambda xy: xy[:, ::-1])))
    with pytest.raises(InvalidInput, match="swapped"):
        read_zone_upload(geojson(swapped), filename="swapped.geojson")


def test_geopackage_with_two_layers_needs_a_layer_name(tmp_path):
    path = tmp_path / "two.gpkg"
    ZONES.to_file(path, layer="a")
    ZONES.iloc[:1].to_crs(3035).to_file(path, layer="b")
    with pytest.raises(InvalidInput, match="2 layers"):
        read_zone_upload(path.read_bytes(), filename="two.gpkg")
    zones, info = read_zone_upload(path.read_bytes(), filename="two.gpkg", layer="b")
    assert list(zones["code"]) == ["Z1"] and info["crs"] == "EPSG:3035"
    assert np.allclose(zones.total_bounds, ZONES.iloc[:1].total_bounds, atol=1e-7)


# --- fields and geometries ------------------------------------------------------------

def test_a_code_field_is_preferred_to_feature_ids():
    zones, info = read_zone_upload(ZONES.to_json().encode(), filename="ids.geojson")  # features "id": "0"…
    assert info["code_field"] == "CODE_Z" and list(zones["code"]) == ["Z1", "Z2", "Z3"]
    poles = read_perimeter_upload(ZONES.assign(id=["a", "b", "c"]).to_json(drop_id=True).encode(),
                                  filename="poles.geojson")
    assert list(poles["id"]) == ["a", "b", "c"]  # perimeters take "id" first


def test_unknown_field_lists_the_fields():
    with pytest.raises(InvalidInput) as exc:
        read_zone_upload(geojson(ZONES), filename="zones.geojson", code_field="nope")
    assert "no field 'nope'" in str(exc.value) and "CODE_Z" in str(exc.value) and "nope" in exc.value.fr


def test_rows_sharing_a_code_are_merged_and_lines_dropped():
    gdf = gpd.GeoDataFrame({"code": ["A", "A", "B", "C"], "nom": ["a", "a", "b", "c"]},
                           geometry=[shapely.box(2, 46, 2.1, 46.1), shapely.box(2.2, 46, 2.3, 46.1),
                                     shapely.Point(3, 45), shapely.LineString([(1, 45), (2, 46)])], crs=4326)
    zones, info = read_zone_upload(geojson(gdf), filename="z.geojson")
    assert list(zones["code"]) == ["1", "2", "3"]  # a guessed code field has one value per row
    zones, info = read_zone_upload(geojson(gdf), filename="z.geojson", code_field="code")
    assert list(zones["code"]) == ["A", "B"]
    a = zones.set_index("code").loc["A", "geometry"]
    assert a.geom_type == "MultiPolygon" and a.area == pytest.approx(0.02)
    assert info["merged"] == 1 and info["dropped"] == 1
    assert "1 row(s) sharing a code merged" in info["note"] and "left out" in info["note"]


def test_without_a_unique_code_field_rows_are_numbered():
    gdf = ZONES.drop(columns="CODE_Z").assign(dep=["31", "34", "34"])
    zones, info = read_zone_upload(geojson(gdf), filename="z.geojson")
    assert list(zones["code"]) == ["1", "2", "3"] and info["code_field"] is None
    assert "row numbers" in info["note"]


def test_invalid_polygon_is_repaired():
    bowtie = shapely.Polygon([(2, 46), (2.2, 46.2), (2.2, 46), (2, 46.2), (2, 46)])
    gdf = gpd.GeoDataFrame({"code": ["X"]}, geometry=[bowtie], crs=4326)
    zones, _ = read_zone_upload(geojson(gdf), filename="z.geojson")
    assert zones.geometry.iloc[0].is_valid and zones.geometry.iloc[0].area == pytest.approx(0.02)


# --- limits and malicious files -------------------------------------------------------

def test_unknown_format_and_size_limit():
    with pytest.raises(UploadRejected) as exc:
        read_zone_upload(b"<html>nope</html>", filename="x.geojson")
    assert "unknown format" in str(exc.value) and "format inconnu" in exc.value.fr
    with pytest.raises(UploadRejected, match="over the 1 MB limit"):
        read_zone_upload(b"{" + b" " * (2 * 2**20) + b"}", filename="big.geojson", max_bytes=2**20)


@pytest.mark.parametrize("member", ["../evil.shp", "../../etc/evil.shp", "/tmp/evil.shp", "a/../../evil.shp",
                                    "..\\evil.shp", "C:/evil.shp"])
def test_zip_with_traversal_paths_is_refused(tmp_path, member):
    shp = tmp_path / "src"
    shp.mkdir()
    data = shapefile_zip(ZONES, shp, extra={member: b"\x00\x00\x27\x0a" + b"\x00" * 96})
    before = set(os.listdir(tmp_path))
    with pytest.raises(UploadRejected) as exc:
        read_zone_upload(data, filename="evil.zip")
    assert "unsafe path" in str(exc.value) and "dangereux" in exc.value.fr
    assert set(os.listdir(tmp_path)) == before
    for where in (Path(tempfile.gettempdir()), Path("/etc"), Path("/")):
        assert not (where / "evil.shp").exists()


def test_only_the_expected_members_are_read(tmp_path, monkeypatch):
    extra = {"__MACOSX/._zones.shp": b"junk", "readme.txt": b"hello", "zones.qmd": b"<qgis/>", "sub/": b""}
    data = shapefile_zip(ZONES, tmp_path, extra=extra)
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    zones, _ = read_zone_upload(data, filename="zones.zip", isolated=False)  # the spy sees this process only
    assert len(zones) == 3
    assert sorted(opened) == ["zones.cpg", "zones.dbf", "zones.prj", "zones.shp", "zones.shx"]


def test_zip_with_two_shapefiles_or_a_missing_shx(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = shapefile_zip(ZONES, tmp_path / "a", name="one")
    ZONES.iloc[:1].to_file(tmp_path / "b" / "two.shp")
    buf = io.BytesIO(one)
    with zipfile.ZipFile(buf, "a") as zf:
        for s in (".shp", ".shx", ".dbf"):
            zf.write(tmp_path / "b" / f"two{s}", f"two{s}")
    with pytest.raises(InvalidInput, match="2 layers"):
        read_zone_upload(buf.getvalue(), filename="two.zip")
    zones, _ = read_zone_upload(buf.getvalue(), filename="two.zip", layer="two")
    assert len(zones) == 1
    no_shx = shapefile_zip(ZONES, tmp_path / "a", name="one", keep=(".shp", ".dbf", ".prj"))
    with pytest.raises(InvalidInput, match="lacks its .shx"):
        read_zone_upload(no_shx, filename="noshx.zip")


def test_zip_bomb_of_one_gigabyte_is_refused(tmp_path):
    """1 GiB of zeros, compressed by chunks into a ~1 MB zip: refused before inflating."""
    buf = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.shx", b"\x00" * 100)
        zf.writestr("bomb.dbf", b"\x00" * 100)
        with zf.open("bomb.shp", "w") as out:
            for _ in range(1024):
                out.write(chunk)
    data = buf.getvalue()
    assert len(data) < 2 * 2**20
    with pytest.raises(UploadRejected) as exc:
        read_zone_upload(data, filename="bomb.zip")
    assert "1024 MB" in str(exc.value) and "256 MB limit" in str(exc.value)
    assert "décompressés" in exc.value.fr


def test_member_with_a_huge_inflation_ratio_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zones.geojson", b'{"type": "FeatureCollection", "features": []}' + b" " * (40 * 2**20))
    with pytest.raises(UploadRejected, match="zip bomb"):
        read_zone_upload(buf.getvalue(), filename="ratio.zip")


def test_member_lying_about_its_size_is_refused():
    payload = geojson(ZONES) + b" " * 5_000_000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zones.geojson", payload)
    data = bytearray(buf.getvalue())
    small = struct.pack("<I", 4096)
    data[22:26] = small  # local header: uncompressed size
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = small  # central directory: uncompressed size
    with pytest.raises(UploadRejected):
        read_zone_upload(bytes(data), filename="liar.zip")


def test_encrypted_zip_is_refused(tmp_path):
    data = bytearray(shapefile_zip(ZONES, tmp_path))
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:  # set the "encrypted" flag of each entry
        data[pos + 8] |= 1
        pos += 4
    with pytest.raises(UploadRejected, match="encrypted"):
        read_zone_upload(bytes(data), filename="locked.zip")


def _ellipse_geojson(n: int) -> bytes:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.column_stack([2.5 + 0.3 * np.cos(t), 46.5 + 0.2 * np.sin(t)]).round(6).tolist()
    ring.append(ring[0])
    return json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "code": "E", "nom": "ellipse"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}).encode()


def test_geojson_of_a_million_vertices_is_read_within_limits_or_refused():
    data = _ellipse_geojson(1_000_000)
    assert len(data) < 50 * 2**20
    with pytest.raises(UploadRejected) as exc:
        read_zone_upload(data, filename="big.geojson", max_vertices=500_000)
    assert "1,000,001 vertices" in str(exc.value) and "simplify" in str(exc.value) and "Simplifier" in exc.value.fr
    zones, info = read_zone_upload(data, filename="big.geojson")  # under the default cap of 2 000 000
    assert info["vertices"] == 1_000_001
    from ptce_geo.perimeters import read_perimeters
    from ptce_geo.zones import zone_overlaps

    box = shapely.box(2.1, 46.2, 2.9, 46.8)
    poles = read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "p"}, "geometry": json.loads(shapely.to_geojson(box))}]})
    r = zone_overlaps(poles, zones).iloc[0]
    assert r["relation"] == "zone_inside_pole"
    # sphere: ellipse ≈ π·a·b·cos φ0 (radians), box = Δλ·(sin φ2 − sin φ1)
    ellipse = math.pi * math.radians(0.3) * math.radians(0.2) * math.cos(math.radians(46.5))
    rect = math.radians(0.8) * (math.sin(math.radians(46.8)) - math.sin(math.radians(46.2)))
    assert r["share_of_pole"] == pytest.approx(ellipse / rect, rel=2e-3)


# --- perimeter uploads ----------------------------------------------------------------

def test_perimeter_upload_from_a_lambert93_shapefile(tmp_path):
    poles = ZONES.rename(columns={"CODE_Z": "id_pole", "Libellé": "nom"}).to_crs(2154)
    out = read_perimeter_upload(shapefile_zip(poles, tmp_path), filename="poles.zip")
    assert list(out.columns) == ["id", "nom", "definition", "communes", "properties", "geometry"]
    assert list(out["id"]) == ["Z1", "Z2", "Z3"] and list(out["nom"]) == ["Zone un", "Zone deux", "Zone trois"]
    assert (out["definition"] == "geometry").all() and out["communes"].isna().all()
    assert out["properties"].iloc[1] == {"id_pole": "Z2", "pop": 20}
    assert out.attrs["upload"]["id_field"] == "id_pole"
    assert np.allclose(out.total_bounds, ZONES.total_bounds, atol=1e-7)
    json.dumps(list(out["properties"]))  # JSON-safe


def test_perimeter_upload_refuses_points_and_places_outside_france():
    pts = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.Point(2, 46)], crs=4326)
    with pytest.raises(InvalidPerimeter, match="point"):
        read_perimeter_upload(geojson(pts), filename="p.geojson")
    berlin = gpd.GeoDataFrame({"id": ["b"]}, geometry=[shapely.box(13.3, 52.4, 13.5, 52.6)], crs=4326)
    with pytest.raises(InvalidPerimeter, match="outside France"):
        read_perimeter_upload(geojson(berlin), filename="b.geojson")


def test_perimeter_upload_in_the_codes_format_uses_read_perimeters(catalogue):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "sic", "nom": "Sicoval", "epci": ["243100633"]}, "geometry": None}]}
    out = read_perimeter_upload(json.dumps(doc).encode(), filename="p.geojson", catalogue=catalogue)
    assert out["definition"].iloc[0] == "codes" and len(out["communes"].iloc[0]) == 36


def test_read_upload_reports_format_and_counts():
    gdf, info = read_upload(geojson(ZONES), filename="z.geojson")
    assert info == {"format": "geojson", "crs": "EPSG:4326", "features": 3, "vertices": 15}
    assert len(gdf) == 3
