"""Run one function in a child process, with a wall-clock timeout and a memory cap.

Hostile or merely huge inputs (a GeoPackage whose layer is a view over an endless
recursive query, a file that inflates to gigabytes, a geometry that crashes GEOS) must
never hang, exhaust or kill the process that serves everybody (the app's server, a
long command). :func:`run` calls a function in a child process and returns its result,
or raises a :class:`WorkerError` (a :class:`~ptce_geo.errors.PtceGeoError`) with a
clear English message and its French ``fr``:

* the child is killed when ``timeout`` seconds pass (:class:`WorkerTimeout`);
* its address space is capped at its size at start plus ``memory`` bytes
  (``resource.setrlimit(RLIMIT_AS)`` in the child): an allocation beyond it fails in the
  child only (:class:`WorkerMemoryError`);
* a crash of the child (a signal: SIGSEGV, SIGABRT, SIGKILL by the kernel) is an error of
  the call (:class:`WorkerCrashed`), never the parent's death;
* a :class:`~ptce_geo.errors.PtceGeoError` raised by the function is raised again in the
  parent, same class, same English and French messages; any other exception becomes a
  :class:`WorkerFailed` naming it (its traceback is logged).

Usage::

    from ptce_geo._worker import run, WorkerError

    try:
        result = run(compute, args=(perimeters,), kwargs={"level": "epci"},
                     timeout=60, memory=2 * 2**30,
                     label=("computing the overlay", "le calcul du découpage"))
    except WorkerError as exc:      # timeout, memory, crash, or a bug in compute
        show(exc.fr)

Rules for the function: it is picklable by reference (defined at module level), and its
arguments and result are picklable (GeoDataFrames are). The child does not share the
parent's memory caches: it starts from a fresh, preloaded interpreter.

How the child starts: a parent with a single Python thread (the command line) forks:
the child is a copy, ready at once. A parent with several threads (the app's server) is
never forked, since the child could inherit a lock held by another thread: the child
comes from a *fork server*, a clean process started once (on first use) that has
already imported :data:`PRELOAD` (geopandas, GDAL, ptce_geo), so each call still starts
in milliseconds. Elsewhere than Linux, ``spawn`` (slower: each call imports the
libraries). Environment variables ``PTCE_GEO_*`` of the parent at the time of the call
are given to the child (the fork server keeps those of its start). As with any use of
:mod:`multiprocessing` by the fork server or ``spawn``, a script that calls this from
its top level must guard it with ``if __name__ == "__main__":`` (the console scripts,
Streamlit and pytest do). The memory cap needs Unix; elsewhere only the timeout holds.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import PtceGeoError

__all__ = ["run", "start", "Started", "hidden_main", "PRELOAD", "DEFAULT_TIMEOUT", "DEFAULT_MEMORY", "WorkerError", "WorkerTimeout",
           "WorkerMemoryError", "WorkerCrashed", "WorkerFailed"]

logger = logging.getLogger(__name__)

#: modules the fork server imports once, so that children start ready
PRELOAD = ["ptce_geo", "ptce_geo.uploads"]
DEFAULT_TIMEOUT = 60.0
#: bytes of address space a child may add to what it has at start
DEFAULT_MEMORY = 2 * 1024**3
_EXIT_MEMORY = 86  # exit code of a child whose MemoryError could not even be reported

_CONTEXT = None
_CONTEXT_LOCK = threading.Lock()


class WorkerError(PtceGeoError):
    """A function run by :func:`run` did not give a result."""


class WorkerTimeout(WorkerError):
    """The function ran longer than its timeout; its process was killed."""


class WorkerMemoryError(WorkerError):
    """The function needed more memory than its cap."""


class WorkerCrashed(WorkerError):
    """The child process died (a signal) before giving a result."""


class WorkerFailed(WorkerError):
    """The function raised an exception that is not a :class:`PtceGeoError` (a bug)."""


def _single_threaded() -> bool:
    """True when this process runs one Python thread, so that forking it is safe.

    Native thread pools (OpenBLAS, started by numpy) guard themselves across fork with
    ``pthread_atfork``; Python threads (a server's) could hold a lock the child inherits.
    """
    return threading.active_count() == 1


def _context():
    global _CONTEXT
    if _single_threaded() and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(list(PRELOAD))
            else:  # pragma: no cover - Windows, macOS without forkserver
                ctx = multiprocessing.get_context("spawn")
            _CONTEXT = ctx
        return _CONTEXT


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def hidden_main() -> Iterator[None]:
    """Start child processes in this block without their importing the caller's main script.

    A child made by the fork server or by ``spawn`` first imports the parent's
    ``__main__`` again, by name or by file. Under Streamlit that module is the app's own
    script (Streamlit installs it as ``__main__`` for each run): every child would run
    the whole app, headless, before its task. The functions given to children live in
    importable modules, so none needs the main script; the block shows the children a
    main module without a name or a file, and puts the real one back after.
    """
    with _MAIN_LOCK:
        real = sys.modules.get("__main__")
        stand_in = types.ModuleType("__main__")
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            if sys.modules.get("__main__") is stand_in:  # a script run may have installed its own meanwhile
                if real is None:
                    del sys.modules["__main__"]
                else:
                    sys.modules["__main__"] = real


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _limit_memory(extra: int | None) -> None:
    if not extra:
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    base = _address_space()
    if base is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = base + int(extra)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


@contextlib.contextmanager
def temporary_folder(path: str | None) -> Iterator[None]:
    """Within it, this process makes its temporary files in ``path`` (``None``: where it did).

    ``path`` is a folder the parent process made and removes when the task ends, killed or
    not: a child stopped at its deadline leaves no file behind (an upload's copy).
    ``tempfile`` caches its folder, and a forked child inherits the cache: both it and
    ``TMPDIR`` are set, then restored.
    """
    if path is None:
        yield
        return
    previous, previous_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = path
    try:
        yield
    finally:
        tempfile.tempdir = previous
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env


def lower_thread_priority(tid: int, increment: int) -> None:
    """Lower the CPU priority of the thread ``tid`` (Linux: a priority belongs to a thread) by
    ``increment`` ``nice`` steps, at most to 19; a no-op where not allowed or not supported.

    A process started by that thread afterwards inherits the lowered priority.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + increment, 19))
    except (OSError, AttributeError):  # not on this system, a thread gone meanwhile, or not allowed
        pass


