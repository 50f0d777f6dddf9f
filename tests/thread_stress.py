"""Run the overlay engine's threaded paths many times in this process (for test_threads.py).

Run as a script in a child process, so that a crash of GEOS (a segmentation fault or an
abort) is seen by the test as a signal, not as a lost test run. Prints one JSON line of
results on success.

Usage: ``python tests/thread_stress.py CASE REPEAT`` with CASE one of ``grand_est``,
``squares``, ``random``.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import shapely

from ptce_geo.catalogue import load_catalogue
from ptce_geo.layers import load_layer
from ptce_geo.overlay import _layer_index, geometric_pairs, overlay
from ptce_geo.zones import overlap_zones


def grand_est() -> gpd.GeoDataFrame:
    """The outline of the Grand Est région, rounded to 1e-6° (678 vertices), as a drawn perimeter."""
    regions = load_layer("regions")
    geom = shapely.set_precision(regions.loc[regions["code"] == "44", "geometry"].iloc[0], 1e-6)
    return gpd.GeoDataFrame({"id": ["ge"], "nom": ["Grand Est"], "definition": ["geometry"]},
                            geometry=[geom], crs="EPSG:4326")


def squares(n: int) -> gpd.GeoDataFrame:
    """``n`` squares of 0.0003° side on a 400-per-row grid from (−1.6, 47.15), near Nantes."""
    k = np.arange(n)
    x0, y0 = -1.6 + (k % 400) * 0.0003, 47.15 + (k // 400) * 0.0003
    return gpd.GeoDataFrame({"code": [f"Z{i}" for i in k], "nom": [f"Z{i}" for i in k]},
                            geometry=shapely.box(x0, y0, x0 + 0.0003, y0 + 0.0003), crs="EPSG:4326")


def random_perimeters(n: int, seed: int = 11) -> gpd.GeoDataFrame:
    """``n`` star-shaped polygons of 100 to 2 000 vertices over mainland France."""
    rng = np.random.default_rng(seed)
    geoms = []
    for _ in range(n):
        m = int(rng.integers(100, 2001))
        near_nantes = rng.random() < 0.2  # over the grid of squares
        cx, cy = (-1.54, 47.157) if near_nantes else (rng.uniform(-1.0, 6.5), rng.uniform(43.5, 49.5))
        angle = np.sort(rng.uniform(0, 2 * np.pi, m))
        radius = (rng.uniform(0.005, 0.02) if near_nantes else rng.uniform(0.05, 0.3)) * (
            1 + 0.15 * rng.standard_normal(m).clip(-2, 2))
        ring = np.c_[cx + radius.clip(0.01) * np.cos(angle), cy + radius.clip(0.01) * np.sin(angle)]
        geoms.append(shapely.make_valid(shapely.Polygon(ring)))
    geoms = [shapely.get_parts(g)[np.argmax(shapely.area(shapely.get_parts(g)))] if g.geom_type != "Polygon"
             else g for g in geoms]
    return gpd.GeoDataFrame({"id": [f"r{i:02d}" for i in range(n)], "definition": "geometry"},
                            geometry=geoms, crs="EPSG:4326")


def _pairs_key(perims, units, workers):
    pi, ui, geoms, _ = geometric_pairs(perims, units, workers=workers)
    order = np.lexsort((ui, pi))
    return pi[order], ui[order], shapely.area(geoms[order])


def main(case: str, repeat: int) -> dict:
    cat = load_catalogue()
    out: dict = {"case": case, "repeat": repeat}
    if case == "grand_est":
        per = grand_est()
        totals = [overlay(per, "communes", catalogue=cat).pieces["area_m2"].sum() for _ in range(repeat)]
        out.update(pieces=int(len(overlay(per, "communes", catalogue=cat).pieces)), area=totals[0],
                   same=bool(np.ptp(totals) == 0))
    elif case == "squares":
        from ptce_geo.perimeters import read_perimeters
        from ptce_geo.settings import DEFAULT_POLES

        poles = read_perimeters(DEFAULT_POLES, catalogue=cat)
        zones = squares(40_000)
        counts = [len(overlap_zones(poles, zones, catalogue=cat).pieces) for _ in range(repeat)]
        out.update(pieces=counts[0], same=len(set(counts)) == 1)
    elif case == "random":
        perims = random_perimeters(50)
        communes = _layer_index(load_layer("communes", catalogue=cat))
        units = communes.geoms[communes.polygonal]
        ref = _pairs_key(perims.geometry.to_numpy(), units, 1)
        zones = squares(20_000).geometry.to_numpy()
        zref = _pairs_key(perims.geometry.to_numpy(), zones, 1)
        same = True
        # several threads at once on the same shared inputs, each itself threaded
        with ThreadPoolExecutor(3) as pool:
            for _ in range(repeat):
                got = list(pool.map(lambda u: _pairs_key(perims.geometry.to_numpy(), u, None),
                                    [units, zones, units]))
                for g, r in zip(got, (ref, zref, ref)):
                    same &= all(np.array_equal(a, b) for a, b in zip(g[:2], r[:2]))
                    same &= bool(np.allclose(g[2], r[2], rtol=1e-12, atol=0))
        out.update(pairs=int(len(ref[0])), zone_pairs=int(len(zref[0])), same=bool(same),
                   vertices=[int(v) for v in (shapely.get_num_coordinates(perims.geometry.to_numpy()).min(),
                                              shapely.get_num_coordinates(perims.geometry.to_numpy()).max())])
    else:
        raise SystemExit(f"unknown case {case!r}")
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
