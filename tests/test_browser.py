"""The served app in a real browser: Debian's chromium driven by Playwright, offline.

Starts ``streamlit run app.py`` on 127.0.0.1 with the boundary mirror and a small poles
file, loads the first page, waits for the map (Leaflet SVG paths in the component's
iframe) and the table, checks the French text, opens the hostile pole's popup and card
(shown as text, no dialog ever opens), and records every request the page makes: none
may leave 127.0.0.1. Saves a screenshot to ``tests/artifacts/`` and prints the time to
the first map (cold, then warm cache); times are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.realdata, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
HOSTILE = "Pôle <script>alert(1)</script>"
POLES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": None, "properties": {
        "id": "sud-aquitain", "nom": "PTCE Sud Aquitain", "epci": ["244000659"], "siege_insee": "40312",
        "structure_porteuse": "Comité de bassin d'emploi du Seignanx"}},
    {"type": "Feature", "geometry": None, "properties": {
        "id": "hostile", "nom": HOSTILE, "communes": ["81004"], "structure_porteuse": "<img src=x onerror=alert(2)>"}},
    {"type": "Feature", "geometry": None, "properties": {
        "id": "adour", "nom": "Pôle Adour landais", "epci": ["244000675", "244000865"], "confiance": "faible"}},
]}


def _browser_available() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright for Python (pip install playwright; no browser download needed)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("browser test needs " + " and ".join(missing))
        pytest.skip("browser test skipped: missing " + " and ".join(missing))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(mirror_dir, session_cache, tmp_path_factory):
    """``streamlit run app.py`` on a free port of 127.0.0.1; yields its base URL."""
    _browser_available()
    poles = tmp_path_factory.mktemp("browser") / "poles.geojson"
    poles.write_text(json.dumps(POLES, ensure_ascii=False), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "PTCE_GEO_MIRROR": str(mirror_dir), "PTCE_GEO_CACHE": str(session_cache),
           "PTCE_GEO_CATALOGUE": str(REPO / "boundaries" / "mirror-2024.toml"), "PTCE_GEO_POLES": str(poles)}
    env.pop("PTCE_GEO_TILES", None)
    log = (tmp_path_factory.mktemp("browser-log") / "streamlit.log").open("w")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("streamlit did not start: " + Path(log.name).read_text()[-2000:])
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _leaflet_frame(page, timeout_s: float = 90):
    """The component iframe once Leaflet has drawn SVG paths in it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.locator("svg path.leaflet-interactive").count() > 0:
                    return frame
            except Exception:  # frame detached while the page re-renders
                continue
        time.sleep(0.2)
    raise AssertionError("no Leaflet polygon drawn within the time limit")


def test_served_app_draws_offline_and_escapes(served_app):
    from playwright.sync_api import sync_playwright

    host = urlsplit(served_app).netloc
    requests, sockets, dialogs = [], [], []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="fr-FR")
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            t0 = time.monotonic()
            page.goto(served_app + "/", wait_until="domcontentloaded")
            frame = _leaflet_frame(page)
            cold = time.monotonic() - t0
            page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=60_000)
            time.sleep(1.0)  # let Leaflet paint every layer before the picture
            page.screenshot(path=str(ARTIFACTS / "app-carte-nationale.png"), full_page=True)
            for text in ("Carte des pôles", "Tous les pôles (3)", "Couches de contexte", "Mon territoire"):
                assert page.get_by_text(text, exact=False).first.is_visible(), text
            assert frame.get_by_text("Typologie du périmètre").is_visible()
            colours = frame.evaluate("() => Array.from(document.querySelectorAll('svg path.leaflet-interactive'))"
                                     ".map(p => p.getAttribute('fill'))")
            assert colours.count("#444444") == 101  # the départements, drawn offline
            assert {"#009E73", "#56B4E9", "#E69F00"} <= set(colours)  # intra-EPCI, commune, inter-EPCI
            # the hostile pole: its popup and its card show the name as text; no script runs
            frame.locator('svg path.leaflet-interactive[fill="#56B4E9"]').first.click(force=True)
            popup = frame.locator(".leaflet-popup-content").first
            popup.wait_for(state="visible", timeout=30_000)
            assert HOSTILE in popup.inner_text()
            assert popup.evaluate("el => el.querySelectorAll('script, img').length") == 0
            page.get_by_role("heading", name=HOSTILE).wait_for(state="visible", timeout=60_000)
            _leaflet_frame(page)
            time.sleep(1.0)
            page.screenshot(path=str(ARTIFACTS / "app-carte-des-poles.png"), full_page=True)
            # a perimeter drawn with the (local) Leaflet.draw tools comes back to Python
            page.goto(served_app + "/?page=nouveau", wait_until="domcontentloaded")
            page.get_by_text("Dessiner sur la carte").click()
            frame = _leaflet_frame(page)
            frame.locator("a.leaflet-draw-draw-rectangle").click()
            box = page.locator('iframe[title="streamlit_folium.st_folium"]').bounding_box()
            x, y = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 30, y + 20, steps=4)
            page.mouse.move(x + 60, y + 40, steps=4)
            page.mouse.up()
            page.get_by_text("Tableau de bord calculé pour 1 périmètre(s).").wait_for(timeout=90_000)
            page.get_by_text("Télécharger le tableau de bord").wait_for(timeout=60_000)
            # warm cache: a new load of the first page
            page.goto(served_app + "/", wait_until="domcontentloaded")
            t0 = time.monotonic()
            _leaflet_frame(page)
            warm = time.monotonic() - t0
        finally:
            browser.close()
    print(f"\ntime to first map: cold {cold:.2f} s, warm {warm:.2f} s; {len(requests)} requests, "
          f"{len(sockets)} websocket(s)")
    assert not dialogs, dialogs
    outside = [u for u in requests + sockets
               if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host]
    outside += [u for u in requests if urlsplit(u).scheme not in ("http", "https", "ws", "wss", "data", "blob", "about")]
    assert not outside, outside
    assert any("/app/static/vendor/" in u and u.endswith("leaflet.js") for u in requests)


