"""Hostile data: escaped in every page, map and export; never evaluated; uploads capped.

Names such as ``<script>alert(1)</script>``, ``<img src=x onerror=alert(1)>`` and
``"'><svg onload=alert(1)>`` go into a poles file and an uploaded zone file. Wherever
they are shown (map tooltips and popups, legends, attributions, the standalone map HTML,
Markdown, tables) they must arrive as inert text: escaped for HTML and Markdown, plain
in tables, never as markup. Strings that look like code (Python, Jinja, shell, pandas
queries, spreadsheet formulas) are data: the command line never runs them, and CSV
exports neutralise the formulas. Uploads above the size cap are refused before being
parsed.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tomllib
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from ptce_geo import maps
from ptce_geo.errors import UploadRejected
from ptce_geo.uploads import MAX_UPLOAD_BYTES, read_perimeter_upload, read_zone_upload

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SVG = "\"'><svg onload=alert(1)>"
ESCAPED = {SCRIPT: "&lt;script&gt;alert(1)&lt;/script&gt;", IMG: "&lt;img src=x onerror=alert(1)&gt;",
           SVG: "&quot;&#x27;&gt;&lt;svg onload=alert(1)&gt;"}
#: what must never reach a page as markup
RAW_MARKERS = ("<script>alert", "<img src", "<svg", "'><", "javascript:alert")
SQUARE = [[4.70, 46.25], [5.05, 46.25], [5.05, 46.45], [4.70, 46.45], [4.70, 46.25]]


def unescape_js(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def assert_inert(text: str, *, expect: tuple[str, ...] = ()) -> None:
    """No hostile markup in ``text``; each of ``expect`` is there, escaped (so it was drawn)."""
    text = unescape_js(text)
    for marker in RAW_MARKERS:
        assert marker not in text, f"raw {marker!r} in output"
    for raw in expect:
        assert ESCAPED[raw] in text, f"{raw!r} missing from the output (escaped)"
    # a </script> from data would close the page's script early: opening and closing tags pair up
    assert text.count("<script") == text.count("</script>")


# ------------------------------------------------------------------ maps and exported HTML
def test_every_map_function_escapes_strings_from_data(monkeypatch):
    from app_pages.common import with_popups

    square = shapely.Polygon(SQUARE)
    left, right = shapely.box(4.70, 46.25, 4.85, 46.45), shapely.box(4.85, 46.25, 5.05, 46.45)
    poles = gpd.GeoDataFrame(
        {"id": [SVG, "b"], "nom": [SCRIPT, IMG], "typology": [SCRIPT, "intra-EPCI"],
         "properties": [{"structure_porteuse": IMG, "filieres": [SVG, SCRIPT]}, {"structure_porteuse": SVG}]},
        geometry=[square, square.buffer(-0.05)], crs="EPSG:4326")
    units = gpd.GeoDataFrame({"code": [SVG, IMG], "nom": [SCRIPT, SVG]}, geometry=[left, right], crs="EPSG:4326")
    pieces = gpd.GeoDataFrame({"unit_code": [IMG, "71"], "unit_name": [SCRIPT, SVG], "share_of_pole": [0.6, 0.4]},
                              geometry=[left, right], crs="EPSG:4326")
    seats = gpd.GeoDataFrame({"id": [SVG], "nom": [IMG], "siege_nom": [SCRIPT]},
                             geometry=[shapely.Point(4.8, 46.3)], crs="EPSG:4326")
    monkeypatch.setenv("PTCE_GEO_TILES", "http://127.0.0.1:9/{z}/{x}/{y}.png")
    monkeypatch.setenv("PTCE_GEO_TILES_ATTRIBUTION", SCRIPT)

    m = maps.new_map(bounds=maps.bounds_of(poles.geometry), tiles=maps.tiles_from_env())
    maps.add_poles(m, with_popups(poles), name=IMG, selected=SVG)
    maps.add_poles(m, poles.drop(columns=["properties"]), name=SVG)  # default tooltips
    maps.add_seats(m, seats, name=SCRIPT)
    maps.add_outlines(m, units, name=SVG, label=IMG)
    maps.add_units(m, pieces, name=SCRIPT, tolerance=0.001)
    maps.add_lines(m, maps.internal_borders([left, right]), name=IMG, tooltip=SVG)
    maps.add_legend(m, SCRIPT, [(IMG, "#123456"), (SVG, "red\"><script>alert(1)</script>")])
    maps.add_attribution(m, IMG)
    page = maps.map_html(maps.finish(m))
    assert_inert(page, expect=(SCRIPT, IMG, SVG))
    # popups hold the descriptive properties, escaped: at least once per pole and field
    text = unescape_js(page)
    assert text.count("Structure porteuse : " + ESCAPED[IMG]) == 1
    assert text.count("Structure porteuse : " + ESCAPED[SVG]) == 1
    assert "Filières : " + ESCAPED[SVG] + ", " + ESCAPED[SCRIPT] in text


def test_template_strings_in_data_are_drawn_literally_never_run(tmp_path, monkeypatch):
    """branca compiles each rendered script again as a Jinja template: data must not reach it as syntax.

    Before ``maps.esc`` turned braces into character references, a pole named like the
    first string below created a folder on the server (Jinja template injection) and
    ``{% raw %}`` broke the rendering.
    """
    monkeypatch.chdir(tmp_path)
    names = ["{{ lipsum.__globals__.os.mkdir(dict(PWNED=1)|first) }}", "{{ 7*7 }}", "{% raw %}x", "{# x", "${7*7}",
             "`${alert(1)}`", "__import__('os').system('id')", "#{7*7}"]
    poles = gpd.GeoDataFrame({"id": [f"p{i}" for i in range(len(names))], "nom": names,
                              "typology": [None] * len(names),
                              "properties": [{"structure_porteuse": n} for n in names]},
                             geometry=[shapely.box(2 + i, 46, 2.5 + i, 46.5) for i in range(len(names))],
                             crs="EPSG:4326")
    from app_pages.common import with_popups

    m = maps.new_map()
    maps.add_poles(m, with_popups(poles), name=names[0])
    maps.add_outlines(m, poles.rename(columns={"id": "code"}), name=names[2], label=names[3])
    maps.add_legend(m, "{{ 6*7 }}", [("{% raw %}", "#000000")])
    maps.add_attribution(m, "{{ 6*6 }}")
    page = maps.map_html(maps.finish(m))
    assert not (tmp_path / "PWNED").exists()
    text = html.unescape(unescape_js(page))
    for name in names:
        assert text.count(name) >= 2, name  # as written, in the tooltip and the popup
    for name in ("{{ 6*7 }}", "{{ 6*6 }}", "{% raw %}"):
        assert name in text, name
    assert "{{" not in unescape_js(page) and "{%" not in unescape_js(page)  # no delimiter left for Jinja


def test_source_links_are_only_http():
    from ptce_geo.poles import pole_details

    sources = [{"titre": SCRIPT, "url": "javascript:alert(1)"}, "JaVaScRiPt:alert(2)", {"url": " javascript:alert(3)"},
               {"url": "data:text/html,<script>alert(4)</script>"}, {"url": "vbscript:msgbox(5)"},
               {"url": "//evil.example/x"}, {"titre": "Labo", "url": "https://www.lelabo-ess.org/"}]
    details = pole_details({"nom": SCRIPT, "sources": sources})
    urls = [s["url"] for s in details["sources"]]
    assert urls[-1] == "https://www.lelabo-ess.org/"
    assert all(u == "" for u in urls[:-1]), urls
    assert details["nom"] == SCRIPT  # kept raw: escaped where it is drawn, not twice


# ------------------------------------------------------------------ the app
HOSTILE_POLES = [
    {"id": "script", "nom": SCRIPT, "communes": ["81004"], "structure_porteuse": IMG, "filieres": [SVG],
     "description": SVG, "sources": [{"titre": IMG, "url": "javascript:alert(1)"}, "javascript:alert(2)"],
     "siege_insee": "81004", "siege_nom": SCRIPT},
    {"id": "img", "nom": IMG, "epci": ["244000659"], "structure_porteuse": SVG, "note_perimetre": SCRIPT},
    {"id": SVG, "nom": SVG, "departements": ["90"], "confiance": IMG},
    {"id": "jinja", "nom": "{{ lipsum.__globals__.os.mkdir(dict(PWNED=1)|first) }}", "communes": ["81004"],
     "structure_porteuse": "{% raw %}"},
]


@pytest.fixture()
def hostile_app(mirror_env, tmp_path, monkeypatch):
    feats = [{"type": "Feature", "properties": p, "geometry": None} for p in HOSTILE_POLES]
    path = tmp_path / "poles.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), "utf-8")
    monkeypatch.setenv("PTCE_GEO_POLES", str(path))
    monkeypatch.delenv("PTCE_GEO_TILES", raising=False)
    monkeypatch.chdir(tmp_path)  # where the Jinja payload of the pole 'jinja' would create PWNED
    yield path
    assert not (tmp_path / "PWNED").exists(), "a template in a pole name ran on the server"


def _check_page(at, *, expect: tuple[str, ...] = ()) -> str:
    """No failure; markdown never raw HTML; maps inert; returns all the maps' text."""
    from test_app import maps_of, no_failure

    no_failure(at)
    for md in at.markdown:
        assert not md.proto.allow_html
        targets = re.findall(r"(?<!\\)\]\(([^)]*)\)", md.value)
        assert all(t.startswith(("http://", "https://")) for t in targets), targets
    for el in list(at.markdown) + list(at.subheader) + list(at.caption) + list(at.title):
        assert not re.search(r"(?<!\\)<", el.value), el.value  # every < from data is backslash-escaped
    scripts = " ".join(a["script"] + a.get("header", "") + a.get("html", "") for a in maps_of(at))
    assert scripts, "no map on the page"
    assert_inert(scripts, expect=expect)
    return unescape_js(scripts)


