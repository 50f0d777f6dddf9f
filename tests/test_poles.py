"""The project's poles file: clean, reproducible, exact, and right about the facts it states.

Expected values come from independent sources: the INSEE table d'appartenance and the DGCL
EPCI composition tables of the mirror (not the layers the engine reads), the ANCT
département polygons, annex 1 of the 2014 document, and facts checked by hand (Llívia, the
Bouchevilliers sliver of the Pays de Bray).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ptce_geo.cli import main
from ptce_geo.errors import InvalidPerimeter
from ptce_geo.layers import load_layer
from ptce_geo.perimeters import expand_codes, read_perimeters
from ptce_geo.poles import build_feature_collection, build_file, dumps_geojson, seat_points
from ptce_geo.projection import area_m2

from conftest import MIRROR

REPO_ROOT = Path(__file__).resolve().parent.parent
POLES = REPO_ROOT / "poles.geojson"
DOC = REPO_ROOT / "docs" / "poles.md"
# shared/ holds the data mirror, the seed and the research table side by side
SHARED = MIRROR.parent if MIRROR is not None else REPO_ROOT.parent / "shared"
SEED = SHARED / "seed" / "000_9e1efa3322657d70.txt"
RESEARCH = SHARED / "research" / "ptce_annex1.csv"
CROSS_REGIONAL = {"ptce05": {"52", "53"}, "ptce06": {"52", "53"}, "ptce23": {"28", "32"}}
#: fields quoting annex 1 as written (exempt from the no-repetition rule)
ANNEX_FIELDS = {"nom", "nom_annexe", "region_annexe", "departement_annexe"}


@pytest.fixture(scope="module")
def fc() -> dict:
    return json.loads(POLES.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def props(fc) -> dict[str, dict]:
    return {f["properties"]["id"]: f["properties"] for f in fc["features"]}


@pytest.fixture(scope="module")
def official(mirror_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """INSEE's commune table (COG 2024) and DGCL's EPCI composition, read as plain CSV."""
    com = pd.read_csv(mirror_dir / "tables" / "communes_2024_appartenance.csv", dtype=str)
    epci = pd.read_csv(mirror_dir / "tables" / "epci_2024_composition.csv", dtype=str)
    return com, epci


def _official_members(p: dict, official) -> set[str]:
    """Member communes by the official tables (for a QPV pole: its communes only, not the QPV's)."""
    com, epci = official
    out = set(p["communes"]) & set(com["CODGEO"])
    out |= set(epci.loc[epci["siren_epci"].isin(p["epci"]), "insee_com"])
    return out | set(com.loc[com["DEP"].isin(p["departements"]), "CODGEO"])


# -- the file as committed -------------------------------------------------------------------

def test_poles_check_is_clean(catalogue, capsys):
    assert main(["poles", "check", str(POLES)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("clean (0 warning(s))")


def test_rebuild_changes_nothing(catalogue, tmp_path, fc, capsys):
    committed = POLES.read_bytes()
    out = build_file(POLES, output=tmp_path / "rebuilt.geojson", catalogue=catalogue)
    assert out.read_bytes() == committed
    assert main(["poles", "build", "--poles", str(POLES), "--output", str(tmp_path / "cli.geojson")]) == 0
    assert (tmp_path / "cli.geojson").read_bytes() == committed
    # the geometry comes from the codes, not from the stored geometry
    bare = {"type": "FeatureCollection", "features": [{**f, "geometry": None} for f in fc["features"]]}
    assert dumps_geojson(build_feature_collection(bare, catalogue=catalogue)).encode("utf-8") == committed


def test_stable_form(fc):
    text = POLES.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert len(lines) == 29 + 3 and lines[-1] == "" and "crs" not in fc
    assert all(line.startswith('{"type":"Feature","properties":{"id":"ptce') for line in lines[1:30])
    assert "\\u" not in text  # UTF-8 text, not escapes


def test_ids_and_properties(fc, props):
    assert list(props) == [f"ptce{i:02d}" for i in range(1, 30)]
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))
    for pid, p in props.items():
        assert set(p) == documented, pid
        assert p["confiance"] in {"haute", "moyenne", "faible"}
        assert p["cog"] == 2024
        assert all(isinstance(u, str) and re.match(r"https?://\S+$", u) for u in p["sources"]), pid
        for key in ("communes", "epci", "departements", "qpv", "filieres", "regions_cog", "departements_cog"):
            assert isinstance(p[key], list) and all(isinstance(v, str) for v in p[key]), (pid, key)
        assert p["annee"] is None or 1990 <= p["annee"] <= 2015
        sentences = re.findall(r"[.!?](?:\s|$)", p["description"])
        assert 2 <= len(sentences) <= 3, (pid, p["description"])
        assert (p["siege_insee"] is None) == (p["siege_nom"] is None)
        assert p["type_pole"] in ("multi-activités", "filière", None), pid
        assert (p["filiere_pole"] is not None) == (p["type_pole"] == "filière"), pid
        for key in ("appel_2011_pole_temoin", "appel_2013_laureat"):
            assert p[key] in (True, False, None), (pid, key)
        assert (p["note_appels"] is None) == (p["appel_2013_laureat"] is None and p["appel_2011_pole_temoin"] is None)
    counts = pd.Series([p["confiance"] for p in props.values()]).value_counts().to_dict()
    # the research table's ratings (7 / 18 / 4) with La Coursive Boutaric and the Pays de Bray lowered
    assert counts == {"haute": 5, "moyenne": 20, "faible": 4}
    assert props["ptce03"]["confiance"] != "haute" and props["ptce23"]["confiance"] != "haute"


def test_annex_entries_as_written_in_the_seed(props):
    if not SEED.is_file():
        pytest.skip("the 2014 document (../shared/seed) is absent")
    seed = " ".join(SEED.read_text(encoding="utf-8").split())
    annex = seed[seed.index("Aquitaine : • Landes"):seed.index("ANNEXE 2 :")]
    for pid, p in props.items():
        for key in ("nom_annexe", "region_annexe", "departement_annexe"):
            assert " ".join(p[key].split()) in annex, (pid, key, p[key])
    assert props["ptce23"]["departement_annexe"] == "Oise, Seine-Maritime"
    assert props["ptce08"]["region_annexe"] == "Franche Comté"


def test_codes_follow_the_research_table(props):
    if not RESEARCH.is_file():
        pytest.skip("the research table (../shared/research) is absent")
    table = pd.read_csv(RESEARCH, dtype=str).fillna("").set_index("id")
    changed = {"ptce03", "ptce16", "ptce23"}  # perimeters changed, each justified in docs/poles.md
    for pid, p in props.items():
        row = table.loc[pid]
        split = {k: [c for c in row[f"perimeter_{k}"].split(";") if c] for k in ("communes", "epci", "departements")}
        if pid == "ptce10":  # Bagnolet and Montreuil added (docs/poles.md)
            split["communes"] += ["93006", "93048"]
        if pid not in changed:
            assert {k: p[k] for k in split} == split, pid
            assert p["qpv"] == [], pid
        assert p["siege_insee"] == (row["seat_insee"] or None)
        if pid not in {"ptce03", "ptce23"}:  # lowered to moyenne
            assert p["confiance"] == {"high": "haute", "medium": "moyenne", "low": "faible"}[row["confidence"]]
    assert (table.loc["ptce03", "confidence"], props["ptce03"]["confiance"]) == ("high", "moyenne")
    assert (table.loc["ptce23", "confidence"], props["ptce23"]["confiance"]) == ("high", "moyenne")
    assert (props["ptce03"]["communes"], props["ptce03"]["qpv"]) == ([], ["QP021004"])
    assert (props["ptce23"]["epci"], props["ptce23"]["communes"]) == (["246000913"], ["76312"])
    # every change is said in the pole's note and in docs/poles.md
    doc = DOC.read_text(encoding="utf-8")
    for pid in changed:
        assert f"`{pid}`" in doc and "auparavant" in props[pid]["note_perimetre"], pid


# -- codes and derived properties against the official tables --------------------------------

def test_members_and_derived_codes(catalogue, props, official):
    com, _ = official
    com = com.set_index("CODGEO")
    communes = load_layer("communes", catalogue=catalogue)
    for pid, p in props.items():
        members = _official_members(p, official)
        assert set(expand_codes(p, communes, catalogue)) == members, pid
        if p["qpv"]:  # the Grésilles QPV lies in Dijon (the 2015 list's own commune name)
            assert p["qpv"] == ["QP021004"] and not members
            members = {"21231"}
        assert p["regions_cog"] == sorted(set(com.loc[sorted(members), "REG"])), pid
        assert p["departements_cog"] == sorted(set(com.loc[sorted(members), "DEP"])), pid
        if p["siege_insee"]:
            assert p["siege_insee"] in members, pid  # every known seat lies in its perimeter
            assert p["siege_nom"] == com.loc[p["siege_insee"], "LIBGEO"], pid


def test_smac07_is_the_whole_ardeche(catalogue, props, official, mirror_dir):
    com, _ = official
    p = props["ptce26"]
    assert (p["communes"], p["epci"], p["departements"]) == ([], [], ["07"])
    assert _official_members(p, official) == set(com.loc[com["DEP"] == "07", "CODGEO"])
    poles = read_perimeters(POLES, catalogue=catalogue).set_index("id")
    anct = gpd.read_file(mirror_dir / "departements" / "departements_anct_2024.geojson")
    ardeche = anct.loc[anct["insee_dep"] == "07"].geometry.to_numpy()
    pole_area = area_m2(np.array([poles.loc["ptce26", "geometry"]], dtype=object))[0]
    # ANCT's own outline of the département (another simplification): same area within 1 %
    assert pole_area == pytest.approx(area_m2(ardeche)[0], rel=0.01)


# -- geometry -------------------------------------------------------------------------------

def test_geometry_is_the_exact_union_of_whole_communes(catalogue, fc):
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    holes = []
    for f in fc["features"]:
        pid, geom = f["properties"]["id"], f["geometry"]
        assert geom["type"] == "MultiPolygon", pid
        if f["properties"]["qpv"]:
            continue  # an outline of QPV: test_gresilles_is_its_qpv_outline
        coords = np.array([xy for poly in geom["coordinates"] for ring in poly for xy in ring])
        assert np.abs(coords * 1e6 - np.round(coords * 1e6)).max() < 1e-6, pid  # 6 decimals
        shape = shapely.geometry.shape(geom)
        assert shape.is_valid, pid
        for poly in shape.geoms:
            assert poly.exterior.is_ccw, pid  # RFC 7946: exteriors counter-clockwise, holes clockwise
            assert not any(r.is_ccw for r in poly.interiors), pid
            holes += [(pid, shapely.Polygon(r)) for r in poly.interiors]
        members = communes.loc[expand_codes(f["properties"], communes.reset_index(), catalogue)]
        reference = shapely.union_all(members.geometry.to_numpy())  # another union algorithm
        assert shapely.symmetric_difference(shape, reference).area <= 1e-9 * reference.area, pid
        # whole communes, no overlap and no gap: the equal-area measure is the sum of the communes'
        assert area_m2(np.array([shape], dtype=object))[0] == pytest.approx(members["area_m2"].sum(), rel=1e-6)
        inner = members.geometry.explode().representative_point().to_numpy()
        for part in shape.geoms:  # no stray sliver part: each part holds (a part of) a member commune
            assert shapely.contains(part, inner).any(), pid
    # the one hole of the file: Llívia, the Spanish enclave in the Pyrénées-Orientales
    assert [pid for pid, _ in holes] == ["ptce15"]
    llivia = holes[0][1]
    assert llivia.contains(shapely.Point(1.98, 42.465))
    assert not communes.geometry.intersects(llivia.buffer(-0.001)).any()


# -- what the scorecard says of them --------------------------------------------------------

def test_scorecard_typologies(catalogue):
    from ptce_geo.overlay import overlay
    from ptce_geo.metrics import piece_shares
    from ptce_geo.scorecard import pole_scorecard

    poles = read_perimeters(POLES, catalogue=catalogue)
    sub = poles[poles["id"].isin(["ptce05", "ptce06", "ptce23", "ptce26"])].reset_index(drop=True)
    card = pole_scorecard(sub, catalogue=catalogue).set_index("pole_id")
    for pid in CROSS_REGIONAL:
        assert card.loc[pid, "typology"] == "inter-régional", pid
    # the descriptive columns of the poles file, next to the figures
    assert list(card.columns[:3]) == ["nom", "confidence", "type_pole"]
    assert card.loc["ptce23", "confidence"] == "moyenne" and card.loc["ptce26", "confidence"] == "haute"
    assert card.loc["ptce26", "type_pole"] == "filière" and card.loc["ptce26", "filiere_pole"] == "musiques actuelles"
    assert card.loc["ptce23", "appel_2013_laureat"] is True and card.loc["ptce05", "appel_2013_laureat"] is None
    assert card.loc["ptce26", "territoire_profil"] == "urbain"
    # SMAC 07: the whole Ardèche: one département, many EPCI
    assert card.loc["ptce26", "typology"] == "inter-EPCI"
    assert card.loc["ptce26", "n_departements"] == 1
    assert card.loc["ptce26", "dominant_departements"] == "Ardèche"
    assert card.loc["ptce26", "dominant_departements_share"] == pytest.approx(1.0)
    shares = piece_shares(overlay(sub, "regions", catalogue=catalogue))
    for pid, regions in CROSS_REGIONAL.items():
        assert set(shares.loc[(shares["pole_id"] == pid) & shares["kept"], "unit_code"]) == regions, pid
    deps = piece_shares(overlay(sub, "departements", catalogue=catalogue))
    bray = deps[deps["pole_id"] == "ptce23"].set_index("unit_code")
    assert set(bray.index) == {"60", "76"} and bray["kept"].all()
    # the annex files the pole under Picardie: its stated core (Oise) is now most of it
    assert bray.loc["60", "share_of_pole"] > 0.9


# -- seat points ----------------------------------------------------------------------------

def test_seat_points_lie_in_their_seat_commune(catalogue, props, mirror_dir):
    poles = read_perimeters(POLES, catalogue=catalogue)
    seats = seat_points(poles, catalogue=catalogue).set_index("id")
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    anct = gpd.read_file(mirror_dir / "departements" / "departements_anct_2024.geojson").set_index("insee_dep")
    perims = poles.set_index("id").geometry
    assert list(seats.index) == list(props)
    for pid, row in seats.iterrows():
        code = props[pid]["siege_insee"]
        assert row.geometry.within(perims[pid]), pid
        if code is None:
            assert row["siege_source"] == "perimetre" and row["siege_insee"] is None, pid
            continue
        assert row["siege_source"] == "commune" and row["siege_nom"] == props[pid]["siege_nom"], pid
        assert row.geometry.within(communes.loc[code, "geometry"]), pid  # for ptce03, in the QPV inside Dijon
        # and in the département of its code by ANCT's own outline (another simplification: 1 km slack,
        # as the thin island commune of L'Île-Saint-Denis falls on the Seine there)
        assert anct.loc[code[:2], "geometry"].distance(row.geometry) < 0.01, pid
    assert sorted(seats.index[seats["siege_source"] == "perimetre"]) == ["ptce06", "ptce07", "ptce16", "ptce20"]


def test_seat_point_falls_back_on_unknown_code(catalogue, caplog):
    data = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "x", "communes": ["07010", "07019"], "siege_insee": "07999"},
         "geometry": None}]}
    poles = read_perimeters(data, catalogue=catalogue)
    with caplog.at_level(logging.WARNING, logger="ptce_geo"):
        seats = seat_points(poles, catalogue=catalogue)
    assert seats.loc[0, "siege_source"] == "perimetre" and seats.loc[0, "geometry"].within(poles.geometry[0])
    assert "07999" in caplog.text


