"""Second load (GeoParquet cache) against parsing the source GeoJSON, in one process.

For each layer of the catalogue: the time to parse its source file as the first load
does (read + normalise) and the time of a later load from the cache (GeoParquet), best of
``--repeat``; prints both and the speed-up.

Run: ``PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml
python bench/bench_cache.py``
"""

from __future__ import annotations

import argparse
import tempfile
import time

from ptce_geo.cache import Cache
from ptce_geo.catalogue import load_catalogue
from ptce_geo.layers import clear_memory_cache, load_layer


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        clear_memory_cache()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", nargs="*", default=["communes", "epci", "zones_emploi", "qpv", "crte"])
    args = parser.parse_args()
    cat = load_catalogue()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(tmp)
        load_layer("communes", catalogue=cat, cache=cache)  # dissolved layers need it cached
        print(f"{'layer':<16}{'rows':>8}{'parse source (s)':>18}{'cached load (s)':>17}{'speed-up':>10}")
        for lid in args.layers:
            def first_load():  # parse and normalise from the source file
                load_layer(lid, catalogue=cat, cache=cache, refresh=True)
            cold = best(first_load, args.repeat)
            warm = best(lambda: load_layer(lid, catalogue=cat, cache=cache), args.repeat)
            rows = len(load_layer(lid, catalogue=cat, cache=cache))
            print(f"{lid:<16}{rows:>8}{cold:>18.3f}{warm:>17.3f}{cold / warm:>9.1f}x")


if __name__ == "__main__":
    main()
