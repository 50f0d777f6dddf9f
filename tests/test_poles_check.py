"""``ptce-geo poles check``: every kind of bad input gets a message naming the feature and the fix.

Each case asserts on the words a person reads: which feature, what is wrong, what to do.
Expected codes are facts checked by hand (Paris 75056, Lyon 69123, Marseille 13055, Ajaccio
2A004, Trévoux 01427, Annecy-le-Vieux merged into Annecy 74010 in 2017) or read from the
INSEE table of the mirror, not from the layers the checks use.
"""

from __future__ import annotations

import json

import pandas as pd
import shapely

from ptce_geo.checks import Problem, code_problems, coordinate_problem
from ptce_geo.cli import main
from ptce_geo.layers import load_layer
from ptce_geo.perimeters import check_perimeters

import numpy as np


def square(x: float, y: float, d: float = 0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


def feature(props: dict, geometry: dict | None = None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features: dict, **members) -> dict:
    return {"type": "FeatureCollection", **members, "features": list(features)}


def only(problems: list[Problem], severity: str = "error") -> Problem:
    """The one problem of a check, asserted to be one of that severity."""
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].severity == severity
    return problems[0]


def text_of(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# -- structure (no boundary data needed) ----------------------------------------------------

def test_invalid_json_names_the_file_and_the_place(tmp_path):
    path = tmp_path / "poles.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [\n{"type": "Feature",, }]}', encoding="utf-8")
    p = only(check_perimeters(path, codes=False))
    assert str(path) in str(p) and "not valid JSON" in str(p) and "line 2" in str(p)
    assert "fix the syntax" in str(p)


def test_unreadable_and_non_collection_files(tmp_path):
    p = only(check_perimeters(tmp_path / "missing.geojson", codes=False))
    assert "missing.geojson" in str(p) and "cannot be read" in str(p) and "check the path" in str(p)
    p = only(check_perimeters({"type": "Feature", "properties": {}, "geometry": None}, codes=False))
    assert p.feature == "file" and "single GeoJSON Feature" in p.message and "wrap it" in p.fix
    p = only(check_perimeters(collection(), codes=False))
    assert "holds no feature" in p.message


def test_missing_and_duplicate_ids():
    problems = check_perimeters(collection(feature({"nom": "A"}, square(2, 47)), feature({"id": "x"}, square(2, 47)),
                                           feature({"id": "x"}, square(3, 47)), feature({"id": 7}, square(4, 47))),
                                codes=False)
    assert [p.feature for p in problems] == ["feature #1", "feature #3 (id 'x')", "feature #4"]
    assert "has no 'id' property" in problems[0].message and 'add a unique text property "id"' in problems[0].fix
    assert "already used by feature #2" in problems[1].message and "its own id" in problems[1].fix
    assert "not text" in problems[2].message and '"7"' in problems[2].fix


def test_neither_geometry_nor_codes():
    p = only(check_perimeters(collection(feature({"id": "vide", "nom": "Vide"})), codes=False))
    assert p.feature == "feature #1 (id 'vide')" and "neither a geometry nor codes" in p.message
    assert "'communes', 'epci', 'departements' or 'qpv'" in p.fix
    p = only(check_perimeters(collection(feature({"id": "typo", "code_insee": ["07010"]})), codes=False))
    assert "'code_insee'" in p.message and "rename 'code_insee' to 'communes'" in p.fix


def test_code_lists_of_the_wrong_type():
    problems = check_perimeters(collection(feature({"id": "n", "communes": [1427, 7010]}),
                                           feature({"id": "s", "communes": "07010;07019"}),
                                           feature({"id": "d", "departements": [7]})), codes=False)
    assert [p.feature for p in problems] == ["feature #1 (id 'n')", "feature #2 (id 's')", "feature #3 (id 'd')"]
    assert '"communes": ["01427", "07010"]' in problems[0].fix
    assert '"communes": ["07010", "07019"]' in problems[1].fix
    assert '"departements": ["07"]' in problems[2].fix


def test_non_polygon_and_empty_geometries():
    problems = check_perimeters(collection(feature({"id": "pt"}, {"type": "Point", "coordinates": [2.0, 47.0]}),
                                           feature({"id": "ln"}, {"type": "LineString", "coordinates": [[2, 47], [3, 47]]}),
                                           feature({"id": "vide"}, {"type": "Polygon", "coordinates": []}),
                                           feature({"id": "obj"}, {"coordinates": []})), codes=False)
    assert [p.feature for p in problems] == ["feature #1 (id 'pt')", "feature #2 (id 'ln')",
                                             "feature #3 (id 'vide')", "feature #4 (id 'obj')"]
    assert "a Point, not a Polygon" in problems[0].message and "draw the perimeter as a polygon" in problems[0].fix
    assert "a LineString" in problems[1].message
    assert "empty" in problems[2].message and "set geometry to null and give codes" in problems[2].fix
    assert "not a GeoJSON geometry object" in problems[3].message


# -- coordinates ----------------------------------------------------------------------------

def test_coordinates_outside_france_swapped_or_projected():
    l93 = [[652000, 6862000], [654000, 6862000], [654000, 6864000], [652000, 6862000]]  # Paris in Lambert-93
    merc = [[261000, 6250000], [263000, 6250000], [263000, 6252000], [261000, 6250000]]  # Paris in Web Mercator
    utm = [[-2e7, 9e6], [-1.9e7, 9e6], [-1.9e7, 9.1e6], [-2e7, 9e6]]  # nowhere
    problems = check_perimeters(collection(
        feature({"id": "berlin"}, square(13.4, 52.5)), feature({"id": "lyon-inverse"}, square(45.76, 4.83)),
        feature({"id": "l93"}, {"type": "Polygon", "coordinates": [l93]}),
        feature({"id": "merc"}, {"type": "Polygon", "coordinates": [merc]}),
        feature({"id": "loin"}, {"type": "Polygon", "coordinates": [utm]}),
        feature({"id": "ok"}, square(2.3, 48.85))), codes=False)
    by = {p.feature: p for p in problems}
    assert list(by) == ["feature #1 (id 'berlin')", "feature #2 (id 'lyon-inverse')", "feature #3 (id 'l93')",
                        "feature #4 (id 'merc')", "feature #5 (id 'loin')"]
    assert "outside France" in by["feature #1 (id 'berlin')"].message
    assert "lon 13.40, lat 52.50" in by["feature #1 (id 'berlin')"].message
    assert "swapped (latitude, longitude)" in by["feature #2 (id 'lyon-inverse')"].message
    assert "[longitude, latitude]" in by["feature #2 (id 'lyon-inverse')"].fix
    l93p = by["feature #3 (id 'l93')"]
    assert "look like Lambert-93 (EPSG:2154)" in l93p.message and "declares no CRS" in l93p.message
    assert "reproject the file to WGS84" in l93p.fix and '"name": "EPSG:2154"' in l93p.fix
    assert "Web Mercator (EPSG:3857)" in by["feature #4 (id 'merc')"].message
    assert "in no usual CRS" in by["feature #5 (id 'loin')"].message


def test_declared_crs_is_honoured_and_an_unknown_one_reported():
    l93 = [[652000, 6862000], [654000, 6862000], [654000, 6864000], [652000, 6862000]]
    good = collection(feature({"id": "a"}, {"type": "Polygon", "coordinates": [l93]}),
                      crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}})
    assert check_perimeters(good, codes=False) == []
    bad = collection(feature({"id": "a"}, square(2, 47)), crs={"type": "name", "properties": {"name": "EPSG:99999"}})
    p = only(check_perimeters(bad, codes=False))
    assert p.feature == "file" and "names no known coordinate system" in p.message and "EPSG:2154" in p.fix