# -- building other files -------------------------------------------------------------------

def test_build_drops_crs_reprojects_and_keeps_properties(catalogue, tmp_path):
    l93 = [[652000.0, 6862000.0], [654000.0, 6862000.0], [654000.0, 6864000.0], [652000.0, 6864000.0],
           [652000.0, 6862000.0]]
    props_a = {"id": "a", "nom": "Deux communes", "communes": ["07010", "07019"], "note": {"x": [1, 2]}}
    data = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:2154"}},
            "features": [{"type": "Feature", "bbox": [0, 0, 1, 1], "properties": props_a, "geometry": None},
                         {"type": "Feature", "properties": {"id": "b"}, "geometry": {"type": "Polygon",
                                                                                     "coordinates": [l93]}}]}
    out = build_feature_collection(data, catalogue=catalogue)
    assert "crs" not in out and "bbox" not in out["features"][0]
    assert out["features"][0]["properties"] == props_a
    a = shapely.geometry.shape(out["features"][0]["geometry"])
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    both = shapely.union_all(communes.loc[["07010", "07019"]].geometry.to_numpy())
    assert shapely.symmetric_difference(a, both).area <= 1e-9 * both.area
    b = shapely.geometry.shape(out["features"][1]["geometry"])
    # 2 km × 2 km in Lambert-93 near Paris: lon/lat now, 4 km² on the ellipsoid
    assert 2.3 < b.centroid.x < 2.4 and 48.8 < b.centroid.y < 48.9
    assert area_m2(np.array([b], dtype=object))[0] == pytest.approx(4e6, rel=2e-3)
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert json.loads(build_file(path, catalogue=catalogue).read_text(encoding="utf-8")) == out


