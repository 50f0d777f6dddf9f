"""The served app in a real browser: Debian's chromium driven by Playwright, offline, at 1400 × 1000.

Starts ``streamlit run app.py`` on 127.0.0.1 with the boundary mirror and a small poles
file, then looks at the app as its users do:

* the first page draws its map offline and escapes a hostile pole name (no dialog ever
  opens, no request leaves 127.0.0.1);
* every page is walked, its widgets opened (lists, a search typed, help tooltips, table
  toolbars, a refused file, the map's controls, the drawing tools): no English phrase of
  Streamlit, Leaflet or Leaflet.draw is visible, no figure has a decimal point (in the
  page, in the maps, and in the strings the tables draw on their canvas, decoded from
  the messages the page receives), and no table is wider than its box;
* place names are drawn on the commune view of Bayonne;
* a link restores a pole and a territory;
* the interactions of issue 10 are timed and PRINTED (never asserted): adding a commune
  on « Nouveau périmètre », changing the level on « Découpages », switching page, and the
  first map after a restart with the cache prepared.

Screenshots of every page go to ``tests/artifacts/pages/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import served
import uiscan

pytestmark = [pytest.mark.browser, pytest.mark.realdata, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
HOSTILE = "Pôle <script>alert(1)</script>"
VIEWPORT = {"width": 1400, "height": 1000}
PAGES = ["Carte des pôles", "Mon territoire", "Découpages", "Nouveau périmètre", "Zones de contrat", "Mes pôles",
         "Sources"]
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


@pytest.fixture(scope="module")
def app_env_vars(mirror_dir, session_cache, tmp_path_factory) -> dict:
    poles = tmp_path_factory.mktemp("browser") / "poles.geojson"
    poles.write_text(json.dumps(POLES, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PTCE_GEO_MIRROR": str(mirror_dir), "PTCE_GEO_CACHE": str(session_cache),
           "PTCE_GEO_CATALOGUE": str(REPO / "boundaries" / "mirror-2024.toml"), "PTCE_GEO_POLES": str(poles)}
    env.pop("PTCE_GEO_TILES", None)
    return env


@pytest.fixture(scope="module")
def served_app(app_env_vars, tmp_path_factory):
    """``streamlit run app.py`` on a free port of 127.0.0.1; yields its base URL."""
    _browser_available()
    proc, base, log = served.start(app_env_vars, tmp_path_factory.mktemp("browser-log") / "streamlit.log")
    try:
        yield base
    finally:
        served.stop(proc, log)


def _leaflet_frame(page, timeout_s: float = 400):
    """The frame (the page itself) once Leaflet has drawn SVG paths in it."""
    return uiscan.wait_map(page, timeout_s)


def _launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def _new_page(browser, requests=None, sockets=None, dialogs=None):
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR")
    if requests is not None:
        context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    if sockets is not None:
        page.on("websocket", lambda ws: sockets.append(ws.url))
    if dialogs is not None:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page


def _pick(page, widget_label: str, text: str) -> float:
    """Choose ``text`` in the selectbox or multiselect labelled ``widget_label`` (typed, then Enter).

    Returns the moment the choice is made (Enter pressed): what a person waits for starts there.
    """
    box = page.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').filter(
        has=page.get_by_text(widget_label, exact=True)).first
    box.click()
    page.keyboard.type(text)
    time.sleep(0.3)
    chosen = time.monotonic()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    return chosen


def _answer(page, ready_js: str, timeout_s: float = 60.0) -> float:
    """Seconds until ``ready_js`` holds in the page and nothing is stale or running (polled every 20 ms)."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    check = f"""() => (({ready_js})()) && !document.querySelector('[data-stale="true"]')
                      && !document.querySelector('[data-testid="stStatusWidget"] button')"""
    while time.monotonic() < deadline:
        try:
            if page.evaluate(check):
                return time.monotonic() - t0
        except Exception:  # the page re-renders
            pass
        time.sleep(0.02)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "no-answer.png"))
    raise AssertionError(f"no answer within {timeout_s} s: {ready_js} (see tests/artifacts/no-answer.png)")


def _map_has(text: str) -> str:
    """JavaScript: some drawn map's text (its layer list) holds ``text``."""
    return ("() => Array.from(document.querySelectorAll('.ptce-map')).some(m => "
            "m.querySelectorAll('svg path.leaflet-interactive').length > 0 && "
            f"m.textContent.includes({json.dumps(text)}))")