def test_non_finite_coordinates():
    p = coordinate_problem("feature #1 (id 'a')", np.array([[2.0, 47.0], [np.nan, 47.0]]))
    assert p is not None and "not finite" in p.message and p.feature == "feature #1 (id 'a')"


# -- codes against the 2024 layers ----------------------------------------------------------

def test_arrondissements_give_their_commune(catalogue):
    problems = check_perimeters(collection(feature({"id": "plm", "communes": ["75111", "69383", "13215", "07010"]})),
                                catalogue=catalogue)
    assert [p.feature for p in problems] == ["feature #1 (id 'plm')"] * 3
    text = text_of(problems)
    assert "'75111' is a municipal arrondissement of Paris" in text and "use '75056'" in text
    assert "'69383' is a municipal arrondissement of Lyon" in text and "use '69123'" in text
    assert "'13215' is a municipal arrondissement of Marseille" in text and "use '13055'" in text
    assert all(p.fix == "replace it in 'communes'" for p in problems)


def test_ept_given_as_epci_lists_its_communes(catalogue, mirror_dir):
    table = pd.read_csv(mirror_dir / "tables" / "communes_2024_appartenance.csv", dtype=str)
    plaine = sorted(table.loc[table["EPT"] == "200057867", "CODGEO"])
    assert {"93039", "93066", "93001"} <= set(plaine)
    p = only(check_perimeters(collection(feature({"id": "phares", "epci": ["200057867"]})), catalogue=catalogue))
    assert p.feature == "feature #1 (id 'phares')" and "is an EPT" in p.message
    assert p.fix == f"list its {len(plaine)} communes in 'communes' instead: {', '.join(plaine)}"


