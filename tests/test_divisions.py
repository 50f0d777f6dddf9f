"""The six divisions dissolved from the communes with INSEE's table d'appartenance (issue 15).

EPT of the Métropole du Grand Paris, bassins de vie 2022, aires d'attraction des villes 2020,
unités urbaines 2020, cantons-villes and arrondissements, from the mirror's
``tables/communes_2024_appartenance.csv`` (COG 2024). Every expected value is computed here
from that table with pandas, independently of the loader: distinct codes, names, populations,
member communes. Communes outside any unit (EPT ``ZZZZZZZZZ``, aire ``000``, unité urbaine
``DD000``, canton and arrondissement "Sans objet") are recognised in this file by the table's
own labels, not by the catalogue's ``no_unit`` patterns.

A second part lays out the official INSEE files (the table d'appartenance as a spreadsheet in
a zip with its two sheets, the EPT workbook) on a loopback server and loads the six layers
with the default catalogue.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

import ptce_geo as pg
from conftest import serve_directory
from ptce_geo.catalogue import load_catalogue
from ptce_geo.cli import main
from ptce_geo.layers import clear_memory_cache, commune_membership, load_layer

ROOT = Path(__file__).resolve().parent.parent
POLES = ROOT / "poles.geojson"
#: layer id → (column of the table, test telling which rows are outside any unit)
DIVISIONS = {
    "ept": ("EPT", lambda t: t["LIB_EPT"].eq("Sans objet")),
    "bassins_vie": ("BV2022", lambda t: pd.Series(False, index=t.index)),
    "aires_attraction": ("AAV2020", lambda t: t["LIB_AAV2020"].eq("Commune hors attraction des villes")),
    "unites_urbaines": ("UU2020", lambda t: t["LIB_UU2020"].str.startswith("Communes hors unité urbaine")),
    "cantons": ("CANOV", lambda t: t["LIB_CANOV"].eq("Sans objet")),
    "arrondissements": ("ARR", lambda t: t["LIB_ARR"].eq("Sans objet")),
}
#: unit counts of the mirror's table, measured once with pandas and stated here (the test
#: recounts them from the table)
COUNTS = {"ept": 11, "bassins_vie": 1707, "aires_attraction": 699, "unites_urbaines": 2471,
          "cantons": 2042, "arrondissements": 333}


@pytest.fixture(scope="module")
def table(mirror_dir) -> pd.DataFrame:
    t = pd.read_csv(mirror_dir / "tables" / "communes_2024_appartenance.csv", dtype=str, keep_default_na=False)
    t["pop"] = pd.to_numeric(t["POP_MUN_2022"])
    return t


def members(table: pd.DataFrame, layer: str) -> pd.DataFrame:
    """Commune → unit rows of the table, the communes outside any unit left out."""
    col, outside = DIVISIONS[layer]
    inside = table[~outside(table)]
    return pd.DataFrame({"commune": inside["CODGEO"], "code": inside[col], "nom": inside["LIB_" + col],
                         "pop": inside["pop"]})


def code_poles(poles) -> list[tuple[str, list[str]]]:
    """(id, commune codes) of the poles given by codes; a geometric perimeter (ptce03, a QPV
    outline) has no code list to recompute from and is covered by the engine's own checks."""
    out = [(pid, list(c)) for pid, c in zip(poles["id"], poles["communes"]) if c is not None]
    assert len(out) >= len(poles) - 1
    return out


