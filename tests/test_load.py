"""Load: 20 concurrent app sessions share the cached data and stay within bounded memory.

Twenty ``streamlit.testing.v1.AppTest`` sessions run at once, in threads, on the main
pages (app.py over the boundary mirror, the test poles of ``test_app``), each opening a
page and acting on it as a user would. They start together on an empty cache, so that
they race for the same resources. The test checks that every session succeeds (no
exception, no error, the expected French text and figures), that the data the app caches
for all sessions is built once (each boundary layer is built and loaded once, the
scorecards of all poles computed once), and that the peak memory stays bounded. The
figures are printed (``pytest -s``).

AppTest was written for one session at a time: each run installs a mock ``Runtime`` as
the process-wide instance and removes it at the end, and patches the configuration. A
real server has one runtime shared by every session, so :func:`shared_runtime` makes the
runs share the first mock runtime while any is running; nothing of the app is changed.
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator

import geopandas as gpd
import pytest
import shapely

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SESSIONS = 20
RSS_BOUND = 4 * 1024**3


# ------------------------------------------------------------------ harness (also used by bench/bench_load.py)
class Overlap:
    """How many AppTest runs were in progress at once: ``now`` and ``most``."""

    def __init__(self) -> None:
        self.now = self.most = 0


@contextlib.contextmanager
def shared_runtime() -> Iterator[Overlap]:
    """Let several ``AppTest`` runs overlap in threads, as sessions of one server do."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit import config
    from streamlit.runtime import Runtime

    lock = threading.Lock()
    overlap = Overlap()

    class _Meta(type):
        @property
        def _instance(cls):
            return Runtime._instance

        @_instance.setter
        def _instance(cls, value):
            with lock:  # the first run installs its runtime, the last one removes it
                if value is not None:
                    if overlap.now == 0:
                        Runtime._instance = value
                    overlap.now += 1
                    overlap.most = max(overlap.most, overlap.now)
                else:
                    overlap.now -= 1
                    if overlap.now == 0:
                        Runtime._instance = None

    class _SharedRuntime(Runtime, metaclass=_Meta):
        pass

    real_get_option = config.get_option

    def get_option(name: str):  # AppTest patches this per run; overlapping patches must not undo each other
        return True if name == "global.appTest" else real_get_option(name)

    # A server compiles app.py once, in its one locked ScriptCache; each AppTest has a
    # cache of its own, so 20 of them would compile the script at the same time, which
    # CPython 3.11 cannot do safely in threads (gh-106905: "AST constructor recursion
    # depth mismatch"). One lock around the compilation gives the server's behaviour back.
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    real_get_bytecode = ScriptCache.get_bytecode
    parse_lock = threading.Lock()

    def get_bytecode(self, script_path: str):
        with parse_lock:
            return real_get_bytecode(self, script_path)

    # AppTest waits for a run by waking every millisecond to scan the run's events: twenty
    # waiting sessions would take the GIL 20 000 times a second from the scripts they wait
    # for, which a server (event-driven) never does. Waiting on the script's thread instead
    # returns at the same moment without the polling.
    from streamlit.testing.v1 import local_script_runner

    real_wait = local_script_runner.require_widgets_deltas

    def require_widgets_deltas(runner, timeout: float = 3) -> None:
        deadline = time.monotonic() + timeout
        while not runner.script_stopped():
            left = deadline - time.monotonic()
            if left <= 0:
                return real_wait(runner, 0)  # AppTest's own timeout error
            thread = getattr(runner, "_script_thread", None)
            if thread is not None and thread.is_alive():
                thread.join(min(left, 0.05))
            else:
                time.sleep(0.002)

    saved = app_test.Runtime
    app_test.Runtime = _SharedRuntime
    config.get_option = get_option
    ScriptCache.get_bytecode = get_bytecode
    local_script_runner.require_widgets_deltas = require_widgets_deltas
    try:
        yield overlap
    finally:
        app_test.Runtime = saved
        config.get_option = real_get_option
        ScriptCache.get_bytecode = real_get_bytecode
        local_script_runner.require_widgets_deltas = real_wait


