"""``ptce-geo analyze``, ``pieces`` and ``scorecard``: outputs and bad input.

Commands run in-process through :func:`ptce_geo.cli.main` on a small poles file written
to a temporary folder. Bad input must end with exit code 2 and one line on stderr naming
the feature (or file) and the fix, never a traceback.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from ptce_geo.cli import main
from ptce_geo.layers import load_layer

ANALYZE_COLUMNS = ["pole_id", "confidence", "layer", "area_km2", "n_units", "n_slivers", "dominant_code", "dominant_name",
                   "dominant_share", "effective_units", "entropy_norm", "best_iou_code", "best_iou", "border_km",
                   "covered_share"]
PIECES_COLUMNS = ["pole_id", "unit_code", "unit_name", "area_km2", "share_of_pole", "share_of_unit"]
SEIGNANX = "244000659"
MIRROR_CATALOGUE = Path(__file__).resolve().parent.parent / "boundaries" / "mirror-2024.toml"
#: a box across the border of Ardèche (07) and Drôme (26), on the Rhône near Valence
RHONE_BOX = [[[4.80, 44.88], [4.95, 44.88], [4.95, 44.98], [4.80, 44.98], [4.80, 44.88]]]


def write_poles(path, features) -> str:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return str(path)


def feat(fid, geometry=None, **props) -> dict:
    properties = {"id": fid, **props} if fid is not None else props
    return {"type": "Feature", "properties": properties, "geometry": geometry}


@pytest.fixture()
def poles(tmp_path, mirror_env) -> str:
    return write_poles(tmp_path / "poles.geojson", [
        feat("seignanx", epci=[SEIGNANX], nom="Pôle du Seignanx", confiance="haute"),
        feat("rhone", {"type": "Polygon", "coordinates": RHONE_BOX}),
    ])


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_analyze_csv_to_stdout(poles, capsys):
    code, out, err = run(capsys, "analyze", "--layer", "epci", "--poles", poles)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), dtype={"dominant_code": str, "best_iou_code": str})
    assert list(table.columns) == ANALYZE_COLUMNS
    assert list(table["pole_id"]) == ["seignanx", "rhone"]
    row = table.set_index("pole_id").loc["seignanx"]
    assert row["n_units"] == 1 and row["best_iou_code"] == SEIGNANX and row["best_iou"] > 0.999
    assert (table["layer"] == "epci").all()
    # the pole's own confidence; a perimeter that says none has none (empty, not a default)
    assert table["confidence"].iloc[0] == "haute" and pd.isna(table["confidence"].iloc[1])
    assert table["covered_share"].to_numpy() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_analyze_json_to_file_with_threshold(poles, capsys, tmp_path):
    out_file = tmp_path / "out" / "analyze.json"
    out_file.parent.mkdir()
    code, out, err = run(capsys, "analyze", "--layer", "departements", "--poles", poles, "--format", "json",
                         "--output", str(out_file), "--threshold", "0.3")
    assert code == 0, err
    assert out == f"wrote {out_file}\n"  # as `export` says what it wrote
    records = json.loads(out_file.read_text(encoding="utf-8"))
    assert [list(r) for r in records] == [ANALYZE_COLUMNS, ANALYZE_COLUMNS]
    rhone = {r["pole_id"]: r for r in records}["rhone"]
    # the box straddles the Rhône: both départements, the smaller share is below 0.3
    assert rhone["n_units"] + rhone["n_slivers"] == 2
    assert rhone["dominant_code"] in ("07", "26") and rhone["border_km"] > 5


def test_pieces_csv_and_json(poles, capsys, tmp_path):
    code, out, err = run(capsys, "pieces", "--layer", "communes", "--poles", poles)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), dtype={"unit_code": str})
    assert list(table.columns) == PIECES_COLUMNS
    communes = load_layer("communes").set_index("code")
    seignanx = table[table["pole_id"] == "seignanx"].set_index("unit_code")
    assert set(seignanx.index) == set(communes.index[communes["epci"] == SEIGNANX])
    assert seignanx["share_of_unit"].to_numpy() == pytest.approx(1.0)
    assert seignanx["area_km2"].sum() * 1e6 == pytest.approx(communes.loc[seignanx.index, "area_m2"].sum(), rel=1e-9)
    for pid, group in table.groupby("pole_id"):
        assert group["share_of_pole"].sum() == pytest.approx(1.0, abs=1e-6), pid
    out_file = tmp_path / "pieces.json"
    code, out, err = run(capsys, "pieces", "--layer", "communes", "--poles", poles, "--format", "json", "-o", str(out_file))
    assert code == 0, err
    assert out == f"wrote {out_file}\n"
    records = json.loads(out_file.read_text(encoding="utf-8"))
    assert len(records) == len(table) and all(list(r) == PIECES_COLUMNS for r in records)


def test_analyze_refuses_a_zones_layer_and_names_overlap(poles, capsys, caplog):
    """A pole outside every QPV is normal: `analyze` measures divisions, `overlap` zones."""
    caplog.set_level("WARNING")
    assert_refused(capsys, ["analyze", "--layer", "qpv", "--poles", poles],
                   "--layer 'qpv' is a zones layer, not a division", "ptce-geo overlap --zones qpv", "epci")
    assert "touches no unit" not in caplog.text


def test_analyze_does_not_warn_where_a_division_leaves_communes_out(poles, capsys, caplog):
    """Outside the Grand Paris no commune has an EPT: no "outside the layer's territory" warning."""
    caplog.set_level("WARNING")
    code, out, err = run(capsys, "analyze", "--layer", "ept", "--poles", poles, "--format", "json")
    assert code == 0, err
    rows = {r["pole_id"]: r for r in json.loads(out)}
    assert [rows[p]["n_units"] for p in ("seignanx", "rhone")] == [0, 0]
    assert [rows[p]["covered_share"] for p in ("seignanx", "rhone")] == [0.0, 0.0]
    assert "touches no unit" not in caplog.text


def test_pieces_with_population(poles, capsys):
    code, out, err = run(capsys, "pieces", "--layer", "communes", "--poles", poles, "--weight", "population")
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), dtype={"unit_code": str})
    assert list(table.columns) == PIECES_COLUMNS + ["population", "population_share"]
    communes = load_layer("communes").set_index("code")
    seignanx = table[table["pole_id"] == "seignanx"].set_index("unit_code")
    pop = communes.loc[seignanx.index, "population"].astype(float)
    assert seignanx["population"].to_dict() == pop.to_dict()
    assert seignanx["population_share"].to_numpy() == pytest.approx((pop / pop.sum()).to_numpy(), rel=1e-12)
    assert table.groupby("pole_id")["population_share"].sum().to_numpy() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_scorecard_json(poles, capsys):
    code, out, err = run(capsys, "scorecard", "--poles", poles, "--format", "json")
    assert code == 0, err
    rows = {r["pole_id"]: r for r in json.loads(out)}
    assert set(rows) == {"seignanx", "rhone"}
    assert rows["seignanx"]["nom"] == "Pôle du Seignanx"
    assert rows["seignanx"]["typology"] == "intra-EPCI" and rows["seignanx"]["n_epci"] == 1
    assert rows["seignanx"]["n_communes"] == 8
    assert rows["rhone"]["typology"] == "inter-départemental" and rows["rhone"]["n_departements"] == 2
    for r in rows.values():
        assert {"best_ze_code", "best_ze_name", "best_ze_iou", "qpv_count", "qpv_area_share"} <= set(r)
        assert 0 < r["best_ze_iou"] <= 1


def test_scorecard_csv_has_one_row_per_pole(poles, capsys):
    code, out, err = run(capsys, "scorecard", "--poles", poles)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert list(table["pole_id"]) == ["seignanx", "rhone"]
    assert {"typology", "n_communes", "n_epci", "n_departements", "n_regions", "n_zones_emploi"} <= set(table.columns)


# --- bad input ---------------------------------------------------------------------------

@pytest.fixture()
def no_data(monkeypatch, tmp_path):
    """A catalogue but no boundary data: bad files must be refused before any layer load."""
    monkeypatch.setenv("PTCE_GEO_CATALOGUE", str(MIRROR_CATALOGUE))
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(tmp_path / "no-mirror"))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))


def assert_refused(capsys, argv, *words):
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


POLY = {"type": "Polygon", "coordinates": [[[2.0, 47.0], [2.2, 47.0], [2.2, 47.2], [2.0, 47.2], [2.0, 47.0]]]}


@pytest.mark.parametrize("command", [["analyze", "--layer", "epci"], ["pieces", "--layer", "communes"], ["scorecard"]])
def test_unreadable_file(no_data, capsys, tmp_path, command):
    missing = tmp_path / "nowhere.geojson"
    assert_refused(capsys, [*command, "--poles", str(missing)], str(missing), "cannot be read", "check the path")
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    assert_refused(capsys, [*command, "--poles", str(broken)], str(broken), "not valid JSON", "fix the syntax")


@pytest.mark.parametrize("features, words", [
    ([feat(None, POLY)], ["feature #1", "has no 'id' property", "Fix: add a unique text property"]),
    ([feat("a", POLY), feat("a", POLY)], ["feature #2 (id 'a')", "already used by feature #1", "Fix: give every feature its own id"]),
    ([feat("pt", {"type": "Point", "coordinates": [2.0, 47.0]})],
     ["feature #1 (id 'pt')", "is a Point, not a Polygon", "Fix: draw the perimeter as a polygon"]),
    ([feat("sw", {"type": "Polygon", "coordinates": [[[y, x] for x, y in POLY["coordinates"][0]]]})],
     ["feature #1 (id 'sw')", "swapped", "Fix: write each position as [longitude, latitude]"]),
    ([feat("l93", {"type": "Polygon", "coordinates": [[[652000, 6862000], [662000, 6862000], [662000, 6872000],
                                                       [652000, 6862000]]]})],
     ["feature #1 (id 'l93')", "Lambert-93", "Fix: reproject"]),
    ([feat("far", {"type": "Polygon", "coordinates": [[[13.4, 52.5], [13.5, 52.5], [13.5, 52.6], [13.4, 52.5]]]})],
     ["feature #1 (id 'far')", "outside France", "Fix: check the coordinates"]),
], ids=["missing-id", "duplicate-id", "point", "swapped", "lambert93", "berlin"])
def test_bad_features(no_data, capsys, tmp_path, features, words):
    path = write_poles(tmp_path / "bad.geojson", features)
    for command in (["analyze", "--layer", "epci"], ["pieces", "--layer", "epci"], ["scorecard"]):
        assert_refused(capsys, [*command, "--poles", path], *words)


def test_unknown_commune_code(mirror_env, capsys, tmp_path):
    path = write_poles(tmp_path / "bad.geojson", [feat("ok", communes=["40312"]), feat("bad", communes=["40312", "99999"])])
    for command in (["analyze", "--layer", "epci"], ["pieces", "--layer", "communes"], ["scorecard"]):
        assert_refused(capsys, [*command, "--poles", path], "feature #2 (id 'bad')", "'99999'", "Fix: replace it in 'communes'")


def test_bad_threshold_and_layer(poles, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--layer", "epci", "--poles", poles, "--threshold", "1.5"])
    assert exc.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
    code, out, err = run(capsys, "analyze", "--layer", "no_such_layer", "--poles", poles)
    assert code == 2 and "no_such_layer" in err and len(err.strip().splitlines()) == 1
