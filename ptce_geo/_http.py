"""The one streaming downloader of ptce_geo.

:func:`fetch_file` downloads an http(s) URL into a cache file, safely:

* a file lock (``<dest>.lock``) keeps two processes or threads from writing one file;
  it is the only lock held while the network is used, it guards that one file, and a
  waiter gives up when the download deadline passes (no process-wide lock: a stalled
  download never blocks another file);
* the body streams into ``<dest>.part-<pid>-<random>`` next to the target, is flushed,
  fsynced and checked (length, size, SHA-256), then renamed onto ``dest`` with
  :func:`os.replace`; on any failure the part file goes and an older ``dest`` stays;
* **bounded**: the whole call has a deadline (``deadline`` seconds, retries included);
  an attempt that receives almost nothing for ``timeout`` seconds (a server dripping a
  byte at a time) is cut; the body may not exceed the catalogue's ``size`` (or
  ``max_bytes``, 1 GiB by default, when the catalogue gives none), checked while
  reading, also after a ``Content-Encoding`` is decoded;
* **fast offline**: a name that cannot be resolved, a refused connection, an
  unreachable network and a connection left unanswered for 10 s (a firewall dropping
  packets) are not retried (the message says how to use a mirror); other transient
  failures (read timeouts, cut bodies, stalls, HTTP 5xx and 429, checksum mismatches)
  are retried with exponential back-off;
* a sidecar ``<dest>.meta.json`` records where the file came from and its SHA-256, so a
  later call (or a process that waited on the lock) reuses a valid file as it is.

Only :class:`~ptce_geo.errors.DataUnavailable` and its subclass
:class:`~ptce_geo.errors.IntegrityError` leave :func:`fetch_file`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
import urllib3
from filelock import FileLock, Timeout as LockTimeout
from requests.adapters import HTTPAdapter

from ._integrity import (
    _part_path,
    atomic_write_bytes,
    atomic_write_files,
    file_sha256,
    fsync_dir,
    read_sidecar,
    remove_leftovers,
    sidecar_path,
)
from .errors import DataUnavailable, IntegrityError, InvalidInput
from .settings import mirror_hint

__all__ = ["fetch_file", "read_meta", "file_sha256", "atomic_write_bytes", "atomic_write_files", "tqdm_progress",
           "DEFAULT_DEADLINE", "MAX_DOWNLOAD_BYTES"]

logger = logging.getLogger(__name__)

#: ``progress(bytes_done, total_or_None)``
Progress = Callable[[int, int | None], None]

CHUNK_SIZE = 1 << 14
MAX_DELAY = 5.0  # seconds, cap of one back-off pause
#: seconds to wait for a connection to open (a host that drops packets is not retried)
CONNECT_TIMEOUT = 10.0
#: seconds one fetch_file call may take in all, retries included
DEFAULT_DEADLINE = 900.0
#: the most a file of unknown size may weigh (the catalogue's size wins when it gives one)
MAX_DOWNLOAD_BYTES = 1 << 30
#: an attempt receiving fewer bytes than this in ``timeout`` seconds is stalled
STALL_BYTES = 1024
_WATCH_STEP = 0.2  # seconds between two looks of the watchdog
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}

# kept for callers of the old names
read_meta = read_sidecar
_remove_leftovers = remove_leftovers
_meta_path = sidecar_path
_fsync_dir = fsync_dir


class _Failure(Exception):
    """One failed attempt; ``kind`` decides retry and the final message."""

    def __init__(self, kind: str, detail: str, *, retry: bool = True,
                 delay: float | None = None, fr: str = "") -> None:
        super().__init__(detail)
        self.kind, self.detail, self.retry, self.delay = kind, detail, retry, delay
        self.fr = fr or detail


# ------------------------------------------------------------------ the watchdog
_LOCAL = threading.local()


class _Watch:
    """Cuts the sockets of one :func:`fetch_file` call when it stalls or passes its deadline.

    Connections opened by the call register their socket here (see
    :class:`_WatchedAdapter`); the body loop reports the bytes it receives. A thread
    looks every 0.2 s; when the deadline has passed, or fewer than :data:`STALL_BYTES`
    bytes arrived during the last ``stall`` seconds of an attempt, it shuts the sockets
    down, which ends any blocked read at once.
    """

    def __init__(self, *, deadline_at: float, stall: float) -> None:
        self.deadline_at, self.stall = deadline_at, stall
        self.reason: str | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._active = False
        self._mark_time = time.monotonic()
        self._mark_bytes = 0
        self._bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ptce_geo-download-watch", daemon=True)

    def __enter__(self) -> "_Watch":
        _LOCAL.watch = self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        _LOCAL.watch = None
        self._stop.set()
        self._thread.join(1.0)

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            if self.reason is not None:
                self._shutdown(sock)

    def start_attempt(self) -> None:
        with self._lock:
            self.reason = None if self.reason == "stalled" else self.reason
            self._active = True
            self._mark_time, self._mark_bytes, self._bytes = time.monotonic(), 0, 0

    def end_attempt(self) -> None:
        with self._lock:
            self._active = False

    def received(self, n: int) -> None:
        self._bytes += n

    def remaining(self) -> float:
        return self.deadline_at - time.monotonic()

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _cut(self, reason: str) -> None:
        with self._lock:
            self.reason = reason
            for sock in self._socks:
                self._shutdown(sock)

    def _run(self) -> None:
        while not self._stop.wait(_WATCH_STEP):
            now = time.monotonic()
            if now >= self.deadline_at:
                self._cut("deadline")
                continue
            if not self._active:
                continue
            if self._bytes - self._mark_bytes >= STALL_BYTES:
                self._mark_time, self._mark_bytes = now, self._bytes
            elif now - self._mark_time >= self.stall and self.reason is None:
                self._cut("stalled")


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        watch = getattr(_LOCAL, "watch", None)
        if watch is not None:
            watch.add(self.sock)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        watch = getattr(_LOCAL, "watch", None)
        if watch is not None:
            watch.add(self.sock)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections register their sockets with the running :class:`_Watch`."""

    _POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if type(manager) is urllib3.ProxyManager:  # SOCKS managers keep their own pools
            manager.pool_classes_by_scheme = dict(self._POOLS)
        return manager


