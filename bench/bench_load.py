"""Time per analysis alone and under the load of 20 concurrent app sessions, in one process.

Two analyses are timed, each first alone (the baseline) and then while 20 app sessions
(``streamlit.testing.v1.AppTest``, one thread each, the harness of ``tests/test_load.py``)
use the app as people do — each session opens the app once, then goes from page to page:

* ``pole_scorecard`` of every pole of the poles file, across all levels (layers in memory);
* one page run of the app: the script run that answers a click on another page in the
  sidebar, measured inside each session (the opening run of each session is timed apart);
  « Carte des pôles » draws its map first and its tables in a rerun its timer asks for a
  moment later: that rerun is a page run too (« Carte des pôles (tableaux) »).

The sessions run alone for ``--seconds`` (the page-run figures and the target), then go on
while ``pole_scorecard`` of every pole is computed twice in the same process (its loaded
time, and the page runs meanwhile, printed apart).

A server discovers the installed Streamlit components once, when it starts; ``AppTest``
does it again for every new test app (half a second of parsing package metadata), so the
sessions here share one discovery, as the sessions of a server share their runtime.

Prints the median and 95th percentile of each (target: page run p95 under 3 s with 20
sessions on 2 cores), the cores used, the ratio loaded/alone, the page runs
served per second and the peak resident memory. Needs the boundary data::

    PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml \\
        .venv/bin/python bench/bench_load.py [--poles poles.geojson] [--sessions 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from ptce_geo.settings import poles_path  # noqa: E402
from ptce_geo.catalogue import load_catalogue  # noqa: E402
from ptce_geo.perimeters import read_perimeters  # noqa: E402
from ptce_geo.scorecard import pole_scorecard  # noqa: E402

PAGES = ["Carte des pôles", "Mon territoire", "Découpages", "Nouveau périmètre", "Zones de contrat", "Mes pôles",
         "Sources"]


TARGET_P95_S = 3.0
#: the rerun the opening page's timer asks for, to draw its tables a moment after its map
TABLES_RUN = "Carte des pôles (tableaux)"


def quantiles(times: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (nearest rank)."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]


def time_scorecard(perims, cat, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pole_scorecard(perims, catalogue=cat)
        out.append(time.perf_counter() - t0)
    return out


class Session:
    """One user of the app: opened once, then moving from page to page (an AppTest)."""

    _components = None  # the component registry, discovered once as a server does
    _lock = threading.Lock()

    def __init__(self) -> None:
        from streamlit.testing.v1 import AppTest
        from test_app import APP

        self.at = AppTest.from_file(str(APP), default_timeout=240)
        with Session._lock:
            if Session._components is None:
                from streamlit.components.v2.component_manager import BidiComponentManager

                Session._components = BidiComponentManager()
                Session._components.discover_and_register_components(start_file_watching=False)
        self.at._bidi_component_manager = Session._components
        self.opening = self._timed(self.at.run)

    def _timed(self, run) -> float:
        from test_app import no_failure

        t0 = time.perf_counter()
        run()
        elapsed = time.perf_counter() - t0
        no_failure(self.at)
        return elapsed

    def page_run(self, title: str) -> list[tuple[str, float]]:
        """Click ``title`` in the sidebar; the wall time of the run that answers (raises when the page fails),
        and of the run the page's timer asks for a moment later (« Carte des pôles » draws its map
        first, then its tables: the browser reruns the page), each with what it was."""
        from test_app import tables_pending

        runs = [(title, self._timed(lambda: self.at.sidebar.radio[0].set_value(title).run()))]
        if tables_pending(self.at):
            runs.append((TABLES_RUN, self._timed(self.at.run)))
        return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poles", default=str(poles_path()))
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the load lasts")
    parser.add_argument("--repeat", type=int, default=5, help="scorecard timings alone")
    args = parser.parse_args()
    load0 = os.getloadavg()[0]
    os.environ["PTCE_GEO_POLES"] = str(Path(args.poles).resolve())
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from test_load import PeakRSS, shared_runtime

    from app_pages.serve import BARE_MODE_LOGGER

    # no « missing ScriptRunContext » per session (a filter: Streamlit sets its loggers' levels again
    # when a session loads its configuration)
    logging.getLogger(BARE_MODE_LOGGER).addFilter(lambda record: record.levelno >= logging.ERROR)

    cat = load_catalogue()
    perims = read_perimeters(args.poles, catalogue=cat)
    pole_scorecard(perims, catalogue=cat)  # layers into memory
    warm = Session()
    for title in PAGES:  # the app's shared caches, warm
        warm.page_run(title)

    alone_card = time_scorecard(perims, cat, args.repeat)
    alone_open = [Session().opening for _ in range(3)]
    alone_page = [t for _ in range(3) for title in PAGES for _, t in warm.page_run(title)]

    stop = threading.Event()
    loaded_page: list[float] = []
    loaded_open: list[float] = []
    by_page: dict[str, list[float]] = {title: [] for title in PAGES}
    beside_card: list[float] = []  # page runs while a Scorecard of every pole is computed alongside
    computing = threading.Event()
    errors: list[str] = []
    lock = threading.Lock()

    def session(i: int) -> None:
        try:
            user = Session()
        except Exception as exc:  # noqa: BLE001 - counted and shown
            with lock:
                errors.append(f"opening: {exc.__class__.__name__}: {exc}")
            return
        with lock:
            loaded_open.append(user.opening)
        k = i
        while not stop.is_set():
            k += 1
            title = PAGES[k % len(PAGES)]
            try:
                runs = user.page_run(title)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                with lock:
                    errors.append(f"{title}: {exc.__class__.__name__}: {exc}")
                continue
            with lock:
                for what, elapsed in runs:
                    if computing.is_set():
                        beside_card.append(elapsed)
                    else:
                        loaded_page.append(elapsed)
                        by_page.setdefault(what, []).append(elapsed)

    with shared_runtime() as overlap, PeakRSS() as rss:
        threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(args.sessions)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.seconds)  # the sessions alone: what a server does all day
        computing.set()  # then an analysis of every pole computed in the same process meanwhile
        loaded_card = time_scorecard(perims, cat, 2)
        stop.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores; load average before the run {load0:.2f} (run it on an otherwise idle machine)")
    print(f"{len(perims)} poles from {args.poles}; {args.sessions} concurrent sessions for {wall:.0f} s "
          f"(up to {overlap.most} script runs at once), {len(loaded_page)} page runs "
          f"({len(loaded_page) / wall:.1f}/s), {len(errors)} failed; peak RSS {rss.peak / 2**20:.0f} MB")
    rows = [("pole_scorecard, all poles", alone_card, loaded_card),
            ("opening the app", alone_open, loaded_open),
            ("one page run (a click)", alone_page, loaded_page),
            ("  … beside pole_scorecard", alone_page, beside_card)]
    print(f"{'analysis':<28}{'alone median':>14}{'p95':>8}{'loaded median':>16}{'p95':>8}{'ratio':>8}")
    for name, alone, loaded in rows:
        a50, a90 = quantiles(alone)
        l50, l90 = quantiles(loaded) if loaded else (float("nan"), float("nan"))
        print(f"{name:<28}{a50:>13.3f}s{a90:>7.3f}s{l50:>15.3f}s{l90:>7.3f}s{l50 / a50:>7.1f}x")
    print("page runs under load, by page (median / p95):", "; ".join(
        f"{title} {quantiles(t)[0]:.2f}/{quantiles(t)[1]:.2f} s" for title, t in by_page.items() if t))
    _, page_p95 = quantiles(loaded_page) if loaded_page else (float("nan"), float("nan"))
    print(f"page run p95 under load: {page_p95:.2f} s (target {TARGET_P95_S:.0f} s with 20 sessions on 2 cores): "
          + ("met" if page_p95 < TARGET_P95_S else "NOT met"))
    if errors:
        print("failures:", *errors[:5], sep="\n  ")


if __name__ == "__main__":
    main()
