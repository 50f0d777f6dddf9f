"""Serve the app with what every session shares prepared before the first visitor (``./dev app``).

``streamlit run app.py`` imports the app and fills its shared caches only when the first
browser connects: that visitor waits for Python to import geopandas and folium, for the
poles' Scorecard to be read from disk and for the national map to be rendered (7 to 8 s
on 2 cores). Here the app's script runs once, headless, before the server listens — with
``streamlit.testing.v1.AppTest``, on the pages named by ``PTCE_GEO_WARM_PAGES`` (by
default the opening page, « Carte des pôles ») — so the first visitor is served from the
same caches as every later one. The options are those of ``streamlit run``::

    python -m app_pages.serve [streamlit options]

Only a prepared cache is read this way (the poles' Scorecard stored by ``ptce-geo fetch``
or an earlier run): reading it takes seconds. On a cold cache the server starts at once, and
a separate process, started first thing at launch, computes and stores the poles' Scorecard
(the opening page's data) while the visitor's browser loads the app: the first page shows its
progress message, waits for that process (the stored Scorecard's file lock), then reads the
result — first a view of the main levels, drawn while the other levels are computed. Without
this launcher (``streamlit run app.py``), the first visitor's page computes it.
The first page a browser loads is Streamlit's, in French (:mod:`app_pages.shell`).
A failure while preparing is logged and the server starts anyway; a preparation still running
when the server stops is stopped with it (its files are written atomically).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger("ptce_geo.app")

APP = Path(__file__).resolve().parent.parent / "app.py"
#: the pages run before serving (their titles, comma-separated), and the opening page's
WARM_PAGES_ENV = "PTCE_GEO_WARM_PAGES"
#: the option that makes this module compute the stored Scorecard instead of serving
PREPARE_OPTION = "--prepare-cache"
#: why the cache is not prepared when only the poles' Scorecard is missing (it can be computed)
NOT_STORED = "the poles' Scorecard is not stored yet (`ptce-geo fetch` prepares it)"
#: the levels of the opening page's first view on a cold start: its map, its tables and the cards'
#: main levels, with the typology's (EPT included), so that every figure it shows is the full one's
OPENING_LEVELS = ("communes", "epci", "ept", "departements", "regions", "zones_emploi")


def opening_levels(catalogue) -> list[str]:
    """The partition levels of :data:`OPENING_LEVELS` this catalogue has, in its order."""
    return [lid for lid in catalogue.ids(kind="partition") if lid in OPENING_LEVELS]


def first_view(catalogue) -> dict:
    """The Scorecard's ``levels`` and ``zones`` of the opening page's first view: the
    :func:`opening_levels`, and no zones layer (the opening page shows no programme; the
    programmes' layers are the slowest to build and measure on a cold cache)."""
    return {"levels": opening_levels(catalogue), "zones": ()}


#: Streamlit's logger that warns, on every launch, « missing ScriptRunContext! This warning can be
#: ignored when running in bare mode » when the app's script is prepared with AppTest
BARE_MODE_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Within the block, the logger ``name`` logs errors only (its level restored after)."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def warm(app: Path = APP, *, pages: list[str] | None = None, timeout: float = 600) -> float:
    """Run the app's script once per page in ``pages`` (default: the opening page); seconds taken.

    The caches the pages fill (``st.cache_resource``) belong to the process, so the
    server started afterwards in this process finds them ready.
    """
    from streamlit.testing.v1 import AppTest

    t0 = time.perf_counter()
    with _quiet(BARE_MODE_LOGGER):  # AppTest sets its session state outside a script run
        at = AppTest.from_file(str(app), default_timeout=timeout)
    at.run()
    at.run()  # as the browser's timer: the opening page draws its tables in a session's second run
    for title in pages or []:
        if at.sidebar.radio and at.sidebar.radio[0].value != title:
            at.sidebar.radio[0].set_value(title).run()
    if at.exception:
        logger.warning("preparing the app: the page failed: %s", at.exception[0].value)
    return time.perf_counter() - t0


def settle_shared_memory() -> None:
    """Collect the preparation's garbage, then leave what it loaded out of later collections.

    The shared caches (layers, Scorecard, maps) live as long as the process; a full garbage
    collection walks every geometry of their object arrays (0.1 to 0.3 s on 2 cores), and
    Python runs one now and then. ``gc.freeze`` moves what exists now to a generation that
    collections skip, so the sessions' collections only walk the sessions' objects.
    """
    gc.collect()
    gc.freeze()
    logger.info("ptce_geo: %d shared objects left out of garbage collections", gc.get_freeze_count())


def cache_prepared() -> tuple[bool, str]:
    """Whether the opening page will only read (the poles' Scorecard is stored); else why not."""
    from ptce_geo.scorecard import stored_scorecard_path
    from ptce_geo.settings import poles_path

    try:
        path = stored_scorecard_path(poles_path())
    except Exception as exc:  # noqa: BLE001 - no poles file, no catalogue: the pages will say it in French
        return False, f"the poles or the catalogue cannot be read ({exc})"
    if not path.is_file():
        return False, NOT_STORED
    return True, ""


def start_preparing() -> subprocess.Popen:
    """Start a separate process that computes and stores the poles' Scorecard (see :func:`prepare`).

    It is a process of its own, not a thread of the server: the server answers the first
    visitor meanwhile, and the process builds the layers with a child of its own (2 cores).
    Its logs go to the server's output. It is stopped when this process exits.
    """
    proc = subprocess.Popen([sys.executable, "-m", "app_pages.serve", PREPARE_OPTION], cwd=APP.parent,
                            stdin=subprocess.DEVNULL)
    atexit.register(_stop_preparing, proc)
    return proc


def _stop_preparing(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def prepare() -> int:
    """Compute and store the poles' Scorecards as the app reads them; the exit status.

    First a Scorecard of the :func:`first_view` only (``common.opening_scorecard``): the
    opening page draws its map and tables from it while the rest is computed (on 2 cores,
    some 3 s sooner than from the full one). Then the full one, with the same key as
    ``common.scorecard_for("area")`` (the settings' poles file, catalogue and cache, default
    options), so that the pages only read it; then the one in population
    (``scorecard_for("population")``). After the first view, this process gives way to the
    server and the browser drawing it. Nothing is done when the full Scorecard is stored
    already, or when the poles or the catalogue cannot be read.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # stopped by the server: exit normally, so that the layers' child process is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.errors import PtceGeoError
    from ptce_geo.options import Options
    from ptce_geo.scorecard import stored_scorecard, stored_scorecard_path
    from ptce_geo.settings import poles_path

    t0 = time.perf_counter()
    try:
        if stored_scorecard_path(poles_path()).is_file():
            return 0  # prepared: the server runs the opening page before listening
        catalogue = load_catalogue()
    except Exception:  # noqa: BLE001 - no poles file, no catalogue: the server and the pages say it
        return 0
    try:
        first = stored_scorecard(poles_path(), catalogue=catalogue, **first_view(catalogue))
        logger.info("ptce_geo: first view of the %d poles stored in %.1f s", len(first.ids), time.perf_counter() - t0)
        _lower_priority()  # the opening page is drawing it: this gives way to the server and the browser
        card = stored_scorecard(poles_path(), catalogue=catalogue)
        logger.info("ptce_geo: Scorecard of the %d poles stored in %.1f s", len(card.ids), time.perf_counter() - t0)
        # then the shares in population, as `ptce-geo fetch` does: the sidebar's switch finds them ready
        stored_scorecard(poles_path(), catalogue=catalogue, options=Options(weight="population"))
    except PtceGeoError as exc:  # the page computes again and says it in French
        logger.warning("ptce_geo: the poles' Scorecard could not be prepared: %s", exc)
        return 1
    return 0


#: seconds between the server's start and the imports of :func:`preimport_app` (which hold Python's
#: lock while the server starts otherwise: its first answer came 0.4 s later)
PREIMPORT_DELAY_S = 0.5
#: besides the app's own modules: Streamlit's table of emojis, which ``st.set_page_config`` reads
#: for the page's icon (a third of a second of compiling on 2 cores)
STREAMLIT_MODULES = ("streamlit.emojis",)


def app_modules(app: Path = APP) -> list[str]:
    """The modules the app's script imports (its ``from app_pages import …``), then
    :data:`STREAMLIT_MODULES`: what :func:`preimport_app` loads before a visitor asks."""
    import ast

    tree = ast.parse(app.read_text(encoding="utf-8"))
    own = [f"{node.module}.{alias.name}" for node in tree.body
           if isinstance(node, ast.ImportFrom) and node.module == "app_pages" for alias in node.names]
    return own + list(STREAMLIT_MODULES)


def preimport_app(*, delay: float = PREIMPORT_DELAY_S) -> threading.Thread:
    """Import the app's modules, and install Leaflet's files, in a thread while the server starts
    (an unprepared cache).

    With a prepared cache the app's script is run once before the server listens
    (:func:`warm`); without, the first visitor's script run imported them (geopandas, folium,
    the library: about a second on 2 cores shared with the preparing process) after the
    browser had connected, which kept the page white. Python's import lock makes a script
    run that imports them meanwhile wait for them, not import them twice.
    """
    def run() -> None:
        t0 = time.perf_counter()
        for name in app_modules():
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the script run imports it again and shows the failure
                logger.exception("ptce_geo: importing %s beforehand failed", name)
                return
        try:  # Leaflet's files into static/vendor, folium pointed there (0.6 s: the first run's first step)
            with _quiet(BARE_MODE_LOGGER):
                importlib.import_module("app_pages.common").setup_assets()
        except Exception:  # noqa: BLE001 - the script run does it again and says what fails
            logger.exception("ptce_geo: installing Leaflet's files beforehand failed")
        logger.info("ptce_geo: the app's modules imported in %.1f s", time.perf_counter() - t0)

    thread = threading.Timer(delay, run)  # the server opens first: its start is not slowed
    thread.name, thread.daemon = "ptce-preimport", True
    thread.start()
    return thread


def _lower_priority(increment: int = 10) -> None:
    """Lower this process's CPU priority (every thread's: Linux sets it per thread), so that
    on 2 cores the server and the visitor's browser go first; a no-op where not allowed."""
    from ptce_geo._worker import lower_thread_priority

    tasks = Path("/proc/self/task")
    for tid in [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]:
        lower_thread_priority(tid, increment)