@pytest.fixture(scope="module")
def poles(mirror_dir, session_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTCE_GEO_MIRROR", str(mirror_dir))
        mp.setenv("PTCE_GEO_CATALOGUE", str(ROOT / "boundaries" / "mirror-2024.toml"))
        mp.setenv("PTCE_GEO_CACHE", str(session_cache))
        yield pg.read_perimeters(POLES)


@pytest.fixture(scope="module")
def poles_card(poles, mirror_dir, session_cache):
    """The Scorecard of the repository's poles on the mirror (every level computed once)."""
    from ptce_geo.scorecard import Scorecard

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTCE_GEO_MIRROR", str(mirror_dir))
        mp.setenv("PTCE_GEO_CACHE", str(session_cache))
        card = Scorecard(poles, catalogue=load_catalogue(ROOT / "boundaries" / "mirror-2024.toml"))
        card.summary
        yield card


def pole_id(poles, name: str) -> str:
    hits = poles[poles["nom"].str.contains(name, regex=False)]
    assert len(hits) == 1, f"one pole named like {name!r} expected in poles.geojson"
    return hits["id"].iloc[0]


# --- the layers against the table ------------------------------------------------------


def test_outside_codes_are_those_the_labels_name(table):
    """The catalogue's no_unit patterns pick exactly the rows the table labels as outside."""
    cat = load_catalogue(ROOT / "boundaries" / "mirror-2024.toml")
    for layer, (col, outside) in DIVISIONS.items():
        spec = cat[layer]
        pattern = "|".join(f"(?:{p})" for p in spec.no_unit) or "(?!)"
        assert table[col].str.fullmatch(pattern).equals(outside(table)), layer
    # the codes themselves, as the issue names them
    assert set(table.loc[DIVISIONS["ept"][1](table), "EPT"]) == {"ZZZZZZZZZ"}
    assert set(table.loc[DIVISIONS["aires_attraction"][1](table), "AAV2020"]) == {"000"}
    hors_uu = set(table.loc[DIVISIONS["unites_urbaines"][1](table), "UU2020"])
    assert len(hors_uu) == 96 and all(c.endswith("000") for c in hors_uu) and {"2A000", "9D000"} <= hors_uu


@pytest.mark.parametrize("layer", list(DIVISIONS))
def test_units_are_the_distinct_codes_of_the_table(catalogue, table, layer):
    expected = members(table, layer)
    units = load_layer(layer, catalogue=catalogue).set_index("code")
    assert len(units) == expected["code"].nunique() == COUNTS[layer]
    assert set(units.index) == set(expected["code"])
    by_unit = expected.groupby("code")
    # names and populations from the table; member communes counted from it
    assert (units["nom"] == by_unit["nom"].first().reindex(units.index)).all()
    assert np.array_equal(units["population"].to_numpy(), by_unit["pop"].sum().reindex(units.index).to_numpy())
    assert (units["n_communes"] == by_unit.size().reindex(units.index)).all()
    spec = catalogue[layer]
    assert spec.vintage == 2024 and spec.licence and spec.attribution and spec.nested_in_communes


@pytest.mark.parametrize("layer", list(DIVISIONS))
def test_units_are_exact_unions_of_their_communes(catalogue, table, layer):
    """Each unit's area is the sum of its communes' areas (no gap, no sliver)."""
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    expected = members(table, layer)
    area = communes["area_m2"].reindex(expected["commune"]).to_numpy()
    sums = pd.Series(area, index=expected["code"].to_numpy()).groupby(level=0).sum()
    units = load_layer(layer, catalogue=catalogue).set_index("code")
    assert np.allclose(units["area_m2"].to_numpy(), sums.reindex(units.index).to_numpy(), rtol=1e-9, atol=0)
    assert units.geometry.is_valid.all()
    rows = commune_membership(layer, catalogue=catalogue)
    assert len(rows) == len(expected) and set(zip(rows["commune"], rows["code"])) == set(
        zip(expected["commune"], expected["code"]))


@pytest.mark.parametrize("layer", list(DIVISIONS))
def test_pieces_add_up_to_the_covered_share_of_each_pole(catalogue, table, poles, layer):
    """Σ pieces = area(pole) × covered_share (1e-9), the covered share being the share of the
    pole's area in communes that belong to a unit, counted from the table."""
    ov = pg.overlay(poles, layer, catalogue=catalogue)
    card = pg.layer_scorecard(ov).set_index("pole_id")
    piece_sum = ov.pieces.groupby("pole_id")["area_m2"].sum().reindex(card.index).fillna(0.0)
    pole_area = ov.poles["area_m2"].reindex(card.index)
    assert np.allclose(piece_sum, pole_area * card["covered_share"], rtol=1e-9, atol=1e-3)
    communes = load_layer("communes", catalogue=catalogue).set_index("code")
    in_unit = set(members(table, layer)["commune"])
    for pid, codes in code_poles(poles):
        area = communes.loc[list(codes), "area_m2"]
        expected = area[[c in in_unit for c in codes]].sum() / area.sum()
        assert abs(card.loc[pid, "covered_share"] - expected) < 1e-9, (layer, pid)


def test_communes_outside_any_unit_are_not_covered(catalogue, table, poles):
    """Paris is in no EPT: a pole of Paris and Plaine Commune communes is partly covered,
    Paris alone not at all; a pole outside any aire d'attraction has no piece."""
    fontaine, paris_mix = pole_id(poles, "Fontaine O Livres"), pole_id(poles, "Paris Mix")
    card = pg.layer_scorecard(pg.overlay(poles, "ept", catalogue=catalogue)).set_index("pole_id")
    assert "75056" in set(poles.set_index("id").loc[fontaine, "communes"])
    assert 0 < card.loc[fontaine, "covered_share"] < 1
    assert card.loc[paris_mix, "covered_share"] == 0 and card.loc[paris_mix, "n_units"] == 0
    # a drawn perimeter (no code list) over the same communes gives the same pieces
    drawn = poles[poles["id"] == fontaine].drop(columns="communes").assign(definition="geometry")
    drawn["communes"] = None
    geo = pg.layer_scorecard(pg.overlay(drawn, "ept", catalogue=catalogue)).set_index("pole_id")
    assert abs(geo.loc[fontaine, "covered_share"] - card.loc[fontaine, "covered_share"]) < 1e-9
    assert geo.loc[fontaine, "n_units"] == card.loc[fontaine, "n_units"]
    # the poles made only of communes "hors attraction des villes", by the table
    hors = set(table.loc[table["AAV2020"] == "000", "CODGEO"])
    # the three core communes of the plateau de Millevaches (De Fil En Réseaux's former perimeter)
    core = ["23077", "23090", "19164"]
    assert set(core) <= hors
    plateau = pg.read_perimeters({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "plateau", "communes": core}, "geometry": None}]}, catalogue=catalogue)
    both = pd.concat([poles, plateau], ignore_index=True)
    outside = [pid for pid, codes in code_poles(both) if set(codes) <= hors]
    assert "plateau" in outside
    aav = pg.overlay(both, "aires_attraction", catalogue=catalogue)
    aav_card = pg.layer_scorecard(aav).set_index("pole_id")
    for pid in outside:
        assert aav_card.loc[pid, "covered_share"] == 0 and not (aav.pieces["pole_id"] == pid).any()


