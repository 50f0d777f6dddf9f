"""Computations on what a user brings (drawn or uploaded perimeters, zone files), in worker processes.

A pathological input may crash GEOS (a segmentation fault), loop for ever (a GeoPackage
view over an endless query) or exhaust memory. None of that may take the app's server
down, nor the other sessions: such work runs in a small set of long-lived worker
processes ("slots"), each doing one task at a time under a memory cap, with a deadline.
A slot that crashes or overruns is killed and replaced; only the session that sent the
task sees a French message. Workers load the boundary layers once (at start, in the
background), so a warm answer costs a few milliseconds of transfer.

The server's own data (the poles file of the deployment, the catalogue's layers) is
computed in the server process: it is trusted and shared by every session.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ptce_geo._worker import hidden_main, lower_thread_priority, temporary_folder
from ptce_geo.errors import PtceGeoError

logger = logging.getLogger("ptce_geo.app")

__all__ = ["ComputationFailed", "WorkerSlots", "slots", "score_document", "score_upload", "score_poles",
           "zone_overlap_upload", "zone_overlap_layer"]

#: seconds a task may run before its worker is killed
TIMEOUT_S = float(os.environ.get("PTCE_GEO_WORKER_TIMEOUT", "120"))
#: address space of a worker (bytes)
MEMORY_BYTES = int(float(os.environ.get("PTCE_GEO_WORKER_MEMORY_GB", "4")) * 2**30)
#: worker processes
N_SLOTS = int(os.environ.get("PTCE_GEO_WORKERS", "2"))


class ComputationFailed(PtceGeoError):
    """A computation on a user's data crashed, overran its deadline or its memory."""


# ---------------------------------------------------------------- in the worker
_SETTINGS = ("PTCE_GEO_CATALOGUE", "PTCE_GEO_MIRROR", "PTCE_GEO_CACHE", "PTCE_GEO_POLES")


def _settings() -> dict[str, str | None]:
    """The data settings of the server, sent with each task (they may change after a worker starts)."""
    return {k: os.environ.get(k) for k in _SETTINGS}


def _call(settings: dict[str, str | None], fn: Callable, args: tuple, tmp: str | None = None) -> Any:
    """Run one task in the worker with the server's data settings (one task at a time per worker).

    ``tmp``: the task's temporary folder, made and removed by the server (a killed worker
    leaves no file behind).
    """
    for k, v in settings.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    with temporary_folder(tmp):
        return fn(*args)