@pytest.mark.realdata
def test_hostile_poles_in_every_page(hostile_app):
    from test_app import open_page

    at = open_page("Carte des pôles")
    _check_page(at, expect=(SCRIPT, IMG, SVG))
    table = at.dataframe[-1].value
    assert sorted(table["Pôle"]) == sorted([p["nom"] for p in HOSTILE_POLES])  # plain text, not double-escaped
    for pid in ("script", "img", SVG, "jinja"):
        at.selectbox(key="carte_pole").set_value(pid).run()
        _check_page(at, expect=(SCRIPT,) if pid == "script" else ())
    at = open_page("Mon territoire")
    at.text_input(key="terr_query").input("81004").run()
    assert at.radio(key="terr_choice").value == "communes:81004"
    _check_page(at, expect=(SCRIPT,))
    assert sorted(at.dataframe[0].value["Pôle"]) == sorted([SCRIPT, HOSTILE_POLES[-1]["nom"]])
    at = open_page("Découpages")
    at.selectbox(key="dec_pole").set_value("img")
    at.selectbox(key="dec_level").set_value("communes").run()
    _check_page(at)
    assert all("&lt;" not in str(v) for v in at.dataframe[0].value.to_numpy().ravel())


def _hostile_zones() -> bytes:
    gdf = gpd.GeoDataFrame({"code": ["Z" + SCRIPT, "Z2"], "nom": [IMG, SVG], SVG: [SCRIPT, IMG]},
                           geometry=[shapely.Polygon(SQUARE), shapely.box(4.8, 46.3, 4.9, 46.4)], crs="EPSG:4326")
    return gdf.to_json(drop_id=True).encode()