def test_build_refuses_a_bad_file_and_leaves_it_alone(catalogue, tmp_path):
    text = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "ok", "communes": ["07010"]}, "geometry": None},
        {"type": "Feature", "properties": {"id": "bad", "communes": ["75111"]}, "geometry": None}]})
    path = tmp_path / "bad.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPerimeter, match=r"feature #2 \(id 'bad'\).*75111.*use '75056'"):
        build_file(path, catalogue=catalogue)
    assert path.read_text(encoding="utf-8") == text and list(tmp_path.iterdir()) == [path]


def test_build_warns_on_another_cog_vintage(catalogue, caplog):
    data = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "a", "communes": ["07010"], "cog": 2023}, "geometry": None}]}
    with caplog.at_level(logging.WARNING, logger="ptce_geo"):
        build_feature_collection(data, catalogue=catalogue)
    assert "COG 2023" in caplog.text and "COG 2024" in caplog.text


def test_dumps_geojson_is_stable_and_round_trips():
    fc = {"type": "FeatureCollection", "name": "t", "features": [
        {"type": "Feature", "properties": {"id": "é", "n": 1.5}, "geometry": None},
        {"type": "Feature", "properties": {"id": "b"}, "geometry": {"type": "MultiPolygon", "coordinates": []}}]}
    text = dumps_geojson(fc)
    assert text == ('{"type":"FeatureCollection","name":"t","features":[\n'
                    '{"type":"Feature","properties":{"id":"é","n":1.5},"geometry":null},\n'
                    '{"type":"Feature","properties":{"id":"b"},"geometry":{"type":"MultiPolygon","coordinates":[]}}\n'
                    "]}\n")
    assert json.loads(text) == fc
    with pytest.raises(ValueError):
        dumps_geojson({"type": "FeatureCollection", "features": [{"x": float("nan")}]})