# --- the command line --------------------------------------------------------------------


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out


def test_layers_command_lists_the_six_divisions(mirror_env, capsys):
    code, out = run(capsys, "layers", "--format", "json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    for layer in DIVISIONS:
        assert rows[layer]["vintage"] == 2024 and rows[layer]["kind"] == "partition"
        assert "Insee" in rows[layer]["licence"] or "ODbL" in rows[layer]["licence"]


def test_analyze_ept_counts_the_territories_of_the_grand_paris_poles(mirror_env, table, poles, capsys):
    code, out = run(capsys, "analyze", "--layer", "ept", "--poles", str(POLES), "--format", "json")
    assert code == 0
    rows = {r["pole_id"]: r for r in json.loads(out)}
    ept = table.set_index("CODGEO")[["EPT", "LIB_EPT"]]
    for name in ("Fontaine O Livres", "Resto Passerelle", "PHARES"):
        pid = pole_id(poles, name)
        codes = list(poles.set_index("id").loc[pid, "communes"])
        expected = set(ept.loc[codes, "EPT"]) - {"ZZZZZZZZZ"}  # every EPT is kept whole here
        assert rows[pid]["n_units"] == len(expected), name
    assert rows[pole_id(poles, "Fontaine O Livres")]["n_units"] >= 2
    assert rows[pole_id(poles, "Resto Passerelle")]["n_units"] >= 2
    phares = rows[pole_id(poles, "PHARES")]
    assert phares["n_units"] == 1 and phares["dominant_name"] == "Plaine Commune"
    assert phares["dominant_share"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("layer", ["bassins_vie", "aires_attraction", "unites_urbaines", "cantons",
                                   "arrondissements"])
def test_analyze_works_for_every_new_layer(mirror_env, poles, capsys, layer):
    code, out = run(capsys, "analyze", "--layer", layer, "--poles", str(POLES), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == len(poles) and {r["layer"] for r in rows} == {layer}


# --- the default catalogue, against INSEE's file layout -----------------------------------


def _sheet(wb: Workbook, name: str, df: pd.DataFrame, *, first: bool = False) -> None:
    ws = wb.active if first else wb.create_sheet()
    ws.title = name
    for i in range(5):  # INSEE files open with five rows of title and notes
        ws.append([f"Titre ou note {i + 1}"])
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append(list(row))


def _zip_workbook(wb: Workbook, member: str, path: Path) -> None:
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, buf.getvalue())


@pytest.fixture(scope="module")
def official_copy(tmp_path_factory, mirror_dir, table):
    """Paris, Seine-Saint-Denis and Ardèche laid out as the official hosts serve them."""
    root = tmp_path_factory.mktemp("official_divisions")
    src = gpd.read_file(f"/vsigzip/{mirror_dir}/communes/communes_2024.geojson.gz")
    part = src[src["INSEE_DEP"].isin(["75", "93", "07"])]
    com = gpd.GeoDataFrame({"code": part["INSEE_COM"], "nom": part["NOM"], "departement": part["INSEE_DEP"],
                            "region": part["INSEE_REG"], "epci": part["SIREN_EPCI"]},
                           geometry=part.geometry.values, crs=4326)
    etalab = root / "etalab-datasets.geo.data.gouv.fr/contours-administratifs/2024/geojson/communes-100m.geojson.gz"
    etalab.parent.mkdir(parents=True)
    etalab.write_bytes(gzip.compress(com.to_json(drop_id=True).encode()))
    pops = [{"code": c, "population": int(p)} for c, p in zip(part["INSEE_COM"], part["POP_MUN_2022"])]
    pop_path = root / "unpkg.com/@etalab/decoupage-administratif@4.1.0/data/communes.json"
    pop_path.parent.mkdir(parents=True)
    pop_path.write_text(json.dumps(pops), encoding="utf-8")
    t = table[table["CODGEO"].isin(set(part["INSEE_COM"]))]
    wb = Workbook()
    _sheet(wb, "COM", t[["CODGEO", "LIBGEO", "DEP", "REG", "EPCI", "ARR", "CANOV", "ZE2020", "UU2020",
                         "AAV2020", "BV2022"]], first=True)
    supra = []
    for level, col in (("ARR", "ARR"), ("CANOV", "CANOV"), ("UU2020", "UU2020"), ("AAV2020", "AAV2020"),
                       ("BV2022", "BV2022")):
        labels = t.drop_duplicates(col)
        supra.append(pd.DataFrame({"NIVGEO": level, "CODGEO": labels[col], "LIBGEO": labels["LIB_" + col],
                                   "NB_COM": t.groupby(col).size().reindex(labels[col]).to_numpy()}))
    decoy = pd.DataFrame({"NIVGEO": ["DEP"], "CODGEO": [t["BV2022"].iloc[0]], "LIBGEO": ["Leurre"], "NB_COM": [1]})
    _sheet(wb, "Zones_supra_communales", pd.concat([decoy, *supra], ignore_index=True))
    _zip_workbook(wb, "table-appartenance-geo-communes-2024.xlsx",
                  root / "www.insee.fr/fr/statistiques/fichier/7671844/table-appartenance-geo-communes-2024.zip")
    members_ept = t[t["EPT"] != "ZZZZZZZZZ"]
    wb = Workbook()
    _sheet(wb, "Composition_communale", pd.DataFrame({
        "CODGEO": members_ept["CODGEO"], "LIBGEO": members_ept["LIBGEO"], "EPT": members_ept["EPT"],
        "LIBEPT": members_ept["LIB_EPT"]}), first=True)
    _zip_workbook(wb, "EPT_au_01-01-2024.xlsx", root / "www.insee.fr/fr/statistiques/fichier/2510634/ept_au_01-01-2024.zip")
    server, url = serve_directory(root)
    yield t, url
    server.shutdown()
    server.server_close()


def test_official_catalogue_builds_the_six_divisions(official_copy, tmp_path, monkeypatch):
    t, url = official_copy
    monkeypatch.setenv("PTCE_GEO_MIRROR", url)
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path))
    monkeypatch.delenv("PTCE_GEO_CATALOGUE", raising=False)
    clear_memory_cache()
    cat = load_catalogue(ROOT / "boundaries" / "catalogue.toml")
    try:
        for layer in DIVISIONS:
            expected = members(t, layer)
            units = load_layer(layer, catalogue=cat).set_index("code")
            assert set(units.index) == set(expected["code"]), layer
            names = expected.groupby("code")["nom"].first()
            # names from the Zones_supra_communales sheet of that level (not the decoy of another level)
            assert (units["nom"] == names.reindex(units.index)).all(), layer
            assert (units["population"] == expected.groupby("code")["pop"].sum().reindex(units.index)).all()
        # the four EPT of Seine-Saint-Denis; Paris in none
        assert len(load_layer("ept", catalogue=cat)) == 4
    finally:
        clear_memory_cache()


