"""Maps prepared once: the script ``st_folium`` itself renders, drawn in the page itself."""

from __future__ import annotations

import copy
import json

import folium
import pytest
import streamlit_folium
from hypothesis import given, settings
from hypothesis import strategies as st

from app_pages import mapview
from test_app import app_env, no_failure, open_page, poles_file  # noqa: F401 - fixtures of the app tests


def _map() -> folium.Map:
    m = folium.Map(location=[46.5, 2.5], zoom_start=6, tiles=None)
    folium.GeoJson({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nom": "Pôle <b>test</b>"},
         "geometry": {"type": "Polygon", "coordinates": [[[1, 45], [2, 45], [2, 46], [1, 45]]]}}]},
                   tooltip=folium.GeoJsonTooltip(["nom"])).add_to(m)
    folium.LayerControl().add_to(m)
    return m


def _st_folium_args(m, **kwargs) -> dict:
    """What ``st_folium`` itself sends its component for ``m``."""
    sent: list[dict] = []
    real = streamlit_folium._component_func
    streamlit_folium._component_func = lambda **kw: sent.append(kw)
    try:
        streamlit_folium.st_folium(m, key="k", height=400, use_container_width=True, **kwargs)
    finally:
        streamlit_folium._component_func = real
    (args,) = sent
    return args


@pytest.fixture
def sent(monkeypatch):
    """Every mount of the page's map component, as keyword arguments (nothing is displayed)."""
    calls: list[dict] = []

    def record(**kwargs):
        calls.append(kwargs)
        return {}

    monkeypatch.setattr(mapview, "_mount", lambda: record)
    return calls


def test_prepared_map_holds_what_st_folium_sends_and_the_page_draws_it(sent):
    m = _map()
    twin = copy.deepcopy(m)  # same element ids, rendered independently
    prepared = mapview.prepare(m, height=400, returned=["last_object_clicked"])
    theirs = _st_folium_args(twin, returned_objects=["last_object_clicked"])
    for name in theirs:
        if name not in ("on_change", "key"):
            assert prepared.args[name] == theirs[name], name
    out = mapview.show(prepared, key="k")
    (call,) = sent
    assert call["key"] == theirs["key"] and len(call["key"]) == 64  # the digest st_folium derives
    data = call["data"]
    # the very script st_folium sends, its map made in the element the page gives it
    assert theirs["script"].count('"map_div"') == 1 and '"map_div"' not in data["script"]
    assert data["script"].startswith(theirs["script"].replace('L.map(\n                "map_div"', "L.map(__root"))
    assert data["script"].rstrip().endswith("return [map_div, typeof drawnItems === 'undefined' ? null : drawnItems];")
    assert "[[[1, 45], [2, 45], [2, 46], [1, 45]]]" in data["script"]  # the layer
    assert data["css_links"] == theirs["css_links"] and data["js_links"] == theirs["js_links"]
    assert data["height"] == 400 and data["returned_objects"] == ["last_object_clicked"]
    # the frame's page rules stay out of the app's page; the map's own rules come
    assert "html" not in data["styles"] and "#map" not in data["styles"] and "body" not in data["styles"]
    assert ".foliumtooltip th {padding: 2px; padding-right: 8px;}" in data["styles"]
    assert ".leaflet-container {font-size: 1rem;}" in data["styles"]
    # nothing clicked yet: st_folium's defaults, returned and given to the component
    assert out == theirs["default"] == {"last_object_clicked": None}
    assert call["default"] == {"interactions": theirs["default"]} and callable(call["on_interactions_change"])
    json.dumps(data)  # sent as JSON


def test_prepared_map_renders_as_st_folium_with_literal_templates():
    """Rendered with templates that skip compiling literal text, a map with popups, tooltips,
    styled GeoJSON, a legend holding Jinja-like braces and a plugin holds what st_folium sends."""
    from folium import plugins

    m = _map()
    folium.Marker([45.5, 1.5], tooltip="Siège", popup=folium.Popup("<b>Pôle</b> {accolade} 100 %")).add_to(m)
    folium.GeoJson({"type": "Feature", "properties": {"nom": "Zone\r\navec retour"},
                    "geometry": {"type": "Point", "coordinates": [2.0, 46.0]}},
                   style_function=lambda f: {"color": "#123456"}).add_to(m)
    m.get_root().html.add_child(folium.Element("<div>{% raw %}{{ accolades }}{% endraw %}</div>\n"))
    plugins.Fullscreen().add_to(m)
    twin = copy.deepcopy(m)
    ours = mapview.prepare(m, height=400, returned=[]).args
    theirs = _st_folium_args(twin, returned_objects=[])
    for name in theirs:
        if name not in ("on_change", "key"):
            assert ours[name] == theirs[name], name
    assert "{{ accolades }}" in ours["html"] + ours["script"] + ours["header"]


