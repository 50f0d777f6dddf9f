"""Zones by official membership, on a hand-built catalogue whose figures are known exactly.

The communes are longitude/latitude boxes between 46° and 47° N. On an ellipsoid of
revolution, with edges along meridians and parallels (how ptce_geo measures), the area
of such a box is proportional to its width in longitude, so every area share below is a
ratio of widths, exact. Widths: A 1, B 1, C 1, D 0.02, F 8, G 1; populations A 1 000,
B 3 000, C 6 000, D 50, F 100, G 10. EPCI: 200000001 = {A, B}, 200000002 = {C, D},
200000003 = {F}, 200000004 = {G}.

Zones of layer ``zz`` (members "name (SIREN)", declared commune counts in ``nb``):
Z1 = CC Un {A, B}; Z2 = CC Deux {C, D}; Z3 = CC Trois {F}; Z4 = Un et Deux {A, B, C, D};
Z5 = an unknown SIREN (outline = A); Z6 = Deux et Trois {C, D, F}; Z7 = an unreadable
member (far away); Z8 = CC Un declared with 5 communes (outline = A ∪ B).
"""

from __future__ import annotations

import io
import json
import textwrap

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from ptce_geo.catalogue import load_catalogue
from ptce_geo.cli import main
from ptce_geo.errors import CatalogueError, InvalidInput
from ptce_geo.layers import clear_memory_cache, layer_status, zone_members
from ptce_geo.options import Options
from ptce_geo.perimeters import read_perimeters
from ptce_geo.zones import OVERLAP_COLUMNS, RELATION_LABELS, overlap_zones, programme_summary

LAT0, LAT1 = 46.0, 47.0
COMMUNES = [  # code, name, x0, x1, population, epci
    ("01001", "A", 0.0, 1.0, 1000, "200000001"),
    ("01002", "B", 1.0, 2.0, 3000, "200000001"),
    ("01003", "C", 2.0, 3.0, 6000, "200000002"),
    ("01004", "D", 3.0, 3.02, 50, "200000002"),
    ("01005", "F", 3.02, 11.02, 100, "200000003"),
    ("01006", "G", 11.02, 12.02, 10, "200000004"),
]
WIDTH = {name: x1 - x0 for _, name, x0, x1, _, _ in COMMUNES}
POP = {name: p for _, name, _, _, p, _ in COMMUNES}
CODE = {name: code for code, name, *_ in COMMUNES}


def box(x0, x1):
    return shapely.box(x0, LAT0, x1, LAT1)


ZONES = [  # code, name, members, declared count, outline
    ("Z1", "CC Un", "CC Un (200000001)", 2, box(0, 2)),
    ("Z2", "CC Deux", "CC Deux (200000002)", 2, box(2, 3.02)),
    ("Z3", "CC Trois", "CC Trois (200000003)", 1, box(3.02, 11.02)),
    ("Z4", "Un et Deux", "CC Un (200000001); CC Deux (200000002)", 4, box(0, 3.02)),
    ("Z5", "Inconnue", "Inconnu (299999999)", None, box(0, 1)),
    ("Z6", "Deux et Trois", "CC Deux (200000002); CC Trois (200000003)", 3, box(2, 11.02)),
    ("Z7", "Illisible", "une liste sans code", None, box(20, 21)),
    ("Z8", "Un mal compté", "CC Un (200000001)", 5, box(0, 2)),
]
POLES = {"ab": "AB", "bc": "BC", "abcd": "ABCD", "abc": "ABC", "df": "DF", "ag": "AG", "c": "C"}


def _write(path, gdf):
    path.write_text(gdf.to_json(drop_id=True), encoding="utf-8")