# --- the scorecard: EPT in the typology, best bassin de vie and aire d'attraction ----------


def code_perimeters(catalogue, **members) -> gpd.GeoDataFrame:
    """Perimeters given by commune codes (``name=[codes]``), read as a poles file is."""
    features = [{"type": "Feature", "geometry": None, "properties": {"id": name, "nom": name, "communes": codes}}
                for name, codes in members.items()]
    return pg.read_perimeters({"type": "FeatureCollection", "features": features}, catalogue=catalogue)


def interco_keys(table: pd.DataFrame) -> pd.Series:
    """Intercommunal territory of each commune, from the table: its EPT; for a commune of an
    EPCI holding EPT but in none (Paris), itself; otherwise its EPCI."""
    t = table.set_index("CODGEO")
    hosts = set(t.loc[t["EPT"] != "ZZZZZZZZZ", "EPCI"])
    key = t["EPCI"].where(~t["EPCI"].isin(hosts), "COM" + t.index.to_series())
    return key.where(t["EPT"] == "ZZZZZZZZZ", "EPT" + t["EPT"])


def test_typology_counts_ept_as_the_intercommunal_level(catalogue, table):
    from ptce_geo.scorecard import Scorecard

    t = table.set_index("CODGEO")
    perims = code_perimeters(
        catalogue,
        two_ept=["93001", "93055"],        # Aubervilliers (Plaine Commune), Pantin (Est Ensemble)
        one_ept=["93001", "93066"],        # Aubervilliers, Saint-Denis: both Plaine Commune
        paris_ept=["75056", "93001", "93066"],
        mgp_edge=["95018", "95582"],       # Argenteuil (MGP, Boucle Nord de Seine), Sannois (outside)
        bray=["60073", "60164"],           # two communes outside the Grand Paris
    )
    # the table says so: one EPCI (the MGP) for the first two, two or one EPT
    assert t.loc[["93001", "93055", "93066"], "EPCI"].nunique() == 1
    assert t.loc[["93001", "93055"], "EPT"].nunique() == 2 and t.loc[["93001", "93066"], "EPT"].nunique() == 1
    assert t.loc[["95018", "95582"], "EPCI"].nunique() == 2 and t.loc[["95018", "95582"], "DEP"].nunique() == 1
    card = Scorecard(perims, catalogue=catalogue)
    s = card.summary.set_index("pole_id")
    assert s.loc["two_ept", "n_epci"] == 1 and s.loc["two_ept", "n_interco"] == 2
    assert s.loc["two_ept", "typology"] == "inter-EPCI"
    assert s.loc["one_ept", "n_interco"] == 1 and s.loc["one_ept", "typology"] == "intra-EPCI"
    assert s.loc["paris_ept", "n_interco"] == 2  # Paris, a territory of its own, and Plaine Commune
    assert s.loc["mgp_edge", "n_interco"] == 2 and s.loc["mgp_edge", "typology"] == "inter-EPCI"
    keys = interco_keys(table)
    for pid, codes in zip(perims["id"], perims["communes"]):
        assert s.loc[pid, "n_interco"] == keys.loc[list(codes)].nunique(), pid
    # outside the Grand Paris, the intercommunal count is the EPCI count
    assert s.loc["bray", "n_interco"] == s.loc["bray", "n_epci"] == t.loc[["60073", "60164"], "EPCI"].nunique()