def _session() -> requests.Session:
    sess = requests.Session()
    adapter = _WatchedAdapter()
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    return sess


# ------------------------------------------------------------------ progress bar
@contextlib.contextmanager
def tqdm_progress(desc: str, *, disable: bool | None = None) -> Iterator[Progress]:
    """Yield a ``progress`` callback for :func:`fetch_file` that drives a tqdm bar.

    The bar writes to stderr and, with ``disable=None``, hides itself when stderr is
    not a terminal. Use as ``with tqdm_progress("communes") as cb: fetch_file(...,
    progress=cb)``.
    """
    from tqdm import tqdm

    bar = tqdm(desc=desc, total=None, unit="B", unit_scale=True, unit_divisor=1024,
               file=sys.stderr, leave=False, disable=disable)

    def update(done: int, total: int | None) -> None:
        if done < bar.n:  # a retry starts over
            bar.reset(total=total)
        elif total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


# ------------------------------------------------------------------ fetch_file
def _cached_ok(dest: Path, url: str, sha256: str | None, size: int | None) -> bool:
    """True when ``dest`` came from ``url`` and still matches its checks."""
    meta = read_meta(dest)
    if meta is None or meta.get("url") != url:
        return False
    try:
        if not dest.is_file():
            return False
        actual_size = dest.stat().st_size
    except OSError:
        return False
    if actual_size != meta.get("size") or (size is not None and actual_size != size):
        return False
    try:
        return sha256 is None or file_sha256(dest) == sha256
    except OSError:
        return False


