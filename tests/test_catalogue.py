"""The catalogue files: parsing, validation, and where each source is read from."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptce_geo.catalogue import load_catalogue
from ptce_geo.errors import CatalogueError

ROOT = Path(__file__).resolve().parent.parent
LAYER_IDS = [
    "communes", "epci", "departements", "regions", "zones_emploi", "qpv", "territoires_industrie",
    "contrats_de_ville", "contrats_de_ruralite", "contrats_transition_ecologique",
    "petites_villes_de_demain", "action_coeur_de_ville", "crte", "pnr",
]
#: the divisions dissolved with INSEE's table d'appartenance (appended to both catalogues)
DIVISION_IDS = ["ept", "bassins_vie", "aires_attraction", "unites_urbaines", "cantons", "arrondissements"]


@pytest.mark.parametrize("name", ["catalogue.toml", "mirror-2024.toml"])
def test_catalogues_list_every_layer_with_its_metadata(name):
    cat = load_catalogue(ROOT / "boundaries" / name)
    assert cat.ids() == LAYER_IDS + DIVISION_IDS
    assert cat.ids(kind="partition") == ["communes", "epci", "departements", "regions", "zones_emploi",
                                         *DIVISION_IDS]
    for spec in cat:
        assert spec.title and spec.licence and spec.attribution and spec.code_field
        assert 2014 <= spec.vintage <= 2026
    # supra-communal levels nest in the communes: the engine can work by codes
    assert all(cat[i].nested_in_communes for i in ["epci", "departements", "regions", "zones_emploi",
                                                    *DIVISION_IDS])


def test_default_catalogue_points_at_official_hosts():
    cat = load_catalogue(ROOT / "boundaries" / "catalogue.toml")
    hosts = {
        "communes": "etalab-datasets.geo.data.gouv.fr/contours-administratifs/2024/",
        "qpv": "www.data.gouv.fr/",
        "pnr": "inpn.mnhn.fr/",
    }
    for lid, host in hosts.items():
        assert host in cat[lid].source.location
    assert "insee.fr" in cat["zones_emploi"].membership.location
    assert cat["zones_emploi"].geometry == "dissolve"


def test_mirror_catalogue_needs_the_mirror_variable(monkeypatch):
    monkeypatch.delenv("PTCE_GEO_MIRROR", raising=False)
    cat = load_catalogue(ROOT / "boundaries" / "mirror-2024.toml")  # listing needs no mirror
    with pytest.raises(CatalogueError) as err:
        cat.resolve(cat["communes"].source)
    assert "PTCE_GEO_MIRROR" in str(err.value)


def test_mirror_base_folder_and_url(monkeypatch):
    cat = load_catalogue(ROOT / "boundaries" / "mirror-2024.toml")
    monkeypatch.setenv("PTCE_GEO_MIRROR", "/srv/data")
    assert cat.resolve(cat["communes"].source) == "/srv/data/communes/communes_2024.geojson.gz"
    monkeypatch.setenv("PTCE_GEO_MIRROR", "http://127.0.0.1:8000/ptce/")
    assert cat.resolve(cat["epci"].source) == "http://127.0.0.1:8000/ptce/epci/epci_2024_from_communes.geojson.gz"


def test_mirror_replaces_official_hosts_in_the_default_catalogue(monkeypatch):
    cat = load_catalogue(ROOT / "boundaries" / "catalogue.toml")
    monkeypatch.delenv("PTCE_GEO_MIRROR", raising=False)
    url = cat["regions"].source.location
    assert cat.resolve(cat["regions"].source) == url
    monkeypatch.setenv("PTCE_GEO_MIRROR", "http://127.0.0.1:9/m")
    assert cat.resolve(cat["regions"].source) == (
        "http://127.0.0.1:9/m/etalab-datasets.geo.data.gouv.fr/contours-administratifs/2024/geojson/"
        "regions-100m.geojson.gz")


def test_catalogue_selected_by_environment(monkeypatch, tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text((ROOT / "boundaries" / "mirror-2024.toml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("PTCE_GEO_CATALOGUE", str(file))
    assert load_catalogue().path == file


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[layer]\nid=", "cannot be read"),
        ("[catalogue]\nname='x'\n", "lists no layer"),
        ("[[layer]]\nid='a'\ntitle='A'\nkind='partition'\nlicence='x'\nattribution='x'\n"
         "code_field='c'\nvintage=2024\nsource={path='a.geojson'}\n"
         "[[layer]]\nid='a'\ntitle='A'\nkind='zones'\nlicence='x'\nattribution='x'\n"
         "code_field='c'\nvintage=2024\nsource={path='a.geojson'}\n", "appears twice"),
        ("[[layer]]\nid='a'\ntitle='A'\nkind='blob'\nlicence='x'\nattribution='x'\ncode_field='c'\n"
         "vintage=2024\nsource={path='a.geojson'}\n", "kind must be one of"),
        ("[[layer]]\nid='a'\ntitle='A'\nkind='zones'\nlicence='x'\nattribution='x'\ncode_field='c'\n"
         "vintage=2024\n", "'source' is missing"),
        ("[[layer]]\nid='a'\ntitle='A'\nkind='zones'\nattribution='x'\ncode_field='c'\n"
         "vintage=2024\nsource={path='a.geojson'}\n", "'licence' is missing"),
        ("[[layer]]\nid='a'\ntitle='A'\nkind='zones'\nlicence='x'\nattribution='x'\ncode_field='c'\n"
         "vintage=2024\nsource={path='a.geojson', sha256='abc'}\n", "64 hexadecimal"),
        ("[[layer]]\nid='epci'\ntitle='A'\nkind='partition'\nlicence='x'\nattribution='x'\n"
         "code_field='c'\nvintage=2024\ngeometry='dissolve'\ndissolve_by='epci'\n", "no 'communes' layer"),
    ],
)
def test_bad_catalogues_say_what_to_fix(tmp_path, text, words):
    file = tmp_path / "bad.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(file)
    assert words in str(err.value)
    assert str(file) in str(err.value)


def test_missing_catalogue_file(tmp_path):
    with pytest.raises(CatalogueError) as err:
        load_catalogue(tmp_path / "nope.toml")
    assert "PTCE_GEO_CATALOGUE" in str(err.value)