def _child(conn, fn: Callable, args: tuple, kwargs: dict, memory: int | None, env: dict[str, str | None],
           tmp: str | None = None) -> None:
    """Body of the child process: apply the environment and the cap, run, send the outcome.

    ``tmp``: the child's temporary folder, made and removed by the parent (a killed child
    leaves no file behind).
    """
    import faulthandler

    faulthandler.disable()  # a crash is reported by the parent, without the copied stack of the caller
    # a forked child inherits the caller's Python signal handlers: stopped, it stops, as any child
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        _limit_memory(memory)
        with temporary_folder(tmp):
            result = fn(*args, **kwargs)
        outcome: tuple = ("ok", result)
    except MemoryError:
        outcome = ("memory",)
    except PtceGeoError as exc:
        cls = type(exc)
        outcome = ("ptce", cls.__module__, cls.__qualname__, exc.message, exc.fr)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        outcome = ("exc", f"{type(exc).__name__}: {exc}"[:500], traceback.format_exc())
    try:
        conn.send(outcome)
    except MemoryError:
        os._exit(_EXIT_MEMORY)
    except Exception as exc:  # an unpicklable result or exception
        try:
            conn.send(("exc", f"the result cannot be sent back ({type(exc).__name__}: {exc})"[:500], ""))
        except Exception:
            os._exit(1)
    finally:
        conn.close()


def _rebuild(module: str, qualname: str, message: str, fr: str) -> PtceGeoError:
    """The parent's copy of an error of the child (classes of ptce_geo only)."""
    cls: Any = PtceGeoError
    if module == "ptce_geo" or module.startswith("ptce_geo."):
        import importlib

        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            if isinstance(obj, type) and issubclass(obj, PtceGeoError):
                cls = obj
        except (ImportError, AttributeError):
            pass
    try:
        return cls(message, fr=fr)
    except TypeError:  # a subclass with another signature
        return PtceGeoError(message, fr=fr)


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run(fn: Callable, *, args: tuple = (), kwargs: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT, memory: int | None = DEFAULT_MEMORY,
        label: tuple[str, str] = ("the task", "la tâche")) -> Any:
    """Call ``fn(*args, **kwargs)`` in a child process, bounded in time and memory.

    Parameters
    ----------
    fn : callable
        A module-level function (pickled by reference).
    args, kwargs
        Its arguments (pickled).
    timeout : float
        Wall-clock seconds before the child is killed.
    memory : int or None
        Bytes of address space the child may add to its size at start (``None``: no cap).
    label : (str, str)
        What the call does, in English and in French, for messages (``("reading
        zones.gpkg", "la lecture de zones.gpkg")``).

    Returns
    -------
    The function's result.

    Raises
    ------
    WorkerTimeout, WorkerMemoryError, WorkerCrashed, WorkerFailed
        See the module docstring; each has an English message and a French ``fr``.
    PtceGeoError
        The function's own error, raised again.
    """
    return start(fn, args=args, kwargs=kwargs, memory=memory, label=label).result(timeout)