def fetch_file(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
               progress: Callable[[int, int | None], None] | None = None,
               retries: int = 4, backoff: float = 0.5, timeout: float = 30.0,
               deadline: float = DEFAULT_DEADLINE, max_bytes: int = MAX_DOWNLOAD_BYTES,
               layer_id: str = "", session: requests.Session | None = None) -> Path:
    """Download ``url`` into the file ``dest``, atomically, verified, bounded, with retries.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL; redirects are followed.
    dest : Path
        The target file. Its folder is created. A valid earlier download (its sidecar
        names the same URL and the checks below pass) is returned as it is.
    sha256, size : optional
        Expected SHA-256 (hexadecimal) and byte size of the file. ``size`` is also the
        cap of the body: a server sending more is cut at once.
    progress : callable, optional
        Called as ``progress(bytes_done, total_or_None)`` as chunks arrive.
    retries : int
        Extra attempts after a transient failure (``0``: try once). A name that does
        not resolve, a refused connection or an unreachable network is never retried.
    backoff : float
        First pause in seconds; it doubles at each attempt, capped at a few seconds.
    timeout : float
        Read timeout in seconds (the connection itself gets at most 10 s); also the
        window of the stall rule (an attempt receiving under 1 KiB in ``timeout`` seconds
        is cut).
    deadline : float
        Seconds the whole call may take, waiting for another writer and retries included.
    max_bytes : int
        Cap of the body when ``size`` is not given (default 1 GiB).
    layer_id : str
        Layer named in error messages.
    session : requests.Session, optional
        Session to reuse; a private one is opened and closed otherwise (only sockets of
        a private session are cut by the stall and deadline rules before the body starts).

    Returns
    -------
    Path
        ``dest``, holding the downloaded file, next to ``dest.meta.json``.

    Raises
    ------
    DataUnavailable
        The host cannot be reached, the server refuses the file, the body keeps arriving
        cut short or stalls, or the deadline passes. The message says how to use a mirror.
    IntegrityError
        The file keeps failing its size or SHA-256 check, or is larger than its cap.
    """
    dest = Path(dest)
    what = (f"layer {layer_id!r}", f"la couche « {layer_id} »") if layer_id else (
        f"file {dest.name!r}", f"le fichier « {dest.name} »")
    if not url.startswith(("http://", "https://")):
        raise DataUnavailable(f"Cannot download {what[0]}: {url!r} is not an http(s) URL.",
                              fr=f"Impossible de télécharger {what[1]} : {url!r} "
                              "n'est pas une URL http(s).")
    expected_sha = sha256.lower() if sha256 else None
    cap = size if size is not None else max_bytes
    deadline_at = time.monotonic() + deadline
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(dest) + ".lock")
        try:
            lock.acquire(timeout=0)
        except LockTimeout:
            logger.info("Waiting for another download of %s", dest)
            try:
                lock.acquire(timeout=max(deadline_at - time.monotonic(), 0.0))
            except LockTimeout:
                raise DataUnavailable(
                    f"Cannot download {what[0]}: another process has been downloading {dest} for longer than "
                    f"the {deadline:.0f} s deadline; try again later, or delete {dest}.lock if no download runs.",
                    fr=f"Impossible de télécharger {what[1]} : un autre processus télécharge {dest.name} depuis "
                    "trop longtemps ; réessayez plus tard.") from None
    except OSError as exc:
        raise _cache_error(dest, exc) from None
    try:
        remove_leftovers(dest)
        if _cached_ok(dest, url, expected_sha, size):
            logger.debug("Using cached %s for %s", dest, url)
            return dest
        own = session is None
        sess = session if session is not None else _session()
        try:
            with _Watch(deadline_at=deadline_at, stall=timeout) as watch:
                return _download(sess, url, dest, expected_sha, size, cap, progress,
                                 max(0, retries), backoff, timeout, what, watch)
        finally:
            if own:
                sess.close()
    finally:
        lock.release()


def _download(sess: requests.Session, url: str, dest: Path, sha256: str | None,
              size: int | None, cap: int, progress: Progress | None, retries: int, backoff: float,
              timeout: float, what: tuple[str, str], watch: _Watch) -> Path:
    """Run the attempts; raise the public error of the last failure."""
    attempt = 0
    while True:
        try:
            meta = _attempt(sess, url, dest, sha256, size, cap, progress, timeout, watch)
            atomic_write_bytes(sidecar_path(dest), json.dumps(meta, indent=2).encode())
        except _Failure as failure:
            delay = min(max(backoff * 2 ** attempt, failure.delay or 0.0), MAX_DELAY)
            if not failure.retry or attempt >= retries or watch.remaining() <= delay:
                if failure.retry and attempt < retries:  # the deadline ends the retries
                    failure.detail += f"; gave up at the deadline after {attempt + 1} attempt(s)"
                raise _public_error(failure, url, what, cap) from None
            logger.warning("Download of %s failed (%s), retry %d/%d in %.2fs",
                           url, failure.detail, attempt + 1, retries, delay)
            time.sleep(delay)
            attempt += 1
        except (OSError, InvalidInput) as exc:  # the cache folder cannot be written
            raise _cache_error(dest, exc) from None
        else:
            logger.info("Downloaded %s (%d bytes) to %s", url, meta["size"], dest)
            return dest