class PeakRSS:
    """Samples the process's resident memory in a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._proc = psutil.Process()
        self.start_rss = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._interval = interval

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def run_sessions(scenarios: list[Callable[[], object]], *, timeout: float = 600) -> tuple[list, list[str], float]:
    """Run each scenario in its own thread, all released at once; (results, failures, wall seconds)."""
    import traceback

    results: list = [None] * len(scenarios)
    failures: list[str] = []
    barrier = threading.Barrier(len(scenarios))

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = scenarios[i]()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            failures.append(f"session {i}: {exc.__class__.__name__}: {exc}\n{traceback.format_exc()[-1500:]}")

    threads = [threading.Thread(target=work, args=(i,), name=f"session-{i}") for i in range(len(scenarios))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a session did not finish in time"
    return results, failures, time.perf_counter() - start


# ------------------------------------------------------------------ the sessions
def _layer(lid):
    from ptce_geo.layers import load_layer

    return load_layer(lid)


def carte():
    from test_app import HOSTILE, open_page

    at = open_page("Carte des pôles")
    at.selectbox(key="carte_pole").set_value("sud-aquitain").run()
    _ok(at, "Carte des pôles")
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "Structure porteuse" in text and "Association Sud Aquitain" in text
    levels = at.table[0].value.set_index("Échelon")  # the card's levels, in rows, as French text
    assert levels.loc["Communes", "Unités"] == str((_layer("communes")["epci"] == "244000659").sum())
    assert HOSTILE in list(at.dataframe[-1].value["Pôle"])
    return at


def territoire():
    from test_app import open_page

    at = open_page("Mon territoire")
    at.text_input(key="terr_query").input("40").run()
    _ok(at, "Mon territoire")
    assert at.radio(key="terr_choice").value == "departements:40"
    assert sorted(at.dataframe[0].value["Pôle"]) == ["PTCE Sud Aquitain", "Pôle Adour Basque", "Pôle de Tarnos"]
    return at


def decoupages():
    from test_app import SQUARE, open_page

    at = open_page("Découpages")
    at.selectbox(key="dec_pole").set_value("dessine")
    at.selectbox(key="dec_level").set_value("departements").run()
    _ok(at, "Découpages")
    square = shapely.Polygon(SQUARE)
    deps = _layer("departements")
    deps = deps[deps.intersects(square)].to_crs(3035)
    share = deps.intersection(gpd.GeoSeries([square], crs=4326).to_crs(3035).iloc[0]).area / \
        gpd.GeoSeries([square], crs=4326).to_crs(3035).area.iloc[0]
    pieces = at.dataframe[0].value
    pieces.index = pieces["Unité"].str.extract(r"\(([^()]*)\)$")[0].to_numpy()  # « name (code) »
    assert sorted(pieces.index) == sorted(deps.loc[share > 0, "code"])  # every piece, slivers included
    assert sorted(deps.loc[share > 0.01, "code"]) == ["01", "71"]  # Ain and Saône-et-Loire hold the square
    for code in ("01", "71"):
        assert pieces.loc[code, "Part du pôle"] == pytest.approx(share[deps["code"] == code].iloc[0], rel=1e-3)
    return at


def nouveau():
    from test_app import open_page

    at = open_page("Nouveau périmètre")
    at.text_input(key="nouv_name").input("Projet Seignanx").run()
    at.multiselect(key="nouv_epci").set_value(["244000659"]).run()
    _ok(at, "Nouveau périmètre")
    assert at.subheader[0].value == "Projet Seignanx"
    levels = at.dataframe[0].value.set_index("Échelon")
    assert levels.loc["Communes", "Unités comptées"] == (_layer("communes")["epci"] == "244000659").sum()
    return at


def zones():
    from test_app import open_page

    at = open_page("Zones de contrat")
    at.selectbox(key="zc_layer").set_value("territoires_industrie").run()
    _ok(at, "Zones de contrat")
    table = at.dataframe[0].value
    ti = _layer("territoires_industrie")  # by membership: the TI whose member EPCI the pole holds
    pole_epci = {"200067106", "244000865"}
    expected = sorted(c for c, g in zip(ti["code"], ti["groupements"])
                      if pole_epci & set(re.findall(r"\((\d{9})\)", g)))
    rows = table[table["Pôle"] == "Pôle Adour Basque"]
    assert sorted(rows["Code de la zone"]) == expected == ["ti-7514"]
    assert "PTCE Sud Aquitain" not in set(table["Pôle"])  # the CC du Seignanx is in no TI
    return at


def sources():
    from ptce_geo.catalogue import load_catalogue
    from test_app import open_page

    at = open_page("Sources")
    _ok(at, "Sources et licences")
    assert list(at.table[0].value["Identifiant"]) == load_catalogue().ids()
    return at


PAGES = [carte, territoire, decoupages, nouveau, zones, sources]


def _ok(at, title: str) -> None:
    from test_app import no_failure

    no_failure(at)
    assert at.title[0].value == title


@pytest.fixture()
def cold_app(mirror_env, tmp_path, monkeypatch):
    """The app over the test poles and an empty cache: nothing built, nothing cached in memory."""
    import streamlit as st

    from ptce_geo.layers import clear_memory_cache
    from test_app import write_poles

    monkeypatch.setenv("PTCE_GEO_POLES", str(write_poles(tmp_path / "poles.geojson")))
    monkeypatch.delenv("PTCE_GEO_TILES", raising=False)
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    clear_memory_cache()
    st.cache_resource.clear()
    st.cache_data.clear()


def test_twenty_concurrent_sessions_share_the_cached_data(cold_app, monkeypatch):
    from app_pages import common
    from ptce_geo import layers

    counts: collections.Counter = collections.Counter()
    count_lock = threading.Lock()

    def counting(name: str, fn, key=lambda *a, **k: ""):
        def wrapper(*args, **kwargs):
            with count_lock:
                counts[f"{name}:{key(*args, **kwargs)}"] += 1
            return fn(*args, **kwargs)
        return wrapper

    # every build counted in this process: no child process preparing layers alongside (tests/test_cold_cache.py)
    monkeypatch.setattr(layers, "prepare_layers", lambda *args, **kwargs: None)
    monkeypatch.setattr(layers, "_build", counting("build", layers._build, lambda spec, *a: spec.id))
    monkeypatch.setattr(common, "load_layer", counting("app-load", common.load_layer, lambda lid, **k: lid))
    monkeypatch.setattr(common, "stored_scorecard", counting("scorecard", common.stored_scorecard))
    monkeypatch.setattr(common, "read_perimeters", counting("poles-read", common.read_perimeters))
    monkeypatch.setattr(common, "layer", counting("layer-asked", common.layer))

    scenarios = [PAGES[i % len(PAGES)] for i in range(SESSIONS)]
    with shared_runtime() as overlap, PeakRSS() as rss:
        results, failures, wall = run_sessions(scenarios)
    held = sum(r is not None for r in results)
    print(f"\n{SESSIONS} concurrent sessions ({', '.join(f.__name__ for f in PAGES)}): {held} succeeded in "
          f"{wall:.1f} s, up to {overlap.most} script runs at once; peak RSS {rss.peak / 2**20:.0f} MB "
          f"(start {rss.start_rss / 2**20:.0f} MB); calls {dict(sorted(counts.items()))}")
    assert not failures, failures[:3]
    assert held == SESSIONS
    assert overlap.most >= SESSIONS // 2  # the sessions did run at the same time
    builds = {k: v for k, v in counts.items() if k.startswith("build:")}
    assert builds and set(builds.values()) == {1}, builds  # every layer built once for all sessions
    assert {"build:communes", "build:epci", "build:departements", "build:regions"} <= set(builds)
    app_loads = {k: v for k, v in counts.items() if k.startswith("app-load:")}
    assert app_loads and set(app_loads.values()) == {1}, app_loads  # one cached copy per layer, shared...
    assert counts["layer-asked:"] > 2 * len(app_loads)  # ...by pages that ask for layers again and again
    # the poles' scorecard: asked once for all sessions (computed, or read back from the disk), and the
    # poles are its perimeters (never read again)
    assert counts["scorecard:"] == 1 and counts["poles-read:"] == 0
    assert rss.peak < RSS_BOUND
