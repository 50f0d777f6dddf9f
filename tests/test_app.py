"""The Streamlit app, run in-process with ``streamlit.testing.v1.AppTest`` on real data.

Every page runs against the boundary mirror (fixture ``mirror_env``) and a small poles
file written here: the Sud Aquitain pole (CC du Seignanx, Landes), a pole over two
départements, a pole with a hostile name, one given by its drawn geometry, and a pole
of one commune (Tarnos) lying inside the Sud Aquitain one. Expected figures come from
the boundary layers themselves or from geopandas/shapely/pyproj directly, not from the
overlay engine. Every figure a table shows is checked to be written the French way
(the strings the browser draws, decoded from the element sent to it).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

pytestmark = pytest.mark.realdata

APP = Path(__file__).resolve().parent.parent / "app.py"
HOSTILE = "Pôle <script>alert(1)</script>"
SQUARE = [[4.70, 46.25], [5.05, 46.25], [5.05, 46.45], [4.70, 46.45], [4.70, 46.25]]
POLES = [
    {"id": "sud-aquitain", "nom": "PTCE Sud Aquitain", "epci": ["244000659"],
     "structure_porteuse": "Association Sud Aquitain (test)", "filieres": ["économie circulaire", "alimentation"],
     "description": "Pôle de test sur la CC du Seignanx.", "confiance": "moyenne",
     "sources": [{"titre": "Labo de l'ESS", "url": "https://www.lelabo-ess.org/"}],
     "note_perimetre": "Périmètre de la CC du Seignanx", "siege_insee": "40312", "siege_nom": "Tarnos"},
    {"id": "adour-basque", "nom": "Pôle Adour Basque", "epci": ["200067106", "244000865"], "siege_insee": "64102"},
    {"id": "hostile", "nom": HOSTILE, "communes": ["81004"], "structure_porteuse": "<img src=x onerror=alert(2)>",
     "filieres": ["**gras**"], "sources": ["javascript:alert(3)"], "siege_insee": "81004"},
    {"id": "dessine", "nom": "Pôle dessiné Mâconnais-Bresse"},
    {"id": "tarnos", "nom": "Pôle de Tarnos", "communes": ["40312"]},
]
PAGES = ["Carte des pôles", "Mon territoire", "Découpages", "Nouveau périmètre", "Zones de contrat", "Mes pôles",
         "Sources"]


def write_poles(path: Path) -> Path:
    """The test poles file (five features: four by codes, one by geometry)."""
    feats = []
    for props in POLES:
        geom = {"type": "Polygon", "coordinates": [SQUARE]} if props["id"] == "dessine" else None
        feats.append({"type": "Feature", "properties": props, "geometry": geom})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture(scope="session")
def poles_file(tmp_path_factory) -> Path:
    return write_poles(tmp_path_factory.mktemp("poles") / "poles.geojson")


@pytest.fixture()
def app_env(mirror_env, poles_file, monkeypatch):
    monkeypatch.setenv("PTCE_GEO_POLES", str(poles_file))
    monkeypatch.delenv("PTCE_GEO_TILES", raising=False)
    return poles_file


def open_page(title: str, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=240)
    at.query_params.update(query)
    at.run()
    if at.sidebar.radio[0].value != title:
        return to_page(at, title)
    if tables_pending(at):
        at.run()  # the browser's timer: the opening page's tables and downloads, a moment after its map
    return at


def to_page(at, title: str):
    """Click ``title`` in the sidebar, then rerun as the page's timer does when it drew its map first."""
    at.sidebar.radio[0].set_value(title).run()
    if tables_pending(at):
        at.run()
    return at


def tables_pending(at) -> bool:
    """Whether the page drew its map and left its tables and downloads to the rerun a moment later."""
    return any("s'affichent dans un instant" in c.value for c in at.caption)