def test_uploaded_zone_names_are_kept_raw_by_the_reader():
    zones, info = read_zone_upload(_hostile_zones(), filename=IMG + ".geojson")
    assert list(zones["code"]) == ["Z" + SCRIPT, "Z2"] and list(zones["nom"]) == [IMG, SVG]
    assert list(zones[SVG]) == [SCRIPT, IMG]
    perims = read_perimeter_upload(_hostile_zones(), filename="p.geojson", id_field="code")
    assert list(perims["nom"]) == [IMG, SVG] and perims["properties"].iloc[0][SVG] == SCRIPT


@pytest.mark.realdata
def test_hostile_uploads_in_the_app(hostile_app, monkeypatch):
    from test_app import open_page

    poles = json.loads(hostile_app.read_text("utf-8"))
    poles["features"].append({"type": "Feature", "properties": {"id": "carre", "nom": "Carré"},
                              "geometry": {"type": "Polygon", "coordinates": [SQUARE]}})
    hostile_app.write_text(json.dumps(poles, ensure_ascii=False), "utf-8")
    at = open_page("Zones de contrat")
    at.radio(key="zc_source").set_value("Fichier de zones téléversé").run()
    at.file_uploader(key="zc_upload").set_value((IMG + ".geojson", _hostile_zones(), "application/json")).run()
    _check_page(at, expect=(IMG,))
    table = at.dataframe[0].value
    assert sorted(table["Zone"]) == sorted([IMG, SVG]) and "Z" + SCRIPT in set(table["Code de la zone"])
    at = open_page("Nouveau périmètre")
    at.radio(key="nouv_mode").set_value("Téléverser un fichier").run()
    at.file_uploader(key="nouv_upload").set_value((SVG + ".geojson", _hostile_zones(), "application/json")).run()
    _check_page(at)
    assert at.subheader, "the perimeter's scorecard is shown"


