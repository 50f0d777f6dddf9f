"""Exports from every page: named datasets, the styled GeoPackage, the French CSV dialect.

* A GeoPackage has the standard ``layer_styles`` table with one default style per layer;
  every QML parses as XML, the poles' style reads the typology field with the app's
  colours and labels by name; pyogrio lists every layer.
* The « tableur » CSV parses with ``pandas.read_csv(sep=";", decimal=",")`` into numbers
  equal to the machine CSV's within rounding.
* A pole's GeoJSON holds every attribute of the poles file, with the same values.
"""

from __future__ import annotations

import io
import json
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from ptce_geo.cli import main
from ptce_geo.export import (csv_bytes, dataset_bytes, dataset_files, overlaps_dataset, pieces_dataset,
                             poles_dataset, safe_name, spread_dicts, territory_dataset, write_dataset)
from ptce_geo.palette import TYPOLOGY_COLOURS
from ptce_geo.perimeters import read_perimeters
from ptce_geo.scorecard import Scorecard

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parent.parent
POLES = json.loads((REPO / "poles.geojson").read_text("utf-8"))
WANTED = ["ptce05", "ptce23", "ptce11"]


@pytest.fixture(scope="module")
def card(mirror_dir, session_cache):
    import os

    from ptce_geo.catalogue import load_catalogue

    env = {"PTCE_GEO_MIRROR": str(mirror_dir), "PTCE_GEO_CACHE": str(session_cache),
           "PTCE_GEO_CATALOGUE": str(REPO / "boundaries" / "mirror-2024.toml")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        cat = load_catalogue()
        perims = read_perimeters(REPO / "poles.geojson", catalogue=cat)
        yield Scorecard(perims[perims["id"].isin(WANTED)].reset_index(drop=True), catalogue=cat)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _rgba(hex_colour: str, alpha: int) -> str:
    return ",".join(str(int(hex_colour[i:i + 2], 16)) for i in (1, 3, 5)) + f",{alpha}"


def test_geopackage_opens_styled(card, tmp_path):
    ds = poles_dataset(card, levels=["epci", "departements"], zones=["crte", "petites_villes_de_demain"])
    data, name, mime = dataset_bytes(ds, fmt="gpkg")
    assert name == "ptce_poles.gpkg" and mime == "application/geopackage+sqlite3"
    path = tmp_path / name
    path.write_bytes(data)
    layers = [str(n) for n, _ in pyogrio.list_layers(path)]
    assert set(layers) == {"poles", "poles_epsg3035", "seats", "scorecard", "pieces_epci", "pieces_departements",
                           "overlaps_crte", "overlaps_petites_villes_de_demain", "metadata", "layer_styles"}
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                          "styleQML, styleSLD, useAsDefault FROM layer_styles").fetchall()
        geometry_columns = dict(db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        kinds = dict(db.execute("SELECT table_name, data_type FROM gpkg_contents"))
    assert kinds["layer_styles"] == "attributes" and kinds["scorecard"] == "attributes"
    styled = {r[2]: r for r in rows}
    assert sorted(styled) == sorted(set(layers) - {"layer_styles"}) and len(rows) == len(styled)
    for table, (cat_, schema, _, geom_col, style_name, qml, sld, default) in styled.items():
        assert (cat_, schema, style_name, default) == ("", "", table, 1)
        assert geom_col == geometry_columns.get(table, "")  # QGIS matches the style by this column
        root = ET.fromstring(qml)  # QML parses as XML
        assert root.tag == "qgis"
        ET.fromstring(sld.encode("utf-8"))
        aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
        fields = set(pyogrio.read_info(path, layer=table)["fields"])
        assert set(aliases) == fields, table  # every field has a French alias
    for table in ("poles", "poles_epsg3035"):
        root = ET.fromstring(styled[table][5])
        renderer = root.find("renderer-v2")
        assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "typology"
        cats = {c.get("value"): c.get("symbol") for c in renderer.iter("category")}
        colours = {s.get("name"): {p.get("k"): p.get("v") for p in s.iter("prop")}["color"]
                   for s in renderer.iter("symbol")}
        for typ, hex_colour in TYPOLOGY_COLOURS.items():  # the app's colours
            assert colours[cats[typ]] == _rgba(hex_colour, 150)
        assert root.find("labeling/settings/text-style").get("fieldName") == "nom"
        assert "typology" in styled[table][6] and "nom" in styled[table][6]
    pieces = ET.fromstring(styled["pieces_epci"][5])
    assert pieces.find("renderer-v2").get("attr") == "unit_code"
    assert pieces.find("labeling/settings/text-style").get("fieldName") == "unit_name"
    assert ET.fromstring(styled["overlaps_crte"][5]).find("renderer-v2").get("attr") == "relation"
    # the layers hold what the Scorecard holds
    poles = gpd.read_file(path, layer="poles").set_index("id")
    summary = card.summary.set_index("pole_id")
    assert (poles["area_km2"] - summary["area_km2"].reindex(poles.index)).abs().max() < 1e-9
    assert list(poles["typology"]) == list(summary["typology"].reindex(poles.index))
    scorecard = pyogrio.read_dataframe(path, layer="scorecard")
    assert len(scorecard) == 3 * len(card.levels)
    seats = gpd.read_file(path, layer="seats")
    assert set(seats["id"]) == set(WANTED) and (seats.geometry.geom_type == "Point").all()


def test_a_pole_geojson_holds_every_attribute_of_the_poles_file(card):
    data, name, mime = dataset_bytes(poles_dataset(card, "ptce05"), fmt="geojson")
    assert name == "ptce05_pole.geojson" and mime == "application/geo+json"
    doc = json.loads(data)
    assert doc["ptce_geo_provenance"]["generator"] == "ptce_geo"
    (feat,) = doc["features"]
    props = next(f["properties"] for f in POLES["features"] if f["properties"]["id"] == "ptce05")
    for key, value in props.items():
        assert feat["properties"][key] == value, key
    s = card.summary.set_index("pole_id").loc["ptce05"]
    assert feat["properties"]["typology"] == "inter-régional" == s["typology"]
    assert feat["properties"]["n_departements"] == 3


def test_french_csv_equals_the_machine_csv_within_rounding(card):
    for ds in (pieces_dataset(card, "communes"), poles_dataset(card), overlaps_dataset(card, "crte"),
               territory_dataset(card, "departements", "44")):
        machine = dataset_files(ds, fmt="csv")
        french = dataset_files(ds, fmt="csv", dialect="fr")
        assert sorted(machine) == sorted(french)
        for fname, raw in french.items():
            if fname.endswith(".json"):
                continue
            assert raw[:3] == b"\xef\xbb\xbf"  # BOM: Excel reads UTF-8
            fr = pd.read_csv(io.BytesIO(raw), sep=";", decimal=",", encoding="utf-8-sig", dtype={0: str})
            m = pd.read_csv(io.BytesIO(machine[fname]), dtype={0: str})
            if "territoire" in m:  # the poles file's profile: JSON for programs, a column per key for people
                m["territoire"] = m["territoire"].map(lambda t: json.loads(t) if isinstance(t, str) else None)
                m = spread_dicts(m)
                for col in m.columns:
                    if col.startswith("territoire_") and m[col].dtype == object:
                        try:
                            m[col] = pd.to_numeric(m[col])
                        except (TypeError, ValueError):
                            pass
            assert len(fr) == len(m) and len(fr.columns) == len(m.columns), fname
            lname = ds.main if fname == f"{ds.name}.csv" else fname[len(ds.name) + 1:-4]
            table = ds.kinds.get(lname, "")
            from ptce_geo.columns import column_kind, french_header

            checked = 0
            for col_m, col_f in zip(m.columns, fr.columns):
                assert col_f.startswith(french_header(col_m, table=table)), (col_m, col_f)
                kind = column_kind(col_m)
                if not pd.api.types.is_numeric_dtype(m[col_m]) or pd.api.types.is_bool_dtype(m[col_m]):
                    continue
                a, b = m[col_m].to_numpy(float), fr[col_f].to_numpy(float)
                scale, tol = {"pct": (100, 0.05), "km2": (1, 0.05), "km": (1, 0.05), "ratio": (1, 5e-4),
                              "int": (1, 0)}.get(kind, (1, 1e-9))
                ok = np.isnan(a) & np.isnan(b) | (np.abs(a * scale - b) <= tol + 1e-9)
                assert ok.all(), (fname, col_m)
                checked += 1
            assert checked >= 2, fname
    pieces = pd.read_csv(io.BytesIO(dataset_files(pieces_dataset(card, "epci", "ptce23"), fmt="csv",
                                                  dialect="fr")["ptce23_pieces_epci.csv"]),
                         sep=";", decimal=",", encoding="utf-8-sig")
    assert "Part du pôle (%)" in pieces and "Surface du morceau (km²)" in pieces
    assert pieces["Part du pôle (%)"].sum() == pytest.approx(100, abs=0.1)
    assert set(pieces["Retenue"]) <= {"oui", "non"}


def test_csv_dialects_neutralise_formulas():
    df = pd.DataFrame({"nom": ["=1+1", "@SUM(A1)", "Pôle ; sûr"], "share_of_pole": [0.12345, 0.5, 1.0],
                       "area_km2": [12.345, 1234.56, 0.04], "typology": ["inter-EPCI", None, "commune"]})
    fr = csv_bytes(df, dialect="fr").decode("utf-8-sig")
    assert fr.splitlines() == ["Nom;Part du pôle (%);Surface (km²);Typologie", "'=1+1;12,3;12,3;Inter-EPCI",
                               "'@SUM(A1);50,0;1234,6;", '"Pôle ; sûr";100,0;0,0;Une seule commune']
    machine = csv_bytes(df).decode("utf-8")
    assert machine.splitlines()[1] == "'=1+1,0.12345,12.345,inter-EPCI"


def test_names_say_what_files_hold(card, tmp_path):
    assert pieces_dataset(card, "epci", "ptce05").name == "ptce05_pieces_epci"
    assert dataset_bytes(pieces_dataset(card, "epci", "ptce05"), fmt="gpkg")[1] == "ptce05_pieces_epci.gpkg"
    assert dataset_bytes(pieces_dataset(card, "epci", "ptce05"), fmt="csv", dialect="fr")[1] == \
        "ptce05_pieces_epci_tableur.zip"
    assert overlaps_dataset(card, "crte").name == "ptce_overlaps_crte"
    assert territory_dataset(card, "epci", "243500741").name == "territoire_epci_243500741_poles"
    assert poles_dataset(card, ["ptce05", "ptce23"]).name == "ptce_poles_selection"
    assert safe_name("Pôle «A» / ../x") == "Pole-A-x"
    paths = write_dataset(pieces_dataset(card, "departements", "ptce05"), tmp_path, fmt="csv", dialect="fr")
    assert sorted(p.name for p in paths) == ["ptce05_pieces_departements.csv",
                                             "ptce05_pieces_departements.csv.provenance.json",
                                             "ptce05_pieces_departements_poles.csv"]
    data, name, _ = dataset_bytes(territory_dataset(card, "departements", "44"), fmt="csv", dialect="fr")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["territoire_departements_44_poles.csv",
                                         "territoire_departements_44_poles.csv.provenance.json"]
        t = pd.read_csv(zf.open("territoire_departements_44_poles.csv"), sep=";", decimal=",", encoding="utf-8-sig")
    row = t.set_index("Identifiant du pôle").loc["ptce05"]
    assert row["Part du pôle située dans le territoire (%)"] == pytest.approx(44.4, abs=0.05)


def test_cli_csv_dialect_fr(card, tmp_path, monkeypatch):
    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        f for f in POLES["features"] if f["properties"]["id"] in WANTED]}, ensure_ascii=False), "utf-8")
    assert main(["pieces", "--layer", "departements", "--poles", str(poles), "-o", str(tmp_path / "m.csv")]) == 0
    assert main(["pieces", "--layer", "departements", "--poles", str(poles), "--csv-dialect", "fr",
                 "-o", str(tmp_path / "f.csv")]) == 0
    m = pd.read_csv(tmp_path / "m.csv")
    f = pd.read_csv(tmp_path / "f.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert list(f.columns[:4]) == ["Identifiant du pôle", "Code de l'unité", "Unité", "Surface du morceau (km²)"]
    assert np.allclose(m["share_of_pole"] * 100, f["Part du pôle (%)"], atol=0.05)
    assert np.allclose(m["area_km2"], f["Surface du morceau (km²)"], atol=0.05)
    assert main(["export", "--poles", str(poles), "--format", "csv", "--csv-dialect", "fr",
                 "-o", str(tmp_path / "e.csv")]) == 0
    e = pd.read_csv(tmp_path / "e.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert "Typologie" in e and "Inter-régional" in set(e["Typologie"])


def test_the_cli_export_names_every_file_it_writes_and_each_says_its_provenance(card, tmp_path, capsys):
    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        f for f in POLES["features"] if f["properties"]["id"] in WANTED]}, ensure_ascii=False), "utf-8")
    out = tmp_path / "out" / "e.geojson"
    out.parent.mkdir()
    capsys.readouterr()
    assert main(["export", "--poles", str(poles), "--format", "geojson", "--layer", "epci", "--layer", "crte",
                 "-o", str(out)]) == 0
    said = [line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines()]
    assert said[0] == str(out) and sorted(said) == sorted(str(p) for p in out.parent.iterdir())
    assert len(said) == 4  # the poles, the EPCI pieces, the CRTE overlaps, the provenance sidecar
    for path in out.parent.glob("*.geojson"):
        doc = json.loads(path.read_text("utf-8"))
        assert doc["ptce_geo_provenance"]["generator"] == "ptce_geo", path.name
        assert doc["features"], path.name