# -- the fidelity fixes of issue 14 -----------------------------------------------------------

def test_gresilles_is_its_qpv_outline(catalogue, fc, props, mirror_dir):
    """ptce03: the outline of the QPV Les Grésilles (2015 list), read here from the raw mirror file."""
    raw = json.loads((mirror_dir / "qpv" / "qpv_2015_france.geojson").read_text(encoding="utf-8"))
    qp = next(f for f in raw["features"] if f["properties"]["code_qp"] == "QP021004")
    assert (qp["properties"]["nom_qp"], qp["properties"]["commune_qp"]) == ("Les Grésilles", "Dijon")
    outline = shapely.geometry.shape(qp["geometry"])
    shape = shapely.geometry.shape(next(f["geometry"] for f in fc["features"] if f["properties"]["id"] == "ptce03"))
    assert shapely.symmetric_difference(shape, outline).area <= 1e-6 * outline.area  # 6-decimal rounding only
    area = area_m2(np.array([shape], dtype=object))[0]
    assert 0.30e6 < area < 0.40e6  # 0.34 km²
    dijon = load_layer("communes", catalogue=catalogue).set_index("code").loc["21231"]
    # the whole commune, which stood for the neighbourhood before, is about 140 times larger
    assert 130 < dijon["area_m2"] / area < 145
    assert shapely.area(shapely.intersection(shape, dijon.geometry)) / shape.area > 0.999
    poles = read_perimeters(POLES, catalogue=catalogue).set_index("id")
    assert poles.loc["ptce03", "definition"] == "geometry" and poles.loc["ptce03", "communes"] is None
    assert (props["ptce03"]["regions_cog"], props["ptce03"]["departements_cog"]) == (["27"], ["21"])


