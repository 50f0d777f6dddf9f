"""Any list of poles: a CSV table read, built into a poles GeoJSON, and read by every command.

The 50-pole list is made here from real codes of the Insee table d'appartenance of the mirror
(not from the layers the reader uses), with the bad rows a person makes: an unknown code, a
merged commune (Annecy-le-Vieux, 74011, merged into Annecy 74010 in 2017), a row without
codes, and an id used twice. Expected members come from the Insee and DGCL tables.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import shapely

from ptce_geo.cli import main
from ptce_geo.errors import InvalidPerimeter
from ptce_geo.perimeters import check_perimeters, expand_codes, qpv_outlines, read_perimeters
from ptce_geo.polelist import is_csv_source, read_poles_csv, report_table

from conftest import MIRROR_CATALOGUE
from polelists import fifty_poles


@pytest.fixture(scope="module")
def tables(mirror_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    com = pd.read_csv(mirror_dir / "tables" / "communes_2024_appartenance.csv", dtype=str)
    epci = pd.read_csv(mirror_dir / "tables" / "epci_2024_composition.csv", dtype=str)
    return com, epci


@pytest.fixture()
def fifty(tables, tmp_path, catalogue):
    text, expect = fifty_poles(tables[0])
    path = tmp_path / "LIST.csv"
    path.write_text(text, encoding="utf-8")
    return path, expect


def test_fifty_poles_build_with_a_report_naming_each_bad_row(fifty, catalogue, capsys, mirror_dir):
    path, expect = fifty
    assert main(["poles", "build", "--from-csv", str(path)]) == 0
    out = capsys.readouterr().out
    lines = path.read_text(encoding="utf-8").splitlines()
    line_of = {row.split(",")[0]: n for n, row in reversed(list(enumerate(lines, start=1)))}
    assert f"row {line_of['bad-unknown']} (id 'bad-unknown'): commune code '99999' starts with 99, which is no " \
           "département" in out
    assert f"row {line_of['bad-merged']} (id 'bad-merged'): commune code '74011' is not a commune of this vintage" in out
    assert f"row {line_of['bad-empty']} (id 'bad-empty'): has no code in 'communes', 'epci', 'departements' or " \
           "'qpv' [row skipped]" in out
    assert f"row {len(lines)} (id 'p03'): its id 'p03' is already used by row {line_of['p03']} [row skipped]" in out
    assert out.count("[code ignored]") == 2 and out.count("[row skipped]") == 2
    assert out.strip().endswith("50 pole(s) from 52 row(s); 2 row(s) skipped, 2 code(s) ignored")
    built = json.loads(path.with_suffix(".geojson").read_text(encoding="utf-8"))
    ids = [f["properties"]["id"] for f in built["features"]]
    assert ids == list(expect) and len(ids) == 50
    by_id = {f["properties"]["id"]: f for f in built["features"]}
    # free attributes are kept as text, empty cells as null; the codes as lists
    assert by_id["p01"]["properties"]["confiance"] == "moyenne" and by_id["p01"]["properties"]["type_pole"] is None
    assert by_id["bad-merged"]["properties"]["communes"] == ["74010"]
    assert by_id["ardeche"]["properties"]["nom"] == "Ardèche « entière »"
    from ptce_geo.layers import load_layer

    communes = load_layer("communes", catalogue=catalogue)
    for pid, members in expect.items():
        if members is None:
            continue
        assert set(expand_codes(by_id[pid]["properties"], communes, catalogue)) == members, pid
    # the Grésilles pole is the QPV's outline, read from the raw mirror file
    raw = json.loads((mirror_dir / "qpv" / "qpv_2015_france.geojson").read_text(encoding="utf-8"))
    outline = shapely.geometry.shape(next(f["geometry"] for f in raw["features"]
                                          if f["properties"]["code_qp"] == "QP021004"))
    shape = shapely.geometry.shape(by_id["gresilles"]["geometry"])
    assert shapely.symmetric_difference(shape, outline).area <= 1e-6 * outline.area
    # the built file is a clean poles file
    assert main(["poles", "check", str(path.with_suffix(".geojson"))]) == 0


def test_scorecard_reads_the_csv_directly(fifty, catalogue, capsys, caplog, tmp_path):
    path, expect = fifty
    with caplog.at_level(logging.WARNING, logger="ptce_geo"):
        assert main(["scorecard", "--poles", str(path), "--output", str(tmp_path / "card.csv")]) == 0
    card = pd.read_csv(tmp_path / "card.csv", dtype={"pole_id": str})
    assert list(card["pole_id"]) == list(expect)
    assert card.set_index("pole_id").loc["ardeche", "n_departements"] == 1
    assert card.set_index("pole_id").loc["p11", "n_communes"] == 2
    # the formula-like name is neutralised in the CSV output
    assert not str(card.set_index("pole_id").loc["mixte", "nom"]).startswith("=")
    logged = caplog.text
    for pid in ("bad-unknown", "bad-merged", "bad-empty", "p03"):
        assert f"(id '{pid}')" in logged, pid
    # `poles check` on the list lists the same four problems and exits 2
    capsys.readouterr()
    assert main(["poles", "check", str(path)]) == 2
    out = capsys.readouterr().out
    assert out.count("error: row ") == 4 and "4 error(s)" in out


def test_read_perimeters_accepts_csv_bytes_of_any_usual_form(catalogue):
    from ptce_geo.poles import descriptive_columns

    text = "\ufeffID;Nom;Code_INSEE;SIREN;Confiance\nx;Annonay et voisine;07010, 07019;;Haute\ny;Seignanx;;244000659;\n"
    for raw in (text.encode("utf-8"), text.encode("utf-8-sig"), text.replace("\ufeff", "").encode("cp1252")):
        assert is_csv_source(raw) and not is_csv_source(b'{"type": "FeatureCollection"}')
        poles = read_perimeters(raw, catalogue=catalogue)
        assert list(poles["id"]) == ["x", "y"] and list(poles["definition"]) == ["codes", "codes"]
        assert poles["communes"].iloc[0] == ("07010", "07019") and len(poles["communes"].iloc[1]) == 8
        assert poles.attrs["csv_report"] == []
        assert list(descriptive_columns(poles)["confidence"]) == ["haute", None]
    tab = "id\tcommunes\nz\t07010\n".encode()
    assert list(read_perimeters(tab, catalogue=catalogue)["nom"]) == ["z"]


def test_bad_tables_are_refused_with_a_fix(catalogue, tmp_path):
    with pytest.raises(InvalidPerimeter, match="no 'id' column"):
        read_poles_csv(b"code,communes\nx,07010\n", catalogue=catalogue)
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InvalidPerimeter, match="is empty"):
        read_poles_csv(tmp_path / "empty.csv", catalogue=catalogue)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,communes\na,99999\nb,\n", encoding="utf-8")
    from ptce_geo.poles import build_from_csv

    with pytest.raises(InvalidPerimeter, match="no row can be used"):
        build_from_csv(bad, catalogue=catalogue)
    assert not bad.with_suffix(".geojson").exists()
    with pytest.raises(InvalidPerimeter):
        read_perimeters(bad, catalogue=catalogue)
    result = read_poles_csv(bad, catalogue=catalogue)
    table = report_table(result.report)
    assert list(table["action"]) == ["code ignored", "row skipped", "row skipped"]
    assert list(table["line"]) == [2, 2, 3] and result.n_poles == 0
    assert "99999" in result.report[0].fr and result.report[2].fr.startswith("ligne 3 (« b ») : aucun code")


# -- QPV perimeters ---------------------------------------------------------------------------

def test_qpv_codes_are_checked_with_reasons(catalogue):
    data = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "q", "qpv": ["QP021004", "QN021004", "21231", "qp021003", "QP099999",
                                                              "Grésilles"]}, "geometry": None}]}
    problems = check_perimeters(data, catalogue=catalogue)
    text = "\n".join(str(p) for p in problems)
    assert len(problems) == 5 and not any(p.message.startswith("QPV code 'QP021004'") for p in problems)
    assert "QPV code 'QN021004' is a code of the 2024 list (décret 2023-1314), but the catalogue's QPV layers " \
           "('qpv' (2015)) hold the 2015 list" in text
    assert "QPV code '21231' is an INSEE commune code, not a QPV code. Fix: move it to 'communes'" in text
    assert "QPV code 'qp021003' has spaces or lower-case letters. Fix: write 'QP021003'" in text
    assert "QPV code 'QP099999' is in none of the catalogue's QPV layers ('qpv' (2015))" in text
    assert "QPV code 'Grésilles' is not a QPV code" in text
    with pytest.raises(InvalidPerimeter, match=r"feature #1 \(id 'q'\): QPV code 'QN021004'"):
        read_perimeters(data, catalogue=catalogue)


def test_qpv_and_communes_together_and_another_layer_id(catalogue, tmp_path, mirror_env):
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.layers import load_layer
    from ptce_geo.projection import area_m2

    import numpy as np

    both = read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "b", "qpv": ["QP021004", "QP021005"], "communes": ["21617"]},
         "geometry": None}]}, catalogue=catalogue)
    assert both["definition"].iloc[0] == "geometry"
    outlines = qpv_outlines(["QP021004", "QP021005"], catalogue=catalogue)
    talant = load_layer("communes", catalogue=catalogue).set_index("code").loc["21617"]
    expected = area_m2(outlines.geometry.to_numpy()).sum() + talant["area_m2"]  # disjoint: Dijon, Longvic, Talant
    assert area_m2(both.geometry.to_numpy())[0] == pytest.approx(expected, rel=1e-6)
    # a catalogue whose 2015 list is a layer 'qpv_2015' (no 'qpv'): the code is found there
    other = tmp_path / "cat.toml"
    other.write_text(MIRROR_CATALOGUE.read_text(encoding="utf-8").replace('id = "qpv"', 'id = "qpv_2015"'),
                     encoding="utf-8")
    cat2 = load_catalogue(other)
    found = qpv_outlines(["QP021004", "QP000000"], catalogue=cat2)
    assert list(found["code"]) == ["QP021004"] and list(found["layer"]) == ["qpv_2015"]
    poles = read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "g", "qpv": ["QP021004"]}, "geometry": None}]}, catalogue=cat2)
    assert area_m2(poles.geometry.to_numpy())[0] == pytest.approx(area_m2(found.geometry.to_numpy())[0], rel=1e-9)
    assert np.isfinite(area_m2(poles.geometry.to_numpy())).all()


def test_a_qpv_list_the_catalogue_lacks_falls_back_on_the_stored_outline(catalogue, tmp_path, mirror_env):
    """With the 2024 list only (the default catalogue), ptce03's 2015 code is not found: its stored outline stands in."""
    from pathlib import Path

    from ptce_geo.catalogue import load_catalogue

    poles_file = Path(__file__).resolve().parent.parent / "poles.geojson"
    other = tmp_path / "no_2015.toml"
    other.write_text(MIRROR_CATALOGUE.read_text(encoding="utf-8").replace('id = "qpv"', 'id = "quartiers_autres"'),
                     encoding="utf-8")
    cat2 = load_catalogue(other)
    problems = check_perimeters(poles_file, catalogue=cat2)
    assert [(p.feature, p.severity) for p in problems] == [("feature #3 (id 'ptce03')", "warning")]
    assert "QPV code 'QP021004' is in none of the catalogue's QPV layers (none: the catalogue has no QPV layer)" \
        in problems[0].message and "stored" in problems[0].message
    a = read_perimeters(poles_file, catalogue=cat2).set_index("id").geometry
    b = read_perimeters(poles_file, catalogue=catalogue).set_index("id").geometry
    assert shapely.symmetric_difference(a["ptce03"], b["ptce03"]).area <= 1e-6 * b["ptce03"].area
    # without a stored geometry there is nothing to fall back on: refused, naming the code
    bare = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "g", "qpv": ["QP021004"]}, "geometry": None}]}
    with pytest.raises(InvalidPerimeter, match="QP021004"):
        read_perimeters(bare, catalogue=cat2)


def test_a_list_without_one_usable_row_names_the_file_and_counts_its_rows(catalogue, tmp_path, capsys):
    path = tmp_path / "liste.csv"
    path.write_text("id,nom,communes\np1,Inconnue,99999\np2,Sans code,\n", encoding="utf-8")
    with pytest.raises(InvalidPerimeter) as err:
        read_perimeters(path, catalogue=catalogue)
    assert str(err.value).startswith("liste.csv: no usable row") and "2 row(s) skipped" in str(err.value)
    assert err.value.fr.startswith("liste.csv : aucune ligne utilisable") and "2 ligne(s) écartée(s)" in err.value.fr
    assert main(["analyze", "--layer", "epci", "--poles", str(path)]) == 2
    assert "error: liste.csv: no usable row" in capsys.readouterr().err