def test_served_app_draws_offline_and_escapes(served_app):
    from playwright.sync_api import sync_playwright

    host = urlsplit(served_app).netloc
    requests, sockets, dialogs = [], [], []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _new_page(browser, requests, sockets, dialogs)
            t0 = time.monotonic()
            page.goto(served_app + "/", wait_until="domcontentloaded")
            frame = _leaflet_frame(page, 400)  # a fresh cache: every layer is prepared first
            cold = time.monotonic() - t0
            frame.evaluate("() => { document.querySelector('.leaflet-container').ptceMarker = 'first map'; }")
            # the tables and downloads come with a rerun a moment after the first map, which stays
            page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=60_000)
            page.get_by_text("Tous les pôles", exact=False).first.wait_for(timeout=60_000)
            assert frame.evaluate("() => document.querySelector('.leaflet-container').ptceMarker") == "first map"  # the map was not reloaded
            page.get_by_text("s'affichent dans un instant").wait_for(state="detached", timeout=30_000)
            time.sleep(1.0)  # let Leaflet paint every layer before the picture
            page.screenshot(path=str(ARTIFACTS / "app-carte-nationale.png"))
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
            page.screenshot(path=str(ARTIFACTS / "app-carte-des-poles.png"))
            # a perimeter drawn with the (local, French) Leaflet.draw tools comes back to Python
            page.goto(served_app + "/?page=nouveau", wait_until="domcontentloaded")
            page.get_by_text("Dessiner sur la carte").click()
            frame = _leaflet_frame(page)
            assert frame.locator("a.leaflet-draw-draw-rectangle").get_attribute("title") == "Tracer un rectangle"
            frame.locator("a.leaflet-draw-draw-rectangle").click()
            box = page.locator(".ptce-map").first.bounding_box()
            x, y = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 30, y + 20, steps=4)
            page.mouse.move(x + 60, y + 40, steps=4)
            page.mouse.up()
            page.get_by_text("Tableau de bord calculé pour 1\u00a0périmètre", exact=False).wait_for(timeout=90_000)
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


