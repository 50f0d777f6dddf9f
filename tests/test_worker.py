"""The worker process: a timeout, a memory cap, a crash that never kills the caller."""

from __future__ import annotations

import ctypes
import os
import threading
import time

import geopandas as gpd
import pytest
import shapely

from childtasks import keep_a_copy
from ptce_geo._worker import WorkerCrashed, WorkerFailed, WorkerMemoryError, WorkerTimeout, run
from ptce_geo.errors import PtceGeoError, UploadRejected


# the functions run in the child: module level, so they are pickled by reference
def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _allocate(n: int) -> int:
    return len(bytearray(n))


def _crash() -> None:
    ctypes.string_at(0)  # SIGSEGV


def _abort() -> None:
    os.abort()


def _refuse() -> None:
    raise UploadRejected("zones.zip: refused", fr="zones.zip : refusé")


def _bug() -> None:
    raise KeyError("oops")


def _table(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [str(i) for i in range(n)]},
                            geometry=[shapely.box(i, 0, i + 1, 1) for i in range(n)], crs=4326)


def _env(name: str) -> str | None:
    return os.environ.get(name)


def test_the_result_comes_back():
    out = run(_table, args=(3,))
    assert list(out["code"]) == ["0", "1", "2"] and out.crs.to_epsg() == 4326
    assert out.geometry.iloc[2].equals(shapely.box(2, 0, 3, 1))


def test_a_child_killed_at_its_timeout_leaves_no_temporary_file(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where this process makes its temporary folders
    used = run(keep_a_copy, args=(0.0,))
    assert used.startswith(str(tmp_path / "ptce_geo_worker_"))  # the child's folder, made by the parent
    assert not list(tmp_path.iterdir())  # and removed with the child
    with pytest.raises(WorkerTimeout):
        run(keep_a_copy, args=(60,), timeout=1.5)
    assert not list(tmp_path.iterdir())  # the copy of the killed child went with its folder


def test_a_long_call_is_stopped_at_its_timeout():
    start = time.monotonic()
    with pytest.raises(WorkerTimeout) as err:
        run(_sleep, args=(60,), timeout=1.0, label=("reading x.gpkg", "la lecture de x.gpkg"))
    assert time.monotonic() - start < 10
    assert "Reading x.gpkg took longer than 1 s" in str(err.value)
    assert err.value.fr.startswith("La lecture de x.gpkg a duré plus de 1 s")


def test_memory_beyond_the_cap_fails_in_the_child_only():
    with pytest.raises(WorkerMemoryError) as err:
        run(_allocate, args=(1 << 30,), memory=200 << 20)
    assert "200 MB" in str(err.value) and "200 Mo" in err.value.fr
    assert run(_allocate, args=(50 << 20,), memory=200 << 20) == 50 << 20


@pytest.mark.parametrize("fn, name", [(_crash, "SIGSEGV"), (_abort, "SIGABRT")])
def test_a_crash_of_the_child_is_an_error_of_the_call(fn, name):
    with pytest.raises(WorkerCrashed, match=name):
        run(fn, label=("computing the overlay", "le calcul du découpage"))
    assert run(_sleep, args=(0,)) == 0  # and the caller goes on


def test_errors_of_the_function_keep_their_class_and_french_text():
    with pytest.raises(UploadRejected) as err:
        run(_refuse)
    assert str(err.value) == "zones.zip: refused" and err.value.fr == "zones.zip : refusé"
    with pytest.raises(WorkerFailed) as err:
        run(_bug)
    assert "KeyError" in str(err.value) and isinstance(err.value, PtceGeoError)


def test_the_child_sees_the_callers_data_settings(monkeypatch):
    monkeypatch.setenv("PTCE_GEO_CACHE", "/somewhere/cache")
    assert run(_env, args=("PTCE_GEO_CACHE",)) == "/somewhere/cache"
    monkeypatch.delenv("PTCE_GEO_CACHE")
    assert run(_env, args=("PTCE_GEO_CACHE",)) is None


def test_calls_from_several_threads_run_side_by_side():
    """A server's threads (the app's sessions) each run their own child; one stuck call blocks no other."""
    results: dict[str, object] = {}

    def call(name: str, seconds: float, timeout: float) -> None:
        try:
            results[name] = run(_sleep, args=(seconds,), timeout=timeout)
        except PtceGeoError as exc:
            results[name] = type(exc).__name__

    stuck = threading.Thread(target=call, args=("stuck", 120, 40))
    stuck.start()
    time.sleep(0.5)
    quick = [threading.Thread(target=call, args=(f"q{i}", 0.1, 30)) for i in range(3)]
    for t in quick:  # (generous limits: the machine running the tests may be loaded)
        t.start()
    for t in quick:
        t.join(35)
    assert stuck.is_alive() and "stuck" not in results  # the quick calls ended while it ran
    assert [results[f"q{i}"] for i in range(3)] == [0.1, 0.1, 0.1]
    stuck.join(60)
    assert results["stuck"] == "WorkerTimeout"


def test_children_do_not_run_the_callers_main_script(tmp_path, monkeypatch):
    """Under Streamlit ``__main__`` is the app's script: a spawned child would run it first."""
    import multiprocessing
    import sys
    import types

    from ptce_geo._worker import hidden_main

    marker = tmp_path / "ran"
    script = tmp_path / "app_script.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n", "utf-8")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    ctx = multiprocessing.get_context("spawn")

    def child(hide: bool) -> None:
        proc = ctx.Process(target=os.getpid)
        if hide:
            with hidden_main():
                proc.start()
        else:
            proc.start()
        proc.join(60)
        assert proc.exitcode == 0

    child(hide=True)
    assert not marker.exists()
    assert sys.modules["__main__"] is fake  # put back
    child(hide=False)  # the same start without the guard runs the script: what the guard prevents
    assert marker.exists()


def test_a_child_stopped_with_sigterm_stops_even_when_its_caller_handles_sigterm():
    """A forked child does not run the caller's Python SIGTERM handler (``serve --prepare-cache``
    exits on SIGTERM): stopping it is a crash of the call, not an exception inside the task."""
    import signal
    import sys

    from ptce_geo._worker import start

    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:  # from a single-threaded caller (as here), the child is a fork: it inherited the handler
        call = start(time.sleep, args=(30,), memory=None)
        time.sleep(0.5)
        call._proc.terminate()
        with pytest.raises(WorkerCrashed, match="SIGTERM"):
            call.result(10)
    finally:
        signal.signal(signal.SIGTERM, previous)