def test_poles_intercommunal_counts_follow_the_table(catalogue, table, poles, poles_card):
    card = poles_card
    s = card.summary.set_index("pole_id")
    keys = interco_keys(table)
    t = table.set_index("CODGEO")
    hosts = set(t.loc[t["EPT"] != "ZZZZZZZZZ", "EPCI"])  # the Métropole du Grand Paris
    grand_paris = set(t.index[t["EPCI"].isin(hosts)])
    in_gp = [pid for pid, codes in zip(poles["id"], poles["communes"]) if set(codes or ()) & grand_paris]
    assert len(in_gp) >= 3
    for pid, codes in zip(poles["id"], poles["communes"]):
        if pid in in_gp:  # every EPCI, EPT and commune piece of these poles is kept (shares > 1 %)
            for lv in ("epci", "ept", "communes"):
                sh = card.shares(lv)
                assert sh.loc[sh["pole_id"] == pid, "kept"].all(), (pid, lv)
            assert s.loc[pid, "n_interco"] == keys.loc[list(codes)].nunique(), pid
        else:
            assert s.loc[pid, "n_interco"] == s.loc[pid, "n_epci"], pid
    phares, resto = pole_id(poles, "PHARES"), pole_id(poles, "Resto Passerelle")
    assert s.loc[phares, "typology"] == "commune"
    assert s.loc[resto, "n_interco"] > s.loc[resto, "n_epci"]