def test_millevaches_park_communes(catalogue, props, official, mirror_dir):
    """ptce16: the communes of the PNR de Millevaches, checked against the raw INPN outline."""
    p = props["ptce16"]
    com, _ = official
    com = com.set_index("CODGEO")
    members = p["communes"]
    assert len(members) == 124 and p["epci"] == [] and p["departements"] == []
    assert com.loc[members, "DEP"].value_counts().to_dict() == {"19": 65, "23": 43, "87": 16}
    assert {"23077", "23090", "19164"} <= set(members)  # the three core communes of the research
    assert p["departements_cog"] == ["19", "23", "87"] and p["confiance"] == "moyenne"
    park = gpd.read_file(mirror_dir / "pnr" / "pnr_inpn_2020_simplifie.geojson")
    outline = park.loc[park["id_mnhn"] == "FR8000045"].geometry.iloc[0]
    communes = load_layer("communes", catalogue=catalogue)
    near = communes[communes.intersects(outline)]
    inside = area_m2(shapely.intersection(near.geometry.to_numpy(), outline)) / area_m2(near.geometry.to_numpy())
    assert set(near.loc[inside >= 0.5, "code"]) == set(members)
    assert inside[inside >= 0.5].min() > 0.8 and inside[inside < 0.5].max() < 0.3  # a clear-cut rule
    poles = read_perimeters(POLES, catalogue=catalogue).set_index("id")
    area = area_m2(np.array([poles.loc["ptce16", "geometry"]], dtype=object))[0]
    assert area > 1000e6  # the bar; the park's own outline measures about 3 355 km²
    assert area == pytest.approx(area_m2(np.array([outline], dtype=object))[0], rel=0.01)
    assert int(com.loc[members, "POP_MUN_2022"].astype(int).sum()) == p["territoire"]["population"] == 38699