def test_lost_zero_corsica_spaces_and_misplaced_codes(catalogue):
    problems = check_perimeters(collection(
        feature({"id": "z", "communes": ["1427"], "departements": ["7", "20", "2a"]}),
        feature({"id": "c", "communes": ["20004", " 07010"]}),
        feature({"id": "m", "communes": ["244000659", "07"], "epci": ["07010", "217500016", "24400065"]})),
        catalogue=catalogue)
    text = text_of(problems)
    assert "feature #1 (id 'z'): commune code '1427' has 4 digits: a leading zero was lost (use '01427')" in text
    assert "département code '7' is unknown. Fix: write '07' (leading zero lost)" in text
    assert "département code '20' is unknown. Fix: use '2A' and/or '2B'" in text
    assert "département code '2a' is unknown. Fix: write '2A'" in text
    assert "feature #2 (id 'c'): commune code '20004' uses the pre-1976 Corsica number 20: use '2A004'" in text
    assert "commune code ' 07010' has spaces or lower-case letters: write '07010'" in text
    assert "feature #3 (id 'm'): commune code '244000659' is the SIREN of an EPCI" in text and "move it to 'epci'" in text
    assert "commune code '07' is a département code: move it to 'departements'" in text
    assert "'07010' in 'epci' is the INSEE code of the commune Annonay. Fix: move it to 'communes'" in text
    assert "'217500016' looks like the SIREN of a commune" in text
    assert "EPCI code '24400065' is not a 9-digit SIREN" in text
    assert len(problems) == 11


def test_merged_commune_without_geometry_says_where_to_look(catalogue):
    p = only(check_perimeters(collection(feature({"id": "a", "communes": ["74011", "74010"]})), catalogue=catalogue))
    assert p.feature == "feature #1 (id 'a')"
    assert "'74011' is not a commune of this vintage (département 74)" in p.message
    assert "commune nouvelle" in p.message and "COG history" in p.message


def test_merged_commune_found_from_the_feature_geometry(catalogue):
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    # a stale file: drawn on Annecy and Sevrier, but Annecy given by the code of Annecy-le-Vieux
    drawn = shapely.union_all(communes.loc[["74010", "74267"]].geometry.to_numpy())
    geom = shapely.geometry.mapping(drawn)
    p = only(check_perimeters(collection(feature({"id": "annecy", "communes": ["74011", "74267"]}, geom)),
                              catalogue=catalogue))
    assert "'74011' is not a commune of this vintage" in p.message
    assert "the feature's geometry lies on '74010' (Annecy)" in p.message and "use that code" in p.message
    # a small drawing around Annecy-le-Vieux (north-east of the old town) finds it too
    p = only(check_perimeters(collection(feature({"id": "alv", "communes": ["74011"]}, square(6.14, 45.91, 0.015))),
                              catalogue=catalogue))
    assert "'74010' (Annecy)" in p.message


def test_slivers_of_another_outline_suggest_nothing(catalogue):
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    wider = shapely.union_all(communes.loc[["07010", "07019"]].geometry.to_numpy()).buffer(0.0004)  # ≈ 40 m wider
    p = only(check_perimeters(collection(feature({"id": "a", "communes": ["07010", "07019", "07999"]},
                                                 shapely.geometry.mapping(wider))), catalogue=catalogue))
    assert "lies on" not in p.message and "COG history" in p.message


def test_merged_epci_found_from_the_feature_geometry(catalogue):
    epci = load_layer("epci", catalogue=catalogue).set_index("code")
    geom = shapely.geometry.mapping(epci.loc["200056232", "geometry"].buffer(-0.01))
    problems = check_perimeters(collection(feature({"id": "noe", "epci": ["241400000"]}, geom),
                                           feature({"id": "x", "epci": ["200000000"]})), catalogue=catalogue)
    first, second = problems
    assert first.feature == "feature #1 (id 'noe')" and "not an EPCI of this vintage" in first.message
    assert "lies on '200056232' (CA Communauté Paris-Saclay)" in first.message and "use '200056232'" in first.fix
    assert second.feature == "feature #2 (id 'x')" and "use the SIREN of the EPCI now in force" in second.fix


def test_anciens_codes_column_gives_the_new_code():
    communes = pd.DataFrame({"code": ["74010", "07010"], "nom": ["Annecy", "Annonay"], "dep": ["74", "07"],
                             "anciens_codes": ["74011;74093;74182;74217;74268", None]})
    p = only(code_problems("feature #1 (id 'a')", {"communes": ["74093"]}, communes, ["200066793"]))
    assert p.message == "commune code '74093' was merged into the commune nouvelle Annecy: use '74010'"


