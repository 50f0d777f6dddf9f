"""The engine's threads never crash the process (issue: SIGSEGV on large drawn perimeters).

GEOS prepared geometries are not thread-safe. The engine once prepared the perimeters and
shared them across its threads: a perimeter drawn as the Grand Est région crashed
``ptce-geo analyze`` in 3 runs out of 5, a file of 40 000 small squares crashed
``ptce-geo overlap`` in 6 out of 7 (reproduced on the landed code before the fix, in a
child process: exit by SIGSEGV). Each check runs in a child process and repeats the
computation 20 times, so that a crash is a failure of the test, not a lost test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("thread_stress.py")


def run_child(case: str, repeat: int, env: dict) -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), case, str(repeat)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, (
        f"child {case!r} ended with {proc.returncode}"
        + (f" (signal {-proc.returncode})" if proc.returncode < 0 else "") + f": {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture()
def child_env(mirror_env):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SCRIPT.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def test_grand_est_perimeter_against_the_communes_twenty_times(child_env):
    out = run_child("grand_est", 20, child_env)
    assert out["same"]
    assert out["pieces"] > 5000  # every commune of the région (5 118 in the mirror) and nothing lost


def test_forty_thousand_square_zones_twenty_times(child_env):
    out = run_child("squares", 20, child_env)
    assert out["same"] and out["pieces"] > 0


def test_random_perimeters_in_concurrent_threads_equal_a_single_threaded_run(child_env):
    """50 random drawn perimeters (100–2 000 vertices) × the communes and × 20 000 squares,
    three overlays at once, each threaded, 3 times: same pairs and areas as one thread."""
    out = run_child("random", 3, child_env)
    assert out["same"]
    assert 100 <= out["vertices"][0] and out["vertices"][1] <= 2001
    assert out["pairs"] > 1000 and out["zone_pairs"] > 1000