def test_pays_de_bray_core_and_gournay(props, official):
    com, epci = official
    p = props["ptce23"]
    core = set(epci.loc[epci["siren_epci"] == "246000913", "insee_com"])
    assert len(core) == 23 and "60333" in core  # Lachapelle-aux-Pots, the seat
    assert _official_members(p, official) == core | {"76312"}
    assert com.set_index("CODGEO").loc["76312", "LIBGEO"] == "Gournay-en-Bray"
    assert p["departements_cog"] == ["60", "76"] and p["regions_cog"] == ["28", "32"]


def test_call_dates_and_texts_agree(props):
    call = "appel à projets interministériel de 2013 (résultats annoncés en janvier 2014)"
    for pid in ("ptce08", "ptce18", "ptce23"):
        assert call in props[pid]["annee_detail"], pid
        assert props[pid]["appel_2013_laureat"] is True, pid
    texts = " ".join(str(p.get(k)) for p in props.values() for k in ("annee_detail", "description", "note_appels"))
    assert "appel à projets national de 2014" not in texts and "appel à projets de janvier 2014" not in texts
    assert "700 particuliers" in props["ptce06"]["description"] and "700 habitants" not in texts


def _words(text: str) -> list[str]:
    return re.findall(r"[0-9a-zà-öø-ÿœæ]+", text.lower().replace("’", "'"))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def test_no_run_of_eight_words_of_the_seed(props):
    """The project's texts are its own: no 8 consecutive words of any seed document."""
    seeds = sorted(SEED.parent.glob("*.txt"))
    if not seeds:
        pytest.skip("the 2014 document (../shared/seed) is absent")
    grams: set[tuple[str, ...]] = set()
    for path in seeds:
        w = _words(path.read_text(encoding="utf-8"))
        grams |= {tuple(w[i:i + 8]) for i in range(len(w) - 7)}
    assert len(grams) > 5000
    found = []
    for pid, p in props.items():
        for key, value in p.items():
            if key in ANNEX_FIELDS:
                continue
            for text in _strings(value):
                w = _words(text)
                found += [(pid, key, " ".join(w[i:i + 8])) for i in range(len(w) - 7) if tuple(w[i:i + 8]) in grams]
    assert found == []
    # the check does catch a repeated sentence (the one ptce03's annee_detail used to hold)
    w = _words("Coopération engagée en 2003 entre un bailleur social et un opérateur culturel")
    assert any(tuple(w[i:i + 8]) in grams for i in range(len(w) - 7))


def test_seed_typology_and_calls(props):
    types = {pid: p["type_pole"] for pid, p in props.items()}
    assert pd.Series(list(types.values())).value_counts().to_dict() == {"multi-activités": 15, "filière": 12}
    assert [pid for pid, t in types.items() if t is None] == ["ptce07", "ptce20"]  # nothing known of their activities
    assert props["ptce10"]["filiere_pole"] == "livre et édition" and props["ptce11"]["filiere_pole"] == "musique"
    assert props["ptce18"]["type_pole"] == props["ptce24"]["type_pole"] == "multi-activités"
    # no source lists the 18 pôles témoins of 2011: unknown everywhere, never false
    assert {p["appel_2011_pole_temoin"] for p in props.values()} == {None}
    laureates = {pid: p["appel_2013_laureat"] for pid, p in props.items() if p["appel_2013_laureat"] is not None}
    assert laureates == {"ptce02": False, "ptce08": True, "ptce18": True, "ptce23": True, "ptce29": False}