def _init(memory: int) -> None:
    """Worker start: cap its memory, then load what every task reads."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ValueError, OSError):  # pragma: no cover - a platform without the limit
        logger.warning("worker memory cap of %d bytes not applied", memory)


#: how much lower the CPU priority of the workers is than the server's (``nice`` steps)
WORKER_NICENESS = 10


def at_low_priority(fn: Callable[[], Any], *, increment: int = WORKER_NICENESS) -> Any:
    """``fn()`` run in a thread of its own at a CPU priority ``increment`` steps lower; its result.

    On Linux a priority belongs to a thread: the caller's stays as it was (a process may not
    raise its priority again once lowered), so the tasks that follow run at the normal one.
    A process started by ``fn`` inherits the lowered priority (Linux gives a new process
    the priority of the thread that starts it). Elsewhere, or where not allowed, ``fn`` runs
    at the caller's priority.
    """
    out: dict[str, Any] = {}

    def run() -> None:
        lower_thread_priority(threading.get_native_id(), increment)
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = exc

    thread = threading.Thread(target=run, name="ptce_geo-low-priority", daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _warm() -> int:
    """First task of each worker: load the layers, analyse one commune, by code and drawn, and
    make the card of one.

    Loading the partition layers is not all a first analysis costs: the zones layers, the
    QPV and the per-layer arrays of the engine are built on first use. Two small analyses
    build them here, in the background, so that a user's first answer from this worker is
    as fast as the next ones.
    """
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.layers import load_layer

    cat = load_catalogue()
    for lid in cat.ids(kind="partition"):
        load_layer(lid, catalogue=cat, shared=True)
    try:
        import shapely

        communes = load_layer("communes", catalogue=cat, shared=True)
        code = str(communes["code"].iloc[0])
        square = shapely.box(*shapely.centroid(communes.geometry.iloc[0]).buffer(0.02).bounds)
        for doc in ({"type": "Feature", "geometry": None, "properties": {"id": "warm", "nom": "warm",
                                                                          "communes": [code]}},
                    {"type": "Feature", "geometry": shapely.geometry.mapping(square),
                     "properties": {"id": "warm", "nom": "warm"}}):
            _, card = score_document({"type": "FeatureCollection", "features": [doc]})
        from ptce_geo.card import pole_card

        pole_card(card, "warm", fmt="pdf")  # the card's code and fonts: a first card 1.35 s, the next 0.5 s
    except Exception:  # noqa: BLE001 - a cold worker still answers, only more slowly
        logger.warning("worker warm-up analysis failed", exc_info=True)
    return os.getpid()


def _scorecard(perims, options):
    from ptce_geo.scorecard import Scorecard

    card = Scorecard(perims, options=options)
    card.summary  # every figure the pages show, computed here, not in the server
    card.levels_table  # and the cards' per-level rows
    return card


def score_document(doc: dict, options=None):
    """Read a perimeter document (codes or drawings) and compute its Scorecard (in a worker)."""
    from ptce_geo.perimeters import read_perimeters

    perims = read_perimeters(doc)
    return perims, _scorecard(perims, options)


def score_upload(data: bytes, filename: str, options=None):
    """Read an uploaded perimeter file and compute its Scorecard (in a worker)."""
    from ptce_geo.uploads import read_perimeter_upload

    perims = read_perimeter_upload(data, filename=filename)
    note = (perims.attrs.get("upload") or {}).get("note_fr", "")
    return perims, _scorecard(perims, options), note


def score_poles(data: bytes, options=None):
    """Read a session's own poles (a CSV list or a GeoJSON) and compute their Scorecard (in a worker).

    Returns ``(n, report, card)``: the number of poles, the French problems of a CSV list
    (codes or rows it could not use), and the Scorecard.
    """
    from ptce_geo.perimeters import read_perimeters

    perims = read_perimeters(data)
    report = [p.fr for p in perims.attrs.get("csv_report", [])]
    return len(perims), report, _scorecard(perims, options)


_POLES: dict[str, Any] = {}


def _poles_of(poles_file: str | bytes, poles_stamp: str):
    from ptce_geo.perimeters import read_perimeters

    if poles_stamp not in _POLES:  # the poles, read once per worker and version
        _POLES.clear()
        _POLES[poles_stamp] = read_perimeters(poles_file)
    return _POLES[poles_stamp]


def zone_overlap_layer(poles_file: str | bytes, poles_stamp: str, layer_id: str, options):
    """Overlap a session's own poles with a zones layer of the catalogue (in a worker)."""
    from ptce_geo.zones import overlap_zones

    return overlap_zones(_poles_of(poles_file, poles_stamp), layer_id, options=options)


def zone_overlap_upload(data: bytes, filename: str, code_field: str | None, name_field: str | None,
                        poles_file: str | bytes, poles_stamp: str, options):
    """Read an uploaded zone file and overlap it with the poles (in a worker).

    ``poles_file`` is the poles file's path, or the bytes of a session's own poles (CSV or GeoJSON).
    """
    from ptce_geo.uploads import read_zone_upload
    from ptce_geo.zones import overlap_zones

    poles = _poles_of(poles_file, poles_stamp)
    zones, info = read_zone_upload(data, filename=filename, code_field=code_field, name_field=name_field)
    return overlap_zones(poles, zones, options=options), info