def no_failure(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for df in at.dataframe:  # every figure drawn in a table is French: no decimal point, thin spaces
        for col, shown, raw in displayed(df):
            for text, value in zip(shown, raw):
                assert not re.search(r"\d\.\d", text), (col, text)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
                        and abs(value) >= 10_000:
                    assert "\u202f" in text, (col, text)


def displayed(df) -> list[tuple[str, list[str], list]]:
    """(column, strings drawn, values) of a table element: the Styler's strings, or the raw values."""
    import pyarrow as pa

    values = df.value
    shown = None
    if df.proto.arrow_data.styler.display_values:
        shown = pa.ipc.open_stream(df.proto.arrow_data.styler.display_values).read_all().to_pandas()
    out = []
    for col in values.columns:
        raw = list(values[col])
        if shown is not None and col in shown:
            out.append((col, [str(v) for v in shown[col]], raw))
        else:  # no French formatting: what the grid would draw
            out.append((col, [repr(v) if isinstance(v, float) else str(v) for v in raw], raw))
    return out


def maps_of(at) -> list[dict]:
    """What each map of the page sends the browser (``app_pages.mapview.page_data``)."""
    from app_pages import mapview

    return [json.loads(c.proto.json) for c in at.get("bidi_component")
            if c.proto.component_name == mapview.COMPONENT_NAME]


def unescape_js(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def layer(lid):
    from ptce_geo import load_layer

    return load_layer(lid)


def equal_area(geom) -> float:
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs("EPSG:3035").area.iloc[0])


# ------------------------------------------------------------------ every page
@pytest.mark.parametrize("title", PAGES)
def test_every_page_runs_in_french_without_error(app_env, title):
    at = open_page(title)
    no_failure(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.title[0].value in {title, "Sources et licences"}
    assert [r.label for r in at.sidebar.radio] == ["Page", "Parts mesurées en"]
    assert at.sidebar.radio[0].options == PAGES
    assert at.sidebar.text_input(key="side_query").label == "Chercher un territoire"
    for md in at.markdown:
        assert not md.proto.allow_html, md.value  # no raw HTML anywhere
    texts = [e.value for kind in ("markdown", "caption", "info", "success", "warning") for e in at.get(kind)]
    texts += [f"{m.label} {m.value}" for m in at.metric]
    for text in texts:
        assert "(s)" not in text and "(e)" not in text, text  # plurals agree with their count
        assert not re.search(r"\d\.\d", text.replace("\\.", "")), text  # French numbers


# ------------------------------------------------------------------ links, measure, search
def test_links_restore_page_pole_territory_and_level(app_env):
    from streamlit.testing.v1 import AppTest

    def opened(**query):
        at = AppTest.from_file(str(APP), default_timeout=240)
        at.query_params.update(query)
        at.run()
        no_failure(at)
        return at

    at = opened(page="carte", pole="sud-aquitain")
    assert at.sidebar.radio[0].value == "Carte des pôles"
    assert at.selectbox(key="carte_pole").value == "sud-aquitain" and at.subheader[0].value == "PTCE Sud Aquitain"
    at = opened(page="territoire", territoire="communes:40312")
    assert at.sidebar.radio[0].value == "Mon territoire"
    assert at.radio(key="terr_choice").value == "communes:40312"
    assert at.subheader[0].value.replace("\\", "").startswith("Tarnos (40)")
    at = opened(page="decoupages", pole="dessine", echelon="departements")
    assert (at.selectbox(key="dec_pole").value, at.selectbox(key="dec_level").value) == ("dessine", "departements")
    # what a page shows goes into the URL, and only that
    at.selectbox(key="dec_level").set_value("regions").run()
    assert dict(at.query_params) == {"page": "decoupages", "pole": "dessine", "echelon": "regions"}
    at.sidebar.radio[0].set_value("Mon territoire").run()
    at.text_input(key="terr_query").input("64").run()
    assert dict(at.query_params) == {"page": "territoire", "territoire": "departements:64"}
    at.sidebar.radio(key="mesure").set_value("population").run()
    assert dict(at.query_params)["mesure"] == "population"
    at = opened(page="territoire", territoire="departements:64", mesure="population")
    assert at.sidebar.radio(key="mesure").value == "population"
    # a link to something that does not exist opens the page without it
    at = opened(page="carte", pole="absent")
    assert at.selectbox(key="carte_pole").value == "—"


def test_population_measure_weights_every_share(app_env):
    """Parts « en population »: the territory's and the pole's shares are shares of inhabitants."""
    at = open_page("Mon territoire")
    at.sidebar.radio(key="mesure").set_value("population").run()
    at.text_input(key="terr_query").input("40").run()
    no_failure(at)
    table = at.dataframe[0].value.set_index("Pôle")
    communes = layer("communes").set_index("code")
    pop = communes["population"]
    landes = pop[communes["dep"] == "40"].sum()
    seignanx = pop[communes["epci"] == "244000659"].sum()
    row = table.loc["PTCE Sud Aquitain"]
    assert row["Part du territoire couverte par le pôle"] == pytest.approx(seignanx / landes, rel=1e-9)
    assert row["Part du pôle située dans le territoire"] == pytest.approx(1.0)
    assert row["Habitants en commun"] == pytest.approx(seignanx)
    assert table.loc["Pôle de Tarnos", "Part du territoire couverte par le pôle"] == pytest.approx(
        pop.loc["40312"] / landes, rel=1e-9)
    assert "Part de la population couverte par au moins un pôle" in [m.label for m in at.metric]
    # the same on the Découpages page: shares of the pole's inhabitants
    at.sidebar.radio[0].set_value("Découpages").run()
    at.selectbox(key="dec_pole").set_value("sud-aquitain").run()
    no_failure(at)
    pieces = at.dataframe[0].value
    members = pop[communes["epci"] == "244000659"]
    expected = {f"{communes.loc[c, 'nom']} ({c})": members.loc[c] / members.sum() for c in members.index}
    assert len(pieces) == len(expected)
    for unit, share in zip(pieces["Unité"], pieces["Part du pôle"]):
        assert share == pytest.approx(expected[unit], rel=1e-9)


def test_mon_territoire_says_how_it_read_a_typo_a_lost_zero_and_a_postal_code(app_env):
    """« Nants » offers Nantes and says the names are only close; « 1004 » is read as 01004;
    « 64100 » (Bayonne's postal code, Bassussarry's INSEE code) says which commune it read and
    that postal codes are not known; « 44000 » (no INSEE code) says so too."""
    communes = layer("communes").set_index("code")
    at = open_page("Mon territoire")

    def ask(query: str) -> str:
        at.text_input(key="terr_query").input(query).run()
        no_failure(at)
        said = " ".join(c.value for c in at.caption) + " ".join(w.value for w in at.warning)
        return said.replace("\\", "")  # Markdown-escaped: the labels are data

    said = ask("Nants")
    assert "voici les noms les plus proches" in said
    assert at.radio(key="terr_choice").value == "communes:44109"
    said = ask("1004")
    assert "code INSEE 01004" in said and at.radio(key="terr_choice").value == "communes:01004"
    said = ask("64100")
    assert at.radio(key="terr_choice").value == "communes:64100"
    assert f"code INSEE de {communes.loc['64100', 'nom']} (64)" in said and "codes postaux ne sont pas reconnus" in said
    assert "S'il s'agit d'un code postal, tapez plutôt le nom de la commune" in said
    assert "44000" not in communes.index
    said = ask("44000")
    assert "Aucun territoire ne correspond" in said and "codes postaux ne sont pas reconnus" in said
    said = ask("bayonne")
    assert "codes postaux" not in said and "noms les plus proches" not in said


def test_sidebar_search_opens_mon_territoire(app_env):
    at = open_page("Carte des pôles")
    at.sidebar.text_input(key="side_query").input("st denis").run()
    no_failure(at)
    assert at.sidebar.radio[0].value == "Mon territoire"
    options = at.radio(key="terr_choice").options
    assert "Saint-Denis (93) — commune, 115\u202f237 hab." in options
    assert options[0].startswith("Saint-Denis (974)")  # exact name, then population


def test_national_map_typologies_table_and_local_assets(app_env):
    at = open_page("Carte des pôles")
    no_failure(at)
    table = at.dataframe[-1].value.set_index("Pôle")
    communes = layer("communes")
    assert table.loc["PTCE Sud Aquitain", "Typologie"] == "Intra-EPCI"
    assert table.loc["PTCE Sud Aquitain", "Communes"] == int((communes["epci"] == "244000659").sum()) == 8
    assert table.loc["Pôle Adour Basque", "Typologie"] == "Inter-départemental"
    assert table.loc[HOSTILE, "Typologie"] == "Une seule commune"  # shown as text in the table
    # the square straddles the Saône: Saône-et-Loire (Bourgogne-Franche-Comté) and Ain (Auvergne-Rhône-Alpes)
    deps = layer("departements")
    touched = deps[deps.intersects(shapely.Polygon(SQUARE))]
    assert set(touched["reg"]) == {"27", "84"}
    assert table.loc["Pôle dessiné Mâconnais-Bresse", "Typologie"] == "Inter-régional"
    (args,) = maps_of(at)
    assert args["returned_objects"] == ["last_active_drawing", "last_object_clicked"]
    links = args["js_links"] + args["css_links"]
    assert links and all(u.startswith("/app/static/vendor/") for u in links)
    vendor = APP.parent / "static" / "vendor"
    assert all((vendor / u.rsplit("/", 1)[1]).stat().st_size > 10_000 for u in links)
    script = unescape_js(args["script"])
    assert '"selected": true' not in script and script.count('"selected": false') == 5
    for pid in ("sud-aquitain", "adour-basque", "hostile", "dessine", "tarnos"):
        assert f'"id": "{pid}"' in script
    assert script.index('"id": "tarnos"') > script.index('"id": "sud-aquitain"')  # the small pole on top
    assert not re.search(r"https?://|//[a-z]", args["styles"])  # nothing the page would fetch elsewhere
    # French map: zoom titles, metric scale only, a button for Île-de-France, names of places
    assert "zoomInTitle: 'Zoom avant'" in script and "imperial: false" in script
    assert "Île-de-France" in script and "ptceLabels" in script
    assert '"Paris"' in script and '"Lyon"' in script  # préfectures labelled on the national map


def test_hostile_name_is_escaped_in_popups_tooltips_card_and_table(app_env):
    at = open_page("Carte des pôles", pole="hostile")
    no_failure(at)
    assert at.selectbox(key="carte_pole").value == "hostile"
    script = unescape_js(maps_of(at)[0]["script"])
    assert script.count('"selected": true') == 1  # drawn highlighted
    assert "<script>alert" not in script and "<img src=x" not in script
    assert "Pôle &lt;script&gt;alert(1)&lt;/script&gt;" in script  # popup and tooltip, as text
    assert "&lt;img src=x onerror=alert(2)&gt;" in script
    heading = at.subheader[0].value
    assert heading == r"Pôle \<script\>alert\(1\)\</script\>"
    card = " ".join(m.value for m in at.markdown)
    assert r"\<img src\=x onerror\=alert\(2\)\>" in card and "<img" not in card.replace(r"\<img", "")
    assert "javascript:" not in card.replace(r"javascript\:", "")  # never a link
    assert HOSTILE in list(at.dataframe[-1].value["Pôle"])


def test_pole_card_scorecard(app_env, mirror_dir):
    at = open_page("Carte des pôles")
    at.selectbox(key="carte_pole").set_value("sud-aquitain").run()
    no_failure(at)
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    for expected in ("Structure porteuse", "Association Sud Aquitain", "Tarnos", "Filières", "Confiance",
                     "Zone d'emploi dominante", "Zone d'emploi la mieux ajustée", "indice de recouvrement",
                     "Quartiers prioritaires", "Découpage par échelon"):
        assert expected in text, expected
    assert "IoU" not in text and "(s)" not in text
    # the Seignanx is wholly in the zone d'emploi of Bayonne, and a small part of it: both are said
    assert "Zone d'emploi dominante :** Bayonne (100,0\u00a0% du pôle)" in text
    assert "(faible : le pôle n'occupe qu'une petite partie de la zone)" in text
    # levels in rows, four short columns: nothing cut at 1400 px
    levels = at.table[0].value.set_index("Échelon")
    assert list(levels.index) == ["Communes", "EPCI", "Départements", "Régions", "Zones d'emploi"]
    assert list(levels.columns) == ["Unités", "Dominante (part du pôle)", "Frontières"]
    assert levels.loc["Communes", "Unités"] == "8"
    assert levels.loc["EPCI", "Dominante (part du pôle)"] == "CC du Seignanx (100\u00a0%)"
    assert levels.loc["Départements", "Dominante (part du pôle)"] == "Landes (100\u00a0%)"
    # the dominant zone d'emploi (largest share) and the best-fitting one (IoU) are shown apart
    communes = layer("communes")
    ze = communes.loc[communes["epci"] == "244000659", "ze"].unique()
    ze_names = layer("zones_emploi").set_index("code")["nom"]
    assert len(ze) == 1 and f"Zone d'emploi dominante :** {ze_names.loc[ze[0]]} (100,0\u00a0% du pôle)" in text
    # the programmes it sits in: the CRTE table gives every commune of the Seignanx to one CRTE
    crte = pd.read_csv(mirror_dir / "tables" / "crte_2022_communes_cog2024.csv", dtype=str).set_index("insee_com")
    seignanx = communes.loc[communes["epci"] == "244000659", "code"]
    (name,) = crte.loc[seignanx, "lib_crte"].unique()
    assert f"**Programmes en vigueur :** {name} (100\u00a0%)" in text
    assert "Générations expirées" not in text  # no QPV, no expired contract there
    at.selectbox(key="carte_pole").set_value("adour-basque").run()
    past = next(m.value for m in at.markdown if "Générations expirées" in m.value).replace("\\", "")
    assert "QPV — 2015-2023" in past  # Bayonne's districts of the 2015 list, as history
    at.selectbox(key="carte_pole").set_value("sud-aquitain").run()
    # with a pole selected, the context layers are clipped around it
    at.multiselect(key="carte_context").set_value(["departements", "communes", "qpv"]).run()
    no_failure(at)
    script = unescape_js(maps_of(at)[0]["script"])
    assert "Commune <b>Tarnos</b> (40312)" in script and "Commune <b>Albi</b>" not in script


def test_base_tiles_only_when_configured(app_env, monkeypatch):
    at = open_page("Carte des pôles")
    assert "L.tileLayer" not in maps_of(at)[0]["script"]  # no tiles by default: no network needed
    monkeypatch.setenv("PTCE_GEO_TILES", "http://127.0.0.1:9/tuiles/{z}/{x}/{y}.png")
    monkeypatch.setenv("PTCE_GEO_TILES_ATTRIBUTION", "© Tuiles <b>de test</b>")
    at = open_page("Carte des pôles")
    no_failure(at)
    script = unescape_js(maps_of(at)[0]["script"])
    assert "L.tileLayer" in script and "http://127.0.0.1:9/tuiles/{z}/{x}/{y}.png" in script
    assert "© Tuiles &lt;b&gt;de test&lt;/b&gt;" in script


def test_map_click_selects_the_clicked_pole(app_env, monkeypatch):
    from app_pages import carte

    state = {"_carte_ids": ("sud-aquitain", "hostile"), carte.POLE_KEY: carte.NONE,
             carte.MAP_KEY: {"last_active_drawing": {"type": "Feature", "properties": {"id": "hostile"}}}}
    monkeypatch.setattr(carte.st, "session_state", state)
    carte._on_click()
    assert state[carte.POLE_KEY] == "hostile"
    state[carte.MAP_KEY] = {"last_active_drawing": {"properties": {"code": "40"}}}  # a département: ignored
    carte._on_click()
    assert state[carte.POLE_KEY] == "hostile"


def test_a_click_where_poles_overlap_lists_them_all(app_env, monkeypatch):
    """Tarnos lies in the Sud Aquitain pole: a click there selects the smaller pole and lists the other."""
    from app_pages import carte

    open_page("Carte des pôles")  # the poles' Scorecard, cached for the callback
    tarnos = layer("communes").set_index("code").geometry.loc["40312"].representative_point()
    state = {"_carte_ids": tuple(p["id"] for p in POLES), carte.POLE_KEY: carte.NONE,
             carte.MAP_KEY: {"last_object_clicked": {"lat": tarnos.y, "lng": tarnos.x}}}
    with monkeypatch.context() as patched:  # only this patch is undone (the mirror settings stay)
        patched.setattr(carte.st, "session_state", state)
        carte._on_click()
    assert state[carte.POLE_KEY] == "tarnos"
    assert state[carte.HERE_KEY] == ["tarnos", "sud-aquitain"]
    at = open_page("Carte des pôles", pole="tarnos")
    at.session_state[carte.HERE_KEY] = ["tarnos", "sud-aquitain"]
    at.run()
    no_failure(at)
    assert at.subheader[0].value == "Pôle de Tarnos"
    assert "PTCE Sud Aquitain" in [b.label for b in at.button]  # the other pole, one click away
    at.button(key="carte_here_sud-aquitain").click().run()
    assert at.selectbox(key="carte_pole").value == "sud-aquitain"


# ------------------------------------------------------------------ Mon territoire
def test_mon_territoire_departement_40_lists_sud_aquitain(app_env):
    at = open_page("Mon territoire")
    at.text_input(key="terr_query").input("40").run()
    no_failure(at)
    assert at.radio(key="terr_choice").value == "departements:40"
    assert at.radio(key="terr_choice").options[0] == "Landes (40) — département, 428\u202f427 hab."
    table = at.dataframe[0].value.set_index("Pôle")
    # largest share of the territory first
    assert list(table.index) == ["Pôle Adour Basque", "PTCE Sud Aquitain", "Pôle de Tarnos"]
    epci = layer("epci").set_index("code")
    landes = layer("departements").set_index("code").geometry.loc["40"]
    seignanx, macs, basque = (epci.geometry.loc[c] for c in ("244000659", "244000865", "200067106"))
    row = table.loc["PTCE Sud Aquitain"]
    assert row["Part du pôle située dans le territoire"] == pytest.approx(1.0)
    assert row["Part du territoire couverte par le pôle"] == pytest.approx(equal_area(seignanx) / equal_area(landes), rel=1e-4)
    row = table.loc["Pôle Adour Basque"]
    share = equal_area(macs) / (equal_area(macs) + equal_area(basque))
    assert row["Part du pôle située dans le territoire"] == pytest.approx(share, rel=1e-4)
    assert HOSTILE not in table.index
    (args,) = maps_of(at)
    assert "Département <b>Landes</b> (40)" in unescape_js(args["script"])


def test_mon_territoire_search_by_name_and_no_match(app_env):
    at = open_page("Mon territoire")
    at.text_input(key="terr_query").input("TARNOS").run()
    no_failure(at)
    assert at.radio(key="terr_choice").value == "communes:40312"
    assert at.radio(key="terr_choice").options[1].startswith("CC du Seignanx — EPCI de Tarnos (40)")
    assert sorted(at.dataframe[0].value["Pôle"]) == ["PTCE Sud Aquitain", "Pôle de Tarnos"]
    assert "Tarnos fait partie de l'intercommunalité **CC du Seignanx**" in " ".join(m.value for m in at.markdown)
    # the EPCI chosen in the list stays while the query stays; a new query shows its own best match,
    # even when the EPCI chosen before is among its results (Ondres is in the CC du Seignanx too)
    at.radio(key="terr_choice").set_value("epci:244000659").run()
    at.run()
    assert at.radio(key="terr_choice").value == "epci:244000659"
    at.text_input(key="terr_query").input("ondres").run()
    no_failure(at)
    assert any(o.startswith("CC du Seignanx — EPCI ") for o in at.radio(key="terr_choice").options)
    assert at.radio(key="terr_choice").value == "communes:40209"
    assert at.subheader[0].value.replace("\\", "").startswith("Ondres (40)")
    at.text_input(key="terr_query").input("zzzz introuvable").run()
    no_failure(at)
    assert "Aucun territoire ne correspond" in at.warning[0].value


def test_mon_territoire_without_pole_points_to_the_nearest(app_env):
    """Pau: no test pole acts there; the poles nearest to it are listed with their distance."""
    at = open_page("Mon territoire")
    at.text_input(key="terr_query").input("pau").run()
    no_failure(at)
    assert at.radio(key="terr_choice").value == "communes:64445"
    assert "Aucun pôle recensé n'agit sur ce territoire" in at.info[0].value
    near = at.dataframe[0].value
    assert list(near.columns) == ["Pôle", "Distance", "Typologie"]
    assert near["Pôle"].iloc[0] == "Pôle Adour Basque"  # the Pays basque and Maremne, to the west
    assert all(re.fullmatch(r"à [\d\u202f]+,\d\u00a0km", d) for d in near["Distance"])
    km = [float(d[2:-3].replace("\u202f", "").replace(",", ".")) for d in near["Distance"]]
    assert km == sorted(km) and 20 < km[0] < 120
    # its EPCI is one click away
    communes = layer("communes").set_index("code")
    epci = communes.loc["64445", "epci"]
    at.button(key="terr_parent_epci").click().run()
    no_failure(at)
    assert at.radio(key="terr_choice").value == f"epci:{epci}"
    assert at.subheader[0].value.replace("\\", "").startswith(layer("epci").set_index("code").loc[epci, "nom"])


# ------------------------------------------------------------------ Découpages
def test_decoupages_pieces_chart_and_border_length(app_env):
    at = open_page("Découpages")
    at.selectbox(key="dec_pole").set_value("dessine")
    at.selectbox(key="dec_level").set_value("departements").run()
    no_failure(at)
    pieces = at.dataframe[0].value
    pieces.index = [u.rsplit("(", 1)[1].rstrip(")") for u in pieces["Unité"]]
    deps = layer("departements").set_index("code")
    square = shapely.Polygon(SQUARE)
    for code in ("01", "71"):
        expected = equal_area(deps.geometry.loc[code].intersection(square)) / equal_area(square)
        assert pieces.loc[code, "Part du pôle"] == pytest.approx(expected, rel=1e-3)
    assert pieces["Part du pôle"].sum() == pytest.approx(1.0, abs=1e-6)
    # border length: the département borders inside the square, measured with pyproj directly
    geod, total = Geod(ellps="WGS84"), 0.0
    codes = list(pieces.index)
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            shared = deps.geometry.loc[a].boundary.intersection(deps.geometry.loc[b].boundary).intersection(square)
            total += geod.geometry_length(shared) if not shared.is_empty else 0.0
    shown = next(m.value for m in at.metric if m.label == "Frontières internes traversées")
    assert float(shown.replace("\u202f", "").replace("\u00a0km", "").replace(",", ".")) == pytest.approx(
        total / 1000, rel=0.01)
    assert total > 20_000
    assert at.get("vega_lite_chart")  # the bar chart of shares
    script = unescape_js(maps_of(at)[0]["script"])
    assert "Frontière interne traversée par le pôle" in script and "Saône-et-Loire" in script


# ------------------------------------------------------------------ Nouveau périmètre
def test_new_perimeter_by_epci_gives_full_scorecard(app_env):
    at = open_page("Nouveau périmètre")
    at.text_input(key="nouv_name").input("Projet Seignanx").run()
    at.multiselect(key="nouv_epci").set_value(["244000659"]).run()
    no_failure(at)
    assert at.subheader[0].value == "Projet Seignanx"
    levels = at.dataframe[0].value.set_index("Échelon")
    assert levels.loc["Communes", "Unités comptées"] == 8
    assert next(m.value for m in at.metric if m.label == "Typologie") == "Intra-EPCI"
    assert at.success[0].value.startswith("Tableau de bord calculé pour 1\u00a0périmètre ")
    assert at.download_button(key="nouv_download").label == "Télécharger le tableau de bord"


def test_new_perimeter_keeps_communes_chosen_in_several_departements(app_env):
    at = open_page("Nouveau périmètre")
    at.selectbox(key="nouv_dep").set_value("40").run()
    at.multiselect(key="nouv_communes_40").set_value(["40312", "40209"]).run()  # Tarnos, Ondres
    at.selectbox(key="nouv_dep").set_value("64").run()
    at.multiselect(key="nouv_communes_64").set_value(["64102"]).run()  # Bayonne
    no_failure(at)
    assert "3\u00a0communes choisies" in " ".join(c.value for c in at.caption)
    levels = at.dataframe[0].value.set_index("Échelon")
    assert levels.loc["Communes", "Unités comptées"] == 3
    assert levels.loc["Départements", "Unités comptées"] == 2
    assert next(m.value for m in at.metric if m.label == "Typologie") == "Inter-départemental"


def test_an_expired_qpv_list_is_named_as_history_wherever_its_figures_show(app_env, mirror_dir):
    """The mirror's QPV are the 2015 list (history): the national table's column, the context
    layers' list and Nouveau périmètre's count all say so; the count is the 2015 file's own."""
    at = open_page("Carte des pôles")
    at.run()  # the tables' rerun
    no_failure(at)
    table = at.dataframe[1].value
    assert "QPV 2015" in table.columns and "QPV" not in table.columns
    options = at.multiselect(key="carte_context").options
    assert "Quartiers prioritaires (QPV 2015, historique)" in options
    assert "Contrats de ruralité (historique)" in options and "Contrats de ville 2015-2020 (historique)" in options
    assert "Territoires d'industrie (2023-2027)" in options  # in force: no mention
    at = open_page("Nouveau périmètre")
    at.selectbox(key="nouv_dep").set_value("64").run()
    at.multiselect(key="nouv_communes_64").set_value(["64102"]).run()  # Bayonne
    no_failure(at)
    line = next(c.value for c in at.caption if "Quartiers prioritaires" in c.value)
    qpv = gpd.read_file(mirror_dir / "qpv" / "qpv_2015_france.geojson")
    communes = gpd.read_file("/vsigzip/" + str(mirror_dir / "communes" / "communes_2024.geojson.gz"),
                             where="INSEE_COM = '64102'")
    bayonne = communes.to_crs(qpv.crs).geometry.iloc[0]
    n = int(qpv.intersects(bayonne).sum())
    assert n >= 1
    assert line.startswith(f"Quartiers prioritaires (liste 2015 : historique, 2015-2023) touchés : {n} ")


def test_new_perimeter_finds_communes_by_the_search_rules_in_every_departement(app_env):
    """« st jean de luz » (typed as people type it) finds Saint-Jean-de-Luz, and « Ajouter » adds it
    to the communes of its département; communes of several départements are listed by name and
    « Tout effacer » removes them all."""
    communes = layer("communes").set_index("code")
    at = open_page("Nouveau périmètre")
    at.selectbox(key="nouv_dep").set_value("40").run()
    at.multiselect(key="nouv_communes_40").set_value(["40312"]).run()  # Tarnos, from its département's list
    at.text_input(key="nouv_search").input("st jean de luz").run()
    no_failure(at)
    code = at.selectbox(key="nouv_found").value
    assert communes.loc[code, "nom"] == "Saint-Jean-de-Luz" and communes.loc[code, "dep"] == "64"
    at.button(key="nouv_add").click().run()
    no_failure(at)
    assert at.text_input(key="nouv_search").value == ""
    listed = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "2\u00a0communes choisies" in listed and "Tarnos (40)" in listed and "Saint-Jean-de-Luz (64)" in listed
    levels = at.dataframe[0].value.set_index("Échelon")
    assert levels.loc["Communes", "Unités comptées"] == 2 and levels.loc["Départements", "Unités comptées"] == 2
    # its département's list is the one shown, with the commune in it
    assert at.selectbox(key="nouv_dep").value == "64" and at.multiselect(key="nouv_communes_64").value == [code]
    assert not at.warning  # no « default value also set through the Session State API »
    at.selectbox(key="nouv_dep").set_value("40").run()
    assert at.multiselect(key="nouv_communes_40").value == ["40312"]  # Tarnos kept in the Landes'
    at.selectbox(key="nouv_dep").set_value("64").run()
    assert at.multiselect(key="nouv_communes_64").value == [code]
    at.button(key="nouv_clear").click().run()
    no_failure(at)
    assert at.multiselect(key="nouv_communes_64").value == []
    assert "Choisissez au moins un EPCI ou une commune." in [i.value for i in at.info]


def test_new_perimeter_upload_and_bad_uploads(app_env, tmp_path):
    at = open_page("Nouveau périmètre")
    at.radio(key="nouv_mode").set_value("Téléverser un fichier").run()
    square = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"nom": "Carré"},
                                                          "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}]}
    at.file_uploader(key="nouv_upload").set_value(("carre.geojson", json.dumps(square).encode(), "application/json")).run()
    no_failure(at)
    levels = at.dataframe[0].value.set_index("Échelon")
    assert levels.loc["Régions", "Unités comptées"] == 2
    for name, data in (("vide.geojson", b"{not json"), ("piege.zip", _zip_with_traversal()),
                       ("ligne.geojson", json.dumps({"type": "FeatureCollection", "features": [{
                           "type": "Feature", "properties": {}, "geometry": {"type": "LineString",
                                                                             "coordinates": [[2, 46], [3, 47]]}}]}).encode())):
        at.file_uploader(key="nouv_upload").set_value((name, data, "application/octet-stream")).run()
        assert not at.exception
        assert len(at.error) == 1 and at.error[0].value.startswith("Fichier refusé :"), name
        assert "Traceback" not in at.error[0].value


def _zip_with_traversal() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.geojson", '{"type": "FeatureCollection", "features": []}')
    return buf.getvalue()


def test_draw_map_uses_local_draw_plugin(app_env):
    at = open_page("Nouveau périmètre")
    at.radio(key="nouv_mode").set_value("Dessiner sur la carte").run()
    no_failure(at)
    (args,) = maps_of(at)
    assert args["returned_objects"] == ["all_drawings"]
    assert any(u.endswith("leaflet.draw.js") for u in args["js_links"])
    assert all(u.startswith("/app/static/vendor/") for u in args["js_links"] + args["css_links"])
    assert "L.Control.Draw" in args["script"]
    # place names, as on the national map: the most populated communes first (Paris, Marseille…)
    script = unescape_js(args["script"])
    assert "ptce-label" in script
    communes = layer("communes")
    biggest = communes.nlargest(3, "population")["nom"]
    assert all(name in script for name in biggest), list(biggest)


# ------------------------------------------------------------------ Zones de contrat
def test_zones_de_contrat_territoires_industrie(app_env):
    at = open_page("Zones de contrat")
    at.selectbox(key="zc_layer").set_value("territoires_industrie").run()
    no_failure(at)
    assert not at.warning  # a layer in force: no historical notice
    table = at.dataframe[0].value
    # by membership: the TI Pays Basque is the CA du Pays Basque, one of the pole's two EPCI
    basque = table[table["Pôle"] == "Pôle Adour Basque"].set_index("Code de la zone")
    epci = layer("epci").set_index("code").geometry
    expected = equal_area(epci.loc["200067106"]) / (equal_area(epci.loc["200067106"]) + equal_area(epci.loc["244000865"]))
    assert list(basque.index) == ["ti-7514"]
    assert basque.loc["ti-7514", "Part du pôle dans la zone"] == pytest.approx(expected, rel=1e-4)
    assert basque.loc["ti-7514", "Part de la zone dans le pôle"] == 1.0
    assert basque.loc["ti-7514", "Relation"] == "Zone incluse dans le pôle"
    assert "PTCE Sud Aquitain" not in set(table["Pôle"])  # the CC du Seignanx is in no Territoire d'industrie
    # the drawn pole meets the outlines: Bresse for real, Beaujolais by a border contact listed apart
    drawn = table[table["Pôle"] == "Pôle dessiné Mâconnais-Bresse"]
    assert list(drawn["Code de la zone"]) == ["ti-8402"] and list(drawn["Relation"]) == ["Chevauchement"]
    assert "1\u00a0contact en bordure ou recouvrement marginal listé à part" in at.markdown[0].value
    at.checkbox(key="zc_slivers").check().run()
    shown = at.dataframe[0].value.set_index("Code de la zone")
    assert shown.loc["ti-8403", "Relation"] == "Contact en bordure"
    assert shown.loc["ti-8403", "Part du pôle dans la zone"] < 0.01
    at.checkbox(key="zc_slivers").uncheck().run()
    at.multiselect(key="zc_relations").set_value(["straddles"]).run()
    assert set(at.dataframe[0].value["Relation"]) <= {"Chevauchement"}
    assert at.download_button(key="zc_download")
    assert maps_of(at)
    at.radio(key="zc_view").set_value("Contacts en bordure et recouvrements marginaux").run()
    assert list(at.dataframe[0].value["Code de la zone"]) == ["ti-8403"]


def test_zones_de_contrat_historical_layer_and_programmes(app_env):
    at = open_page("Zones de contrat", couche="qpv")
    no_failure(at)
    assert at.selectbox(key="zc_layer").value == "qpv"
    notice = at.warning[0].value.replace("\\", "")  # Markdown-escaped: the notice is catalogue text
    assert "Couche historique (2015-2023)" in notice and "liste 2015 des QPV" in notice
    at.radio(key="mesure").set_value("population").run()  # the measure of every page, in the sidebar
    no_failure(at)
    at.radio(key="zc_view").set_value("Programmes par pôle").run()
    no_failure(at)
    prog = at.table[0].value.map(lambda v: v.replace("\\", "")).set_index("Pôle")  # Markdown-escaped data
    assert prog.loc["Pôle Adour Basque", "Programmes en vigueur"].startswith("TI Pays Basque (")
    assert "de la population" in prog.loc["Pôle Adour Basque", "Programmes en vigueur"]
    assert "2 QPV — 2015-2023" in prog.loc["Pôle Adour Basque", "Historique"]
    assert prog.loc["PTCE Sud Aquitain", "Programmes en vigueur"].startswith("CRTE du Seignanx (100")
    assert at.download_button(key="zc_programmes_download")


def test_zones_upload_with_named_fields_and_bad_file(app_env):
    at = open_page("Zones de contrat")
    at.radio(key="zc_source").set_value("Fichier de zones téléversé").run()
    zones = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"ident": "Z1", "libelle": "Ma zone"},
                                                         "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}]}
    at.file_uploader(key="zc_upload").set_value(("zones.geojson", json.dumps(zones).encode(), "application/json")).run()
    no_failure(at)
    table = at.dataframe[0].value
    assert list(table["Pôle"]) == ["Pôle dessiné Mâconnais-Bresse"] and list(table["Zone"]) == ["Ma zone"]
    assert table["Part du pôle dans la zone"].iloc[0] == pytest.approx(1.0)
    at.file_uploader(key="zc_upload").set_value(("zones.geojson", b"\xff\xfe garbage", "application/json")).run()
    assert not at.exception and at.error[0].value.startswith("Fichier refusé :")