@pytest.fixture()
def hand(tmp_path, monkeypatch):
    """The hand-built catalogue (path), with its own cache."""
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PTCE_GEO_MIRROR", raising=False)
    clear_memory_cache()
    _write(tmp_path / "communes.geojson", gpd.GeoDataFrame(
        {"code": [c[0] for c in COMMUNES], "nom": [c[1] for c in COMMUNES],
         "population": [c[4] for c in COMMUNES], "epci": [c[5] for c in COMMUNES]},
        geometry=[box(c[2], c[3]) for c in COMMUNES], crs=4326))
    _write(tmp_path / "zones.geojson", gpd.GeoDataFrame(
        {"code": [z[0] for z in ZONES], "nom": [z[1] for z in ZONES], "liste": [z[2] for z in ZONES],
         "nb": [z[3] for z in ZONES]}, geometry=[z[4] for z in ZONES], crs=4326))
    _write(tmp_path / "sites.geojson", gpd.GeoDataFrame(
        {"code": ["S1", "S2"], "nom": ["Ville A", "Villes C et D"], "liste": ["A (01001)", "C (01003); D (01004)"]},
        geometry=[shapely.Point(0.5, 46.5), shapely.MultiPoint([(2.5, 46.5), (3.01, 46.5)])], crs=4326))
    _write(tmp_path / "vieux.geojson", gpd.GeoDataFrame(
        {"code": ["V1"], "nom": ["Ancien"]}, geometry=[box(0, 1.5)], crs=4326))
    common = 'vintage = 2024\nlicence = "test"\nattribution = "fait à la main"\n'
    (tmp_path / "hand.toml").write_text(textwrap.dedent('''\
        [catalogue]
        name = "hand"

        [[layer]]
        id = "communes"
        title = "Communes"
        kind = "partition"
        code_field = "code"
        name_field = "nom"
        population_field = "population"
        parents = { epci = "epci" }
        source = { path = "communes.geojson" }
        ''') + common + textwrap.dedent('''
        [[layer]]
        id = "epci"
        title = "EPCI"
        kind = "partition"
        code_field = "code"
        geometry = "dissolve"
        dissolve_by = "epci"
        commune_field = "epci"
        ''') + common + textwrap.dedent('''
        [[layer]]
        id = "vieux"
        title = "Ancien programme"
        kind = "zones"
        code_field = "code"
        name_field = "nom"
        source = { path = "vieux.geojson" }
        status = "historique"
        period = "2015-2020"
        notice = "ancien programme, remplacé en 2021"
        programme = { label = "ancien", style = "named" }
        ''') + common + textwrap.dedent('''
        [[layer]]
        id = "zz"
        title = "Zones à la main"
        kind = "zones"
        code_field = "code"
        name_field = "nom"
        source = { path = "zones.geojson" }
        period = "2023-2027"
        programme = { label = "ZZ", style = "named" }
        members = { field = "liste", format = "name_code_list", codes = "siren", count_field = "nb" }
        ''') + common + textwrap.dedent('''
        [[layer]]
        id = "sites"
        title = "Sites"
        kind = "zones"
        code_field = "code"
        name_field = "nom"
        source = { path = "sites.geojson" }
        programme = { label = "site", style = "communes" }
        members = { field = "liste", codes = "communes" }
        ''') + common, encoding="utf-8")
    feats = [{"type": "Feature", "geometry": None, "properties": {"id": pid, "nom": f"Pôle {pid}",
              "communes": [CODE[n] for n in names]}} for pid, names in POLES.items()]
    feats.append({"type": "Feature", "properties": {"id": "drawn", "nom": "Pôle dessiné"},
                  "geometry": json.loads(shapely.to_geojson(box(0.5, 1.5)))})
    (tmp_path / "poles.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                                            encoding="utf-8")
    yield tmp_path
    clear_memory_cache()


@pytest.fixture()
def cat(hand):
    return load_catalogue(hand / "hand.toml")


@pytest.fixture()
def poles(hand, cat):
    return read_perimeters(hand / "poles.geojson", catalogue=cat)


def w(names):
    return sum(WIDTH[n] for n in names)


def p(names):
    return sum(POP[n] for n in names)


def row(table, pole, zone):
    sel = table[(table["pole_id"] == pole) & (table["zone_code"] == zone)]
    assert len(sel) == 1, f"no single row for ({pole}, {zone})"
    return sel.iloc[0]


def test_members_resolve_into_communes_and_the_unresolved_are_reported(cat):
    zm = zone_members("zz", catalogue=cat)
    assert zm.communes("Z1") == ["01001", "01002"]
    assert zm.communes("Z4") == ["01001", "01002", "01003", "01004"]
    assert zm.complete == {"Z1", "Z2", "Z3", "Z4", "Z6"}
    bad = zm.unresolved.set_index("zone_code")
    assert bad.loc["Z5", "reason"] == "unknown_code"
    assert (bad.loc["Z5", "member_name"], bad.loc["Z5", "member_code"]) == ("Inconnu", "299999999")
    assert bad.loc["Z7", "reason"] == "unreadable" and bad.loc["Z7", "member_name"] == "une liste sans code"
    assert bad.loc["Z8", "reason"] == "count_mismatch" and "declares 5 communes" in bad.loc["Z8", "detail"]
    assert "makes" not in bad.loc["Z8", "detail"] and "make 2 communes" in bad.loc["Z8", "detail"]
    assert len(bad) == 3  # each unresolved zone once: never dropped, never repeated
    sites = zone_members("sites", catalogue=cat)
    assert sites.communes("S2") == ["01003", "01004"] and len(sites.unresolved) == 0


def test_membership_shares_are_exact_sums_over_shared_communes(poles, cat):
    res = overlap_zones(poles, "zz", catalogue=cat)
    t = res.table
    assert list(t.columns) == OVERLAP_COLUMNS
    r = row(t, "ab", "Z1")  # the pole is exactly the zone's EPCI
    assert (r["share_of_pole"], r["share_of_zone"], r["iou"]) == (1.0, 1.0, 1.0)
    assert r["relation"] == "coincides" and r["method"] == "membership" and r["shared_communes"] == 2
    r = row(t, "bc", "Z1")  # B shared: 1 of 2 on each side
    assert r["share_of_pole"] == pytest.approx(0.5, abs=1e-12)
    assert r["share_of_zone"] == pytest.approx(0.5, abs=1e-12)
    assert r["iou"] == pytest.approx(1 / 3, abs=1e-12) and r["relation"] == "straddles"
    r = row(t, "ab", "Z4")
    assert r["share_of_pole"] == 1.0 and r["share_of_zone"] == pytest.approx(2 / 3.02, abs=1e-12)
    assert r["relation"] == "pole_inside_zone"
    r = row(t, "abcd", "Z2")
    assert r["share_of_zone"] == 1.0 and r["share_of_pole"] == pytest.approx(1.02 / 3.02, abs=1e-12)
    assert r["relation"] == "zone_inside_pole"
    assert row(t, "abcd", "Z4")["iou"] == 1.0 and row(t, "abcd", "Z4")["relation"] == "coincides"
    assert r["overlap_km2"] > 0 and pd.isna(r["overlap_population"])  # area weight
    # no pair without a shared commune, and Z3 {F} meets none of these poles but df
    assert set(t.loc[t["zone_code"] == "Z3", "pole_id"]) == {"df"}


def test_a_zone_with_unresolved_members_is_measured_by_its_outline(poles, cat):
    t = overlap_zones(poles, "zz", catalogue=cat).table
    r = row(t, "ab", "Z5")  # outline = A
    assert r["method"] == "geometry" and r["zone_type"] == "polygon"
    assert r["share_of_pole"] == pytest.approx(0.5, abs=1e-9) and r["share_of_zone"] == pytest.approx(1.0, abs=1e-9)
    assert r["relation"] == "zone_inside_pole"
    r = row(t, "ab", "Z8")  # outline A ∪ B, the pole's communes: coincide geometrically
    assert r["method"] == "geometry" and r["relation"] == "coincides" and r["iou"] == pytest.approx(1.0, abs=1e-9)
    assert "Z7" not in set(t["zone_code"])  # far away: no row


def test_drawn_poles_take_the_geometry_path(poles, cat):
    t = overlap_zones(poles, "zz", catalogue=cat).table
    r = row(t, "drawn", "Z1")  # [0.5, 1.5] inside [0, 2]
    assert r["method"] == "geometry"
    assert r["share_of_pole"] == pytest.approx(1.0, abs=1e-9) and r["share_of_zone"] == pytest.approx(0.5, abs=1e-9)
    assert r["relation"] == "pole_inside_zone"


def test_tolerance_changes_the_relation(poles, cat):
    # pole {A, B, C} (width 3) in zone Z4 {A, B, C, D} (3.02): share of the zone 3/3.02 = 0.99338
    r = row(overlap_zones(poles, "zz", catalogue=cat).table, "abc", "Z4")
    assert r["share_of_pole"] == 1.0 and r["share_of_zone"] == pytest.approx(3 / 3.02, abs=1e-12)
    assert r["relation"] == "coincides"
    tight = overlap_zones(poles, "zz", catalogue=cat, options=Options(tolerance=0.005))
    assert row(tight.table, "abc", "Z4")["relation"] == "pole_inside_zone"


def test_threshold_and_tolerance_decide_what_counts(poles, cat):
    # pole {D, F} (8.02) shares D (0.02) with Z2 {C, D} (1.02): 0.2494 % of the pole, 1.96 % of the zone
    s, u = 0.02 / 8.02, 0.02 / 1.02
    default = overlap_zones(poles, "zz", catalogue=cat)
    r = row(default.table, "df", "Z2")
    assert r["share_of_pole"] == pytest.approx(s, abs=1e-12) and r["share_of_zone"] == pytest.approx(u, abs=1e-12)
    assert r["relation"] == "straddles" and r["counted"]
    summary = default.summary.set_index("pole_id")
    assert summary.loc["df", "n_zones"] == 3 and summary.loc["df", "zones"] == "Z6; Z3; Z2"
    assert row(default.table, "df", "Z3")["relation"] == "coincides"  # 8/8.02 = 0.9975 of the pole
    r = row(default.table, "df", "Z4")  # D in Z4 {A, B, C, D}: 0.25 % of the pole, 0.66 % of the zone
    assert r["relation"] == "touches" and not r["counted"]
    assert summary.loc["df", "n_slivers"] == 1 and summary.loc["df", "n_touches"] == 1
    higher = overlap_zones(poles, "zz", catalogue=cat, options=Options(threshold=0.05))
    r = row(higher.table, "df", "Z2")
    assert r["relation"] == "straddles" and not r["counted"]  # both shares under 5 %: a sliver
    summary = higher.summary.set_index("pole_id")
    assert summary.loc["df", "n_zones"] == 2 and summary.loc["df", "n_slivers"] == 2
    assert summary.loc["df", "zones"] == "Z6; Z3"
    wider = overlap_zones(poles, "zz", catalogue=cat, options=Options(tolerance=0.03))
    r = row(wider.table, "df", "Z2")
    assert r["relation"] == "touches" and not r["counted"]
    assert wider.summary.set_index("pole_id").loc["df", "n_touches"] == 2


def test_population_weight_is_the_share_of_the_pole_population_living_in_the_zone(poles, cat):
    res = overlap_zones(poles, "zz", catalogue=cat, options=Options(weight="population"))
    r = row(res.table, "bc", "Z1")  # B: 3 000 of the pole's 9 000, of the zone's 4 000
    assert r["share_of_pole"] == pytest.approx(3000 / 9000, abs=1e-12)
    assert r["share_of_zone"] == pytest.approx(0.75, abs=1e-12)
    assert r["iou"] == pytest.approx(3000 / (9000 + 4000 - 3000), abs=1e-12)
    assert r["overlap_population"] == 3000
    r = row(res.table, "bc", "Z2")  # C: 6 000 of 6 050: the zone lies in the pole by population…
    assert r["share_of_zone"] == pytest.approx(6000 / 6050, abs=1e-12) and r["relation"] == "zone_inside_pole"
    by_area = row(overlap_zones(poles, "zz", catalogue=cat).table, "bc", "Z2")
    assert by_area["share_of_zone"] == pytest.approx(1 / 1.02, abs=1e-12)
    assert by_area["relation"] == "straddles"  # … not by area (98 %)
    # a drawn pole: populations interpolated by area within each commune (half of A, half of B)
    r = row(res.table, "drawn", "Z1")
    assert r["overlap_population"] == pytest.approx(500 + 1500, rel=1e-9)
    assert r["share_of_pole"] == pytest.approx(1.0, abs=1e-9)
    assert r["share_of_zone"] == pytest.approx(2000 / 4000, abs=1e-9)


def test_covered_share_is_the_union_of_counted_zones(poles, cat):
    res = overlap_zones(poles, "zz", catalogue=cat)
    summary = res.summary.set_index("pole_id")
    # pole {A, G}: A is in Z1, Z4 (members) and Z5, Z8 (outlines); G in no zone
    assert res.table.loc[res.table["pole_id"] == "ag", "share_of_pole"].sum() == pytest.approx(2.0, abs=1e-9)
    assert summary.loc["ag", "covered_share"] == pytest.approx(0.5, abs=1e-9)
    # pole {A, B, C}: Z1 2/3, Z2 1/3, Z4 1, Z6 1/3 (members only): the union is the pole
    assert summary.loc["abc", "covered_share"] == 1.0
    pop = overlap_zones(poles, "zz", catalogue=cat, options=Options(weight="population")).summary
    assert pop.set_index("pole_id").loc["ag", "covered_share"] == pytest.approx(1000 / 1010, abs=1e-9)


def test_sites_by_member_communes_and_by_points(poles, cat):
    res = overlap_zones(poles, "sites", catalogue=cat)
    r = row(res.table, "bc", "S2")  # shares C of {C, D}
    assert r["method"] == "membership" and r["zone_type"] == "communes" and r["shared_communes"] == 1
    assert r["share_of_pole"] == pytest.approx(0.5, abs=1e-12) and r["share_of_zone"] == pytest.approx(1 / 1.02)
    r = row(res.table, "drawn", "S1")  # a drawn pole meets the sites as points
    assert r["zone_type"] == "point" and r["share_of_zone"] == 1.0 and r["relation"] == "zone_inside_pole"
    geom = res.pieces.set_index(["pole_id", "zone_code"]).loc[("bc", "S2"), "geometry"]
    assert geom.equals(box(2, 3))  # the piece is the shared commune


def test_programme_summary_one_line_per_pole(poles, cat):
    overlaps = {lid: overlap_zones(poles, lid, catalogue=cat) for lid in ("zz", "sites", "vieux")}
    out = programme_summary(poles, overlaps, catalogue=cat).set_index("pole_id")
    # pole {C}: in Z2, Z4 and Z6 whole (sorted by share of the zone), and 1 commune of site S2
    assert out.loc["c", "programmes"] == ("ZZ CC Deux (100\u00a0%), ZZ Un et Deux (100\u00a0%), "
                                          "ZZ Deux et Trois (100\u00a0%), 1 commune site")
    assert out.loc["c", "historique"] == ""
    assert out.loc["c", "zz_n"] == 3 and out.loc["c", "zz_codes"] == "Z2; Z4; Z6"
    assert out.loc["c", "sites_n"] == 1 and out.loc["c", "zz_covered_share"] == 1.0
    # pole {A, B}: 75 % of it lies in the historical zone [0, 1.5]
    assert out.loc["ab", "historique"] == "ancien Ancien (75\u00a0%) — 2015-2020"
    assert out.loc["ab", "vieux_covered_share"] == pytest.approx(0.75, abs=1e-9)
    pop = {lid: overlap_zones(poles, lid, catalogue=cat, options=Options(weight="population"))
           for lid in ("zz", "sites")}
    text = programme_summary(poles, pop, catalogue=cat).set_index("pole_id").loc["bc", "programmes"]
    # pole {B, C} by population: Z4 100 %, Z2 and Z6 6 000 / 9 000 = 67 %, then Z1 and the outline
    # Z8 3 000 / 9 000: more than three zones, the rest is counted
    assert text == ("ZZ Un et Deux (100\u00a0% de la population), ZZ CC Deux (67\u00a0% de la population), "
                    "ZZ Deux et Trois (67\u00a0% de la population), et 2 autres ZZ, 1 commune site")


@pytest.mark.parametrize(("label", "plural"), [("contrat de ruralité", "contrats de ruralité"),
                                               ("contrat de ville", "contrats de ville"), ("TI", "TI"),
                                               ("CRTE", "CRTE"), ("QPV", "QPV"), ("site", "sites"), ("PNR", "PNR")])
def test_programme_labels_agree_in_number(label, plural):
    """« et 5 autres contrats de ruralité », « 2 sites »; acronyms are invariable in French."""
    from ptce_geo.zones import _plural

    assert _plural(label) == plural


def test_relations_have_french_labels():
    assert RELATION_LABELS == {"coincides": "Confondus", "pole_inside_zone": "Pôle inclus dans la zone",
                               "zone_inside_pole": "Zone incluse dans le pôle", "straddles": "Chevauchement",
                               "touches": "Contact en bordure"}


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"threshold": 1.2}, "threshold"), ({"tolerance": 1.0}, "tolerance"), ({"weight": "surface"}, "weight"),
    ({"threshold": True}, "threshold"),
])
def test_options_are_validated_at_construction(kwargs, words):
    with pytest.raises(InvalidInput) as info:
        Options(**kwargs)
    assert words in str(info.value) and info.value.fr != info.value.message