def start(fn: Callable, *, args: tuple = (), kwargs: Mapping[str, Any] | None = None,
          memory: int | None = DEFAULT_MEMORY, label: tuple[str, str] = ("the task", "la tâche")) -> Started:
    """Start ``fn(*args, **kwargs)`` in a child process now; :meth:`Started.result` waits for it.

    The child is created in the calling thread: from a single-threaded caller it is a
    fork, which does not import the caller's main script again (a script without an
    ``if __name__ == "__main__":`` guard stays safe); the wait may then happen in
    another thread. Parameters are those of :func:`run`.
    """
    ctx = _context()
    env = {k: v for k, v in os.environ.items() if k.startswith("PTCE_GEO_")}
    env.update({k: None for k in ("PTCE_GEO_MIRROR", "PTCE_GEO_CATALOGUE", "PTCE_GEO_CACHE") if k not in env})
    receiver, sender = ctx.Pipe(duplex=False)
    tmp = tempfile.mkdtemp(prefix="ptce_geo_worker_")
    proc = ctx.Process(target=_child, args=(sender, fn, tuple(args), dict(kwargs or {}), memory, env, tmp),
                       daemon=True, name="ptce_geo-worker")
    try:
        with hidden_main():
            proc.start()
    except BaseException:
        receiver.close()
        sender.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sender.close()
    return Started(proc, receiver, memory, label, tmp=tmp)


class Started:
    """A call running in a child process (made by :func:`start`)."""

    def __init__(self, proc, receiver, memory: int | None, label: tuple[str, str], *, tmp: str | None = None) -> None:
        self._proc, self._receiver, self._memory, self._label = proc, receiver, memory, label
        self._tmp = tmp  # the child's temporary folder, removed once the child is gone

    def result(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Wait up to ``timeout`` seconds for the result (errors as for :func:`run`)."""
        proc, receiver, memory = self._proc, self._receiver, self._memory
        en, fr = self._label
        start = time.monotonic()
        try:
            outcome = None
            if receiver.poll(timeout):
                try:
                    outcome = receiver.recv()
                except (EOFError, OSError):
                    outcome = None  # the child died before sending
                except MemoryError:
                    proc.kill()
                    raise WorkerMemoryError(
                        f"{en.capitalize()} gave a result too large to take back: reduce the input.",
                        fr=f"{fr.capitalize()} a produit un résultat trop volumineux : réduisez les données.") from None
            else:
                proc.kill()
                proc.join(5)
                logger.warning("worker stopped after %.0f s: %s", time.monotonic() - start, en)
                raise WorkerTimeout(
                    f"{en.capitalize()} took longer than {timeout:.0f} s and was stopped: the input is too large or "
                    "too complex; simplify it or split it.",
                    fr=f"{fr.capitalize()} a duré plus de {timeout:.0f} s et a été arrêté(e) : les données sont trop "
                    "volumineuses ou trop complexes ; simplifiez-les ou découpez-les.")
            proc.join(5)
        finally:
            receiver.close()
            if proc.is_alive():
                proc.kill()
                proc.join(1)
            if self._tmp is not None:  # what a killed child was writing (an upload's copy) goes too
                shutil.rmtree(self._tmp, ignore_errors=True)
        if outcome is None:
            code = proc.exitcode
            if code == _EXIT_MEMORY:
                outcome = ("memory",)
            else:
                capped = f" (it may have run out of its {memory // 2**20} MB memory cap)" if memory else ""
                raise WorkerCrashed(
                    f"{en.capitalize()} crashed ({_signal_name(code)}){capped}: the input cannot be processed as it "
                    "is; check or simplify it.",
                    fr=f"{fr.capitalize()} a échoué brutalement ({_signal_name(code)}) : les données ne peuvent pas "
                    "être traitées telles quelles ; vérifiez-les ou simplifiez-les.")
        kind = outcome[0]
        if kind == "ok":
            return outcome[1]
        if kind == "memory":
            cap = f"{memory // 2**20} MB" if memory else "the available memory"
            raise WorkerMemoryError(
                f"{en.capitalize()} needed more than {cap} of memory and was stopped: the input is too large or too "
                "complex; simplify it or split it.",
                fr=f"{fr.capitalize()} demandait plus de {cap.replace('MB', 'Mo')} de mémoire et a été arrêté(e) : "
                "les données sont trop volumineuses ; simplifiez-les ou découpez-les.")
        if kind == "ptce":
            raise _rebuild(*outcome[1:])
        detail, trace = outcome[1], outcome[2]
        logger.error("worker failed (%s): %s\n%s", en, detail, trace)
        raise WorkerFailed(
            f"{en.capitalize()} failed with an internal error ({detail}): report it with the input.",
            fr=f"{fr.capitalize()} a échoué (erreur interne) ; signalez-le avec les données en cause.")
