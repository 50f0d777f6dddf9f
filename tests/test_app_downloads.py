"""Every page offers what it shows for download (AppTest, real data): button labels and file names."""

from __future__ import annotations

import pytest
import streamlit as st

from test_app import app_env, no_failure, open_page, poles_file  # noqa: F401 - fixtures shared with test_app

pytestmark = pytest.mark.realdata

BUTTONS = ["GeoJSON", "GeoPackage (QGIS)", "Tableur (CSV)", "CSV (programmes)"]


@pytest.fixture()
def offered(app_env, monkeypatch):
    """Every download button drawn: label → (file name, data), recorded as the page calls Streamlit."""
    from streamlit.delta_generator import DeltaGenerator

    seen: dict[str, tuple[str, object]] = {}
    original = DeltaGenerator.download_button

    def record(self, label, data, file_name=None, *args, **kwargs):
        seen[label] = (file_name, data)
        return original(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", record)
    module_level = st.download_button  # bound to the main container when streamlit was imported

    def record_main(label, data, file_name=None, *args, **kwargs):
        seen[label] = (file_name, data)
        return module_level(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", record_main)
    return seen


def names(seen: dict) -> dict[str, str]:
    return {label: name for label, (name, _) in seen.items()}


def test_carte_des_poles_offers_the_pole_its_card_and_all_poles(offered):
    at = open_page("Carte des pôles")
    no_failure(at)
    assert callable(offered["GeoJSON"][1])  # made on click only
    assert names(offered) == dict(zip(BUTTONS, ["ptce_poles.geojson", "ptce_poles.gpkg", "ptce_poles_tableur.zip",
                                               "ptce_poles_csv.zip"]))
    at.selectbox(key="carte_pole").set_value("sud-aquitain").run()
    no_failure(at)
    assert names(offered) == {"Fiche PDF (A4)": "sud-aquitain_fiche.pdf", "Fiche HTML": "sud-aquitain_fiche.html",
                             **dict(zip(BUTTONS, ["sud-aquitain_pole.geojson", "sud-aquitain_pole.gpkg",
                                                  "sud-aquitain_pole_tableur.zip", "sud-aquitain_pole_csv.zip"]))}
    pdf = offered["Fiche PDF (A4)"][1]()
    assert pdf[:5] == b"%PDF-"
    import json

    (feat,) = json.loads(offered["GeoJSON"][1]())["features"]
    assert feat["properties"]["structure_porteuse"] == "Association Sud Aquitain (test)"
    offered.clear()
    at.radio(key="dl_carte_what").set_value("all").run()
    assert names(offered)["GeoPackage (QGIS)"] == "ptce_poles.gpkg"
    # every pole with what one pole's download holds: the pieces of every level and the zones' overlaps
    import tempfile

    import pyogrio
    from ptce_geo.layers import load_layer

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/all.gpkg"
        with open(path, "wb") as f:
            f.write(offered["GeoPackage (QGIS)"][1]())
        layers = {name for name, _ in pyogrio.list_layers(path)}
        assert {"poles", "pieces_communes", "pieces_epci", "overlaps_crte", "overlaps_qpv"} <= layers
        pieces = pyogrio.read_dataframe(path, layer="pieces_communes", read_geometry=False)
    communes = load_layer("communes")
    seignanx = set(communes.loc[communes["epci"] == "244000659", "code"])
    assert set(pieces.loc[pieces["pole_id"] == "sud-aquitain", "unit_code"]) == seignanx


def test_decoupages_territoire_and_zones_offer_what_they_show(offered):
    at = open_page("Découpages")
    at.selectbox(key="dec_pole").set_value("dessine")
    at.selectbox(key="dec_level").set_value("departements").run()
    no_failure(at)
    assert names(offered)["GeoPackage (QGIS)"] == "dessine_pieces_departements.gpkg"
    offered.clear()
    at = open_page("Mon territoire")
    at.text_input(key="terr_query").input("40").run()
    no_failure(at)
    assert at.radio(key="terr_choice").value == "departements:40"
    assert names(offered)["Tableur (CSV)"] == "territoire_departements_40_poles_tableur.zip"
    offered.clear()
    at.text_input(key="terr_query").input("pau").run()  # no pole acts there: nothing to take away
    no_failure(at)
    assert at.radio(key="terr_choice").value == "communes:64445" and names(offered) == {}
    offered.clear()
    at = open_page("Zones de contrat")
    no_failure(at)
    assert names(offered)["GeoJSON"].startswith("ptce_overlaps_")


def test_new_perimeter_offers_its_card(offered):
    at = open_page("Nouveau périmètre")
    at.multiselect(key="nouv_epci").set_value(["244000659"]).run()
    no_failure(at)
    shown = names(offered)
    assert shown["Fiche PDF (A4)"] == "nouveau-perimetre_fiche.pdf"
    assert shown["Fiche HTML"] == "nouveau-perimetre_fiche.html"
    page = offered["Fiche HTML"][1]().decode("utf-8")
    assert "<h1>Nouveau périmètre</h1>" in page and "Intra-EPCI" in page


def test_new_perimeter_scorecard_is_written_on_click_under_its_own_name(offered, tmp_path):
    """The scorecard download is made when clicked; its name is the one the export gives its content."""
    import io
    import sqlite3
    import zipfile

    at = open_page("Nouveau périmètre")
    at.multiselect(key="nouv_epci").set_value(["244000659"]).run()
    no_failure(at)
    for fmt, name in (("geojson", "nouveau-perimetre-geojson.zip"), ("csv", "nouveau-perimetre-csv.zip"),
                      ("gpkg", "nouveau-perimetre.gpkg")):
        at.radio(key="nouv_fmt").set_value(fmt).run()
        file_name, data = offered["Télécharger le tableau de bord"]
        assert callable(data) and file_name == name, file_name
        content = data()
        if fmt == "gpkg":
            path = tmp_path / name
            path.write_bytes(content)
            with sqlite3.connect(path) as db:
                tables = {r[0] for r in db.execute("select table_name from gpkg_contents")}
            assert "scorecard" in tables or any("piece" in t for t in tables), tables
        else:
            members = zipfile.ZipFile(io.BytesIO(content)).namelist()
            assert any(m.startswith("nouveau-perimetre") and m.endswith("." + fmt) for m in members), members


def test_zones_de_contrat_tables_download_as_a_french_spreadsheet(offered):
    """The overlaps shown and the programmes' summary download in the « fr » dialect: French
    headers and words, shares in %, decimal comma, « ; »: no machine name left."""
    import io

    import pandas as pd

    at = open_page("Zones de contrat", couche="crte")
    no_failure(at)
    _, data = offered["Télécharger le tableau (CSV)"]
    raw = data()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: a French spreadsheet reads the accents
    table = pd.read_csv(io.BytesIO(raw), sep=";", decimal=",", encoding="utf-8-sig", dtype={"Code de la zone": str})
    assert not [c for c in table.columns if "_" in c]
    row = table.set_index("Pôle").loc["PTCE Sud Aquitain"]
    assert row["Zone"] == "CRTE du Seignanx" and row["Part du pôle dans la zone (%)"] == 100.0
    assert row["Calcul"] == "communes" and row["Relation"] in ("Confondus", "Pôle inclus dans la zone")
    assert row["Communes en commun"] == 8 and row["Recouvrement compté"] == "oui"  # the Seignanx's 8 communes
    shown = at.dataframe[0].value
    assert len(table) == len(shown)  # the rows shown, no more
    at.radio(key="zc_view").set_value("Programmes par pôle").run()
    no_failure(at)
    _, data = offered["Télécharger la synthèse des programmes (CSV)"]
    table = pd.read_csv(io.BytesIO(data()), sep=";", decimal=",", encoding="utf-8-sig")
    assert not [c for c in table.columns if "_" in c]
    row = table.set_index("Nom").loc["PTCE Sud Aquitain"]
    assert row["Programmes en vigueur"].startswith("CRTE du Seignanx (100")
    assert row["CRTE : part du pôle couverte (%)"] == 100.0 and row["CRTE : zones comptées"] == 1