def test_seat_and_stale_geometry_warnings(catalogue, capsys, tmp_path):
    data = collection(feature({"id": "s", "communes": ["07010"], "siege_insee": "75111"}),
                      feature({"id": "g", "communes": ["07010"]}, square(4.6, 45.2, 0.05)))
    problems = check_perimeters(data, catalogue=catalogue)
    seat, stale = problems
    assert seat.severity == "warning" and seat.feature == "feature #1 (id 's')"
    assert "use '75056'" in seat.message and "falls back to the perimeter's representative point" in seat.message
    assert stale.severity == "warning" and stale.feature == "feature #2 (id 'g')"
    assert "differs from the union of its codes" in stale.message and "ptce-geo poles build" in stale.fix
    path = tmp_path / "w.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["poles", "check", str(path)]) == 0  # warnings only
    assert capsys.readouterr().out.strip().endswith("clean (2 warning(s))")


def test_an_unknown_confidence_is_reported_and_a_synonym_read():
    from ptce_geo.poles import descriptive_columns
    from ptce_geo.perimeters import read_perimeters

    data = collection(*(feature({"id": f"c{i}", "confiance": value}, square(2, 47))
                        for i, value in enumerate(["+cmd", "@SUM(A1)", "très haute", 3, "élevée", " Moyenne ", "",
                                                   None, "low"])),
                      feature({"id": "en", "confidence": "sure"}, square(2, 47)))
    problems = check_perimeters(data, codes=False)
    assert [(p.feature, p.severity) for p in problems] == [
        ("feature #1 (id 'c0')", "warning"), ("feature #2 (id 'c1')", "warning"),
        ("feature #3 (id 'c2')", "warning"), ("feature #4 (id 'c3')", "warning"), ("feature #10 (id 'en')", "warning")]
    first = problems[0]
    assert first.message == ("its 'confiance' '+cmd' is not a confidence level, so the perimeter is read with no "
                             "confidence (not shown as 'faible', nor filtered as such)")
    assert first.fix.startswith("write one of haute, moyenne, faible (also read: ") and "élevée" in first.fix
    assert "'très haute'" in problems[2].message and "its 'confiance' 3 is" in problems[3].message
    assert "its 'confidence' 'sure'" in problems[4].message
    # what is read: synonyms as their level, anything else as no confidence
    poles = read_perimeters(data)
    assert list(descriptive_columns(poles)["confidence"]) == [None, None, None, None, "haute", "moyenne", None,
                                                              None, "faible", None]


def test_cli_reports_an_unknown_confidence_of_a_csv_list(catalogue, capsys, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("id,nom,epci,confiance\np1,Un,244000659,très haute\np2,Deux,244000659,élevée\n", "utf-8")
    assert main(["poles", "check", str(path)]) == 0  # the list can be used: the value is read as none
    lines = capsys.readouterr().out.strip().split("\n")
    assert lines == [
        "warning: feature #1 (id 'p1'): its 'confiance' 'très haute' is not a confidence level, so the perimeter is "
        "read with no confidence (not shown as 'faible', nor filtered as such). Fix: write one of haute, moyenne, "
        "faible (also read: high, élevée, elevee, forte → haute; medium, moyen → moyenne; low → faible).",
        f"{path}: clean (1 warning(s))"]


# -- the command ----------------------------------------------------------------------------

def test_cli_lists_every_problem_and_exits_2(catalogue, capsys, tmp_path):
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(collection(
        feature({"nom": "sans id", "communes": ["07010"]}),
        feature({"id": "a", "communes": ["75111"]}),
        feature({"id": "a", "epci": ["200057867"]}),
        feature({"id": "p"}, {"type": "Point", "coordinates": [2, 47]}),
        feature({"id": "l"}, {"type": "Polygon", "coordinates": [[[652000, 6862000], [654000, 6862000],
                                                                   [654000, 6864000], [652000, 6862000]]]}))),
        encoding="utf-8")
    assert main(["poles", "check", str(path)]) == 2
    lines = capsys.readouterr().out.strip().split("\n")
    assert lines[-1] == f"{path}: 6 error(s), 0 warning(s)"
    assert [line.split(":")[1].strip() for line in lines[:-1]] == [  # in file order
        "feature #1", "feature #2 (id 'a')", "feature #3 (id 'a')", "feature #3 (id 'a')", "feature #4 (id 'p')",
        "feature #5 (id 'l')"]
    assert "75111" in lines[1] and "already used by feature #2" in lines[2] and "is an EPT" in lines[3]
    assert "Lambert-93" in lines[5]
    assert all(line.startswith("error: feature #") and " Fix: " in line for line in lines[:-1])


def test_cli_invalid_json_exits_2(catalogue, capsys, tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_bytes(b'{"type": "FeatureCollection", "features": [')
    assert main(["poles", "check", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"error: file: {path}: is not valid JSON" in out and "1 error(s)" in out