def test_a_click_on_a_pole_whose_map_runs_below_the_window_opens_its_card(served_app):
    """In a window shorter than the page, a click on a pole opens its card: the press does not
    scroll the page under the pointer (Leaflet focuses its map; the page scrolls in an element
    of Streamlit's, which the focus would move, turning the click into a drag)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 790}, locale="fr-FR").new_page()
            page.goto(served_app + "/", wait_until="domcontentloaded")
            _leaflet_frame(page)
            page.get_by_text("s'affichent dans un instant").first.wait_for(state="detached", timeout=60_000)
            map_box = page.locator(".ptce-map").first.bounding_box()
            assert map_box["y"] + map_box["height"] > 790, map_box  # the map's foot is below the window
            pole = page.locator('svg path.leaflet-interactive[fill="#009E73"]').first  # Sud Aquitain (one EPCI)
            box = pole.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            assert y < 790, box
            scrolled = "() => document.querySelector('[data-testid=\"stMain\"]').scrollTop"
            before = page.evaluate(scrolled)
            page.mouse.click(x, y)
            assert page.evaluate(scrolled) == before
            page.get_by_role("heading", name="PTCE Sud Aquitain").wait_for(state="visible", timeout=60_000)
        finally:
            browser.close()


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
            assert "que les données installées ne contiennent pas" in text
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
            legend = frame.locator(".ptce-legend", has_text="Typologie du périmètre")
            legend.wait_for(state="visible", timeout=60_000)
            assert "Confiance faible (tirets)" in legend.inner_text()
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


def _page_actions(page, title: str, collect) -> None:
    """What a person does on each page, beyond opening its widgets."""
    if title == "Mon territoire":
        field = page.locator('[data-testid="stMain"] [data-testid="stTextInput"] input').first
        field.fill("bayonne")
        field.press("Enter")
        uiscan.wait_idle(page)
        _leaflet_frame(page)
        time.sleep(1.0)
        collect("Bayonne")
        uiscan.screenshots(page, ARTIFACTS / "pages", "mon-territoire-bayonne")
        field.fill("landes")  # a territory with poles: their table
        field.press("Enter")
        page.get_by_text("Pôles qui agissent ici").wait_for(timeout=60_000)
        page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
        uiscan.wait_idle(page)
        collect("Landes")
        uiscan.screenshots(page, ARTIFACTS / "pages", "mon-territoire-landes")
    elif title == "Découpages":
        frame = _leaflet_frame(page)
        pieces = frame.locator("svg path.leaflet-interactive")
        pieces.nth(0).hover(force=True)
        time.sleep(0.3)
        collect("morceau survolé")
    elif title == "Nouveau périmètre":
        _pick(page, "EPCI", "Seignanx")  # a perimeter by codes: its full scorecard
        page.get_by_text("Tableau de bord calculé", exact=False).wait_for(timeout=300_000)
        uiscan.wait_idle(page)
        _leaflet_frame(page)
        collect("tableau de bord")
        uiscan.screenshots(page, ARTIFACTS / "pages", "nouveau-perimetre-seignanx")
        page.get_by_text("Dessiner sur la carte").click()
        uiscan.wait_idle(page)
        frame = _leaflet_frame(page)
        tool = frame.locator("a.leaflet-draw-draw-polygon")
        tool.hover()
        time.sleep(0.3)
        collect("outil de dessin")
        tool.click()
        box = page.locator(".ptce-map").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.52)
        time.sleep(0.4)
        collect("dessin en cours")
        uiscan.screenshots(page, ARTIFACTS / "pages", "nouveau-perimetre-dessin", limit=1)
        page.keyboard.press("Escape")
        page.get_by_text("Téléverser un fichier").click()
        uiscan.wait_idle(page)
        collect("téléversement")
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"bonjour"}])
        time.sleep(1.0)
        collect("fichier refusé")
        chip = page.locator('[data-testid="stFileUploader"] [data-testid*="FileChip"], '
                            '[data-testid="stFileUploader"] [data-testid*="stFileChip"]').first
        if chip.count():
            chip.hover()
            time.sleep(0.5)
            collect("message du fichier refusé")
        uiscan.screenshots(page, ARTIFACTS / "pages", "nouveau-perimetre-fichier-refuse", limit=1)


def test_every_page_in_french_with_french_figures_and_tables_that_fit(served_app):
    from playwright.sync_api import sync_playwright

    recorder = uiscan.FrameRecorder()
    wide: dict[str, list] = {}
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _new_page(browser)
            recorder.attach(page)

            def actions(page_, title, collect):
                wide[title] = uiscan.wide_tables(page_)

                def collect_and_measure(step, _c=collect, _t=title):
                    _c(step)
                    wide[_t].extend(uiscan.wide_tables(page_))

                _page_actions(page_, title, collect_and_measure)
                wide[title] += uiscan.wide_tables(page_)

            seen = uiscan.walk(page, served_app, PAGES, shots=ARTIFACTS / "pages", extra=actions)
            # place names on the commune view of Bayonne
            page.goto(served_app + "/?page=territoire&territoire=communes:64102", wait_until="domcontentloaded")
            page.get_by_role("heading", name="Bayonne (64) — commune").wait_for(timeout=60_000)
            uiscan.wait_idle(page)
            _leaflet_frame(page)
            names: set[str] = set()
            deadline = time.monotonic() + 30
            while not names and time.monotonic() < deadline:
                for frame in page.frames:
                    try:
                        names |= set(frame.evaluate(
                            "() => Array.from(document.querySelectorAll('.ptce-label'))"
                            ".filter(e => e.getBoundingClientRect().width > 0).map(e => e.textContent)"))
                    except Exception:  # a frame detached while the page re-renders
                        continue
                time.sleep(0.2)
            page.screenshot(path=str(ARTIFACTS / "pages" / "bayonne-noms-de-lieux.png"))
        finally:
            browser.close()
    english = {title: sorted({(p, t) for _, p, t in uiscan.english_hits(texts)}) for title, texts in seen.items()}
    decimals = {title: sorted({t for _, t in uiscan.decimal_hits(texts)}) for title, texts in seen.items()}
    drawn = [(c, v) for table in recorder.tables for c, v in uiscan.undisplayed_decimals(table)]
    n_english = sum(len(v) for v in english.values())
    print(f"\n{n_english} English phrase(s) on {len(seen)} pages; "
          f"{sum(len(v) for v in decimals.values())} text(s) with a decimal point; "
          f"{len(recorder.tables)} tables received, {len(drawn)} figure(s) drawn with a decimal point; "
          f"{sum(len(v) for v in wide.values())} table(s) wider than their box; labels on Bayonne: "
          f"{', '.join(sorted(names)[:12])}")
    assert not n_english, english
    assert not any(decimals.values()), decimals
    assert not drawn, drawn[:20]
    assert not any(wide.values()), wide
    assert recorder.tables, "no table was received: the recorder saw nothing"
    assert {"Bayonne", "Anglet"} <= names, names


def test_a_link_restores_a_pole_and_a_territory(served_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _new_page(browser)
            page.goto(served_app + "/?page=decoupages", wait_until="domcontentloaded")
            _leaflet_frame(page)
            uiscan.wait_idle(page)
            _pick(page, "Pôle", "Adour")
            _pick(page, "Échelon", "EPCI")
            page.get_by_text("Morceaux du pôle — EPCI").wait_for(timeout=60_000)
            uiscan.wait_idle(page)
            link = page.url
            page.locator('[data-testid="stSidebar"]').get_by_text("Mon territoire", exact=True).click()
            field = page.locator('[data-testid="stMain"] [data-testid="stTextInput"] input').first
            field.fill("tarnos")
            field.press("Enter")
            page.get_by_role("heading", name="Tarnos (40) — commune").wait_for(timeout=60_000)
            uiscan.wait_idle(page)
            link2 = page.url
            # an élu pastes the links in an email; a colleague opens them
            other = _new_page(browser)
            other.goto(link, wait_until="domcontentloaded")
            other.get_by_text("Morceaux du pôle — EPCI").wait_for(timeout=60_000)
            uiscan.wait_idle(other)
            other.locator('[data-testid="stSelectbox"] input').first.wait_for(timeout=30_000)
            chosen = [i.input_value() for i in other.locator('[data-testid="stMain"] [data-testid="stSelectbox"] input').all()]
            assert chosen == ["Pôle Adour landais", "EPCI"], chosen
            other.goto(link2, wait_until="domcontentloaded")
            other.get_by_role("heading", name="Tarnos (40) — commune").wait_for(timeout=60_000)
            other.get_by_text("Pôles qui agissent ici").wait_for(timeout=60_000)
        finally:
            browser.close()
    assert "page=decoupages" in link and "pole=adour" in link and "echelon=epci" in link, link
    assert "page=territoire" in link2 and "territoire=communes%3A40312" in link2.replace(":", "%3A"), link2


def test_interaction_times_are_printed(served_app, app_env_vars, tmp_path):
    """Issue 10's targets (answer within 1 s warm; first map after a restart within 2 s): printed, not asserted."""
    from playwright.sync_api import sync_playwright

    times: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _new_page(browser)
            page.goto(served_app + "/", wait_until="domcontentloaded")
            _leaflet_frame(page)  # every layer prepared in the cache (when this test runs alone)
            # adding a commune on « Nouveau périmètre » (the first one warms the workers)
            page.goto(served_app + "/?page=nouveau", wait_until="domcontentloaded")
            uiscan.wait_idle(page)
            _pick(page, "Communes du département", "Landes")
            uiscan.wait_idle(page)
            _pick(page, "Communes", "Tarnos")
            _answer(page, "() => document.body.innerText.includes('1\u00a0commune choisie') && "
                          "document.body.innerText.includes('Tableau de bord calculé')", 400)  # workers start
            uiscan.wait_map(page)
            uiscan.wait_idle(page)
            t0 = _pick(page, "Communes", "Ondres")
            _answer(page, "() => document.body.innerText.includes('2\u00a0communes choisies') && "
                          "document.body.innerText.includes('Tableau de bord calculé')")
            times["ajout d'une commune (Nouveau périmètre)"] = time.monotonic() - t0
            # changing the level on « Découpages »
            page.goto(served_app + "/?page=decoupages&pole=sud-aquitain", wait_until="domcontentloaded")
            uiscan.wait_map(page)
            uiscan.wait_idle(page)
            _pick(page, "Échelon", "EPCI")
            _answer(page, _map_has("Morceaux — EPCI"))
            uiscan.wait_idle(page)
            t0 = _pick(page, "Échelon", "Départements")
            _answer(page, _map_has("Morceaux — Départements"))
            times["changement d'échelon (Découpages)"] = time.monotonic() - t0
            # switching page (each page once to warm it, then timed)
            sidebar = page.locator('[data-testid="stSidebar"]')
            for title, ready in (("Sources", "() => document.body.innerText.includes('Sources et licences')"),
                                 ("Carte des pôles", _map_has("Pôles")),
                                 ("Sources", "() => document.body.innerText.includes('Sources et licences')"),
                                 ("Carte des pôles", _map_has("Pôles"))):
                t0 = time.monotonic()
                sidebar.get_by_text(title, exact=True).click()
                _answer(page, ready)
                times[f"changement de page vers « {title} »"] = time.monotonic() - t0  # the second, warm, is kept
        finally:
            browser.close()
    # the first map after a restart, the cache prepared (by the server above), served as `./dev app` does:
    # in a new browser (nothing cached), then in a browser that had opened the app before (the same
    # address: its files are in the browser's cache, as for a person reloading the page after a restart)
    port = served.free_port()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, viewport=VIEWPORT, locale="fr-FR",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = context.new_page()
            events: list[tuple[str, str]] = []  # what the page asks for, in order (its frames' requests apart)
            page.on("request", lambda r: events.append(("main" if r.frame == page.main_frame else "frame", r.url)))
            page.on("websocket", lambda ws: events.append(("websocket", ws.url)))
            for label in ("première carte après redémarrage (cache prêt, navigateur neuf)",
                          "première carte après redémarrage (cache prêt, navigateur déjà venu)"):
                t_launch = time.monotonic()
                proc, base, log = served.start(app_env_vars, tmp_path / "restart.log", launcher=("app_pages.serve",),
                                         port=port)
                times.setdefault("redémarrage : serveur prêt (données partagées préparées)", time.monotonic() - t_launch)
                try:
                    t0 = time.monotonic()
                    page.goto(base + "/", wait_until="domcontentloaded")
                    uiscan.wait_map(page, 120)
                    times[label] = time.monotonic() - t0
                    # served as `./dev app` serves it: the page is declared French (app_pages.shell), and
                    # it asks for the opening page's element code and the map's Leaflet before it
                    # connects to the server (app_pages.shell.first_run_chunks), not after its answer
                    assert page.evaluate("document.documentElement.lang") == "fr"
                    # uvicorn with the [app] extra's event loop and HTTP parser (bench/bench_serving.py)
                    assert "server event loop uvloop, HTTP parser httptools" in (tmp_path / "restart.log").read_text()
                    if label.endswith("navigateur neuf)"):
                        kinds = [k for k, _ in events]
                        connect = kinds.index("websocket")
                        early = {Path(urlsplit(u).path).name.split(".")[0] for k, u in events[:connect] if k == "main"}
                        assert {"Radio", "Multiselect", "BidiComponent"} <= early, sorted(early)
                        assert any(u.endswith("-leaflet.js") for k, u in events[:connect] if k == "main")
                    page.goto("about:blank")
                finally:
                    served.stop(proc, log)
        finally:
            context.close()
    lines = [f"{k}: {v:.2f} s" for k, v in times.items()]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n" + "\n".join(lines) + f"\n(cibles : 1 s à chaud, 2 s pour la première carte ; {os.cpu_count()} cœurs)")
    assert len(times) == 7