@pytest.mark.parametrize("layer, prefix, column", [("bassins_vie", "bv", "BV2022"),
                                                   ("aires_attraction", "aav", "AAV2020")])
def test_best_bassin_de_vie_and_aire_next_to_the_zone_d_emploi(catalogue, table, poles, poles_card, layer, prefix,
                                                               column):
    """Best-matching unit, its IoU, and the dominant unit with its share, recomputed from the
    table and the communes' areas."""
    s = poles_card.summary.set_index("pole_id")
    assert {"best_ze_iou", f"best_{prefix}_code", f"best_{prefix}_name", f"best_{prefix}_iou",
            f"dominant_{layer}", f"dominant_{layer}_share"} <= set(s.columns)
    area = load_layer("communes", catalogue=catalogue).set_index("code")["area_m2"]
    m = members(table, layer).set_index("commune")
    unit_area = pd.Series(area.reindex(m.index).to_numpy(), index=m["code"].to_numpy()).groupby(level=0).sum()
    for pid, codes in code_poles(poles):
        pole_area = area.loc[codes].sum()
        inside = [c for c in codes if c in m.index]
        if not inside:
            assert s.loc[pid, f"best_{prefix}_iou"] == 0 and s.loc[pid, f"dominant_{layer}_share"] == 0
            continue
        inter = pd.Series(area.loc[inside].to_numpy(), index=m.loc[inside, "code"].to_numpy()).groupby(level=0).sum()
        iou = inter / (pole_area + unit_area.reindex(inter.index) - inter)
        assert s.loc[pid, f"best_{prefix}_iou"] == pytest.approx(iou.max(), rel=1e-9)
        assert s.loc[pid, f"best_{prefix}_code"] == iou.idxmax()
        assert s.loc[pid, f"best_{prefix}_name"] == m.loc[m["code"] == iou.idxmax(), "nom"].iloc[0]
        assert s.loc[pid, f"dominant_{layer}_share"] == pytest.approx(inter.max() / pole_area, rel=1e-9)
    # PHARES, one commune: its bassin de vie and aire hold it whole
    phares = pole_id(poles, "PHARES")
    assert s.loc[phares, f"dominant_{layer}_share"] == pytest.approx(1.0)
    assert s.loc[phares, f"best_{prefix}_code"] == table.set_index("CODGEO").loc["93039", column]


