"""Engine versus geopandas.overlay on national inputs, in one process.

Four sets of perimeters against the communes of the mirror:

* 300 perimeters drawn independently of the communes (a third discs of 5 to 40 km
  radius, two thirds unions of two to six neighbouring EPCI with an outline moved by up
  to 800 m), spread over mainland France;
* the same unions traced on the communes' own outline;
* the same, given by their commune codes (the engine's exact path);
* the mainland zones d'emploi buffered by 2 km and simplified at 200 m in EPSG:3035,
  then back to lon/lat (287 perimeters × the 34 806 mainland communes).

Both methods must give the same pieces (same pairs, areas equal to 1e-9 relative); the
script prints the time of each (geopandas.overlay plus the areas of its pieces, which
the engine's table carries), the speed ratio against the target (≥ 3×) and the number
of cores the process may use. Run it on an otherwise idle machine.

Run: ``PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml
python bench/bench_overlay.py [--n 300] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely

from ptce_geo.layers import load_layer
from ptce_geo.overlay import cores, overlay
from ptce_geo.projection import area_m2

TARGET = 3.0


def make_perimeters(n: int, seed: int = 7, *, traced: bool = False) -> gpd.GeoDataFrame:
    """A third discs, two thirds unions of neighbouring EPCI (geometric perimeters).

    With ``traced``, the EPCI unions keep the communes' exact outline (a perimeter drawn
    on the communes, as an export from QGIS would be) and carry their commune codes, so
    the same perimeters can also run by codes.
    """
    rng = np.random.default_rng(seed)
    communes = load_layer("communes")
    epci = load_layer("epci")
    metro = epci[epci["code"].isin(communes.loc[~communes["dep"].str.startswith("97"), "epci"])]
    metro3035 = metro.to_crs(3035)
    geoms, codes = [], []
    centres = metro3035.geometry.representative_point().to_numpy()
    tree = shapely.STRtree(metro3035.geometry.to_numpy())
    for i in range(n):
        if i % 3 == 0:
            c = centres[rng.integers(len(centres))]
            disc = shapely.buffer(c, rng.uniform(5_000, 40_000), quad_segs=16)
            geoms.append(disc)
            codes.append(None)
        else:
            seed_idx = rng.integers(len(metro3035))
            near = tree.query(metro3035.geometry.iloc[seed_idx], predicate="touches")
            pick = [seed_idx, *rng.choice(near, size=min(len(near), rng.integers(1, 6)), replace=False)]
            union = shapely.union_all(metro3035.geometry.to_numpy()[pick])
            sirens = metro["code"].to_numpy()[pick]
            codes.append(tuple(sorted(communes.loc[communes["epci"].isin(sirens), "code"])))
            geoms.append(union if traced else shapely.buffer(union, rng.uniform(-800, 800), quad_segs=2))
    out = gpd.GeoDataFrame({"id": [f"p{i:03d}" for i in range(n)], "definition": "geometry",
                            "communes": codes}, geometry=geoms, crs=3035).to_crs(4326)
    if traced:  # exactly the communes' own vertices, as unions computed in lon/lat
        cgeom = communes.set_index("code").geometry
        out.loc[out["communes"].notna(), "geometry"] = [
            shapely.coverage_union_all(cgeom.loc[list(c)].to_numpy()) for c in out["communes"].dropna()]
    return out


def buffered_zones_emploi() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Mainland zones d'emploi buffered by 2 km, simplified at 200 m (EPSG:3035), and the mainland communes."""
    communes = load_layer("communes")
    metro = communes[~communes["dep"].astype(str).str.startswith("97")].reset_index(drop=True)
    metro.attrs = {"kind": "partition", "layer": "communes_metropole"}
    ze = load_layer("zones_emploi")
    ze = ze[ze["code"].isin(set(metro["ze"].dropna()))]
    geoms = ze.to_crs(3035).geometry.buffer(2000).simplify(200).to_crs(4326)
    perims = gpd.GeoDataFrame({"id": ze["code"].to_numpy(), "definition": "geometry"},
                              geometry=geoms.to_numpy(), crs=4326)
    return perims, metro


def run(n: int, repeat: int, *, traced: bool = False, codes: bool = False, zones_emploi: bool = False) -> float:
    if zones_emploi:
        perims, communes = buffered_zones_emploi()
        layer = communes
        label = "mainland zones d'emploi buffered by 2 km (simplified at 200 m)"
    else:
        communes = load_layer("communes")
        layer = "communes"
        perims = make_perimeters(n, traced=traced or codes)
        if codes:
            perims["definition"] = np.where(perims["communes"].notna(), "codes", "geometry")
        label = "by codes (EPCI unions) and geometry (discs)" if codes else (
            "traced on the communes" if traced else "drawn independently of the communes")
    print(f"\n== perimeters {label}")
    print(f"inputs: {len(perims)} perimeters x {len(communes)} communes "
          f"({shapely.get_num_coordinates(perims.geometry.values).sum()} + "
          f"{shapely.get_num_coordinates(communes.geometry.values).sum()} vertices)")
    t_engine, t_overlay = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ov = overlay(perims, layer)
        t_engine.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = gpd.overlay(perims[["id", "geometry"]], communes[["code", "geometry"]],
                          how="intersection", keep_geom_type=True)
        ref["area"] = area_m2(ref.geometry.to_numpy())  # the engine's pieces carry areas too
        t_overlay.append(time.perf_counter() - t0)
    # same pieces: same (perimeter, commune) pairs with area, same areas
    ref = ref[ref["area"] > 0].groupby(["id", "code"])["area"].sum()
    mine = ov.pieces.groupby(["pole_id", "unit_code"])["area_m2"].sum()
    mine.index.names = ["id", "code"]
    common = mine.index.intersection(ref.index)
    only_mine, only_ref = mine.index.difference(ref.index), ref.index.difference(mine.index)
    rel = (mine.loc[common] - ref.loc[common]).abs() / ref.loc[common]
    print(f"pieces: engine {len(mine)}, geopandas.overlay {len(ref)}, common {len(common)}, "
          f"only engine {len(only_mine)} (area {mine.loc[only_mine].sum():.3g} m2), "
          f"only overlay {len(only_ref)} (area {ref.loc[only_ref].sum():.3g} m2)")
    print(f"max relative area difference on common pieces: {rel.max():.2e}")
    te, to = min(t_engine), min(t_overlay)
    print(f"engine {te:.2f} s, geopandas.overlay {to:.2f} s (best of {repeat}, {cores()} core(s) available)")
    print(f"speed-up: {to / te:.1f}x (target >= {TARGET:.0f}x: {'met' if to / te >= TARGET else 'NOT met'})")
    return to / te


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import os

    print(f"cores available to this process: {cores()} (machine: {os.cpu_count()}); load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} (run on an otherwise idle machine)")
    ratios = [run(args.n, args.repeat), run(args.n, args.repeat, traced=True),
              run(args.n, args.repeat, codes=True), run(args.n, args.repeat, zones_emploi=True)]
    print("\nspeed-up over geopandas.overlay ({} cores): drawn {:.1f}x, traced {:.1f}x, by codes {:.1f}x, "
          "buffered zones d'emploi {:.1f}x (target {:.0f}x)".format(cores(), *ratios, TARGET))