def _browser(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def test_served_app_marks_the_qpv_2015_list_as_history(served_app):
    """The page that uses the mirror's QPV (the 2015 list) says, visibly, that it is history."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="fr-FR").new_page()
            page.goto(served_app + "/?page=zones&couche=qpv", wait_until="domcontentloaded")
            notice = page.get_by_text("Couche historique (2015-2023)", exact=False).first
            notice.wait_for(state="visible", timeout=120_000)
            text = notice.inner_text()
            assert "liste 2015 des QPV, remplacée le 1er janvier 2024 par la liste 2024" in text
            assert "fournissez la couche 2024 via le catalogue" in text
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "app-zones-qpv-historique.png"), full_page=True)
        finally:
            browser.close()


def test_low_confidence_perimeters_are_dashed_and_the_legend_says_so(served_app):
    """The « faible » pole is drawn with a dashed outline and a pale fill; the legend shows that swatch."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="fr-FR").new_page()
            page.goto(served_app + "/", wait_until="domcontentloaded")
            frame = _leaflet_frame(page)
            legend = frame.locator(".ptce-legend", has_text="Fiabilité du périmètre")
            legend.wait_for(state="visible", timeout=60_000)
            assert "Confiance faible : périmètre déduit ou non documenté" in legend.inner_text()
            swatch = legend.locator("i.ptce-low")
            assert swatch.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
            styles = frame.evaluate(
                "() => Array.from(document.querySelectorAll('svg path.leaflet-interactive'))"
                ".filter(p => p.getAttribute('stroke-dasharray') === '6 4')"
                ".map(p => [p.getAttribute('fill'), p.getAttribute('fill-opacity')])")
            assert styles == [["#E69F00", "0.12"]]  # the Adour pole only (inter-EPCI colour, pale)
            page.screenshot(path=str(ARTIFACTS / "app-confiance-faible.png"), full_page=True)
        finally:
            browser.close()


def test_a_pole_geojson_and_card_download_from_carte_des_poles(served_app, tmp_path):
    """Carte des pôles → « GeoJSON » of the selected pole: every attribute of the poles file is in it."""
    from playwright.sync_api import sync_playwright

    host = urlsplit(served_app).netloc
    requests = []
    want = POLES["features"][0]["properties"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="fr-FR",
                                          accept_downloads=True)
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.goto(f"{served_app}/?page=carte&pole={want['id']}", wait_until="domcontentloaded")
            page.get_by_role("heading", name=want["nom"]).wait_for(state="visible", timeout=120_000)
            button = page.get_by_role("button", name="GeoJSON")
            button.scroll_into_view_if_needed(timeout=60_000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "app-telechargements.png"))
            with page.expect_download(timeout=120_000) as info:
                button.click()
            download = info.value
            assert download.suggested_filename == f"{want['id']}_pole.geojson"
            doc = json.loads(Path(download.path()).read_text("utf-8"))
            with page.expect_download(timeout=120_000) as info:
                page.get_by_role("button", name="Fiche PDF (A4)").click()
            card = info.value
            assert card.suggested_filename == f"{want['id']}_fiche.pdf"
            pdf = Path(card.path()).read_bytes()
        finally:
            browser.close()
    (feat,) = doc["features"]
    for key, value in want.items():  # all the attributes of the poles file, as written there
        assert feat["properties"][key] == value, key
    for key in ("typology", "area_km2", "n_communes", "n_epci", "dominant_departements", "best_ze_name"):
        assert key in feat["properties"], key
    assert feat["properties"]["typology"] == "intra-EPCI" and feat["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert doc["ptce_geo_provenance"]["generator"] == "ptce_geo"
    assert pdf[:5] == b"%PDF-"
    outside = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != host]
    assert not outside, outside
