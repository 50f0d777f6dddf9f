"""One search over every level, the poles acting in a territory, the nearest poles.

Hand-made tables check the ranking rules; the real mirror checks the queries of issue
12 (« romans sur isere », « saint denis », « bayonne ») against the layers themselves;
shares are checked against areas computed with geopandas in EPSG:3035 and populations
summed from the communes table; distances against a brute-force geodesic minimum over
densified outlines (pyproj), not against the function's own method.
"""

from __future__ import annotations

import difflib
import io
import json
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from ptce_geo.fmt import fr_bytes, fr_count, fr_number, fr_pct, plural, search_key, search_keys
from ptce_geo.territory import TerritoryIndex, geodesic_distance_km, nearest_poles

GEOD = Geod(ellps="WGS84")


# ------------------------------------------------------------------ French words and keys
@pytest.mark.parametrize("a, b", [
    ("Saint-Denis", "st denis"), ("SAINT DENIS", "saint-denis"), ("Romans-sur-Isère", "romans sur isere"),
    ("L'Île-Saint-Denis", "l ile st denis"), ("L’Haÿ-les-Roses", "l hay les roses"),
    ("Sainte-Marie", "Ste Marie"), ("Cœuvres-et-Valsery", "coeuvres et valsery"),
])
def test_search_key_ignores_case_accents_hyphens_apostrophes_and_saint(a, b):
    assert search_key(a) == search_key(b)


def test_search_key_keeps_words_apart():
    assert search_key("Saint-Denis") != search_key("Saint-Denis-de-Pile")
    assert search_key("Stenay") == "stenay"  # « st » only as a word


def test_french_numbers_and_plurals():
    assert fr_number(12345.67) == "12\u202f345,7"
    assert fr_number(-0.04) == "0,0"  # no « -0,0 »
    assert fr_pct(0.4439) == "44,4\u00a0%"
    assert fr_bytes(229) == "229\u00a0o" and fr_bytes(3 * 2**20) == "3,0\u00a0Mo"
    assert fr_count(0, "périmètre") == "0\u00a0périmètre"
    assert fr_count(1, "périmètre") == "1\u00a0périmètre"
    assert fr_count(2, "périmètre") == "2\u00a0périmètres"
    assert fr_count(1234, "EPCI", "EPCI") == "1\u202f234\u00a0EPCI"
    assert plural(1.5, "pôle") == "pôle" and plural(2, "zone d'emploi", "zones d'emploi") == "zones d'emploi"


# ------------------------------------------------------------------ ranking rules
@pytest.fixture()
def small_index() -> TerritoryIndex:
    communes = pd.DataFrame({
        "code": ["93066", "11339", "97411", "33416", "26281", "01329", "64102"],
        "nom": ["Saint-Denis", "Saint-Denis", "Saint-Denis", "Saint-Denis-de-Pile", "Romans-sur-Isère", "Romans",
                "Bayonne"],
        "population": [115237, 511, 156149, 6000, 33139, 600, 53312],
        "dep": ["93", "11", "974", "33", "26", "01", "64"],
        "epci": ["200054781", "200042463", "249740119", "", "200068781", "", "200067106"],
    })
    epci = pd.DataFrame({"code": ["200054781", "200067106", "200068781"],
                         "nom": ["Métropole du Grand Paris", "CA du Pays Basque", "CA Valence Romans Agglo"],
                         "population": [7115576, 325721, 224841]})
    deps = pd.DataFrame({"code": ["40", "64", "75"], "nom": ["Landes", "Pyrénées-Atlantiques", "Paris"],
                         "population": [428427, 690000, 2113705]})
    regs = pd.DataFrame({"code": ["75"], "nom": ["Nouvelle-Aquitaine"], "population": [6113384]})
    return TerritoryIndex({"communes": communes, "epci": epci, "departements": deps, "regions": regs})


def test_exact_name_then_population_and_homonyms_labelled(small_index):
    found = small_index.search("st denis")
    direct = found[found["via"] == ""]
    assert list(direct["code"][:4]) == ["97411", "93066", "11339", "33416"]  # exact names by population, then prefix
    assert list(direct["label"][:3]) == ["Saint-Denis (974)", "Saint-Denis (93)", "Saint-Denis (11)"]
    assert set(direct["match"][:3]) == {"nom exact"}


def test_exact_name_beats_a_larger_prefix_match(small_index):
    found = small_index.search("romans")
    assert list(found[found["via"] == ""]["code"]) == ["01329", "26281"]
    assert small_index.search("romans sur isere")["code"].iloc[0] == "26281"