def test_a_map_returns_only_what_the_page_sends_back():
    with pytest.raises(ValueError, match="bounds"):
        mapview.prepare(_map(), height=300, returned=["bounds"])
    with pytest.raises(ValueError, match="map_div"):
        mapview.page_data({"script": "var m = L.map(other);", "height": 300})


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}%#-+ab \n\r\t", max_size=40))
def test_a_literal_template_renders_as_jinja_would(source):
    import jinja2

    try:
        expected = jinja2.Template(source).render(this=None, kwargs={})
    except jinja2.TemplateError:
        with pytest.raises(jinja2.TemplateError):
            mapview._template(source).render(this=None, kwargs={})
        return
    assert mapview._template(source).render(this=None, kwargs={}) == expected


def test_prepared_map_is_read_only_and_reused(sent):
    prepared = mapview.prepare(_map(), height=300, returned=[])
    mapview.show(prepared, key="a")
    mapview.show(prepared, key="b")
    first, second = sent
    assert first["data"]["script"] is second["data"]["script"]  # rendered once
    assert first["key"] != second["key"]  # one component per widget key
    assert first["default"]["interactions"] is not second["default"]["interactions"]  # each session its own
    with pytest.raises(TypeError):
        prepared.args["script"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        prepared.data["script"] = "x"  # type: ignore[index]
    # the module puts the real component back after preparing
    assert streamlit_folium._component_func is not None and streamlit_folium._component_func is mapview._REAL


def _component_args(at, *, proto: bool = False) -> list:
    """The map components' arguments (or, with ``proto``, their whole messages, key included)."""
    import json

    out = []
    for node in at.main.children.values() if isinstance(at.main.children, dict) else at.main.children:
        stack = [node]
        while stack:
            el = stack.pop()
            msg = getattr(el, "proto", None)
            if msg is not None and getattr(msg, "component_name", "") == mapview.COMPONENT_NAME:
                out.append(msg.SerializeToString() if proto else json.loads(msg.json))
            children = getattr(el, "children", {})
            stack.extend(children.values() if isinstance(children, dict) else children)
    return out


@pytest.mark.realdata
def test_sessions_share_the_national_map(app_env):
    """Two sessions get the very same map (rendered once); a pole's view is another map."""
    first, second = open_page("Carte des pôles"), open_page("Carte des pôles")
    no_failure(first)
    (a,), (b,) = _component_args(first), _component_args(second)
    assert a["script"] == b["script"]  # rebuilt per run, folium's random element ids would differ
    assert "Pôles" in a["script"] or "P\\u00f4les" in a["script"]
    first.selectbox[0].set_value(first.session_state["_carte_ids"][0]).run()
    (c,) = _component_args(first)
    assert c["script"] != a["script"]


@pytest.mark.realdata
def test_a_sessions_first_map_comes_before_its_tables_and_downloads(app_env, monkeypatch):
    """A session's first run of the opening page draws the map and leaves the two tables and the
    downloads to a rerun a moment later (the page's timer); the map's element is the very same in
    both runs (the browser keeps it), and every later run of the page draws the tables at once,
    until the page is left: back from another page, the map comes first again."""
    from streamlit.delta_generator import DeltaGenerator
    from streamlit.testing.v1 import AppTest

    from app_pages import carte
    from test_app import APP, tables_pending

    offered: list[str] = []
    original = DeltaGenerator.download_button
    monkeypatch.setattr(DeltaGenerator, "download_button",
                        lambda self, label, *a, **k: (offered.append(label), original(self, label, *a, **k))[1])
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.run()
    no_failure(at)
    assert tables_pending(at) and not at.dataframe and not offered
    assert at.session_state[carte.TABLES_KEY] is False
    # the filters too come with the tables: their box is there, closed, saying so
    filters_box = [e for e in at.expander if e.label == "Filtres"]
    assert len(filters_box) == 1 and not filters_box[0].multiselect and not at.toggle
    assert "Les filtres s'affichent dans un instant…" in [c.value for c in filters_box[0].caption]
    assert [m.key for m in at.multiselect] == ["carte_context"]
    (first,) = _component_args(at, proto=True)
    at.run()  # what the timer (``_tables_after_first_map``, after TABLES_DELAY_S) asks for
    no_failure(at)
    assert not tables_pending(at) and len(at.dataframe) == 2 and offered
    assert at.session_state[carte.TABLES_KEY] is True
    (box,) = [e for e in at.expander if e.label == "Filtres"]
    assert {m.key for m in box.multiselect} >= {"carte_f_confidence"} and at.toggle(key="carte_sans_faible")
    (again,) = _component_args(at, proto=True)
    assert again == first  # same key, same arguments: the map is not drawn again (the filters set none)
    assert len(at.dataframe[-1].value) == len(at.session_state["_carte_ids"])  # every pole
    offered.clear()
    at.selectbox(key="carte_pole").set_value(at.session_state["_carte_ids"][0]).run()
    assert not tables_pending(at) and len(at.dataframe) >= 2 and offered  # at once from now on
    at.sidebar.radio[0].set_value("Sources").run()
    at.sidebar.radio[0].set_value("Carte des pôles").run()  # back from another page: the map first again
    no_failure(at)
    assert tables_pending(at) and not at.dataframe
    assert _component_args(at, proto=True) == [first]  # the national map, drawn at once
    at.run()  # the timer's rerun
    assert not tables_pending(at) and len(at.dataframe) >= 2
    other = AppTest.from_file(str(APP), default_timeout=240)
    other.run()  # a new session (another browser tab): its first map first again
    assert tables_pending(other) and not other.dataframe


@pytest.mark.realdata
def test_serve_prepares_the_first_visit(app_env, monkeypatch):
    """After ``serve.warm`` the opening page draws its map without rendering one."""
    from app_pages import common, serve

    common._prepared_map.clear()
    serve.warm(pages=[])
    assert serve.cache_prepared() == (True, "")  # the opening page stored the poles' Scorecard

    def refuse(*args, **kwargs):
        raise AssertionError("a map was rendered again")

    monkeypatch.setattr(mapview, "prepare", refuse)
    at = open_page("Carte des pôles")
    no_failure(at)  # a map rendered during the visit would show the page's error message
    (args,) = _component_args(at)
    assert "map_div" in args["script"]


def test_preparing_the_app_logs_no_bare_mode_warning(tmp_path, capfd):
    """Streamlit's « missing ScriptRunContext » warning, which ``AppTest`` sets off, is not in
    the launcher's output: the operator reads only what concerns them (its level restored after)."""
    import logging

    from app_pages import serve

    script = tmp_path / "app.py"
    script.write_text("import streamlit as st\nst.write('prêt')\n", encoding="utf-8")
    level = logging.getLogger(serve.BARE_MODE_LOGGER).level
    assert serve.warm(script) >= 0
    assert "ScriptRunContext" not in capfd.readouterr().err
    assert logging.getLogger(serve.BARE_MODE_LOGGER).level == level


@pytest.mark.realdata
def test_serve_does_not_wait_on_a_cold_cache(app_env, monkeypatch, tmp_path):
    """An empty cache is not prepared before listening (a minute without a server to say so)."""
    from app_pages import serve

    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "empty"))
    ready, why = serve.cache_prepared()
    assert not ready and "ptce-geo fetch" in why
    monkeypatch.setenv("PTCE_GEO_POLES", str(tmp_path / "absent.geojson"))
    assert serve.cache_prepared()[0] is False