# --- the app: the six levels in French, the card's best bassin de vie and aire ------------

APP = ROOT / "app.py"
APP_POLES = [
    {"id": "deux-ept", "nom": "Aubervilliers et Pantin", "communes": ["93001", "93055"]},
    {"id": "rural", "nom": "Trois communes du Limousin", "communes": ["19164", "23077", "23090"]},
]


@pytest.fixture()
def app_divisions(mirror_env, tmp_path, monkeypatch):
    path = tmp_path / "poles.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": None} for p in APP_POLES]}), encoding="utf-8")
    monkeypatch.setenv("PTCE_GEO_POLES", str(path))
    monkeypatch.delenv("PTCE_GEO_TILES", raising=False)


def _open(title: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    if at.sidebar.radio[0].value != title:
        at.sidebar.radio[0].set_value(title).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.realdata
def test_app_offers_the_six_levels_in_french(app_divisions, table):
    t = table.set_index("CODGEO")
    assert set(t.loc[["19164", "23077", "23090"], "AAV2020"]) == {"000"}  # the rural pole: in no aire
    at = _open("Découpages")
    options = at.selectbox(key="dec_level").options
    for label in ("EPT (Grand Paris)", "Bassins de vie 2022", "Aires d'attraction des villes 2020",
                  "Unités urbaines 2020", "Cantons (cantons-villes)", "Arrondissements"):
        assert label in options
    at.selectbox(key="dec_pole").set_value("deux-ept")
    at.selectbox(key="dec_level").set_value("ept").run()
    assert not at.exception and not at.error
    unit = at.dataframe[0].value["Unité"]  # « name (code) »
    assert set(unit.str.extract(r"\(([^()]*)\)$")[0]) == set(t.loc[["93001", "93055"], "EPT"])
    assert set(unit.str.replace(r" \([^()]*\)$", "", regex=True)) == set(t.loc[["93001", "93055"], "LIB_EPT"])
    # a pole outside the Grand Paris meets no EPT: the page says so, without an error
    at.selectbox(key="dec_pole").set_value("rural").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    infos = [i.value.replace("\\", "") for i in at.info]
    assert not at.dataframe and any("ne rencontre aucune unité de l'échelon « EPT (Grand Paris) »" in i
                                    and "Métropole du Grand Paris" in i for i in infos), infos
    at = _open("Carte des pôles")
    at.selectbox(key="carte_pole").set_value("deux-ept").run()
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "Inter-EPCI" in text and "Bassin de vie le mieux ajusté" in text and "Aire d'attraction la mieux ajustée" in text
    assert any("établissements publics territoriaux" in c.value for c in at.caption)
    at.selectbox(key="carte_pole").set_value("rural").run()
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "Aire d'attraction la mieux ajustée : aucune" in text.replace("**", "")