# ------------------------------------------------------------------ never evaluated
def _bait(canary: Path) -> list[str]:
    return [f"__import__('os').system('touch {canary}')", f"$(touch {canary})", f"`touch {canary}`",
            "{{ 7*7 }}", "${7*7}", f"@pd.io.common.os.system('touch {canary}')",
            f"=cmd|' /C touch {canary}'!A0", f"code == code or __import__('os').system('touch {canary}')"]


@pytest.mark.realdata
def test_cli_never_evaluates_strings_from_poles_files(catalogue, tmp_path, capsys):
    from ptce_geo.cli import main

    canary = tmp_path / "CANARY"
    bait = _bait(canary)
    feats = [{"type": "Feature", "properties": {"id": f"p{i}", "nom": text, "description": text, "filieres": [text],
                                                "epci": ["244000659"] if i % 2 else None,
                                                "communes": None if i % 2 else ["81004"]},
              "geometry": None} for i, text in enumerate(bait)]
    for f in feats:
        f["properties"] = {k: v for k, v in f["properties"].items() if v is not None}
    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), "utf-8")
    zones = tmp_path / "zones.geojson"
    zone_table = gpd.GeoDataFrame({"code": bait, "nom": bait}, geometry=[shapely.box(1.9, 43.8, 2.3, 44.1)] * len(bait),
                                  crs="EPSG:4326")
    zones.write_text(zone_table.to_json(drop_id=True), "utf-8")
    runs = [["poles", "check", str(poles)],
            ["scorecard", "--poles", str(poles), "--format", "json"],
            ["analyze", "--poles", str(poles), "--layer", "epci"],
            ["pieces", "--poles", str(poles), "--layer", "communes"],
            ["overlap", "--poles", str(poles), "--zones", str(zones), "--format", "json"],
            ["poles", "build", "--poles", str(poles), "--output", str(tmp_path / "built.geojson")]]
    runs += [["export", "--poles", str(poles), "--format", fmt, "--output", str(tmp_path / f"x.{fmt}"),
              "--layer", "epci"] for fmt in ("csv", "geojson", "gpkg")]
    for argv in runs:
        assert main(argv) == 0, (argv, capsys.readouterr().err)
        out = capsys.readouterr().out
        if argv[0] == "scorecard":
            assert sorted(r["nom"] for r in json.loads(out)) == sorted(bait)  # written back as given
        if argv[0] == "overlap":
            assert set(r["zone_name"] for r in json.loads(out)) == set(bait)
    assert not canary.exists()
    built = json.loads((tmp_path / "built.geojson").read_text("utf-8"))
    assert [f["properties"]["nom"] for f in built["features"]] == bait
    exported = json.loads((tmp_path / "x.geojson").read_text("utf-8"))
    assert sorted(f["properties"]["nom"] for f in exported["features"]) == sorted(bait)