@pytest.mark.realdata
def test_serve_prepares_a_cold_cache_in_a_separate_process(app_env, monkeypatch, tmp_path):
    """On a cold cache the launcher starts a process that stores the poles' Scorecard the opening
    page reads: the same figures as computed here."""
    import json

    from app_pages import serve
    from ptce_geo.perimeters import read_perimeters
    from ptce_geo.scorecard import Scorecard, stored_scorecard

    poles = tmp_path / "poles.geojson"  # poles whose Scorecard is stored nowhere yet
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"id": "a", "nom": "Seignanx", "communes": ["40312", "40065", "40285"]}},
        {"type": "Feature", "geometry": None, "properties": {"id": "b", "nom": "Bayonne", "communes": ["64102"]}}]}),
        encoding="utf-8")
    monkeypatch.setenv("PTCE_GEO_POLES", str(poles))
    assert serve.cache_prepared() == (False, serve.NOT_STORED)
    proc = serve.start_preparing()
    assert proc.wait(600) == 0
    assert serve.cache_prepared() == (True, "")

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    with monkeypatch.context() as m:
        m.setattr("ptce_geo.perimeters.read_perimeters", refuse)
        stored = stored_scorecard(poles)  # only read
    own = Scorecard(read_perimeters(poles))
    assert stored.summary.equals(own.summary) and stored.programmes.equals(own.programmes)
    assert list(stored.summary["n_communes"]) == [3, 1]
    # then the shares in population, which the sidebar's switch reads
    from ptce_geo.options import Options

    pop = Options(weight="population")
    with monkeypatch.context() as m:
        m.setattr("ptce_geo.perimeters.read_perimeters", refuse)
        stored = stored_scorecard(poles, options=pop)
    assert stored.summary.equals(Scorecard(read_perimeters(poles), options=pop).summary)
    # and, before them all, the opening page's first view: the main levels, each figure the full one's
    from ptce_geo.catalogue import load_catalogue

    view = serve.first_view(load_catalogue())
    levels = view["levels"]
    assert {"communes", "epci", "departements", "regions"} <= set(levels) and "cantons" not in levels
    with monkeypatch.context() as m:
        m.setattr("ptce_geo.perimeters.read_perimeters", refuse)
        first = stored_scorecard(poles, **view)
    assert first.levels == tuple(levels) and first.zone_ids == ()
    assert list(first.summary.columns) == [c for c in own.summary.columns if c in first.summary.columns]
    assert first.summary.equals(own.summary[first.summary.columns])
    assert "n_cantons" in own.summary and "n_cantons" not in first.summary
    assert "programmes" in own.summary and "programmes" not in first.summary  # no zones layer measured


