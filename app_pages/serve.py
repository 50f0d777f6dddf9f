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
or an earlier run): reading it takes seconds. A cold cache takes some twenty seconds to prepare
with no server to say so; then the server starts at once and the first visitor's pages
prepare the data with their progress messages, as with ``streamlit run``. A failure while
preparing is logged and the server starts anyway.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger("ptce_geo.app")

APP = Path(__file__).resolve().parent.parent / "app.py"
#: the pages run before serving (their titles, comma-separated), and the opening page's
WARM_PAGES_ENV = "PTCE_GEO_WARM_PAGES"


def warm(app: Path = APP, *, pages: list[str] | None = None, timeout: float = 600) -> float:
    """Run the app's script once per page in ``pages`` (default: the opening page); seconds taken.

    The caches the pages fill (``st.cache_resource``) belong to the process, so the
    server started afterwards in this process finds them ready.
    """
    from streamlit.testing.v1 import AppTest

    t0 = time.perf_counter()
    at = AppTest.from_file(str(app), default_timeout=timeout)
    at.run()
    for title in pages or []:
        if at.sidebar.radio and at.sidebar.radio[0].value != title:
            at.sidebar.radio[0].set_value(title).run()
    if at.exception:
        logger.warning("preparing the app: the page failed: %s", at.exception[0].value)
    return time.perf_counter() - t0


def cache_prepared() -> tuple[bool, str]:
    """Whether the opening page will only read (the poles' Scorecard is stored); else why not."""
    from ptce_geo.scorecard import stored_scorecard_path
    from ptce_geo.settings import poles_path

    try:
        path = stored_scorecard_path(poles_path())
    except Exception as exc:  # noqa: BLE001 - no poles file, no catalogue: the pages will say it in French
        return False, f"the poles or the catalogue cannot be read ({exc})"
    if not path.is_file():
        return False, "the poles' Scorecard is not stored yet (`ptce-geo fetch` prepares it)"
    return True, ""


def _warm_pages() -> list[str]:
    raw = os.environ.get(WARM_PAGES_ENV, "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def main(argv: list[str] | None = None) -> None:
    """Prepare the shared caches, then ``streamlit run app.py`` with ``argv`` as its options."""
    from streamlit.web import bootstrap
    from streamlit.web import cli as streamlit_cli

    real_run = bootstrap.run

    def run_prepared(main_script_path, is_hello, args, flag_options, **kwargs):
        # the configuration (config.toml and the flags) is loaded by now: the maps get the right URLs
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        ready, why = cache_prepared()
        if not ready:
            logger.info("ptce_geo: cache not prepared (%s): serving now, the first pages prepare the data "
                        "with progress messages", why)
            return real_run(main_script_path, is_hello, args, flag_options, **kwargs)
        logger.info("ptce_geo: préparation des données partagées avant d'ouvrir le serveur…")
        try:
            seconds = warm(Path(main_script_path), pages=_warm_pages())
        except Exception:  # noqa: BLE001 - the server is still useful unprepared
            logger.exception("ptce_geo: preparing the app failed; the pages will prepare their data themselves")
        else:
            logger.info("ptce_geo: données prêtes en %.1f s", seconds)
        return real_run(main_script_path, is_hello, args, flag_options, **kwargs)

    bootstrap.run = run_prepared
    streamlit_cli.main(["run", str(APP), *(sys.argv[1:] if argv is None else argv)], prog_name="streamlit")


if __name__ == "__main__":
    main()
