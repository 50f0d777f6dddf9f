"""Review findings of issue 17 on hostile inputs, each reproduced by a test.

Identifiers (surrogates, case, zero-width, normalisation, ANSI escapes), a ``crs`` of
another celestial body, uploads that burn CPU or memory (GeoPackage views, long list
properties), zone files that lie nowhere near France, Markdown in error messages, CSV
cells after a separator, ``poles build`` turning a hole into land, gzip bombs in the
boundary sources, broken caches, and perimeters that touch no unit.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from ptce_geo.cli import main
from ptce_geo.errors import InvalidInput, InvalidPerimeter, UploadRejected
from ptce_geo.perimeters import check_perimeters, read_perimeters
from ptce_geo.textsafe import csv_neutralise, escape_markdown
from ptce_geo.uploads import read_perimeter_upload, read_zone_upload

REPO = Path(__file__).resolve().parent.parent
MIRROR_CAT = str(REPO / "boundaries" / "mirror-2024.toml")
SQUARE = [[2.0, 45.0], [2.1, 45.0], [2.1, 45.1], [2.0, 45.1], [2.0, 45.0]]


def _doc(*ids: str, geometry: dict | None = None, **props) -> dict:
    geom = geometry or {"type": "Polygon", "coordinates": [SQUARE]}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": i, "nom": f"n{k}", **props}, "geometry": geom}
        for k, i in enumerate(ids)]}


def _fc_bytes(features: list[dict]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


# ------------------------------------------------------------------ identifiers
@pytest.mark.parametrize("ids, words", [
    (["PTCE01", "ptce01"], "differs only by case"),
    (["é", "e\u0301"], "differs only by case, blanks or accents"),
    (["a", " a "], "differs only by case"),
    (["a", "a\u200b"], "U+200B"),
    (["\x1b[31mred"], "U+001B"),
    (["a\ud800"], "U+D800"),
    (["a\u202eb"], "U+202E"),
])
def test_ids_are_compared_as_people_read_them(ids, words):
    problems = check_perimeters(_doc(*ids), codes=False)
    assert any(p.severity == "error" and words in str(p) for p in problems), problems
    with pytest.raises(InvalidPerimeter, match=re.escape(words)):
        read_perimeters(_doc(*ids))


def test_ids_are_stored_normalised():
    out = read_perimeters(_doc(" pôle-1 ", "e\u0301t\u00e9"))
    assert list(out["id"]) == ["pôle-1", "\u00e9t\u00e9"]


def test_cli_shows_no_raw_escape_and_exits_2(tmp_path, capsys):
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps(_doc("\x1b[2J\x1b[31mboom")), encoding="utf-8")
    assert main(["analyze", "--layer", "epci", "--poles", str(path), "--catalogue", MIRROR_CAT]) == 2
    captured = capsys.readouterr()
    assert "\x1b" not in captured.err + captured.out and "U+001B" in captured.err


def test_a_lone_surrogate_is_a_refusal_not_an_internal_error(tmp_path, capsys):
    path = tmp_path / "p.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                    '{"id": "a\\ud800"}, "geometry": %s}]}' % json.dumps({"type": "Polygon", "coordinates": [SQUARE]}))
    assert main(["analyze", "--layer", "epci", "--poles", str(path), "--catalogue", MIRROR_CAT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: feature #1") and "internal error" not in err


def test_a_crs_of_another_body_is_a_refusal(tmp_path, capsys):
    doc = _doc("x")
    doc["crs"] = {"type": "name", "properties": {"name": "+proj=longlat +a=1"}}
    problems = check_perimeters(doc, codes=False)
    assert [p.feature for p in problems if p.severity == "error"] == ["file"]
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps(doc))
    assert main(["analyze", "--layer", "epci", "--poles", str(path), "--catalogue", MIRROR_CAT]) == 2
    assert "coordinate system of the Earth" in capsys.readouterr().err


def test_code_lists_longer_than_france_are_refused_before_any_lookup():
    doc = _doc("x", geometry=None)
    doc["features"][0]["geometry"] = None
    doc["features"][0]["properties"]["communes"] = [f"{i:05d}" for i in range(50_000)]
    start = time.monotonic()
    problems = check_perimeters(doc, codes=False)
    assert time.monotonic() - start < 30
    assert any("lists 50000 codes" in p.message for p in problems)


# ------------------------------------------------------------------ uploads that burn CPU or memory
def _view_gpkg(path: Path, *, memory: bool = False) -> bytes:
    g = gpd.GeoDataFrame({"code": ["a"]}, geometry=[shapely.box(2, 45, 2.1, 45.1)], crs="EPSG:4326")
    g.to_file(path, layer="base", driver="GPKG")
    con = sqlite3.connect(path)
    body = ("SELECT base.fid AS fid, base.geom AS geom, base.code || zeroblob(10000000) AS code FROM r, base"
            if memory else "SELECT base.fid AS fid, base.geom AS geom, base.code AS code FROM r, base")
    con.execute(f"CREATE VIEW v AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) {body}")
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id, min_x, min_y, max_x, max_y) "
                "VALUES ('v', 'features', 'v', 4326, 2, 45, 2.1, 45.1)")
    con.execute("INSERT INTO gpkg_geometry_columns VALUES ('v', 'geom', 'POLYGON', 4326, 0, 0)")
    con.execute("DELETE FROM gpkg_contents WHERE table_name = 'base'")
    con.execute("DELETE FROM gpkg_geometry_columns WHERE table_name = 'base'")
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize("memory", [False, True], ids=["endless", "huge-rows"])
def test_a_geopackage_view_is_refused_at_once(tmp_path, memory):
    data = _view_gpkg(tmp_path / "v.gpkg", memory=memory)
    start = time.monotonic()
    for reader in (read_zone_upload, read_perimeter_upload):
        with pytest.raises(UploadRejected) as err:
            reader(data, filename="v.gpkg", timeout=30)
        assert "is a view" in str(err.value) and "vue" in err.value.fr
    assert time.monotonic() - start < 60


def test_any_reader_is_stopped_at_its_time_and_memory_limits():
    g = gpd.GeoDataFrame({"code": [str(i) for i in range(2000)]},
                         geometry=[shapely.box(2 + i / 1e4, 45, 2.0001 + i / 1e4, 45.0001) for i in range(2000)],
                         crs=4326)
    data = g.to_json().encode()
    with pytest.raises(UploadRejected, match="longer than 0 s") as err:
        read_zone_upload(data, filename="z.geojson", timeout=0.01)
    assert "a été arrêtée" in err.value.fr
    zones, info = read_zone_upload(data, filename="z.geojson")  # with the default limits, it is read
    assert len(zones) == 2000
    ring = [[2.5 + 0.1 * math.cos(t / 5e4), 45.5 + 0.1 * math.sin(t / 5e4)] for t in range(300_000)]
    big = _fc_bytes([{"type": "Feature", "properties": {"code": "a"},
                      "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}}])
    with pytest.raises(UploadRejected, match="memory") as err:  # 12 MB of text needs more than 8 MB
        read_zone_upload(big, filename="big.geojson", memory=8 << 20)
    assert "mémoire" in err.value.fr


def test_a_long_list_property_is_read_in_linear_time():
    """3.4 MB with one list of 300 000 strings took 40 s (quadratic in GDAL's string lists)."""
    feature = {"type": "Feature", "properties": {"code": "A", "nom": "x", "l": [f"s{i}" for i in range(300_000)]},
               "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}
    data = _fc_bytes([feature])
    assert len(data) > 3_000_000
    zones, _ = read_zone_upload(data, filename="l.geojson", timeout=20)  # far more than needed now
    assert list(zones["code"]) == ["A"]
    perims = read_perimeter_upload(data, filename="l.geojson", timeout=20)
    assert list(perims["id"]) == ["A"]


# ------------------------------------------------------------------ zone files nowhere near France
@pytest.mark.parametrize("ring, words", [
    ([[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]], "half the globe"),
    ([[179, -17], [-179, -17], [-179, -16], [179, -16], [179, -17]], "antimeridian"),
    ([[-50, -10], [-49, -10], [-49, -9], [-50, -10]], "none of its 1 feature"),
    ([[45, 2], [45, 2.5], [45.5, 2.5], [45, 2]], "swapped"),
])
def test_zone_files_nowhere_near_france_are_refused(ring, words, capsys, tmp_path):
    data = _fc_bytes([{"type": "Feature", "properties": {"code": "Z"},
                       "geometry": {"type": "Polygon", "coordinates": [ring]}}])
    with pytest.raises(InvalidInput, match=words):
        read_zone_upload(data, filename="z.geojson")


def test_zones_partly_outside_france_are_counted_in_the_note():
    feats = [{"type": "Feature", "properties": {"code": c},
              "geometry": {"type": "Polygon", "coordinates": [ring]}}
             for c, ring in (("FR", SQUARE), ("BR", [[-50, -10], [-49, -10], [-49, -9], [-50, -10]]))]
    zones, info = read_zone_upload(_fc_bytes(feats), filename="z.geojson")
    assert info["outside_france"] == 1 and "1 zone(s) lie outside France" in info["note"]
    assert "hors de France" in info["note_fr"]


# ------------------------------------------------------------------ Markdown in messages
def _unescaped(text: str, token: str) -> bool:
    """True when ``token`` occurs with its first character not escaped by a backslash."""
    return any(i == 0 or text[i - 1] != "\\" for i in (m.start() for m in re.finditer(re.escape(token), text)))


def test_escape_markdown_leaves_nothing_active():
    hostile = ("zones ![x](http://127.0.0.1:9/leak.png) [lien](javascript:alert(1)) <img src=x> **gras** "
               ":red[rouge] $x^2$ `code` \x1b[31m")
    out = escape_markdown(hostile)
    for token in ("![", "](", "<img", "**", ":red[", "$x"):
        assert not _unescaped(out, token), token
    assert "\x1b" not in out and "U\\+001B" in out
    assert re.sub(r"\\(.)", r"\1", out).replace("U+001B", "\x1b") == hostile  # shown as written
    assert escape_markdown("set `PTCE_GEO_MIRROR` now") == "set `PTCE_GEO_MIRROR` now"


def test_show_error_escapes_the_message():
    from streamlit.testing.v1 import AppTest

    def script():
        from app_pages.common import show_error
        from ptce_geo.errors import DataUnavailable, UploadRejected

        show_error(UploadRejected("x", fr="zones.zip : membre ![x](http://127.0.0.1:9/a.png) refusé"))
        show_error(DataUnavailable("y", fr="fichier [clic](http://127.0.0.1:9/) introuvable"))

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert not at.exception
    values = [e.value for e in at.error]
    assert len(values) == 2 and not any(_unescaped(v, "![") or _unescaped(v, "](") for v in values), values


@pytest.mark.realdata
def test_a_hostile_zip_member_name_is_shown_inert_in_the_app(mirror_env, tmp_path, monkeypatch):
    from test_app import open_page, write_poles

    monkeypatch.setenv("PTCE_GEO_POLES", str(write_poles(tmp_path / "poles.geojson")))
    monkeypatch.delenv("PTCE_GEO_TILES", raising=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../![x](http://127.0.0.1:9/leak.png).shp", b"x")
    at = open_page("Zones de contrat")
    at.radio(key="zc_source").set_value("Fichier de zones téléversé").run()
    at.file_uploader(key="zc_upload").set_value(("[a](http://127.0.0.1:9/b).zip", buf.getvalue(),
                                                 "application/zip")).run()
    assert not at.exception and len(at.error) == 1
    shown = at.error[0].value
    assert "leak.png" in re.sub(r"\\(.)", r"\1", shown)  # shown, as text
    assert not _unescaped(shown, "![") and not _unescaped(shown, "](")


# ------------------------------------------------------------------ CSV after a separator
def test_csv_cells_after_any_separator_are_neutralised():
    name = "x;=cmd|' /C calc'!A0;y"
    assert csv_neutralise(name) == "x;'=cmd|' /C calc'!A0;y"
    for sep in ",;\t|\n":
        cell = csv_neutralise(f"a{sep}@SUM(1){sep} -2+3")
        for piece in re.split(r"[,;\t|\n]", cell):
            assert not piece.lstrip(" ").startswith(("=", "+", "-", "@")), (sep, cell)
    assert csv_neutralise("Pôle a=b, c") == "Pôle a=b, c" and csv_neutralise(3) == 3


def test_csv_split_on_semicolons_has_no_formula():
    from ptce_geo.export import csv_safe

    text = csv_safe(pd.DataFrame({"pole_id": ["ok"], "nom": ["x;=cmd|' /C calc'!A0;y"]})).to_csv(index=False)
    for line in text.splitlines():
        for cell in line.split(";"):  # a spreadsheet with French settings splits on ';'
            assert not cell.strip('"').startswith(("=", "+", "-", "@")), cell


# ------------------------------------------------------------------ poles build
@pytest.mark.realdata
def test_poles_build_never_turns_a_hole_into_land_without_force(mirror_env, tmp_path, capsys):
    shell = [[2.0, 45.0], [2.05, 45.0], [2.05, 45.05], [2.0, 45.05], [2.0, 45.0]]
    hole = [[2.1, 45.1], [2.25, 45.1], [2.25, 45.25], [2.1, 45.25], [2.1, 45.1]]  # outside its shell
    path = tmp_path / "poles.geojson"
    path.write_text(json.dumps(_doc("h", geometry={"type": "Polygon", "coordinates": [shell, hole]})))
    before = path.read_bytes()
    assert main(["poles", "build", "--poles", str(path)]) == 2
    err = capsys.readouterr().err
    assert "change the area of 1 perimeter(s)" in err and "--force" in err and err.count("\n") == 1
    assert path.read_bytes() == before
    assert main(["poles", "build", "--poles", str(path), "--force"]) == 0
    assert path.read_bytes() != before


# ------------------------------------------------------------------ sources and caches
def _one_layer_catalogue(folder: Path, source: str, fmt: str) -> Path:
    cat = folder / "cat.toml"
    cat.write_text(f'''[catalogue]
name = "t"
[[layer]]
id = "communes"
title = "Communes"
kind = "partition"
vintage = 2024
licence = "x"
attribution = "x"
code_field = "code"
name_field = "nom"
source = {{ path = "{source}", format = "{fmt}" }}
''', encoding="utf-8")
    return cat


def test_a_gzip_bomb_in_a_source_is_refused_with_little_memory(tmp_path):
    bomb = tmp_path / "communes.geojson.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(b'{"type": "FeatureCollection", "features": [' + b" " * 10_000)
        block = b" " * (1 << 20)
        for _ in range(1024):  # 1 GiB of blanks, about 1 MB compressed
            fh.write(block)
    cat = _one_layer_catalogue(tmp_path, bomb.name, "geojson.gz")
    # the peak of this process image (VmHWM; ru_maxrss would count the forked test process before exec)
    code = (f"import re, sys\nfrom ptce_geo.cli import main\n"
            f"rc = main(['fetch', 'communes', '--catalogue', {str(cat)!r}])\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\nsys.exit(rc)\n")
    env = dict(os.environ, PTCE_GEO_MIRROR="", PTCE_GEO_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "inflates to more than 64 MB" in proc.stderr
    peak_mb = int(proc.stdout.strip().splitlines()[-1]) / 1024
    print(f"peak memory while refusing a 1 GiB gzip bomb: {peak_mb:.0f} MB")
    assert peak_mb < 600


def test_a_cache_root_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    src = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"code": ["1"], "nom": ["a"]}, geometry=[shapely.box(2, 45, 2.1, 45.1)],
                     crs=4326).to_file(src)
    cat = _one_layer_catalogue(tmp_path, src.name, "geojson")
    root = tmp_path / "cache-file"
    root.write_text("not a folder")
    monkeypatch.setenv("PTCE_GEO_CACHE", str(root))
    assert main(["fetch", "communes", "--catalogue", str(cat)]) == 2
    err = capsys.readouterr().err
    assert "PTCE_GEO_CACHE" in err and "internal error" not in err and err.count("\n") == 1


def test_a_cache_entry_replaced_by_a_folder_is_ignored(tmp_path, monkeypatch, caplog):
    from ptce_geo.cache import Cache
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.layers import _fingerprint, clear_memory_cache, load_layer

    src = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"code": ["1"], "nom": ["a"]}, geometry=[shapely.box(2, 45, 2.1, 45.1)],
                     crs=4326).to_file(src)
    cat = load_catalogue(_one_layer_catalogue(tmp_path, src.name, "geojson"))
    cache = Cache(tmp_path / "cache")
    clear_memory_cache()
    assert len(load_layer("communes", catalogue=cat, cache=cache)) == 1
    table = cache.table_path(cat["communes"], _fingerprint(cat["communes"], cat))
    table.unlink()
    table.mkdir()
    (table / "inside").write_text("kept")
    clear_memory_cache()
    assert len(load_layer("communes", catalogue=cat, cache=cache)) == 1
    assert (table / "inside").read_text() == "kept" and "not a regular file" in caplog.text


@pytest.mark.skipif(shutil.which("chattr") is None or os.geteuid() != 0, reason="chattr +i needs root")
def test_an_immutable_cache_folder(tmp_path, monkeypatch, capsys):
    from ptce_geo.layers import clear_memory_cache

    src = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"code": ["1"], "nom": ["a"]}, geometry=[shapely.box(2, 45, 2.1, 45.1)],
                     crs=4326).to_file(src)
    cat = _one_layer_catalogue(tmp_path, src.name, "geojson")
    cache = tmp_path / "cache"
    (cache / "layers").mkdir(parents=True)
    monkeypatch.setenv("PTCE_GEO_CACHE", str(cache))
    monkeypatch.delenv("PTCE_GEO_MIRROR", raising=False)  # the download below must aim at the cache, not a mirror
    if subprocess.run(["chattr", "+i", str(cache / "layers")], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    try:
        clear_memory_cache()
        # a layer read from a folder still loads, without being kept
        assert main(["fetch", "communes", "--catalogue", str(cat)]) == 0
        assert "communes: 1 units ready" in capsys.readouterr().out
        # a download into the immutable folder is a one-line refusal
        subprocess.run(["chattr", "+i", str(cache)], check=True)
        http_cat = tmp_path / "http.toml"
        http_cat.write_text(cat.read_text().replace(f'path = "{src.name}"', 'url = "http://127.0.0.1:9/c.geojson"'))
        clear_memory_cache()
        assert main(["fetch", "communes", "--catalogue", str(http_cat)]) == 2
        err = capsys.readouterr().err
        assert "PTCE_GEO_CACHE" in err and "internal error" not in err
    finally:
        subprocess.run(["chattr", "-i", str(cache), str(cache / "layers")], capture_output=True)
        clear_memory_cache()


# ------------------------------------------------------------------ perimeters that touch nothing
KASSEL = {"type": "Polygon", "coordinates": [[[9.4, 51.28], [9.55, 51.28], [9.55, 51.35], [9.4, 51.28]]]}


@pytest.mark.realdata
def test_a_pole_over_kassel_is_warned_about_everywhere(mirror_env, tmp_path, capsys, caplog):
    path = tmp_path / "kassel.geojson"
    doc = _doc("kassel", geometry=KASSEL)
    doc["features"].append(_doc("ok")["features"][0])
    path.write_text(json.dumps(doc))
    assert main(["poles", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: feature #1 (id 'kassel'): touches no commune" in out and "outside France" in out
    caplog.clear()
    assert main(["analyze", "--layer", "epci", "--poles", str(path)]) == 0
    assert "perimeter 'kassel' touches no unit of 'epci'" in caplog.text
    assert "'ok'" not in caplog.text
    caplog.clear()
    assert main(["scorecard", "--poles", str(path)]) == 0
    assert "perimeter 'kassel' touches no unit of 'communes'" in caplog.text
    assert "perimeter 'ok' touches no unit of 'communes'" not in caplog.text  # (Grand Paris's EPT: none, rightly)


# ------------------------------------------------------------------ the app without data
@pytest.mark.realdata
def test_the_app_remembers_a_failed_layer_for_the_session(mirror_env, tmp_path, monkeypatch):
    from conftest import serve_directory
    from test_app import open_page, write_poles

    empty = tmp_path / "www"
    empty.mkdir()
    server, url = serve_directory(empty)  # answers 404 to everything: the data cannot be had
    try:
        monkeypatch.setenv("PTCE_GEO_MIRROR", url)
        monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("PTCE_GEO_POLES", str(write_poles(tmp_path / "poles.geojson")))
        monkeypatch.delenv("PTCE_GEO_TILES", raising=False)
        at = open_page("Découpages")
        assert not at.exception and at.error and "PTCE_GEO_MIRROR" in " ".join(i.value for i in at.info)
        asked = len(server.requests)
        assert asked >= 1
        at.run()
        at.sidebar.radio[0].set_value("Mon territoire").run()
        at.sidebar.radio[0].set_value("Découpages").run()
        assert not at.exception and at.error
        again = len(server.requests) - asked
        assert again <= 1, server.requests  # at most the one layer the new page needs, once
    finally:
        server.shutdown()
        server.server_close()
