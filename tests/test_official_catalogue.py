"""The default (official) catalogue, end to end, against a loopback copy of the official hosts.

The machines running the tests reach no official host, so this test lays out, under a
temporary folder, the files the default catalogue names (``<host>/<path>``, the layout a
``wget --mirror`` makes) in their official formats — Etalab contours GeoJSON (gzip) with
arrondissements and COM rows to drop, INSEE spreadsheets in zips with five title rows, the
decoupage-administratif JSON, a data.gouv.fr resource id serving a zip — built from a
slice of the real mirror. It then serves that folder on 127.0.0.1 as PTCE_GEO_MIRROR and
checks what the default catalogue makes of it.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from openpyxl import Workbook

from conftest import serve_directory
from ptce_geo.catalogue import load_catalogue
from ptce_geo.layers import clear_memory_cache, load_layer

ROOT = Path(__file__).resolve().parent.parent
ETALAB = "etalab-datasets.geo.data.gouv.fr/contours-administratifs/2024/geojson"


def _gz_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(gdf.to_json(drop_id=True).encode()))


def _xlsx_zip(df: pd.DataFrame, sheet: str, member: str, path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for i in range(5):  # INSEE files open with five rows of title and notes
        ws.append([f"Titre ou note {i + 1}"])
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, buf.getvalue())


@pytest.fixture(scope="module")
def official_copy(tmp_path_factory, mirror_dir):
    """A slice (Ardèche and Corse-du-Sud) of the official files, laid out by host."""
    root = tmp_path_factory.mktemp("official")
    src = gpd.read_file(f"/vsigzip/{mirror_dir}/communes/communes_2024.geojson.gz")
    part = src[src["INSEE_DEP"].isin(["07", "2A"])].copy()
    com = gpd.GeoDataFrame({
        "code": part["INSEE_COM"], "nom": part["NOM"], "departement": part["INSEE_DEP"],
        "region": part["INSEE_REG"], "epci": part["SIREN_EPCI"],
    }, geometry=part.geometry.values, crs=4326)
    extra = gpd.GeoDataFrame({  # rows the partition must leave out
        "code": ["07999", "97502"], "nom": ["Arrondissement fictif", "Saint-Pierre"],
        "departement": ["07", "975"], "region": ["84", "975"], "epci": [None, None],
        "commune": ["07010", None],
    }, geometry=[shapely.box(4.0, 45.0, 4.01, 45.01), shapely.box(-56.2, 46.7, -56.1, 46.8)], crs=4326)
    _gz_geojson(pd.concat([com, extra], ignore_index=True), root / ETALAB / "communes-100m.geojson.gz")
    names = lambda codes, labels: gpd.GeoDataFrame(  # noqa: E731 - small table builder
        {"code": codes, "nom": labels}, geometry=[shapely.box(0, 0, 1, 1)] * len(codes), crs=4326)
    epcis = sorted(com["epci"].dropna().unique())
    _gz_geojson(names(epcis, [f"EPCI {c}" for c in epcis]), root / ETALAB / "epci-100m.geojson.gz")
    deps = names(["07", "2A", "975"], ["Ardèche", "Corse-du-Sud", "Saint-Pierre-et-Miquelon"])
    deps["region"] = ["84", "94", "975"]
    _gz_geojson(deps, root / ETALAB / "departements-100m.geojson.gz")
    _gz_geojson(names(["84", "94"], ["Auvergne-Rhône-Alpes", "Corse"]), root / ETALAB / "regions-100m.geojson.gz")
    tagc = pd.DataFrame({"CODGEO": part["INSEE_COM"], "LIBGEO": part["NOM"], "ZE2020": part["ZE2020"]})
    _xlsx_zip(tagc, "COM", "table-appartenance-geo-communes-2024.xlsx",
              root / "www.insee.fr/fr/statistiques/fichier/7671844/table-appartenance-geo-communes-2024.zip")
    comp = pd.DataFrame({"CODGEO": part["INSEE_COM"], "ZE2020": part["ZE2020"],
                         "LIBZE2020": "Zone " + part["ZE2020"]})
    _xlsx_zip(comp, "Composition_communale", "ZE2020_au_01-01-2024.xlsx",
              root / "www.insee.fr/fr/statistiques/fichier/4652957/ZE2020_au_01-01-2024.zip")
    pops = [{"code": c, "nom": n, "population": int(p)} for c, n, p in
            zip(part["INSEE_COM"], part["NOM"], part["POP_MUN_2022"])]
    pop_path = root / "unpkg.com/@etalab/decoupage-administratif@4.1.0/data/communes.json"
    pop_path.parent.mkdir(parents=True)
    pop_path.write_text(json.dumps(pops), encoding="utf-8")
    # the QPV resource id answers with a zip (as data.gouv.fr does since 2025)
    qpv = gpd.GeoDataFrame({"code_qp": ["QN00701M"], "lib_qp": ["Quartier <b>test</b>"], "insee_dep": ["07"],
                            "siren_epci": [epcis[0]], "lib_com": ["Annonay"]},
                           geometry=[shapely.box(4.65, 45.23, 4.66, 45.24)], crs=4326)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson", qpv.to_json())
        zf.writestr("LISEZMOI.txt", "notes")
    qpath = root / "www.data.gouv.fr/api/1/datasets/r/942d4ee8-8142-4556-8ea1-335537ce1119"
    qpath.parent.mkdir(parents=True)
    qpath.write_bytes(buf.getvalue())
    server, url = serve_directory(root)
    yield part, url
    server.shutdown()
    server.server_close()


@pytest.fixture()
def official(official_copy, tmp_path, monkeypatch):
    part, url = official_copy
    monkeypatch.setenv("PTCE_GEO_MIRROR", url)
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path))
    monkeypatch.delenv("PTCE_GEO_CATALOGUE", raising=False)
    clear_memory_cache()
    return part, load_catalogue(ROOT / "boundaries" / "catalogue.toml")


def test_communes_drop_arrondissements_and_com_and_get_joins(official):
    part, cat = official
    communes = load_layer("communes", catalogue=cat)
    assert len(communes) == len(part)  # the arrondissement and the COM commune are left out
    assert "07999" not in set(communes["code"]) and "97502" not in set(communes["code"])
    c = communes.set_index("code")
    src = part.set_index("INSEE_COM")
    assert c.loc["07010", "population"] == src.loc["07010", "POP_MUN_2022"]
    assert (c["ze"] == src["ZE2020"].reindex(c.index)).all()
    assert c.loc["2A004", "dep"] == "2A"


def test_levels_are_dissolved_from_communes_with_official_names(official):
    part, cat = official
    deps = load_layer("departements", catalogue=cat).set_index("code")
    assert list(deps.index) == ["07", "2A"]
    assert deps.loc["07", "nom"] == "Ardèche" and deps.loc["2A", "reg"] == "94"
    communes = load_layer("communes", catalogue=cat)
    expected = communes.groupby("dep")["area_m2"].sum()
    assert abs(deps.loc["07", "area_m2"] / expected["07"] - 1) < 1e-9
    ze = load_layer("zones_emploi", catalogue=cat).set_index("code")
    assert set(ze.index) == set(part["ZE2020"])
    first = sorted(ze.index)[0]
    assert ze.loc[first, "nom"] == f"Zone {first}"
    assert ze.loc[first, "n_communes"] == (part["ZE2020"] == first).sum()
    epci = load_layer("epci", catalogue=cat)
    assert set(epci["code"]) == set(part["SIREN_EPCI"].dropna())


def test_qpv_resource_served_as_a_zip_is_sniffed(official):
    _, cat = official
    qpv = load_layer("qpv", catalogue=cat)
    assert list(qpv["code"]) == ["QN00701M"] and qpv.loc[0, "nom"] == "Quartier <b>test</b>"
    assert qpv.loc[0, "dep"] == "07"


def test_cli_picks_up_the_qpv_2024_list_in_force(official, tmp_path, capsys):
    """The default catalogue's QPV layer is the 2024 list, in force: the CLI lists it so, measures
    poles against it and counts it among the programmes in force, not as history."""
    from ptce_geo.cli import main

    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {"id": "annonay", "communes": ["07010"]}}]}))
    assert main(["layers", "--format", "csv"]) == 0
    layers = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str).set_index("id")
    assert (layers.loc["qpv", "status"], layers.loc["qpv", "vintage"]) == ("en vigueur", "2024")
    assert layers.loc["contrats_de_ville", "status"] == "historique"
    assert main(["overlap", "--poles", str(poles), "--zones", "qpv"]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out), dtype=str)
    assert list(table["zone_code"]) == ["QN00701M"]  # the synthetic QPV half in Annonay
    assert table.loc[0, "relation"] == "straddles" and table.loc[0, "counted"] == "True"
    assert "historical" not in captured.err
    assert main(["programmes", "--poles", str(poles), "--zones", "qpv", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["programmes"], row["historique"], row["qpv_codes"]) == ("1 QPV", "", "QN00701M")