# ------------------------------------------------------------------ Sources, offline, missing file
def test_sources_lists_vintages_and_licences(app_env, catalogue):
    at = open_page("Sources")
    no_failure(at)
    table = at.table[0].value.set_index("Identifiant")
    assert list(table.index) == catalogue.ids()
    assert table.loc["communes", "Millésime"] == "2024"
    assert table.loc["qpv", "Licence"] == catalogue["qpv"].licence
    assert "ADMIN EXPRESS" in table.loc["communes", "Mention obligatoire"]


def test_offline_without_mirror_explains_the_way_out(app_env, monkeypatch, tmp_path):
    monkeypatch.delenv("PTCE_GEO_MIRROR")
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "empty-cache"))
    at = open_page("Carte des pôles")
    assert not at.exception
    assert "PTCE_GEO_MIRROR" in at.error[0].value + " ".join(i.value for i in at.info)
    assert maps_of(at), "the poles drawn in the file are still shown"
    assert "dessine" in maps_of(at)[0]["script"]
    at.sidebar.radio[0].set_value("Mon territoire").run()
    assert not at.exception and at.error
    at.sidebar.radio[0].set_value("Sources").run()
    assert not at.exception and at.table  # the catalogue is still listed


def test_missing_poles_file_is_explained(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("PTCE_GEO_POLES", str(tmp_path / "absent.geojson"))
    at = open_page("Carte des pôles")
    assert not at.exception
    assert "Fichier des pôles introuvable" in at.error[0].value


# ------------------------------------------------------------------ library helpers
def test_assets_are_local_and_complete(tmp_path):
    import folium
    import folium.plugins

    from app_pages import assets
    from ptce_geo import maps

    urls = assets.install(tmp_path / "static", url_prefix="/app/static")
    for url, local in urls.items():
        assert url.startswith("https://") and local.startswith("/app/static/vendor/")
    for cls in (folium.Map, folium.plugins.Draw, folium.plugins.MarkerCluster):
        for _, url in cls.default_js + cls.default_css:
            assert not url.startswith(("http", "//")), (cls, url)
    m = maps.new_map()
    maps.add_draw(m)
    assert assets.external_links(maps.map_html(m)) == []
    leaflet = [u for u in urls if u.endswith("/leaflet.js")][0]
    assert "Leaflet 1.9.3" in (tmp_path / "static" / "vendor" / assets.local_name(leaflet)).read_text()[:200]


def test_display_geometries_and_internal_borders():
    from ptce_geo import maps

    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    border = maps.internal_borders([left, right])
    assert border.length == pytest.approx(1.0, abs=1e-5)  # the shared edge only
    wiggly = shapely.Polygon([(x / 100, np.sin(x / 5) * 1e-4) for x in range(101)] + [(1, 1), (0, 1)])
    (simple,) = maps.display_geometries([wiggly], tolerance=1e-3)
    assert len(shapely.get_coordinates(simple)) < 10 < len(shapely.get_coordinates(wiggly))
    assert maps.esc("<b>&'\"") == "&lt;b&gt;&amp;&#x27;&quot;"


def test_place_labels_never_overlap_and_never_give_way_to_smaller_names():
    from ptce_geo import maps

    rng = np.random.default_rng(12)
    n = 400
    lon, lat = rng.uniform(1.0, 3.0, n), rng.uniform(45.0, 46.5, n)
    names = ["".join(rng.choice(list("abcdefghij"), rng.integers(3, 18))) for _ in range(n)]
    priority = rng.permutation(n).astype(float)
    major = priority < 20
    zooms = range(6, 12)
    first = maps.place_labels(names, lon, lat, priority, zooms=zooms, major=major)
    # boxes as drawn, measured independently in Web Mercator pixels
    x = (lon + 180) / 360
    y = (1 - np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / np.pi) / 2
    w = (np.array([len(t) for t in names]) * 6.6 * np.where(major, 1.2, 1.0) + 6) / 2
    h = np.where(major, 15 * 1.15, 15) / 2
    for z in zooms:
        k = 256 * 2 ** z
        shown = np.flatnonzero(first <= z)
        for a_i, a in enumerate(shown):
            b = shown[a_i + 1:]
            clash = (np.abs(x[a] - x[b]) * k < w[a] + w[b]) & (np.abs(y[a] - y[b]) * k < h[a] + h[b])
            assert not clash.any(), (z, names[a], [names[j] for j in b[clash]])
    assert np.isfinite(first).sum() > n / 2
    # the most important name is always shown from the first zoom
    assert first[np.argmin(priority)] == 6
    # two names at the same place: the more important one is shown first
    both = maps.place_labels(["Nice", "Contes"], [7.25, 7.26], [43.70, 43.71], [1.0, 2.0], zooms=range(5, 14))
    assert both[0] == 5 and both[1] > 5


def test_map_json_is_inert_in_templates_and_scripts():
    from ptce_geo import maps

    value = [[1.5, "a{{ config }}b", "{% include x %}", "</script><b>&", {"k": "}}"}]]
    text = maps._no_braces_json(value)
    assert json.loads(text) == value
    for bad in ("{{", "}}", "{%", "%}", "<", ">", "&"):
        assert bad not in text, bad


def test_maps_speak_french_and_use_a_metric_scale():
    from ptce_geo import maps

    m = maps.new_map(bounds=(-1.6, 43.4, -1.3, 43.6))
    maps.add_draw(m)
    maps.add_legend(m, "Légende", [("Territoire", "#000", "line")], collapsed=True)
    maps.finish(m)
    html = maps.map_html(m)
    assert "zoomInTitle: 'Zoom avant'" in html and "imperial: false" in html
    assert '"polygon":"Tracer un polygone"' in unescape_js(html)
    assert "Couches affichées" in html and "<details>" in unescape_js(html)
    for english in ("Draw a polygon", "Finish", "Delete last point", "Click to start drawing"):
        assert english not in html  # Leaflet.draw's English strings are replaced before its toolbar exists


# ------------------------------------------------------------------ Mes pôles
def _features_on_map(args: dict) -> int:
    return unescape_js(args["script"]).count('"selected": ')


def test_the_template_opens_in_columns_in_a_french_spreadsheet_and_reads_back(app_env):
    """Columns separated by « ; » (what a French spreadsheet splits on), codes in a cell by « , »:
    every row has the header's 8 cells, and the list reads back as its three poles."""
    import csv

    from app_pages.mes_poles import TEMPLATE
    from ptce_geo.perimeters import read_perimeters

    rows = list(csv.reader(io.StringIO(TEMPLATE), delimiter=";"))
    assert {len(r) for r in rows} == {8} and rows[0][:3] == ["id", "nom", "communes"]
    poles = read_perimeters(TEMPLATE.encode("utf-8-sig")).set_index("id")
    assert list(poles.index) == ["pole-1", "pole-2", "pole-3"]
    assert poles.loc["pole-2", "communes"] == ("07010", "07041")
    names = layer("communes").set_index("code")["nom"]
    assert "pole-2;Annonay et Boulieu-lès-Annonay;" in TEMPLATE  # the codes are the communes the name gives
    assert [names[c] for c in poles.loc["pole-2", "communes"]] == ["Annonay", "Boulieu-lès-Annonay"]
    assert len(poles.loc["pole-1", "communes"]) == (layer("communes")["epci"] == "244000659").sum()
    assert poles.attrs["csv_report"] == []


def test_mes_poles_upload_of_fifty_poles_shows_them_on_every_page(app_env, mirror_dir):
    import pandas as pd

    from polelists import fifty_poles

    text, expect = fifty_poles(pd.read_csv(mirror_dir / "tables" / "communes_2024_appartenance.csv", dtype=str))
    at = open_page("Mes pôles")
    no_failure(at)
    assert "5\u00a0pôles du fichier des pôles" in at.info[0].value and not maps_of(at)  # the test file's
    at.file_uploader(key="mes_upload_0").set_value(("LIST.csv", text.encode("utf-8"), "text/csv")).run()
    no_failure(at)
    (args,) = maps_of(at)
    assert _features_on_map(args) == 50  # the 50 usable poles of the 52 rows
    script = unescape_js(args["script"])
    for pid in ("p01", "ardeche", "gresilles", "bad-merged"):
        assert f'"id": "{pid}"' in script
    assert "vos 50 pôles" in at.success[0].value
    assert "4\u00a0éléments du tableau n’ont pas pu être utilisés" in at.warning[0].value
    problems = " ".join(m.value for m in at.markdown)
    for pid in ("bad-unknown", "bad-merged", "bad-empty", "p03"):
        assert f"« {pid} »" in problems.replace("\\", ""), pid
    assert "99999" in problems and "74011" in problems
    assert any("vos 50 pôles importés" in c.value for c in at.sidebar.caption)
    # the low-confidence pole is dashed and pale, and the legend says so
    assert '"low": true' in script and "Confiance faible" in script and "ptce-low" in script
    # every page now shows these poles, for this session
    to_page(at, "Carte des pôles")
    no_failure(at)
    assert _features_on_map(maps_of(at)[0]) == 50
    assert at.subheader[0].value == "Tous les pôles (50)"
    table = at.dataframe[-1].value
    assert len(table) == 50 and table.set_index("Pôle").loc["Ardèche « entière »", "Confiance"] == "haute"
    # filters and the switch that keeps low-confidence perimeters out of national summaries
    at.toggle(key="carte_sans_faible").set_value(True).run()
    assert at.subheader[0].value == "Pôles retenus : 49 sur 50"
    assert _features_on_map(maps_of(at)[0]) == 50  # still drawn (dashed) on the map
    assert at.dataframe[-2].value["Pôles"].sum() == 49 and len(at.dataframe[-1].value) == 49
    at.multiselect(key="carte_f_confidence").set_value(["haute"]).run()
    assert _features_on_map(maps_of(at)[0]) == 1 and at.subheader[0].value == "Pôles retenus : 1 sur 50"
    # a zone file overlapped in a worker process with the session's poles (not the poles file)
    at.sidebar.radio[0].set_value("Zones de contrat").run()
    at.radio(key="zc_source").set_value("Fichier de zones téléversé").run()
    box = [[4.55, 45.20], [4.75, 45.20], [4.75, 45.32], [4.55, 45.32], [4.55, 45.20]]  # around Annonay
    zones = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "A", "nom": "Annonay"},
                                                         "geometry": {"type": "Polygon", "coordinates": [box]}}]}
    at.file_uploader(key="zc_upload").set_value(("zones.geojson", json.dumps(zones).encode(), "application/json")).run()
    no_failure(at)
    assert "Ardèche « entière »" in set(at.dataframe[0].value["Pôle"])
    at.sidebar.radio[0].set_value("Sources").run()
    no_failure(at)
    assert any("LIST.csv" in m.value.replace("\\", "") for m in at.markdown)
    # back to the poles file: its five poles again
    at.sidebar.radio[0].set_value("Mes pôles").run()
    at.button(key="mes_back").click().run()
    no_failure(at)
    assert "5\u00a0pôles du fichier des pôles" in at.info[0].value
    at.sidebar.radio[0].set_value("Carte des pôles").run()
    assert _features_on_map(maps_of(at)[0]) == 5  # the five poles of the test poles file