def _attempt(sess: requests.Session, url: str, dest: Path, sha256: str | None, size: int | None,
             cap: int, progress: Progress | None, timeout: float, watch: _Watch) -> dict[str, Any]:
    """One GET into a part file, verified and renamed onto ``dest``; return its meta."""
    part = _part_path(dest)
    done, expected_len = 0, None
    watch.start_attempt()
    try:
        with sess.get(url, stream=True, timeout=(min(timeout, CONNECT_TIMEOUT), timeout), allow_redirects=True,
                      headers={"Accept-Encoding": "identity"}) as resp:
            watch.add(getattr(getattr(resp.raw, "connection", None), "sock", None))
            status = resp.status_code
            if status == 429 or status >= 500:
                wait = resp.headers.get("Retry-After", "")
                raise _Failure("http", f"HTTP {status}",
                               delay=float(wait) if wait.isdigit() else None)
            if status >= 300:  # 4xx, or a redirect without a usable Location
                raise _Failure("http", f"HTTP {status}", retry=False)
            length = resp.headers.get("Content-Length")
            expected_len = int(length) if length and length.isdigit() else None
            encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
            if not encoded and expected_len is not None and expected_len > cap:
                raise _too_large((f"the server announces {expected_len} bytes",
                                  f"le serveur annonce {expected_len} octets"), cap, size)
            total = None if encoded else expected_len
            digest = hashlib.sha256()
            with open(part, "xb") as fh:
                for chunk in resp.iter_content(CHUNK_SIZE):
                    done += len(chunk)
                    watch.received(len(chunk))
                    if done > cap:
                        raise _too_large((f"more than {cap} bytes arrived", f"plus de {cap} octets reçus"), cap, size)
                    fh.write(chunk)
                    digest.update(chunk)
                    if progress is not None:
                        progress(done, total)
                fh.flush()
                os.fsync(fh.fileno())
            _check_watch(watch, timeout)
            wire = resp.raw.tell() if encoded else done
            if expected_len is not None and wire != expected_len:
                raise _Failure("truncated", f"got {wire} of {expected_len} bytes")
            got = digest.hexdigest()
            if size is not None and done != size:
                raise _Failure("integrity", f"size {done} bytes, expected {size}",
                               fr=f"taille {done} octets, attendu {size}")
            if sha256 is not None and got != sha256:
                raise _Failure("integrity", f"SHA-256 {got}, expected {sha256}",
                               fr=f"SHA-256 {got}, attendu {sha256}")
            meta = {
                "url": url, "final_url": resp.url, "size": done, "sha256": got,
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
                "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        with contextlib.suppress(FileNotFoundError):
            sidecar_path(dest).unlink()  # an old sidecar must never vouch for the new file
        os.replace(part, dest)
        fsync_dir(dest.parent)
        return meta
    except _Failure:
        raise
    except requests.exceptions.RequestException as exc:
        _check_watch(watch, timeout)
        raise _classify(exc, expected_len) from None
    except (urllib3.exceptions.HTTPError, ConnectionError, socket.timeout) as exc:  # raised past requests
        _check_watch(watch, timeout)
        raise _Failure("truncated", f"connection closed mid-body ({type(exc).__name__})") from None
    finally:
        watch.end_attempt()
        with contextlib.suppress(OSError):
            part.unlink()


def _check_watch(watch: _Watch, timeout: float) -> None:
    """Raise the failure of a cut made by the watchdog, if it made one."""
    if watch.reason == "deadline":
        raise _Failure("deadline", "the download deadline passed", retry=False,
                       fr="le délai de téléchargement est dépassé")
    if watch.reason == "stalled":
        raise _Failure("stalled", f"under {STALL_BYTES} bytes received in {timeout:.0f} s",
                       fr=f"moins de {STALL_BYTES} octets reçus en {timeout:.0f} s")


def _too_large(detail: tuple[str, str], cap: int, size: int | None) -> _Failure:
    why = ("the catalogue's size", "la taille du catalogue") if size is not None else (
        "the cap of files of unknown size", "la limite des fichiers de taille inconnue")
    return _Failure("too_large", f"{detail[0]}, over {why[0]} ({cap} bytes)", retry=False,
                    fr=f"{detail[1]}, au-delà de {why[1]} ({cap} octets)")


def _unreachable(exc: BaseException) -> bool:
    """True for failures that no retry mends: no name resolution, refused, no route."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        err = stack.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
            return True
        if isinstance(err, OSError) and err.errno in _UNREACHABLE_ERRNOS:
            return True
        stack.extend([err.__cause__, err.__context__, getattr(err, "reason", None), *err.args])
    return False


def _classify(exc: requests.exceptions.RequestException, expected_len: int | None) -> _Failure:
    if isinstance(exc, requests.exceptions.ConnectTimeout):  # a firewall dropping packets: no retry mends it
        return _Failure("offline", f"no answer to the connection within {CONNECT_TIMEOUT:.0f} s", retry=False)
    if isinstance(exc, requests.exceptions.Timeout):
        return _Failure("offline", f"timed out ({_reason(exc)})")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        announced = f", {expected_len} bytes announced" if expected_len is not None else ""
        return _Failure("truncated", f"connection closed mid-body{announced}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _unreachable(exc):
            return _Failure("offline", _reason(exc), retry=False)
        return _Failure("offline", _reason(exc))
    return _Failure("request", f"{type(exc).__name__}: {exc}", retry=False)  # bad URL, too many redirects


def _reason(exc: BaseException) -> str:
    """A short cause out of the nested urllib3 message: ``Connection refused``..."""
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text or \
            "Temporary failure in name resolution" in text:
        match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
        return "the host name cannot be resolved" + (f": {match.group(1).strip()}" if match else "")
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip()
    return "timed out" if "timed out" in text.lower() else type(exc).__name__


#: kind of failure -> (English, French) cause; ``{en}``/``{fr}`` are the failure's detail
_CAUSES = {
    "offline": ("no connection ({en})", "pas de connexion"),
    "truncated": ("the transfer was cut short ({en})", "transfert interrompu"),
    "stalled": ("the transfer stalled ({en})", "le transfert s'est bloqué ({fr})"),
    "deadline": ("{en}", "le délai de téléchargement est dépassé"),
    "http": ("the server answered {en}", "le serveur a répondu {en}"),
    "request": ("{en}", "requête refusée ({en})"),
}


def _public_error(failure: _Failure, url: str, what: tuple[str, str], cap: int) -> DataUnavailable:
    en, fr = what
    hint_en, hint_fr = mirror_hint()
    if failure.kind == "integrity":
        return IntegrityError(
            f"Downloaded {en} from {url} fails its check: {failure.detail}. The file "
            "changed on the server: update size/sha256 in the catalogue, or set "
            "PTCE_GEO_MIRROR to a folder or http(s) base URL holding the expected file.",
            fr=f"Le fichier téléchargé pour {fr} depuis {url} est corrompu ou a changé "
            f"({failure.fr}). Mettez à jour size/sha256 dans le catalogue, ou définissez "
            "PTCE_GEO_MIRROR vers un dossier ou une URL miroir contenant le bon fichier.")
    if failure.kind == "too_large":
        return IntegrityError(
            f"Download of {en} from {url} refused: {failure.detail}. The server sends another file than the "
            "catalogue describes: check the address and the size in the catalogue, or use a mirror.",
            fr=f"Téléchargement de {fr} depuis {url} refusé : {failure.fr}. Le serveur envoie un autre "
            "fichier que celui du catalogue ; vérifiez l'adresse et la taille, ou utilisez un miroir.")
    cause_en, cause_fr = (c.format(en=failure.detail, fr=failure.fr) for c in _CAUSES[failure.kind])
    return DataUnavailable(
        f"Cannot download {en} from {url}: {cause_en}. {hint_en}",
        fr=f"Impossible de télécharger {fr} depuis {url} : {cause_fr}. {hint_fr}")


def _cache_error(dest: Path, exc: BaseException) -> DataUnavailable:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return DataUnavailable(
        f"Cannot write the cache file {dest}: {reason}. Free some space or "
        "set PTCE_GEO_CACHE to a writable folder.",
        fr=f"Impossible d'écrire le fichier de cache {dest} : {reason}. "
        "Libérez de la place ou définissez PTCE_GEO_CACHE vers un dossier accessible.")
