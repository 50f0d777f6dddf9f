"""Size and build time of the national map of poles, as the app's first page draws it.

Prints the HTML size of the national map (goal: under 5 MB), the size of the script the
page runs (rendered by streamlit-folium), and the build + render time; then the same for a
baseline built in the same process from full-precision geometries (no simplification),
as ratios. Needs the boundary data::

    PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml \\
        .venv/bin/python bench/bench_map.py [--poles poles.geojson] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app_pages import assets  # noqa: E402
from ptce_geo import maps  # noqa: E402
from ptce_geo.catalogue import load_catalogue  # noqa: E402
from ptce_geo.layers import load_layer  # noqa: E402
from ptce_geo.perimeters import read_perimeters  # noqa: E402
from ptce_geo.poles import seat_points  # noqa: E402
from ptce_geo.scorecard import Scorecard  # noqa: E402
from ptce_geo.settings import poles_path  # noqa: E402

GOAL_BYTES = 5 * 1024**2


def national_map(poles: gpd.GeoDataFrame, deps: gpd.GeoDataFrame, seats: gpd.GeoDataFrame, *,
                 pole_tolerance: float, dep_tolerance: float, decimals: int):
    """The map of the « Carte des pôles » page with no pole selected."""
    m = maps.new_map()
    d = deps.set_geometry(maps.display_geometries(deps.geometry.to_numpy(), tolerance=dep_tolerance,
                                                  coverage=True, decimals=decimals))
    maps.add_outlines(m, d, name="Départements", colour="#444444", weight=0.8, tolerance=dep_tolerance,
                      label="Département")
    p = poles.set_geometry(maps.display_geometries(poles.geometry.to_numpy(), tolerance=pole_tolerance,
                                                   decimals=decimals))
    maps.add_poles(m, p, name="Pôles", tolerance=pole_tolerance)
    maps.add_seats(m, seats)
    maps.typology_legend(m)
    maps.add_attribution(m, "Contours : IGN ADMIN EXPRESS COG CARTO 2024")
    return maps.finish(m)


def measure(build, repeat: int) -> tuple[float, int, int]:
    """Best time of build + render, the full HTML size and the size of the script the page runs."""
    import logging

    import streamlit  # noqa: F401  (sets up its loggers; quiet the "bare mode" warning below)

    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").disabled = True
    from streamlit_folium import generate_leaflet_string

    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        m = build()
        html = maps.map_html(m)
        best = min(best, time.perf_counter() - t0)
    script = generate_leaflet_string(m)
    return best, len(html.encode()), len(script.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poles", default=str(poles_path()))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    assets.install(REPO / "static", url_prefix="/app/static")
    cat = load_catalogue()
    t0 = time.perf_counter()
    perims = read_perimeters(args.poles, catalogue=cat)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    card = Scorecard(perims, catalogue=cat)
    card.summary
    t_bundle = time.perf_counter() - t0
    poles = gpd.GeoDataFrame({"id": perims["id"], "nom": perims["nom"]}, geometry=perims.geometry.to_numpy(),
                             crs="EPSG:4326")
    poles["typology"] = card.summary.set_index("pole_id")["typology"].reindex(poles["id"]).to_numpy()
    deps = load_layer("departements", catalogue=cat)[["code", "nom", "geometry"]]
    seats = seat_points(perims, catalogue=cat)
    print(f"{len(perims)} poles from {args.poles}: read {t_read:.2f} s, scorecards of all levels {t_bundle:.2f} s")

    app = measure(lambda: national_map(poles, deps, seats, pole_tolerance=0.002, dep_tolerance=0.01, decimals=5),
                  args.repeat)
    base = measure(lambda: national_map(poles, deps, seats, pole_tolerance=0.0, dep_tolerance=0.0, decimals=9),
                   args.repeat)
    mb = 1024**2
    print(f"national map (app settings):   HTML {app[1] / mb:6.2f} MB, sent to the browser {app[2] / mb:6.2f} MB, "
          f"build+render {app[0]:.3f} s  -> {'under' if app[1] < GOAL_BYTES else 'OVER'} the 5 MB goal")
    print(f"baseline (full precision):     HTML {base[1] / mb:6.2f} MB, sent to the browser {base[2] / mb:6.2f} MB, "
          f"build+render {base[0]:.3f} s")
    print(f"ratios app/baseline: size {app[1] / base[1]:.3f}, time {app[0] / base[0]:.3f}")


if __name__ == "__main__":
    main()