def test_mes_poles_refuses_a_bad_file_and_keeps_the_poles(app_env):
    at = open_page("Mes pôles")
    bad = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "x", "communes": ["75111"]}, "geometry": None}]}
    at.file_uploader(key="mes_upload_0").set_value(("poles.geojson", json.dumps(bad).encode(), "application/json")).run()
    assert not at.exception
    assert "Fichier refusé" in at.error[0].value and "75056" in at.error[0].value
    assert "5\u00a0pôles du fichier des pôles" in at.info[0].value  # nothing half-loaded: the poles file stays
    at.file_uploader(key="mes_upload_0").set_value(("vide.csv", b"code,nom\n", "text/csv")).run()
    assert "colonne « id »" in at.error[0].value
    at.sidebar.radio[0].set_value("Carte des pôles").run()
    assert _features_on_map(maps_of(at)[0]) == 5  # the five poles of the test poles file


def test_the_national_summary_goes_from_the_narrowest_perimeters_to_the_widest():
    from app_pages.present import national_summary

    summary = pd.DataFrame({"pole_id": list("abcdefg"), "area_km2": [10.0, 2.0, 3.0, 100.0, 40.0, 1.0, 5.0],
                            "typology": ["inter-EPCI", "commune", "intra-EPCI", "inter-régional", "inter-EPCI",
                                         "commune", None]})
    t = national_summary(summary)
    assert list(t["Typologie"]) == ["Une seule commune", "Intra-EPCI", "Inter-EPCI", "Inter-régional", "non calculée"]
    assert list(t["Pôles"]) == [2, 1, 2, 1, 1] and list(t["Surface totale (km²)"]) == [3, 3, 50, 100, 5]
