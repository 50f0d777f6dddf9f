"""Overlap of the 29 poles with every zones layer: membership path versus geometry path.

Both paths run in one process on the same poles (given by their COG 2024 communes) and the
same layers, already loaded:

* **membership** — ``overlap_zones(poles, layer_id)``: poles by codes meet zones whose
  members resolve into communes on their shared communes (sums, no geometry); zones
  known only by outline (QPV, PNR, contracts whose members cannot all be resolved) take
  the geometry path as usual;
* **geometry** — the same zones handed over as a table (``overlap_zones(poles, table)``):
  every zone is then known by its outline and every pair is intersected.

The script prints, per layer and in total, the time of each path (best of ``--repeat``),
the ratio, the rows each path finds and how many of them are counted (real overlaps), so
the slivers the geometry path makes are visible; and how many cores the machine has (the
geometry path clips in threads, the membership path is single-threaded). No figure is
asserted: the lead runs it on an idle machine.

Run: ``PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml
python bench/bench_zones.py [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import time

from ptce_geo.catalogue import load_catalogue
from ptce_geo.layers import load_layer, zone_members
from ptce_geo.options import Options
from ptce_geo.perimeters import read_perimeters
from ptce_geo.settings import DEFAULT_POLES
from ptce_geo.zones import overlap_zones


def _best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poles", default=str(DEFAULT_POLES))
    args = parser.parse_args()
    cat = load_catalogue()
    poles = read_perimeters(args.poles, catalogue=cat)
    by_codes = int((poles["definition"] == "codes").sum())
    options = Options()
    print(f"cores: {os.cpu_count()} (the geometry path clips in threads; the membership path uses one)")
    print(f"poles: {len(poles)} ({by_codes} given by codes), catalogue {cat.name}, options {options}")
    load_layer("communes", catalogue=cat)
    header = (f"{'layer':32} {'zones':>6} {'by members':>10} {'membership s':>13} {'geometry s':>11} {'ratio':>7}"
              f"  rows m/g  counted m/g")
    print(header)
    total_m = total_g = 0.0
    for lid in cat.ids(kind="zones"):
        table = load_layer(lid, catalogue=cat)
        members = zone_members(lid, catalogue=cat)
        n_members = len(members.complete) if members is not None else 0
        outline = table.copy()
        outline.attrs = {"layer": lid}  # a table: no members, every zone by its outline
        overlap_zones(poles, lid, catalogue=cat, options=options)  # warm the memoised members
        t_m, res_m = _best(lambda: overlap_zones(poles, lid, catalogue=cat, options=options), args.repeat)
        t_g, res_g = _best(lambda: overlap_zones(poles, outline, catalogue=cat, options=options), args.repeat)
        total_m += t_m
        total_g += t_g
        ratio = t_g / t_m if t_m > 0 else float("nan")
        print(f"{lid:32} {len(table):6d} {n_members:10d} {t_m:13.3f} {t_g:11.3f} {ratio:7.1f}"
              f"  {len(res_m.table):4d}/{len(res_g.table):<4d} {int(res_m.table['counted'].sum()):4d}/"
              f"{int(res_g.table['counted'].sum()):<4d}")
    print(f"{'all zones layers':32} {'':6} {'':10} {total_m:13.3f} {total_g:11.3f} {total_g / total_m:7.1f}")
    print("ratio = geometry time / membership time (best of each); layers without members run the "
          "geometry path both ways (ratio ≈ 1)")


if __name__ == "__main__":
    main()