def test_the_poles_spreadsheet_has_no_machine_header_left(card):
    """Every column of the poles' « tableur » CSV has a French header; the territory's urban share
    is a percentage of the poles file's own figure."""
    files = dataset_files(poles_dataset(card), fmt="csv", dialect="fr")
    main = next(name for name in files if name.endswith("poles.csv"))
    table = pd.read_csv(io.BytesIO(files[main]), sep=";", decimal=",", encoding="utf-8-sig")
    assert [c for c in table.columns if "_" in c or c == c.lower()] == []
    props = {f["properties"]["id"]: f["properties"] for f in POLES["features"]}
    row = table.set_index("Identifiant").loc["ptce05"]
    share = props["ptce05"]["territoire"]["part_urbaine"]
    assert row["Territoire : part de la population en unité urbaine (%)"] == pytest.approx(round(share * 100, 1))
    assert row["Territoire : profil (urbain ou rural)"] == props["ptce05"]["territoire"]["profil"]
    # the profile in a column per key, not as a JSON text
    assert "Profil du territoire (JSON)" not in table and not table.map(lambda v: str(v).startswith("{")).any().any()
    assert row["Territoire : population"] == props["ptce05"]["territoire"]["population"]
    assert row["Territoire : densité (hab./km²)"] == pytest.approx(props["ptce05"]["territoire"]["densite"])
    assert row["Territoire : QPV touchés"] == props["ptce05"]["territoire"]["qpv_touches"]