def start_workers() -> None:
    """Have the processes that analyse visitors' perimeters and files start a moment after
    the first page served (``compute.start_after_first_page``), not on first use.

    Each loads the layers and runs two small analyses first (some 4 s on 2 cores, at a lower
    CPU priority): started on first use, they kept the first visitor who added a commune
    on « Nouveau périmètre » waiting that long. Only with a prepared cache: on a cold one,
    the preparing process builds the layers first.
    """
    from app_pages import compute

    compute.start_after_first_page()


def _map_assets() -> list[str]:
    """The local files the app's maps load (after :func:`warm` pointed folium at them), else none."""
    try:
        from ptce_geo import maps

        return maps.map_assets()
    except Exception:  # noqa: BLE001 - only a head start for the browser
        logger.info("ptce_geo: the maps' files are not fetched early", exc_info=True)
        return []


def server_internals() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn serves the app with: uvloop and httptools when
    installed (the ``[app]`` extra), else asyncio's loop and h11, about 4 times slower to serve
    the opening page's files (``bench/bench_serving.py``)."""
    def present(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ValueError:  # a module set to None in sys.modules
            return False

    return ("uvloop" if present("uvloop") and os.name != "nt" else "asyncio",
            "httptools" if present("httptools") else "h11")


def _warm_pages() -> list[str]:
    raw = os.environ.get(WARM_PAGES_ENV, "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def main(argv: list[str] | None = None) -> None:
    """Prepare the shared caches, then ``streamlit run app.py`` with ``argv`` as its options."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [PREPARE_OPTION]:
        raise SystemExit(prepare())
    # first of all, before this process imports Streamlit and the library: on a cold cache every
    # second counts, and on a prepared one the process only looks and exits
    start_preparing()
    from streamlit.web import bootstrap
    from streamlit.web import cli as streamlit_cli

    real_run = bootstrap.run

    def run_prepared(main_script_path, is_hello, args, flag_options, **kwargs):
        # the configuration (config.toml and the flags) is loaded by now: the maps get the right URLs
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from app_pages import shell

        loop, parser = server_internals()
        logger.info("ptce_geo: server event loop %s, HTTP parser %s%s", loop, parser,
                    "" if (loop, parser) == ("uvloop", "httptools") else
                    " (pip install -e '.[app]' adds uvloop and httptools: files served about 4 times faster)")
        ready, why = cache_prepared()
        if not ready:
            shell.install()  # the first page in French, from the settings' cache
            preimport_app()  # the first visitor's script run then starts with its modules loaded
            if why == NOT_STORED:
                logger.info("ptce_geo: cache not prepared (%s): serving now while a separate process "
                            "prepares it; the first page shows its progress", why)
            else:  # nothing to compute: the pages say what is missing, in French
                logger.info("ptce_geo: %s: serving now", why)
            return real_run(main_script_path, is_hello, args, flag_options, **kwargs)
        logger.info("ptce_geo: préparation des données partagées avant d'ouvrir le serveur…")
        try:
            seconds = warm(Path(main_script_path), pages=_warm_pages())
        except Exception:  # noqa: BLE001 - the server is still useful unprepared
            logger.exception("ptce_geo: preparing the app failed; the pages will prepare their data themselves")
        else:
            logger.info("ptce_geo: données prêtes en %.1f s", seconds)
        # the first page in French, fetching early the Leaflet files the prepared maps load
        shell.install(assets=_map_assets())
        settle_shared_memory()
        start_workers()
        return real_run(main_script_path, is_hello, args, flag_options, **kwargs)

    bootstrap.run = run_prepared
    streamlit_cli.main(["run", str(APP), *argv], prog_name="streamlit")


if __name__ == "__main__":
    main()
