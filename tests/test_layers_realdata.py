"""Loading the real boundary layers of the mirror (folder and loopback http)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from ptce_geo.cache import Cache
from ptce_geo.catalogue import load_catalogue
from ptce_geo.cli import main
from ptce_geo.errors import DataUnavailable, IntegrityError
from ptce_geo.layers import clear_memory_cache, commune_membership, layer_status, load_layer
from ptce_geo.projection import geodesic_area_m2, to_equal_area, zone_of

from conftest import MIRROR_CATALOGUE

ROWS = {"communes": 34935, "epci": 1255, "zones_emploi": 306, "departements": 101, "regions": 18}


@pytest.mark.parametrize(("layer", "rows"), sorted(ROWS.items()))
def test_row_counts_of_sources_md(catalogue, layer, rows):
    table = load_layer(layer, catalogue=catalogue)
    assert len(table) == rows
    assert table.crs.equals("EPSG:4326")
    assert table["code"].is_unique
    assert all(isinstance(c, str) for c in table["code"])
    assert shapely.is_valid(table.geometry.to_numpy()).all()
    assert {"code", "nom", "area_m2", "length_m", "geometry"} <= set(table.columns)


def test_codes_are_strings_with_leading_zeros_and_corsica(catalogue):
    communes = load_layer("communes", catalogue=catalogue)
    codes = set(communes["code"])
    assert {"01001", "2A004", "2B033", "97411", "75056"} <= codes
    assert communes.set_index("code").loc["01001", "dep"] == "01"
    assert communes.set_index("code").loc["2A004", "dep"] == "2A"
    assert communes.set_index("code").loc["97411", "reg"] == "04"
    ze = load_layer("zones_emploi", catalogue=catalogue)
    assert (ze["code"].str.len() == 4).all()  # "0051", never 51
    # the four island communes outside any EPCI have no parent EPCI (not "ZZZZZZZZZ")
    assert communes["epci"].isna().sum() == 4


def test_windows_punctuation_read_as_control_characters_is_repaired(catalogue, mirror_dir):
    """The 2015 QPV file holds 13 names with C1 control characters (Windows-1252 bytes read as
    Latin-1): the layer gives their characters; the other names are unchanged."""
    raw = json.loads((mirror_dir / "qpv" / "qpv_2015_france.geojson").read_text(encoding="utf-8"))
    names = {f["properties"]["code_qp"]: f["properties"]["nom_qp"] for f in raw["features"]}
    broken = {c: n for c, n in names.items() if any(0x80 <= ord(ch) <= 0x9F for ch in n)}
    assert len(broken) == 13 and broken["QP974016"] == "Gaspard \x96 La Réserve"
    qpv = load_layer("qpv", catalogue=catalogue).set_index("code")["nom"]
    assert qpv["QP974016"] == "Gaspard – La Réserve"
    assert qpv["QP974009"] == "Bois D’Olives" and qpv["QP974019"] == "Cœur De Saint-Laurent"
    assert not qpv.str.contains("[\x80-\x9f]", regex=True).any()
    clean = [c for c in names if c not in broken]
    assert (qpv[clean] == pd.Series(names)[clean].str.strip()).all()


def test_supra_communal_levels_nest_exactly(catalogue):
    """A dissolved département has the area of its communes and no sliver."""
    communes = load_layer("communes", catalogue=catalogue)
    deps = load_layer("departements", catalogue=catalogue).set_index("code")
    sums = communes.groupby("dep")["area_m2"].sum()
    rel = (deps["area_m2"] - sums.reindex(deps.index)).abs() / sums.reindex(deps.index)
    assert rel.max() < 1e-9
    assert deps.loc["07", "nom"] == "Ardèche" and deps.loc["07", "reg"] == "84"
    members = commune_membership("epci", catalogue=catalogue)
    assert len(members) == 34931  # every commune but the four islands
    assert members.groupby("code").size().loc["244000659"] == 8  # CC du Seignanx


def test_areas_agree_with_geodesic_and_equal_area_crs_areas(catalogue):
    """Layer areas against pyproj.Geod, and against planar areas in each territory's equal-area CRS."""
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    sample = communes.loc[["07010", "2A004", "97411", "97209", "97302", "97611", "97101", "59350"]]
    geoms = sample.geometry.to_numpy()
    # Geod reads an edge as a geodesic: densified, the edges are the same lines
    geodesic = geodesic_area_m2(shapely.segmentize(geoms, 1e-4))
    np.testing.assert_allclose(sample["area_m2"].to_numpy(), geodesic, rtol=1e-8)
    zones = zone_of(geoms)
    assert list(zones) == ["metro", "metro", "974", "972", "973", "976", "971", "metro"]
    planar = np.array([shapely.area(to_equal_area(np.array([g]), z))[0] for g, z in zip(geoms, zones)])
    np.testing.assert_allclose(sample["area_m2"].to_numpy(), planar, rtol=1e-4)


def test_second_load_reads_the_cache_and_equals_the_first(mirror_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path))
    cat = load_catalogue(MIRROR_CATALOGUE)
    first = load_layer("epci", catalogue=cat)
    clear_memory_cache()
    files = sorted((tmp_path / "layers").glob("epci-2024-*.parquet"))
    assert len(files) == 1
    second = load_layer("epci", catalogue=cat)
    pd.testing.assert_frame_equal(pd.DataFrame(first.drop(columns="geometry")),
                                  pd.DataFrame(second.drop(columns="geometry")))
    assert shapely.equals_exact(first.geometry.to_numpy(), second.geometry.to_numpy(), 0).all()
    status = layer_status(catalogue=cat).set_index("id")["cached"]
    assert status["epci"] == "yes" and status["qpv"] == "no"


