"""The app's worker processes: a crash, an overrun or a memory blow-up of a computation on a
user's data is one French message for that session; the server and the other tasks go on."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import shapely

from app_pages.compute import ComputationFailed, WorkerSlots, score_document, score_upload
from childtasks import keep_a_copy

pytestmark = pytest.mark.slow


@pytest.fixture()
def one_slot():
    slots = WorkerSlots(1, timeout=90, memory=2 * 2**30, warm=False)
    yield slots
    slots.shutdown()


def test_a_crashing_worker_is_replaced_and_the_next_task_runs(one_slot):
    with pytest.raises(ComputationFailed) as info:
        one_slot.run(os.abort, what="a crash")  # SIGABRT in the worker, as a GEOS crash would
    assert "l'application continue de fonctionner" in info.value.fr
    assert one_slot.run(sum, [1, 2, 3]) == 6


def test_an_overrunning_task_is_stopped_at_its_deadline(one_slot):
    t0 = time.monotonic()
    with pytest.raises(ComputationFailed) as info:
        one_slot.run(time.sleep, 30, timeout=1.5, what="an endless task")
    assert time.monotonic() - t0 < 10
    assert "interrompu" in info.value.fr
    assert one_slot.run(max, [4, 9, 2]) == 9


def test_a_task_writes_in_a_folder_of_its_own_removed_even_when_its_worker_is_killed(one_slot, tmp_path,
                                                                                      monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the server makes its temporary folders
    used = one_slot.run(keep_a_copy, 0.0)
    assert used.startswith(str(tmp_path / "ptce_geo_task_"))  # the task's folder, made by the server
    assert not list(tmp_path.iterdir())  # and removed after it
    with pytest.raises(ComputationFailed):
        one_slot.run(keep_a_copy, 60, timeout=2.0, what="an endless read")
    assert not list(tmp_path.iterdir())  # the killed worker's copy went with the task's folder
    assert one_slot.run(keep_a_copy, 0.0).startswith(str(tmp_path))  # the replaced worker too


def test_memory_beyond_the_cap_is_refused_in_the_worker(one_slot):
    with pytest.raises(ComputationFailed) as info:
        one_slot.run(bytearray, 6 * 2**30, what="a 6 GB allocation")
    assert "mémoire" in info.value.fr
    assert one_slot.run(len, "abc") == 3


def test_other_tasks_go_on_while_one_worker_crashes():
    slots = WorkerSlots(2, timeout=90, memory=2 * 2**30, warm=False)
    try:
        results, errors = [], []

        def crash():
            try:
                slots.run(os.abort)
            except ComputationFailed as exc:
                errors.append(exc)

        t = threading.Thread(target=crash)
        t.start()
        results.append(slots.run(time.sleep, 1.0))
        results.append(slots.run(sum, [2, 2]))
        t.join()
        assert results == [None, 4] and len(errors) == 1
    finally:
        slots.shutdown()


@pytest.mark.realdata
def test_the_grand_est_outline_is_scored_in_a_worker(mirror_env):
    """The drawn perimeter that crashed the server before the engine was made thread-safe."""
    from ptce_geo.layers import load_layer

    regions = load_layer("regions")
    geom = shapely.set_precision(regions.loc[regions["code"] == "44", "geometry"].iloc[0], 1e-6)
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "ge", "nom": "Grand Est"}, "geometry": json.loads(shapely.to_geojson(geom))}]}
    slots = WorkerSlots(1, timeout=300, warm=False)
    try:
        perims, card, note = slots.run(score_upload, json.dumps(doc).encode(), "grand_est.geojson")
        assert card.summary.loc[0, "typology"] == "inter-départemental"
        assert card.summary.loc[0, "n_departements"] == 10 and card.summary.loc[0, "n_regions"] == 1
        perims2, card2 = slots.run(score_document, doc)
        assert card2.summary.loc[0, "n_communes"] == card.summary.loc[0, "n_communes"] > 5000
    finally:
        slots.shutdown()


def test_at_low_priority_lowers_only_its_own_thread():
    """The warm-up's thread runs 10 steps lower (capped at 19); the caller's thread keeps its
    priority, so the worker's later tasks are not slowed; an error comes back to the caller."""
    import os
    import threading

    from app_pages.compute import WORKER_NICENESS, at_low_priority

    def mine() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = mine()
    assert at_low_priority(mine) == min(before + WORKER_NICENESS, 19)
    assert mine() == before

    def fails():
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        at_low_priority(fails)


def test_the_workers_start_a_moment_after_the_first_page_the_launcher_serves(monkeypatch):
    """Without the launcher a page run starts nothing; after ``serve.start_workers`` the first page
    run starts the workers START_DELAY_S later, once; later page runs do not start them again."""
    from app_pages import compute, serve

    started = []
    monkeypatch.setattr(compute, "slots", lambda: started.append(time.monotonic()))
    monkeypatch.setattr(compute, "START_DELAY_S", 0.3)
    monkeypatch.setattr(compute, "_start_armed", False)
    monkeypatch.setattr(compute, "_start_timer", None)
    monkeypatch.setattr(compute, "_SLOTS", None)
    compute.page_served()
    time.sleep(0.5)
    assert started == []  # `streamlit run app.py`, or the launcher's own preparation
    serve.start_workers()
    t0 = time.monotonic()
    compute.page_served()
    compute.page_served()
    assert started == []  # not at once: the visitor's browser is drawing the page
    time.sleep(0.8)
    compute.page_served()
    time.sleep(0.5)
    assert len(started) == 1 and started[0] - t0 >= 0.3


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_warm_workers_run_at_a_lower_priority_than_the_server(mirror_env):
    """Workers started warm (with the server) inherit a priority 10 steps lower, from their
    very start (their imports and layers included); the server's own priority is unchanged."""
    from app_pages.compute import WORKER_NICENESS

    before = _priority()
    slots = WorkerSlots(1, timeout=300, warm=True)
    try:
        assert slots.run(_priority) == min(before + WORKER_NICENESS, 19)
    finally:
        slots.shutdown()
    assert _priority() == before