def test_a_town_offers_its_epci(small_index):
    found = small_index.search("bayonne")
    assert list(zip(found["level"], found["code"])) == [("communes", "64102"), ("epci", "200067106")]
    assert found["via"].iloc[1] == "Bayonne (64)"
    only = small_index.search("bayonne", levels=["epci"])
    assert list(only["label"]) == ["CA du Pays Basque"]


def test_codes_siren_and_departement_numbers(small_index):
    assert list(small_index.search("40")["label"]) == ["Landes (40)"]
    both = small_index.search("75")
    assert list(zip(both["level"], both["code"])) == [("departements", "75"), ("regions", "75")]
    assert small_index.search("200067106")["label"].iloc[0] == "CA du Pays Basque"
    assert small_index.search(" 64102 ")["label"].iloc[0] == "Bayonne (64)"
    assert small_index.search("pyrenees atlantiques")["code"].iloc[0] == "64"
    assert small_index.search("pays basque")["code"].iloc[0] == "200067106"  # every word, anywhere
    assert not len(small_index.search("zzzz")) and not len(small_index.search("  "))


# ------------------------------------------------------------------ distances
def _brute_force_km(a, b, step_deg=0.01) -> float:
    """Minimum geodesic distance between densified outlines, all pairs (pyproj)."""
    pa = shapely.get_coordinates(shapely.segmentize(a.boundary, step_deg))
    pb = shapely.get_coordinates(shapely.segmentize(b.boundary, step_deg))
    best = np.inf
    for chunk in np.array_split(pa, max(1, len(pa) // 200)):
        lon1 = np.repeat(chunk[:, 0], len(pb))
        lat1 = np.repeat(chunk[:, 1], len(pb))
        lon2 = np.tile(pb[:, 0], len(chunk))
        lat2 = np.tile(pb[:, 1], len(chunk))
        best = min(best, float(GEOD.inv(lon1, lat1, lon2, lat2)[2].min()))
    return best / 1000


def test_geodesic_distance_matches_brute_force():
    a = shapely.box(0.0, 45.0, 1.0, 46.0)
    b = shapely.box(2.0, 45.5, 3.0, 46.5)
    c = shapely.Polygon([(0.5, 47.5), (1.5, 48.5), (0.2, 48.8)])
    for x, y in ((a, b), (a, c), (b, c)):
        assert geodesic_distance_km(x, y) == pytest.approx(_brute_force_km(x, y), abs=0.05)
    # not degrees: one degree of longitude at 46° N is about 77 km, not 111
    assert 76 < geodesic_distance_km(a, shapely.box(2.0, 45.0, 3.0, 46.0)) < 79
    assert geodesic_distance_km(a, shapely.box(1.0, 45.0, 2.0, 46.0)) == 0.0  # touching


def test_nearest_poles_orders_and_excludes():
    poles = gpd.GeoDataFrame({"id": ["near", "far", "touch"], "nom": ["Près", "Loin", "Contre"]},
                             geometry=[shapely.box(1.5, 45, 2, 46), shapely.box(5, 45, 6, 46), shapely.box(1, 45, 1.2, 46)],
                             crs="EPSG:4326")
    terr = shapely.box(0, 45, 1, 46)
    out = nearest_poles(poles, terr, n=2)
    assert list(out["pole_id"]) == ["touch", "near"] and out["distance_km"].iloc[0] == 0.0
    out = nearest_poles(poles, terr, n=3, exclude=["touch"])
    assert list(out["pole_id"]) == ["near", "far"]
    assert out["distance_km"].iloc[1] == pytest.approx(_brute_force_km(terr, poles.geometry.iloc[1]), abs=0.05)


# ------------------------------------------------------------------ real data
@pytest.fixture()
def index(mirror_env):
    return TerritoryIndex.from_catalogue()


def _layer(lid):
    from ptce_geo.layers import load_layer

    return load_layer(lid)


def _equal_area(geom) -> float:
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs("EPSG:3035").area.iloc[0])


@pytest.mark.realdata
def test_real_queries_of_the_issue(index):
    communes = _layer("communes").set_index("code")
    epci = _layer("epci").set_index("code")
    top = index.search("romans sur isere").iloc[0]
    assert (top["level"], top["code"], top["label"]) == ("communes", "26281", "Romans-sur-Isère (26)")
    for variant in ("Romans-sur-Isère", "ROMANS SUR ISÈRE", "romans-sur-isere"):
        assert index.search(variant)["code"].iloc[0] == "26281"
    found = index.search("saint denis")
    exact = found[(found["match"] == "nom exact") & (found["level"] == "communes")]
    assert "Saint-Denis (93)" in set(exact["label"]) and "93066" in set(exact["code"])
    homonyms = communes[communes["nom"] == "Saint-Denis"]
    assert set(exact["code"]) == set(homonyms.index)  # every commune named exactly Saint-Denis
    pops = exact["population"].to_numpy()
    assert (np.diff(pops) <= 0).all()  # by population
    bayonne_epci = communes.loc["64102", "epci"]
    only = index.search("bayonne", levels=["epci"])
    assert only["code"].iloc[0] == bayonne_epci and only["label"].iloc[0] == epci.loc[bayonne_epci, "nom"]
    assert only["label"].iloc[0] == "CA du Pays Basque"
    assert index.search("40")["label"].iloc[0] == "Landes (40)"
    assert index.search("2A")["label"].iloc[0] == "Corse-du-Sud (2A)"
    assert index.search("244000659")["label"].iloc[0] == epci.loc["244000659", "nom"]


@pytest.mark.realdata
def test_a_dropped_leading_zero_an_abbreviation_and_a_typo(index):
    """« 1004 » is the commune 01004 (a spreadsheet dropped its zero), before codes beginning
    with 1004; « PACA » is the région 93; « Nants », which matches nothing, offers the closest
    names, the most populated first (Nantes)."""
    communes = _layer("communes").set_index("code")
    found = index.search("1004")
    assert (found["code"].iloc[0], found["match"].iloc[0]) == ("01004", "code sans son zéro initial")
    assert found["label"].iloc[0] == f"{communes.loc['01004', 'nom']} (01)"
    assert set(found["match"].iloc[1:]) <= {"début du code", "commune membre"}  # 10040…, after it
    assert (found["level"].iloc[0], found["code"].iloc[0]) == ("communes", "01004")
    paca = index.search("PACA").iloc[0]
    assert (paca["level"], paca["code"], paca["match"]) == ("regions", "93", "sigle de région")
    assert index.search("idf").iloc[0]["label"] == "Île-de-France"
    typo = index.search("Nants")
    assert typo.iloc[0]["code"] == "44109" and typo.iloc[0]["match"] == "nom approchant"
    close = typo[typo["via"] == ""]
    assert (close["match"] == "nom approchant").all()
    assert set(close["nom"]) >= {"Nantes", "Nant"}  # each at ratio >= 0.8 of « nants »
    assert all(difflib.SequenceMatcher(None, "nants", k).ratio() >= 0.8 for k in search_keys(close["nom"]))
    assert index.search("zzqxv").empty  # nothing close: nothing offered
    assert index.search("nantes")["match"].iloc[0] == "nom exact"  # an exact name is never « approchant »


@pytest.fixture()
def real_poles(mirror_env):
    from ptce_geo.perimeters import read_perimeters
    from ptce_geo.settings import DEFAULT_POLES

    return read_perimeters(DEFAULT_POLES)


@pytest.mark.realdata
@pytest.mark.parametrize("weight", ["area", "population"])
def test_poles_acting_in_romans_with_both_shares(real_poles, weight):
    from ptce_geo.options import Options
    from ptce_geo.scorecard import Scorecard
    from ptce_geo.territory import territory_poles

    card = Scorecard(real_poles, options=Options(weight=weight), levels=())
    table = territory_poles(card, "communes", "26281")
    assert list(table["nom"]) == ["Pôle Sud"]
    pole = real_poles.set_index("id").loc[table["pole_id"].iloc[0]]
    communes = _layer("communes").set_index("code")
    members = [c for c in pole["communes"]]
    assert "26281" in members
    if weight == "area":
        expected = _equal_area(communes.geometry.loc["26281"]) / _equal_area(pole.geometry)
        assert table["share_of_pole"].iloc[0] == pytest.approx(expected, rel=2e-3)
    else:
        expected = communes.loc["26281", "population"] / communes.loc[members, "population"].sum()
        assert table["share_of_pole"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert table["share_of_unit"].iloc[0] == pytest.approx(1.0)


@pytest.mark.realdata
def test_union_of_communes_path_equals_the_partition_path(real_poles):
    """A level outside the catalogue (an EPT, say) is measured from its communes: same figures."""
    from ptce_geo.options import Options
    from ptce_geo.scorecard import Scorecard
    from ptce_geo.territory import territory_communes, territory_coverage, territory_poles

    communes = _layer("communes")
    for weight in ("area", "population"):
        card = Scorecard(real_poles, options=Options(weight=weight), levels=())
        by_layer = territory_poles(card, "departements", "93")
        members = territory_communes(communes, "departements", "93")
        by_communes = territory_poles(card, "a-level-not-in-the-catalogue", "93", communes=members)
        assert list(by_layer["pole_id"]) == list(by_communes["pole_id"]) and len(by_layer) >= 2
        for col in ("share_of_unit", "share_of_pole", "area_km2"):
            np.testing.assert_allclose(by_layer[col], by_communes[col], rtol=1e-6)
    # coverage of the Drôme: the poles there are unions of whole communes
    card = Scorecard(real_poles, levels=())
    members = territory_communes(communes, "departements", "26")
    acting = territory_poles(card, "departements", "26")
    ids = set(acting["pole_id"])
    pole_communes = set().union(*(set(c) for c in real_poles.set_index("id").loc[list(ids), "communes"]))
    inside = communes[communes["code"].isin(members)]
    covered = inside[inside["code"].isin(pole_communes)]
    expected = _equal_area(shapely.union_all(covered.geometry.to_numpy())) / _equal_area(
        shapely.union_all(inside.geometry.to_numpy()))
    assert territory_coverage(card, communes, members) == pytest.approx(expected, rel=2e-3)
    card_pop = Scorecard(real_poles, options=Options(weight="population"), levels=())
    assert territory_coverage(card_pop, communes, members) == pytest.approx(
        covered["population"].sum() / inside["population"].sum(), rel=1e-9)


@pytest.mark.realdata
def test_bayonne_has_no_pole_and_its_nearest_poles_are_measured(real_poles):
    from ptce_geo.scorecard import Scorecard
    from ptce_geo.territory import territory_poles

    card = Scorecard(real_poles, levels=())
    assert not len(territory_poles(card, "communes", "64102"))
    bayonne = _layer("communes").set_index("code").geometry.loc["64102"]
    near = nearest_poles(real_poles, bayonne, n=3)
    assert len(near) == 3 and (np.diff(near["distance_km"]) >= 0).all()
    poles = real_poles.set_index("id")
    for pid, km in zip(near["pole_id"], near["distance_km"]):
        geom = poles.geometry.loc[pid]
        if km == 0:
            assert bayonne.intersects(geom)  # the pole next door touches Bayonne
        else:
            assert km == pytest.approx(_brute_force_km(bayonne, geom, step_deg=0.01), abs=0.6)
    assert near["nom"].iloc[0] == "PTCE Sud Aquitain"  # the Seignanx, across the Adour


# ------------------------------------------------------------------ command line
@pytest.mark.realdata
def test_cli_territory(mirror_env, capsys):
    from ptce_geo.cli import main

    def run(*argv):
        code = main(["territory", *argv])
        out = capsys.readouterr()
        assert code == 0, out.err
        return out.out

    table = pd.read_csv(io.StringIO(run("romans sur isere")), dtype={"code": str})
    assert list(table["code"]) == ["26281"] and list(table["pole"]) == ["Pôle Sud"]
    assert list(table["status"]) == ["acting"] and table["share_of_territory"].iloc[0] == pytest.approx(1.0)
    table = pd.read_csv(io.StringIO(run("saint denis")), dtype={"code": str})
    assert "Saint-Denis (93)" in set(table["territory"]) and "93066" in set(table["code"])
    table = pd.read_csv(io.StringIO(run("bayonne", "--level", "epci")), dtype={"code": str})
    assert set(table["territory"]) == {"CA du Pays Basque"}
    rows = json.loads(run("bayonne", "--format", "json"))
    assert {r["territory"] for r in rows} == {"Bayonne (64)"}
    assert [r["status"] for r in rows] == ["nearest"] * 3
    assert all(isinstance(r["distance_km"], float) for r in rows) and rows[-1]["distance_km"] > 100
    assert main(["territory", "zzzz introuvable"]) == 2
    assert "no territory matches" in capsys.readouterr().err
    assert main(["territory", "bayonne", "--level", "cantons-inconnus"]) == 2


@pytest.mark.realdata
def test_cli_territory_says_how_it_read_the_query(mirror_env, capsys, caplog):
    """A dropped leading zero, a typo and five digits that look like a postal code are each said."""
    from ptce_geo.cli import main

    expected = {"1004": ("01004", "'1004' read as Ambérieu-en-Bugey (01) [communes 01004] (a code without its "
                                  "leading zero)"),
                "Nants": ("44109", "'Nants' read as Nantes (44) [communes 44109] (the closest name"),
                "64100": ("64100", "'64100' read as the INSEE code of Bassussarry (64) [communes 64100]: postal "
                                   "codes are not known")}
    for query, (code, said) in expected.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ptce_geo"):
            assert main(["territory", query]) == 0
        table = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"code": str})
        assert set(table["code"]) == {code}, query
        assert said in caplog.text, caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ptce_geo"):
        assert main(["territory", "Bayonne"]) == 0
    assert "read as" not in caplog.text  # typed as found: nothing to say