@pytest.mark.realdata
def test_the_opening_page_prepares_its_map_while_another_process_computes_the_scorecard(
        app_env, monkeypatch, tmp_path):
    """A cold start under ``serve``: the preparation process holds the stored Scorecard's lock; the
    opening page prepares its map's other parts meanwhile, then reads what that process stored."""
    import json
    import threading

    from filelock import FileLock

    from app_pages import carte
    from ptce_geo.cache import Cache
    from ptce_geo.perimeters import read_perimeters
    from ptce_geo.scorecard import Scorecard, stored_scorecard_path

    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"id": "a", "nom": "Seignanx", "communes": ["40312", "40065", "40285"], "siege": "40312"}}]}),
        encoding="utf-8")
    monkeypatch.setenv("PTCE_GEO_POLES", str(poles))
    path = stored_scorecard_path(poles)
    path.parent.mkdir(parents=True, exist_ok=True)
    held, order = threading.Event(), []
    real = carte._prepare_national_map
    monkeypatch.setattr(carte, "_prepare_national_map", lambda: (order.append("prepared"), real()))

    def elsewhere():  # the other process: holds the lock while it computes, then stores
        with FileLock(str(path) + ".lock"):
            held.set()
            card = Scorecard(read_perimeters(poles))
            card.summary, card.programmes, card.qpv
            for _ in range(600):  # the page prepares while the lock is held (30 s at most)
                if order:
                    break
                threading.Event().wait(0.05)
            Cache().write_object(path, card)
            order.append("stored")

    thread = threading.Thread(target=elsewhere)
    thread.start()
    held.wait(60)
    at = open_page("Carte des pôles")
    thread.join(60)
    no_failure(at)
    assert order == ["prepared", "stored"]
    assert list(at.session_state["_carte_ids"]) == ["a"]