def test_territory_profile_against_the_insee_table(props, official):
    """Population, density class and urban share recomputed from the Insee table, not the layers."""
    com, _ = official
    com = com.set_index("CODGEO")
    for pid, p in props.items():
        t = p["territoire"]
        if p["qpv"]:
            assert (t["population"], t["densite"], t["classe_densite"], t["methode"]) == (None, None, None, "géométrie")
            assert (t["profil"], t["part_urbaine"]) == ("urbain", 1.0)  # Dijon is in an unité urbaine
            continue
        members = sorted(_official_members(p, official))
        pop = com.loc[members, "POP_MUN_2022"].astype(int)
        urban = ~com.loc[members, "UU2020"].str.endswith("000")
        assert t["population"] == pop.sum(), pid
        assert t["part_urbaine"] == pytest.approx(pop[urban].sum() / pop.sum(), abs=5e-5), pid
        assert t["profil"] == ("urbain" if pop[urban].sum() >= pop.sum() / 2 else "rural"), pid
        density = pop.sum() / t["superficie_km2"]
        assert t["densite"] == pytest.approx(density, rel=3e-3, abs=0.051), pid  # stored rounded
        bound = {"dense": (1500, 1e9), "intermédiaire": (300, 1500), "peu dense": (25, 300),
                 "très peu dense": (0, 25)}[t["classe_densite"]]
        assert bound[0] <= density < bound[1], pid
        assert t["part_population_qpv"] is None and t["methode"] == "communes", pid
    assert props["ptce16"]["territoire"]["classe_densite"] == "très peu dense"
    assert props["ptce16"]["territoire"]["profil"] == "rural"
    assert props["ptce11"]["territoire"]["classe_densite"] == "dense"  # Paris


def test_descriptive_columns_read_the_properties(catalogue):
    from ptce_geo.poles import descriptive_columns

    poles = read_perimeters(POLES, catalogue=catalogue)
    cols = descriptive_columns(poles).set_index("pole_id")
    assert list(cols.index) == list(poles["id"])
    assert cols["confidence"].value_counts().to_dict() == {"moyenne": 20, "haute": 5, "faible": 4}
    assert cols.loc["ptce07", "confidence"] == "faible" and cols.loc["ptce07", "type_pole"] is None
    assert cols.loc["ptce26", "filiere_pole"] == "musiques actuelles"
    assert cols.loc["ptce23", "appel_2013_laureat"] is True and cols.loc["ptce01", "appel_2013_laureat"] is None
    assert cols.loc["ptce16", "territoire_population"] == 38699
    # a user's perimeter says nothing: unknown, not a default
    user = read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "u", "communes": ["07010"], "confiance": "low",
                                           "appel_2013_laureat": "oui"}, "geometry": None},
        {"type": "Feature", "properties": {"id": "v", "communes": ["07019"]}, "geometry": None}]},
        catalogue=catalogue)
    ucols = descriptive_columns(user).set_index("pole_id")
    assert ucols.loc["u", "confidence"] == "faible" and ucols.loc["u", "appel_2013_laureat"] is True
    assert ucols.loc["v"].drop("confidence").isna().all() and ucols.loc["v", "confidence"] is None


def test_profile_from_the_catalogue_layers_matches_the_stored_one(catalogue, props):
    """The library path (the catalogue's unites_urbaines layer) gives what make_poles stored from the Insee table."""
    from ptce_geo.profiles import territory_profile

    if "unites_urbaines" not in catalogue.layers:
        pytest.skip("the catalogue has no unites_urbaines layer")
    prof = territory_profile(read_perimeters(POLES, catalogue=catalogue), catalogue=catalogue)
    for pid, p in props.items():
        t, row = p["territoire"], prof.loc[pid]
        assert row["population"] == t["population"] and row["classe_densite"] == t["classe_densite"], pid
        assert row["profil"] == t["profil"] and row["part_urbaine"] == pytest.approx(t["part_urbaine"], abs=5e-5), pid
        assert row["superficie_km2"] == pytest.approx(t["superficie_km2"], abs=0.005), pid
        assert row["qpv"] == t["qpv_touches"] and row["part_population_qpv"] is None, pid
