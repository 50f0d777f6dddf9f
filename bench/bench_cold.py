"""A cold cache: the poles' Scorecard from the mirror, with and without the child process that
builds the layers meanwhile, in one process.

Each round uses a fresh cache folder: every layer is built from the mirror's files, then the
Scorecard of the poles file (every level, QPV, programmes) is computed and stored, as the
app's first page or ``ptce-geo fetch`` do on a cold cache. The baseline builds the layers
one after the other in this process (``prepare_layers`` switched off); the other run lets
a child process build them from the end of the list while this one computes. Both must
give the same summary. Prints both times, the ratio, and the cores used. Run it on an
otherwise idle machine::

    PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml \\
    python bench/bench_cold.py

Target (issue 10): the app's first map within 15 s of a cold start; this prints the part
the library owns.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time

from ptce_geo.cache import Cache
from ptce_geo.catalogue import load_catalogue
from ptce_geo.settings import poles_path

# the modules (the package exports functions under some of these names)
layers = importlib.import_module("ptce_geo.layers")
overlay = importlib.import_module("ptce_geo.overlay")
scorecard = importlib.import_module("ptce_geo.scorecard")


def cold_run(poles, *, background: bool) -> tuple[float, object]:
    """Seconds to compute and store the Scorecard of ``poles`` from an empty cache."""
    real = layers.prepare_layers
    layers.clear_memory_cache()
    overlay._INDEXES.clear()
    if not background:
        layers.prepare_layers = lambda *args, **kwargs: None  # the layers built here, one by one
    before = os.environ.get("PTCE_GEO_CACHE")
    try:
        with tempfile.TemporaryDirectory(prefix="ptce_cold_") as tmp:
            os.environ["PTCE_GEO_CACHE"] = tmp  # every layer read from (and built into) the empty folder
            t0 = time.perf_counter()
            card = scorecard.stored_scorecard(poles, catalogue=load_catalogue(), cache=Cache(tmp))
            return time.perf_counter() - t0, card.summary
    finally:
        layers.prepare_layers = real
        if before is None:
            os.environ.pop("PTCE_GEO_CACHE", None)
        else:
            os.environ["PTCE_GEO_CACHE"] = before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poles", default=None, help="poles file (default: the settings' poles.geojson)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    poles = args.poles or poles_path()
    cores = importlib.import_module("ptce_geo.overlay").cores()
    base = [cold_run(poles, background=False) for _ in range(args.repeat)]
    fast = [cold_run(poles, background=True) for _ in range(args.repeat)]
    assert base[0][1].equals(fast[0][1]), "the two runs gave different figures"
    t_base, t_fast = min(t for t, _ in base), min(t for t, _ in fast)
    print(f"cold cache, poles Scorecard of {poles} ({len(base[0][1])} poles), {cores} cores, best of {args.repeat}")
    print(f"  layers built in this process, one by one : {t_base:6.1f} s")
    print(f"  layers built by a child process meanwhile: {t_fast:6.1f} s   ({t_base / t_fast:.2f}x)")


if __name__ == "__main__":
    main()