def test_catalogue_strings_are_never_evaluated(mirror_dir, tmp_path, monkeypatch, capsys):
    """Titles, attributions and exclusion rules of a catalogue are text, never code."""
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.cli import main

    canary = tmp_path / "CANARY"
    text = (REPO / "boundaries" / "mirror-2024.toml").read_text("utf-8")
    bait = _bait(canary)
    out = []
    for line in text.splitlines():
        out.append(line)
        if re.match(r"^\s*title\s*=", line):
            out[-1] = "title = " + json.dumps(bait[0])
        elif re.match(r"^\s*attribution\s*=", line):
            out[-1] = "attribution = " + json.dumps(bait[3] + " " + bait[1])
    path = tmp_path / "bait.toml"
    path.write_text("\n".join(out) + "\n", "utf-8")
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(mirror_dir))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    cat = load_catalogue(path)
    assert {spec.title for spec in cat} == {bait[0]} and {spec.attribution for spec in cat} == {bait[3] + " " + bait[1]}
    assert main(["layers", "--catalogue", str(path), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["title"] for row in listed} == {bait[0]}
    monkeypatch.setenv("PTCE_GEO_MIRROR", f"$(touch {canary})")  # a variable is a path, never a command
    assert main(["fetch", "--catalogue", str(path), "regions"]) == 2
    assert "PTCE_GEO_MIRROR" in capsys.readouterr().err
    assert not canary.exists()


# ------------------------------------------------------------------ CSV exports and formulas
def test_csv_safe_neutralises_formulas_only():
    from ptce_geo.export import csv_safe

    df = pd.DataFrame({"nom": ["=1+1", "+33 1 23", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "Pôle", "a=b", None, " =x"],
                       "n": [-1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10]})
    out = csv_safe(df)
    # a tab or carriage return also splits cells: the piece after it is neutralised too
    assert list(out["nom"].iloc[[0, 1, 2, 3, 4, 5, 6, 7, 9]]) == ["'=1+1", "'+33 1 23", "'-2+3", "'@SUM(A1)", "'\t'=1",
                                                                "'\r'=1", "Pôle", "a=b", " =x"]
    assert pd.isna(out["nom"].iloc[8])
    assert list(out["n"]) == [-1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10] and out["n"].dtype == df["n"].dtype
    assert list(df["nom"])[0] == "=1+1"  # the input is left alone


@pytest.mark.realdata
def test_csv_export_neutralises_formulas_and_geojson_keeps_the_text(catalogue, tmp_path):
    from ptce_geo.export import export
    from ptce_geo.perimeters import read_perimeters

    names = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-1+2", "@SUM(1)", "Pôle sûr"]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": f"=id{i}", "nom": n, "communes": ["81004"]}, "geometry": None}
        for i, n in enumerate(names)]}
    perims = read_perimeters(doc, catalogue=catalogue)
    export(perims, fmt="csv", output=tmp_path / "x.csv", layers=["epci"], catalogue=catalogue)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "x.csv").read_text("utf-8"))))
    assert [r["nom"] for r in rows] == ["'" + n for n in names[:4]] + ["Pôle sûr"]
    assert [r["id"] for r in rows] == [f"'=id{i}" for i in range(len(names))]
    assert all(float(r["area_km2"]) > 0 for r in rows)  # numbers are written as numbers
    pieces = list(csv.DictReader(io.StringIO((tmp_path / "x-epci.csv").read_text("utf-8"))))
    assert {r["pole_id"] for r in pieces} == {f"'=id{i}" for i in range(len(names))}
    export(perims, fmt="geojson", output=tmp_path / "x.geojson", catalogue=catalogue)
    feats = json.loads((tmp_path / "x.geojson").read_text("utf-8"))["features"]
    assert [f["properties"]["nom"] for f in feats] == names  # not a spreadsheet format: text as given