@pytest.mark.realdata
def test_the_opening_page_draws_the_first_view_then_reruns_on_the_full_scorecard(app_env, monkeypatch, tmp_path):
    """A cold start under ``serve``: the preparation process has stored the first view (main levels)
    and holds the full Scorecard's lock while it computes. The opening page draws its map and
    tables from the first view, says what is still coming and offers no download yet; once the
    full Scorecard is stored, the page shows every level, the same national tables, and the
    downloads."""
    import json
    import threading

    from filelock import FileLock
    from streamlit.delta_generator import DeltaGenerator

    from app_pages import serve
    from ptce_geo.cache import Cache
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.perimeters import read_perimeters
    from ptce_geo.scorecard import Scorecard, stored_scorecard_path

    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"id": "a", "nom": "Seignanx", "communes": ["40312", "40065", "40285"], "siege_insee": "40312"}},
        {"type": "Feature", "geometry": None, "properties": {"id": "b", "nom": "Bayonne", "communes": ["64102"]}}]}),
        encoding="utf-8")
    monkeypatch.setenv("PTCE_GEO_POLES", str(poles))
    view = serve.first_view(load_catalogue())
    first = Scorecard(read_perimeters(poles), **view)
    first.summary, first.programmes, first.qpv
    Cache().write_object(stored_scorecard_path(poles, **view), first)
    full_path = stored_scorecard_path(poles)
    held, go = threading.Event(), threading.Event()

    def elsewhere():  # the preparation process computing the full Scorecard
        with FileLock(str(full_path) + ".lock"):
            held.set()
            card = Scorecard(read_perimeters(poles))
            card.summary, card.programmes, card.qpv
            go.wait(120)
            Cache().write_object(full_path, card)

    offered: list[str] = []
    original = DeltaGenerator.download_button
    monkeypatch.setattr(DeltaGenerator, "download_button",
                        lambda self, label, *a, **k: (offered.append(label), original(self, label, *a, **k))[1])
    thread = threading.Thread(target=elsewhere)
    thread.start()
    try:
        held.wait(60)
        at = open_page("Carte des pôles")
        no_failure(at)
        assert list(at.session_state["_carte_ids"]) == ["a", "b"]
        assert any("Premiers résultats" in i.value for i in at.info)
        assert any("téléchargements seront proposés" in c.value for c in at.caption)
        assert not offered and not full_path.exists()
        (args,) = _component_args(at)
        assert "map_div" in args["script"] and "Seignanx" in args["script"]
        tables = [df.value.copy() for df in at.dataframe]
    finally:
        go.set()
        thread.join(120)
    at.run()  # what the page's watcher does once the full Scorecard is stored
    no_failure(at)
    assert not any("Premiers résultats" in i.value for i in at.info)
    assert offered  # the downloads
    assert len(at.dataframe) == len(tables) >= 2
    for before, df in zip(tables, at.dataframe):
        assert before.equals(df.value)  # the same figures as the first view showed
    at.selectbox(key="carte_pole").set_value("a").run()
    no_failure(at)
    assert any("Bassin de vie le mieux ajusté" in m.value for m in at.markdown)  # every level now


@pytest.mark.realdata
def test_another_page_opened_during_the_first_view_reads_the_full_scorecard(app_env, monkeypatch, tmp_path):
    """A page other than the opening one, opened while the preparation process stores the first
    view, waits for it and then reads the full Scorecard that process stores next: the
    perimeters are read (the computation starts) in that process only, never by the page."""
    import json
    import threading

    from filelock import FileLock

    import ptce_geo.perimeters as perimeters
    from app_pages import serve
    from ptce_geo.cache import Cache
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.scorecard import Scorecard, stored_scorecard_path

    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"id": "a", "nom": "Seignanx", "communes": ["40312", "40065", "40285"]}}]}), encoding="utf-8")
    monkeypatch.setenv("PTCE_GEO_POLES", str(poles))
    view = serve.first_view(load_catalogue())
    first_path, full_path = stored_scorecard_path(poles, **view), stored_scorecard_path(poles)
    first_path.parent.mkdir(parents=True, exist_ok=True)
    readers: list[str] = []
    real = perimeters.read_perimeters
    monkeypatch.setattr(perimeters, "read_perimeters",
                        lambda *a, **k: (readers.append(threading.current_thread().name), real(*a, **k))[1])
    held = threading.Event()

    def preparation():  # as serve.prepare: the first view under its lock, then the full one under its own
        with FileLock(str(first_path) + ".lock"):
            held.set()
            card = Scorecard(perimeters.read_perimeters(poles), **view)
            card.summary, card.programmes, card.qpv
            threading.Event().wait(1.0)  # the page is waiting meanwhile
            Cache().write_object(first_path, card)
        with FileLock(str(full_path) + ".lock"):
            card = Scorecard(perimeters.read_perimeters(poles))
            card.summary, card.programmes, card.qpv
            Cache().write_object(full_path, card)

    thread = threading.Thread(target=preparation, name="preparation")
    thread.start()
    held.wait(60)
    at = open_page("Découpages", page="decoupages")
    thread.join(120)
    no_failure(at)
    assert readers == ["preparation", "preparation"]  # the page computed nothing
    assert full_path.is_file()