def test_corrupted_cache_is_detected_and_rebuilt(mirror_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path))
    cat = load_catalogue(MIRROR_CATALOGUE)
    rows = len(load_layer("regions", catalogue=cat))
    clear_memory_cache()
    path = next((tmp_path / "layers").glob("regions-*.parquet"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    assert Cache(tmp_path).read_table(path) is None  # refused, deleted
    assert not path.exists()
    assert len(load_layer("regions", catalogue=cat)) == rows
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
    assert meta["rows"] == rows


def test_mirror_over_loopback_http(mirror_env, http_mirror, tmp_path, monkeypatch):
    server, url = http_mirror
    monkeypatch.setenv("PTCE_GEO_MIRROR", url)
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path))
    clear_memory_cache()
    cat = load_catalogue(MIRROR_CATALOGUE)
    before = len(server.requests)
    zones = load_layer("zones_emploi", catalogue=cat)
    assert len(zones) == 306
    assert "/zones_emploi/ze2020_2024_from_communes.geojson.gz" in server.requests[before:]
    downloaded = list((tmp_path / "downloads" / "zones_emploi").rglob("*.geojson.gz"))
    assert len(downloaded) == 1
    assert downloaded[0].stat().st_size == cat["zones_emploi"].source.size


def test_missing_mirror_file_names_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(tmp_path / "empty"))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    cat = load_catalogue(MIRROR_CATALOGUE)
    with pytest.raises(DataUnavailable) as err:
        load_layer("pnr", catalogue=cat)
    assert "PTCE_GEO_MIRROR" in str(err.value) and "pnr" in str(err.value)
    assert "PTCE_GEO_MIRROR" in err.value.fr


def test_mirror_file_differing_from_catalogue_is_refused(mirror_dir, tmp_path, monkeypatch):
    copy = tmp_path / "mirror"
    shutil.copytree(mirror_dir / "pnr", copy / "pnr")
    target = copy / "pnr" / "pnr_inpn_2020_simplifie.geojson"
    target.write_bytes(target.read_bytes().replace(b"Vercors", b"Verkors"))
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(copy))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    with pytest.raises(IntegrityError) as err:
        load_layer("pnr", catalogue=load_catalogue(MIRROR_CATALOGUE))
    assert "sha256" in str(err.value)


@pytest.mark.parametrize("use_http", [False, True])
def test_cli_layers_and_fetch(mirror_env, http_mirror, tmp_path, monkeypatch, capsys, use_http):
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path))
    if use_http:
        monkeypatch.setenv("PTCE_GEO_MIRROR", http_mirror[1])
    clear_memory_cache()
    assert main(["layers"]) == 0
    listing = capsys.readouterr().out
    assert "zones_emploi" in listing and "ODbL" in listing and " no" in listing
    assert main(["fetch", "regions", "pnr"]) == 0
    out = capsys.readouterr().out
    assert "regions: 18 units ready" in out and "pnr: 56 units ready" in out
    assert main(["layers", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["regions"]["cached"] == "yes" and rows["qpv"]["cached"] == "no"
    assert rows["communes"]["cached"] == "yes"  # regions are dissolved from the communes


def test_cli_unknown_layer_is_a_one_line_error(mirror_env, capsys):
    assert main(["fetch", "circonscriptions"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "circonscriptions" in err and "communes" in err


def test_geojson_read_through_arrow_equals_gdals_default_reader(mirror_dir, catalogue):
    """The communes and the contrats de ruralité (columns without any value) as GDAL's default
    reader gives them: same columns, same values, same geometries, row for row."""
    import geopandas as gpd

    from ptce_geo._readers import read_source
    from ptce_geo.layers import source_files

    for lid in ("communes", "contrats_de_ruralite"):
        source = source_files(catalogue[lid])[0]
        path = Path(catalogue.resolve(source))
        fast = read_source(path, source, where=lid)
        default = gpd.read_file(f"/vsigzip/{path}" if source.format == "geojson.gz" else path)
        assert list(fast.columns) == list(default.columns) and len(fast) == len(default) > 0
        for col in default.columns.drop("geometry"):
            a, b = fast[col].to_numpy(dtype=object), default[col].to_numpy(dtype=object)
            missing = pd.isna(b)
            assert (pd.isna(a) == missing).all(), (lid, col)
            assert (a[~missing] == b[~missing]).all(), (lid, col)
        assert shapely.equals_exact(fast.geometry.to_numpy(), default.geometry.to_numpy(), 0).all()


def test_repeated_rows_dropped_and_shared_codes_suffixed_as_counted_on_the_source(mirror_dir, catalogue):
    """Contrats de ruralité: the rows repeated in the source (same id, same geometry) are dropped
    once each, and the ids shared by different zones get #2, #3…: counted here on the raw
    file with the standard library's json, against the layer built."""
    source = json.loads((mirror_dir / "contrats" / "contrats_de_ruralite_cget2019.geojson").read_bytes())
    seen, kept = set(), []
    for feature in source["features"]:
        code = str(feature["properties"]["id"]).strip()
        key = (code, json.dumps(feature["geometry"], sort_keys=True))
        if key not in seen:
            seen.add(key)
            kept.append(code)
    counts = pd.Series(kept).value_counts()
    expected = sorted(list(counts.index) +
                      [f"{c}#{k}" for c, n in counts.items() for k in range(2, n + 1)])
    table = load_layer("contrats_de_ruralite", catalogue=catalogue)
    assert len(source["features"]) - len(kept) > 0  # the source does repeat rows
    assert (counts > 1).any()  # and shares ids between different zones
    assert sorted(table["code"]) == expected