def test_table_menus_search_and_chart_toolbar_in_french(served_app):
    """On « Découpages »: a table's column menu, its « Statistiques » and « Format » submenus, its
    search bar and the bar chart's toolbar show Streamlit's phrases in French (app_pages.french),
    figures with « 0 (0 %) »; the chart's « Afficher les données » table holds French texts only."""
    import re

    from playwright.sync_api import sync_playwright

    english = ("Statistics", "Values", "Empty", "Distinct", "Average", "Standard deviation", "25th percentile",
               "75th percentile", "Median", "Sum", "Automatic", "Localized", "Plain", "Percent",
               "Scientific", "Accounting", "Duration", "Sort ascending", "Sort descending", "Autosize",
               "Pin column", "Hide column", "Copy column name", "Dataframe column menu", "Type to search",
               "Previous Result", "Next Result", "Close Search", "results", "Show data", "Download as PNG",
               "Copy Vega-Lite spec", "Help", "Link to heading", "Selected values", "Vega visualization")
    seen: list[tuple[str, str]] = []

    def collect(step: str) -> None:
        seen.extend((step, t) for _, t in uiscan.visible_texts(page))

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _new_page(browser)
            page.goto(served_app + "/?page=decoupages&pole=sud-aquitain&echelon=communes",
                      wait_until="domcontentloaded")
            main = page.locator('[data-testid="stMain"]')
            table = main.locator('[data-testid="stDataFrame"]').first
            table.wait_for(state="visible", timeout=400_000)  # a fresh cache: the layers are prepared first
            main.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=60_000)
            uiscan.wait_idle(page)
            table.scroll_into_view_if_needed()
            box = table.bounding_box()
            # the column menu of the first numeric column: its header's menu button, found along the header row
            menu = page.locator('[data-testid="stDataFrameColumnMenu"]')
            for dx in range(20, int(box["width"]) - 4, 10):
                page.mouse.click(box["x"] + dx, box["y"] + 18)
                try:
                    menu.wait_for(state="visible", timeout=300)
                except Exception:
                    continue
                if menu.get_by_role("menuitem").filter(has_text="Format").count():
                    break
                page.keyboard.press("Escape")
                menu.wait_for(state="hidden", timeout=2000)
            assert menu.is_visible(), "no column menu with « Format » opened"
            assert page.get_by_role("menu", name="Menu de la colonne").is_visible()
            assert menu.get_by_role("button", name="Copier le nom de la colonne").count() == 1
            for item in ("Trier par ordre croissant", "Statistiques", "Format", "Largeur automatique",
                         "Épingler la colonne", "Masquer la colonne"):
                assert menu.get_by_role("menuitem").filter(has_text=item).count() == 1, item
            collect("menu de colonne")
            menu.get_by_role("menuitem").filter(has_text="Statistiques").hover()
            stats = page.locator('[data-testid="stDataFrameStatisticsMenu"]')
            stats.get_by_text("Écart type", exact=True).wait_for(timeout=5000)
            stats_text = stats.inner_text()
            for word in ("Valeurs", "Vides", "Distinctes", "Moyenne", "Minimum", "1er quartile", "Médiane",
                         "3e quartile", "Maximum", "Somme", "0 (0\u00a0%)"):
                assert word in stats_text, (word, stats_text)
            assert not re.search(r"\d%", stats_text) and not uiscan._DECIMAL.search(stats_text), stats_text
            collect("statistiques")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "menu-statistiques.png"))
            menu.get_by_role("menuitem").filter(has_text="Format").hover()
            formats = page.locator('[data-testid="stDataFrameColumnFormattingMenu"]')
            formats.get_by_role("menuitem").filter(has_text="Automatique").wait_for(timeout=5000)
            formats_text = formats.inner_text()
            for word in ("Selon la langue du navigateur", "Brut", "Dollar", "Pourcentage", "Scientifique",
                         "Comptable", "Durée"):
                assert word in formats_text, (word, formats_text)
            collect("format")
            page.screenshot(path=str(ARTIFACTS / "menu-format.png"))
            page.keyboard.press("Escape")
            page.mouse.click(5, 5)
            menu.wait_for(state="hidden", timeout=5000)
            # the table's search bar
            table.hover()
            table.locator('[data-testid="stElementToolbarButton"] button[aria-label="Rechercher"]').click()
            page.get_by_text("Tapez pour rechercher", exact=True).wait_for(timeout=5000)
            collect("recherche")
            page.keyboard.type("zzqx")
            page.locator(".gdg-search-status").get_by_text("Aucun résultat", exact=True).wait_for(timeout=5000)
            collect("recherche sans résultat")
            page.keyboard.press("Escape")
            # the bar chart's toolbar, and its data shown as a table
            box_of_chart = main.locator('[data-testid="stElementContainer"]').filter(
                has=page.locator('[data-testid="stVegaLiteChart"]')).first
            box_of_chart.evaluate("e => e.setAttribute('data-ptce-test', 'bar-chart')")
            box_of_chart = page.locator('[data-ptce-test="bar-chart"]')
            box_of_chart.scroll_into_view_if_needed()
            box_of_chart.hover()
            show = box_of_chart.get_by_role("button", name="Afficher les données")
            show.hover()
            assert box_of_chart.get_by_role("button", name="Télécharger l'image (PNG)").count() == 1
            page.get_by_text("Afficher les données", exact=True).first.wait_for(timeout=5000)  # its tooltip
            collect("barre d'outils du graphique")
            show.click()
            shown = box_of_chart.locator('[data-testid="stDataFrame"]')
            shown.wait_for(state="visible", timeout=10_000)
            uiscan.wait_idle(page)
            headers, cells = shown.evaluate("d => [Array.from(d.querySelectorAll('th')).map(t => t.textContent), "
                                            "Array.from(d.querySelectorAll('td')).map(t => t.textContent)]")
            assert headers == ["Rang", "Unité", "Part du pôle"], headers  # no index, no raw figure
            assert cells and not [c for c in cells if uiscan._DECIMAL.search(c)], cells
            assert any(c.endswith("\u00a0%") for c in cells), cells
            collect("données du graphique")
            labels = page.evaluate("() => Array.from(document.querySelectorAll('[aria-label], [title]'))"
                                   ".flatMap(e => [e.getAttribute('aria-label'), e.getAttribute('title')])")
            assert "Lien vers ce titre" in labels and "Link to heading" not in labels
        finally:
            browser.close()
    hits = sorted({(phrase, text[:120]) for step, text in seen for phrase in english
                   if re.search(r"(?<![\w])" + re.escape(phrase) + r"(?![\w])", text)})
    assert not hits, hits
    assert not uiscan.english_hits(seen), uiscan.english_hits(seen)[:10]