def test_catalogue_refuses_a_historical_layer_without_notice_and_bad_members(hand):
    text = (hand / "hand.toml").read_text(encoding="utf-8")
    bad = hand / "bad.toml"
    bad.write_text(text.replace('notice = "ancien programme, remplacé en 2021"\n', ""), encoding="utf-8")
    with pytest.raises(CatalogueError, match="historical layer needs 'period'.*'notice'"):
        load_catalogue(bad)
    bad.write_text(text.replace('codes = "siren"', 'codes = "insee"'), encoding="utf-8")
    with pytest.raises(CatalogueError, match="codes 'insee' is unknown"):
        load_catalogue(bad)
    bad.write_text(text.replace('status = "historique"', 'status = "ancien"'), encoding="utf-8")
    with pytest.raises(CatalogueError, match="status 'ancien' is unknown"):
        load_catalogue(bad)


# --- command line -----------------------------------------------------------------------

def _cli_table(capsys, *args):
    assert main(list(args)) == 0
    return pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"zone_code": str})


def test_cli_overlap_options_change_the_output(hand, capsys):
    base = ["overlap", "--catalogue", str(hand / "hand.toml"), "--poles", str(hand / "poles.geojson"),
            "--zones", "zz"]
    default = _cli_table(capsys, *base)
    assert list(default.columns) == OVERLAP_COLUMNS
    assert bool(row(default, "df", "Z2")["counted"]) and row(default, "abc", "Z4")["relation"] == "coincides"
    assert row(default, "bc", "Z2")["relation"] == "straddles"
    higher = _cli_table(capsys, *base, "--threshold", "0.05")
    assert not bool(row(higher, "df", "Z2")["counted"])
    tight = _cli_table(capsys, *base, "--tolerance", "0.005")
    assert row(tight, "abc", "Z4")["relation"] == "pole_inside_zone"
    pop = _cli_table(capsys, *base, "--weight", "population")
    r = row(pop, "bc", "Z2")
    assert r["relation"] == "zone_inside_pole" and r["share_of_pole"] == pytest.approx(6000 / 9000, abs=1e-9)
    assert r["overlap_population"] == 6000
    for other in (higher, tight, pop):
        assert not other.equals(default)