# ---------------------------------------------------------------- in the server
class WorkerSlots:
    """A few single-process executors; each task takes a free one, a failed one is replaced.

    Parameters
    ----------
    n : int
        Worker processes.
    timeout : float
        Default deadline of a task, seconds.
    memory : int
        Address-space cap of each worker, bytes.
    warm : bool
        Start each worker now and load its layers (in the background), at a CPU priority
        :data:`WORKER_NICENESS` steps lower than the server's for the worker's life: they
        give way to the pages being served and, on one machine, to a visitor's browser;
        analyses of visitors' data come after the pages. Else a worker starts with its
        first task, at the server's priority.
    """

    def __init__(self, n: int = N_SLOTS, *, timeout: float = TIMEOUT_S, memory: int = MEMORY_BYTES,
                 warm: bool = True) -> None:
        self.timeout, self.memory, self.warm = timeout, memory, warm
        self._free: queue.Queue[int] = queue.Queue()
        self._pools: list[ProcessPoolExecutor | None] = [None] * max(n, 1)
        self._lock = threading.Lock()
        for i in range(len(self._pools)):
            self._start(i)
            self._free.put(i)

    def _start(self, i: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock inherited from server threads
        pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init, initargs=(self.memory,))
        with hidden_main():  # the process starts here: it must not run app.py (Streamlit's __main__)
            if self.warm:  # layers loaded before the first user asks, by a process of lower priority
                at_low_priority(lambda: pool.submit(_warm))
        with self._lock:
            self._pools[i] = pool

    def _replace(self, i: int) -> None:
        with self._lock:
            pool = self._pools[i]
        if pool is not None:
            for proc in list(getattr(pool, "_processes", {}).values()):  # the task may still run: kill it
                try:
                    proc.kill()
                except Exception:  # already gone
                    pass
            pool.shutdown(wait=False, cancel_futures=True)
        self._start(i)

    def run(self, fn: Callable, *args: Any, timeout: float | None = None, what: str = "le calcul") -> Any:
        """Run ``fn(*args)`` in a worker; its result, or :class:`ComputationFailed`.

        A :class:`~ptce_geo.errors.PtceGeoError` raised by ``fn`` (a refused file, a bad
        perimeter) comes back as it is.
        """
        i = self._free.get()
        tmp = tempfile.mkdtemp(prefix="ptce_geo_task_")
        try:
            with self._lock:
                pool = self._pools[i]
            with hidden_main():  # a replaced worker's process starts with its first task
                future = pool.submit(_call, _settings(), fn, args, tmp)
            try:
                return future.result(timeout=timeout or self.timeout)
            except FutureTimeout:
                logger.warning("worker %d: %s overran %.0f s; killed and replaced", i, what, timeout or self.timeout)
                self._replace(i)
                raise ComputationFailed(
                    f"{what} took longer than {timeout or self.timeout:.0f} s and was stopped: simplify the data "
                    "(fewer vertices, fewer features).",
                    fr=f"Le calcul a dépassé {timeout or self.timeout:.0f} s et a été interrompu : simplifiez les "
                    "données (moins de sommets ou d'entités) puis réessayez.") from None
            except BrokenProcessPool:
                logger.error("worker %d died during %s (crash or memory cap); replaced", i, what)
                self._replace(i)
                raise ComputationFailed(
                    f"{what} crashed its worker process (a geometry library failure or more than "
                    f"{self.memory / 2**30:.0f} GB of memory): simplify or repair the data.",
                    fr="Le calcul a échoué sur ces données (erreur de la bibliothèque géométrique ou mémoire "
                    "insuffisante) ; l'application continue de fonctionner. Simplifiez ou réparez le fichier, "
                    "puis réessayez.") from None
            except MemoryError:
                raise ComputationFailed(
                    f"{what} needed more than {self.memory / 2**30:.0f} GB of memory: simplify the data.",
                    fr="Le calcul demande trop de mémoire : simplifiez les données puis réessayez.") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # after the task, or its killed worker
            self._free.put(i)

    def shutdown(self) -> None:
        """Stop every worker."""
        with self._lock:
            pools, self._pools = self._pools, [None] * len(self._pools)
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)


_SLOTS: WorkerSlots | None = None
_SLOTS_LOCK = threading.Lock()


def slots() -> WorkerSlots:
    """The process-wide worker slots (started on first use)."""
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            _SLOTS = WorkerSlots()
        return _SLOTS


#: seconds between the first page a visitor is served and the workers' start (see :func:`start_after_first_page`)
START_DELAY_S = 3.0
_start_armed = False  # set by the launcher
_start_timer: threading.Timer | None = None


def start_after_first_page() -> None:
    """Have the workers start :data:`START_DELAY_S` seconds after the first page run this
    process serves (:func:`page_served`), in the background.

    Started with the server, their start (a Python interpreter each, its imports, its
    layers: some 4 s on 2 cores) held the first visitor's first map back by 0.25 to 0.6 s
    on one machine, even at a lower priority; started on first use, the first analysis a
    visitor asked waited for it (4.7 s). A moment after the first page, the browser has
    drawn it, and the workers are warm before the visitor reaches « Nouveau périmètre ».
    """
    global _start_armed
    _start_armed = True


def page_served() -> None:
    """A page run ended: the first, once :func:`start_after_first_page` was called, starts
    the workers' timer; any other does nothing (a few microseconds)."""
    global _start_timer
    if not _start_armed or _start_timer is not None or _SLOTS is not None:
        return
    with _SLOTS_LOCK:
        if _start_timer is not None:
            return
        _start_timer = threading.Timer(START_DELAY_S, _start_quietly)
        _start_timer.daemon = True
        _start_timer.start()


def _start_quietly() -> None:
    try:
        slots()
    except Exception:  # noqa: BLE001 - they start on first use instead
        logger.warning("the workers could not be started ahead; they start on first use", exc_info=True)
