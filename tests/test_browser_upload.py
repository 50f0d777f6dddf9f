"""A large drawn perimeter uploaded in a real browser: its scorecard comes back, the server stays up.

Uploading the outline of the Grand Est région on « Nouveau périmètre » used to kill the
Streamlit server (a GEOS crash in the overlay's threads) in 5 starts out of 6, losing every
open session. Computations on uploads now run in worker processes; this test uploads the
file, waits for its scorecard, then checks that the server still answers and that a second
page still works.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import shapely

from test_browser import CHROMIUM, _leaflet_frame, app_env_vars, served_app  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.realdata, pytest.mark.timeout(400)]


def test_grand_est_upload_gets_its_scorecard_and_the_server_stays_up(served_app, mirror_env, tmp_path):
    from playwright.sync_api import sync_playwright

    from ptce_geo.layers import load_layer

    regions = load_layer("regions")
    geom = shapely.set_precision(regions.loc[regions["code"] == "44", "geometry"].iloc[0], 1e-6)
    path = tmp_path / "grand_est.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": json.loads(shapely.to_geojson(geom))}]}))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR").new_page()
            page.goto(served_app + "/?page=nouveau", wait_until="domcontentloaded")
            page.get_by_text("Téléverser un fichier").click()
            t0 = time.monotonic()
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
            page.get_by_text("Inter-départemental").first.wait_for(timeout=300_000)
            took = time.monotonic() - t0
            # the server is up and serves another page
            with urllib.request.urlopen(served_app + "/_stcore/health", timeout=5) as r:
                assert r.status == 200
            page.goto(served_app + "/", wait_until="domcontentloaded")
            _leaflet_frame(page)
        finally:
            browser.close()
    print(f"\nGrand Est outline uploaded and scored in {took:.1f} s; server still up")