# ------------------------------------------------------------------ size caps
def _big_geojson(size: int) -> bytes:
    head = b'{"type": "FeatureCollection", "features": []'
    return head + b" " * (size - len(head) - 1) + b"}"


def test_uploads_over_the_cap_are_refused_before_parsing():
    data = _big_geojson(MAX_UPLOAD_BYTES + 1)
    for reader in (read_zone_upload, read_perimeter_upload):
        with pytest.raises(UploadRejected) as err:
            reader(data, filename="gros.geojson")
        assert "50 MB limit" in str(err.value) and "trop gros" in err.value.fr and "gros.geojson" in str(err.value)
    # just under the cap, the same document is parsed (and refused for having no feature)
    with pytest.raises(Exception) as err:
        read_zone_upload(_big_geojson(MAX_UPLOAD_BYTES), filename="limite.geojson")
    assert not isinstance(err.value, UploadRejected)


def test_streamlit_upload_cap_is_the_library_cap():
    """The uploader announces the library's own cap (« 50 Mo par fichier »): one figure, not two.

    Above it the browser refuses the file with Streamlit's message, in French
    (« Le fichier doit faire au plus 50 Mo. »); the library checks again whatever reaches it.
    """
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))
    assert MAX_UPLOAD_BYTES == config["server"]["maxUploadSize"] * 2**20


@pytest.mark.realdata
def test_app_refuses_an_upload_over_the_cap(hostile_app):
    from test_app import open_page

    data = _big_geojson(MAX_UPLOAD_BYTES + 1)
    for page, mode_key, mode, key in (("Zones de contrat", "zc_source", "Fichier de zones téléversé", "zc_upload"),
                                      ("Nouveau périmètre", "nouv_mode", "Téléverser un fichier", "nouv_upload")):
        at = open_page(page)
        at.radio(key=mode_key).set_value(mode).run()
        at.file_uploader(key=key).set_value(("gros.geojson", data, "application/json")).run()
        assert not at.exception
        shown = re.sub(r"\\(.)", r"\1", at.error[0].value)  # the message is Markdown-escaped
        assert len(at.error) == 1 and shown.startswith("Fichier refusé : gros.geojson : fichier trop gros")


@pytest.mark.realdata
def test_cli_refuses_files_over_the_cap(catalogue, tmp_path, capsys):
    from ptce_geo.cli import main
    from ptce_geo.perimeters import MAX_FILE_BYTES

    zones = tmp_path / "zones.geojson"
    with open(zones, "wb") as fh:  # sparse: no disk used
        fh.truncate(MAX_UPLOAD_BYTES + 1)
    poles = tmp_path / "poles.geojson"
    with open(poles, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    assert main(["overlap", "--zones", str(zones), "--poles", str(REPO / "poles.geojson")]) == 2
    assert "over the 50 MB limit" in capsys.readouterr().err
    assert main(["scorecard", "--poles", str(poles)]) == 2
    assert "larger than 64 MB" in capsys.readouterr().err