def test_cli_overlap_reports_unresolved_members(hand, capsys, caplog):
    assert main(["overlap", "--catalogue", str(hand / "hand.toml"), "--poles", str(hand / "poles.geojson"),
                 "--zones", "zz"]) == 0
    assert "3 zone(s) have members not resolved" in caplog.text
    assert "Z5 Inconnue (unknown_code: 299999999)" in caplog.text


def test_cli_programmes_and_layers_status(hand, capsys):
    assert main(["programmes", "--catalogue", str(hand / "hand.toml"), "--poles", str(hand / "poles.geojson"),
                 "--format", "json"]) == 0
    rows = {r["pole_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ab"]["historique"] == "ancien Ancien (75\u00a0%) — 2015-2020"
    assert rows["c"]["programmes"].endswith(", 1 commune site")
    assert main(["layers", "--catalogue", str(hand / "hand.toml"), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("id")
    assert table.loc["vieux", "status"] == "historique" and table.loc["vieux", "period"] == "2015-2020"
    assert table.loc["zz", "status"] == "en vigueur"
    assert table.loc["zz", "members"] == "field liste (name_code_list, siren)"
    assert main(["layers", "--catalogue", str(hand / "hand.toml")]) == 0
    text = capsys.readouterr().out
    assert "vieux: historique — ancien programme, remplacé en 2021" in text


def test_layer_status_has_status_and_notice(cat):
    table = layer_status(catalogue=cat).set_index("id")
    assert table.loc["vieux", "notice"] == "ancien programme, remplacé en 2021"
    assert table.loc["communes", "status"] == "en vigueur" and table.loc["communes", "notice"] == ""


# --- real data: the mirror catalogue and the 29 poles -----------------------------------

CHECKED = ("territoires_industrie", "crte", "contrats_de_ville")


@pytest.fixture(scope="module")
def mirror_overlaps(session_cache, mirror_dir):
    """`ptce-geo overlap --zones LAYER --format csv` of the 29 poles, for the checked layers."""
    import contextlib
    import os
    from pathlib import Path

    from conftest import MIRROR_CATALOGUE

    cache = session_cache
    env = {"PTCE_GEO_MIRROR": str(mirror_dir), "PTCE_GEO_CATALOGUE": str(MIRROR_CATALOGUE),
           "PTCE_GEO_CACHE": str(cache)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    clear_memory_cache()
    out = {}
    try:
        for lid in CHECKED:
            target = Path(cache) / f"{lid}.csv"
            with contextlib.redirect_stderr(io.StringIO()):
                assert main(["overlap", "--zones", lid, "--format", "csv", "--output", str(target)]) == 0
            out[lid] = pd.read_csv(target, dtype={"pole_id": str, "zone_code": str})
        yield out, cache
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        clear_memory_cache()


@pytest.fixture()
def real(mirror_overlaps, mirror_dir, monkeypatch):
    """The mirror catalogue, the poles and the CLI tables, with the module's cache."""
    from conftest import MIRROR_CATALOGUE
    from ptce_geo.settings import DEFAULT_POLES

    tables, cache = mirror_overlaps
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(mirror_dir))
    monkeypatch.setenv("PTCE_GEO_CATALOGUE", str(MIRROR_CATALOGUE))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(cache))
    cat = load_catalogue(MIRROR_CATALOGUE)
    return tables, cat, read_perimeters(DEFAULT_POLES, catalogue=cat)


@pytest.mark.parametrize("layer", CHECKED)
def test_no_sliver_carries_an_overlap_relation(real, layer):
    tables, _, _ = real
    t = tables[layer]
    small = (t["share_of_pole"] < 0.01) & (t["share_of_zone"] < 0.01)
    assert not t.loc[small, "relation"].isin(["coincides", "pole_inside_zone", "zone_inside_pole", "straddles"]).any()
    assert (t.loc[small, "relation"] == "touches").all() and not t.loc[small, "counted"].any()
    assert set(t["relation"]) <= set(RELATION_LABELS)


def test_the_slivers_of_the_issue_are_gone(real):
    ti = real[0]["territoires_industrie"]
    # Pays de Bray sat in a gap between Axe Seine, Beauvaisis and Bresle: it shares no commune with them
    assert not (ti["pole_id"] == "ptce23").any()
    # PHARES (L'Île-Saint-Denis) is not a commune of Boucle Nord de Seine
    assert not ((ti["pole_id"] == "ptce13") & (ti["zone_code"] == "ti-1101")).any()
    by_codes = set(real[2].loc[real[2]["definition"] == "codes", "id"])
    assert (ti.loc[ti["pole_id"].isin(by_codes), "method"] == "membership").all()  # poles given by codes
    assert (ti.loc[~ti["pole_id"].isin(by_codes), "method"] == "geometry").all()  # a QPV outline (ptce03)


@pytest.mark.parametrize("layer", CHECKED)
def test_membership_shares_equal_shares_of_the_unions_of_the_same_communes(real, layer):
    from ptce_geo.layers import load_layer
    from ptce_geo.projection import area_m2

    tables, cat, poles = real
    t = tables[layer]
    members = zone_members(layer, catalogue=cat)
    communes = load_layer("communes", catalogue=cat).set_index("code").geometry
    by_pole = dict(zip(poles["id"], poles["communes"]))
    rows = t[t["method"] == "membership"]
    assert len(rows) >= 30
    unions = {}

    def union(key, codes):
        if key not in unions:
            unions[key] = shapely.union_all(communes.loc[sorted(codes)].to_numpy())
        return unions[key]

    for r in rows.itertuples(index=False):
        pole = union(("p", r.pole_id), by_pole[r.pole_id])
        zone = union(("z", r.zone_code), members.communes(r.zone_code))
        inter = shapely.intersection(pole, zone)
        a, pa, za = area_m2(__import__("numpy").array([inter, pole, zone], dtype=object))
        assert r.share_of_pole == pytest.approx(a / pa, abs=1e-6), (r.pole_id, r.zone_code)
        assert r.share_of_zone == pytest.approx(a / za, abs=1e-6), (r.pole_id, r.zone_code)
        assert r.iou == pytest.approx(a / (pa + za - a), abs=1e-6), (r.pole_id, r.zone_code)


@pytest.mark.parametrize(("layer", "zone", "epci"), [
    ("territoires_industrie", "ti-7514", ["200067106"]),  # Pays Basque: CA du Pays Basque
    ("territoires_industrie", "ti-0101", ["249710062", "249710070"]),  # Basse-Terre: two CA
    ("crte", "crte-76-81-2", ["248100430"]),  # Castres Mazamet
    ("contrats_de_ville", None, None),  # the first contract whose EPCI is unchanged
])
def test_a_pole_made_of_the_epci_of_one_zone_coincides(real, layer, zone, epci):
    from ptce_geo.layers import load_layer

    _, cat, _ = real
    if zone is None:
        cv = load_layer(layer, catalogue=cat).set_index("code")
        zone = sorted(zone_members(layer, catalogue=cat).complete)[0]
        epci = [cv.loc[zone, "siren_epci"]]
    feature = {"type": "Feature", "geometry": None, "properties": {"id": "p", "epci": epci}}
    pole = read_perimeters({"type": "FeatureCollection", "features": [feature]}, catalogue=cat)
    r = row(overlap_zones(pole, layer, catalogue=cat).table, "p", zone)
    assert r["relation"] == "coincides" and r["method"] == "membership"
    assert r["iou"] == pytest.approx(1.0, abs=1e-9)


def test_members_are_resolved_or_reported_by_name_and_code(real, mirror_dir):
    _, cat, _ = real
    ti = zone_members("territoires_industrie", catalogue=cat)
    assert len(ti.unresolved) == 0 and len(ti.complete) == 183
    assert "23019" in ti.communes("ti-7506")  # Beissat, named by its commune SIREN 212301907
    assert "92036" in ti.communes("ti-1101")  # Gennevilliers, in EPT Boucle Nord de Seine (200057990)
    # contrats de ville, independently from the raw file and the DGCL composition table
    raw = json.loads((mirror_dir / "contrats" / "contrats_de_ville_2015_2020_cget2019.geojson").read_text())
    comp = pd.read_csv(mirror_dir / "tables" / "epci_2024_composition.csv", dtype=str)
    size = comp.groupby("siren_epci").size()
    expected = {f["properties"]["id"] for f in raw["features"]
                if size.get(f["properties"]["info2"]) == int(f["properties"]["nbcom"])}
    cv = zone_members("contrats_de_ville", catalogue=cat)
    assert cv.complete == expected and len(expected) == 123
    bad = cv.unresolved
    assert bad["zone_code"].is_unique and len(bad) == 431 - 123
    assert bad["reason"].value_counts().to_dict() == {"unknown_code": 208, "count_mismatch": 100}
    cv004 = bad.set_index("zone_code").loc["CV004"]
    assert (cv004["member_name"], cv004["member_code"]) == ("CA Bourg en Bresse Agglomération", "240100628")
    t = real[0]["contrats_de_ville"]
    assert (t.loc[t["zone_code"].isin(set(bad["zone_code"])), "method"] == "geometry").all()
    assert (t.loc[~t["zone_code"].isin(set(bad["zone_code"])), "method"] == "membership").all()


def test_programme_sites_counted_by_member_communes(real, mirror_dir):
    import re

    _, cat, poles = real
    raw = json.loads((mirror_dir / "contrats" / "petites_villes_de_demain_anct_2024_points.geojson").read_text())
    pvd = {c for f in raw["features"] for c in re.findall(r"\((\w{5})\)", f["properties"]["liste_geo"])}
    res = overlap_zones(poles, "petites_villes_de_demain", catalogue=cat)
    out = programme_summary(poles, {"petites_villes_de_demain": res}, catalogue=cat).set_index("pole_id")
    for pid, coms in zip(poles["id"], poles["communes"]):
        if coms is None:  # a pole drawn as a QPV outline (ptce03): measured by geometry, checked elsewhere
            continue
        n = len(pvd & set(coms))
        expected = "aucun" if n == 0 else f"{n} commune{'s' if n > 1 else ''} PVD"
        assert out.loc[pid, "programmes"] == expected, pid
    assert out.loc["ptce04", "programmes"] == "5 communes PVD"  # Dinan Agglomération


def test_historical_layers_are_marked_in_the_mirror_catalogue_and_exports(real, tmp_path):
    from ptce_geo.export import export

    _, cat, poles = real
    hist = {s.id for s in cat if s.historical}
    assert hist == {"qpv", "contrats_de_ville", "contrats_de_ruralite", "contrats_transition_ecologique"}
    assert cat["qpv"].notice == ("liste 2015 des QPV, remplacée le 1er janvier 2024 par la liste 2024, que les "
                                 "données installées ne contiennent pas (l'administrateur de l'application peut "
                                 "l'ajouter au catalogue des couches)")
    out = export(poles.iloc[:2], fmt="csv", output=tmp_path / "p.csv", layers=["contrats_de_ville"], catalogue=cat)
    meta = json.loads((tmp_path / "p.csv.provenance.json").read_text(encoding="utf-8"))
    layers = {layer["id"]: layer for layer in meta["layers"]}
    assert layers["qpv"]["status"] == "historique" and "liste 2015" in layers["qpv"]["notice"]
    # the period as it was lived: signed for 2015-2020, prolonged to 2023 (the layer's title says 2015-2020)
    assert layers["contrats_de_ville"]["period"] == "2015-2020, prolongés jusqu'en 2023"
    assert layers["epci"]["status"] == "en vigueur" and "notice" not in layers["epci"]
    assert out.exists()
