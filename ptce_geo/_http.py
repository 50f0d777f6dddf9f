"""The one streaming downloader of ptce_geo.

:func:`fetch_file` downloads an http(s) URL into a cache file, safely:

* a file lock (``<dest>.lock``) keeps two processes or threads from writing one file;
* the body streams into ``<dest>.part-<pid>-<random>`` next to the target, is flushed,
  fsynced and checked (length, size, SHA-256), then renamed onto ``dest`` with
  :func:`os.replace`; on any failure the part file goes and an older ``dest`` stays;
* transient failures (connection errors, timeouts, cut bodies, HTTP 5xx and 429,
  checksum mismatches) are retried with exponential back-off;
* a sidecar ``<dest>.meta.json`` records where the file came from and its SHA-256, so a
  later call (or a process that waited on the lock) reuses a valid file as it is.

Only :class:`~ptce_geo.errors.DataUnavailable` and its subclass
:class:`~ptce_geo.errors.IntegrityError` leave :func:`fetch_file`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
from filelock import FileLock, Timeout as LockTimeout

from .errors import DataUnavailable, IntegrityError

__all__ = ["fetch_file", "read_meta", "file_sha256", "atomic_write_bytes", "atomic_write_files", "tqdm_progress"]

logger = logging.getLogger(__name__)

#: ``progress(bytes_done, total_or_None)``
Progress = Callable[[int, int | None], None]

CHUNK_SIZE = 1 << 16
MAX_DELAY = 5.0  # seconds, cap of one back-off pause
STALE_PART_AGE = 3600.0  # seconds after which any part file is a leftover
META_SUFFIX = ".meta.json"
MIRROR_HINT_EN = ("Set PTCE_GEO_MIRROR to a folder or http(s) base URL holding a copy "
                  "of the files, then retry.")
MIRROR_HINT_FR = ("Définissez PTCE_GEO_MIRROR vers un dossier ou une URL miroir "
                  "contenant une copie des fichiers.")


class _Failure(Exception):
    """One failed attempt; ``kind`` decides retry and the final message."""

    def __init__(self, kind: str, detail: str, *, retry: bool = True,
                 delay: float | None = None, fr: str = "") -> None:
        super().__init__(detail)
        self.kind, self.detail, self.retry, self.delay = kind, detail, retry, delay
        self.fr = fr or detail


def file_sha256(path: Path) -> str:
    """Return the hexadecimal SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _meta_path(dest: Path) -> Path:
    return Path(str(dest) + META_SUFFIX)


def read_meta(dest: Path) -> dict[str, Any] | None:
    """Return the sidecar metadata of ``dest``, or ``None`` when missing or unreadable."""
    try:
        data = json.loads(_meta_path(Path(dest)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _part_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.part-{os.getpid()}-{secrets.token_hex(4)}")


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows it."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened there
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_files(targets: list[tuple[Path, bytes]]) -> None:
    """Write several files as one step: all to temporary files first, then renamed.

    A failure while writing (a full disk, an exception) removes the temporary files and
    leaves every target as it was. Part files left by a killed process for the same
    targets are removed first. Raises :class:`OSError` when a folder cannot be written.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in targets:
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(target)
            part = _part_path(target)
            staged.append((part, target))
            try:
                with open(part, "xb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                if exc.filename is None:  # say which file could not be written
                    exc.filename = str(target)
                raise
        for part, target in staged:
            os.replace(part, target)
    finally:
        for part, _ in staged:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
    for folder in {t.parent for _, t in staged}:
        _fsync_dir(folder)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, then :func:`os.replace`.

    Readers see either the old file or the new one, never a partial write. Raises
    :class:`OSError` when the folder cannot be written.
    """
    atomic_write_files([(Path(path), data)])


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


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would kill it there
        return True  # rely on the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def _remove_leftovers(dest: Path) -> None:
    """Remove part files of ``dest`` left by dead processes or older than an hour."""
    now = time.time()
    for pattern in (f"{dest.name}.part-*", f"{dest.name}{META_SUFFIX}.part-*"):
        for part in dest.parent.glob(pattern):
            match = re.search(r"\.part-(\d+)-[0-9a-f]+$", part.name)
            try:
                old = now - part.stat().st_mtime > STALE_PART_AGE
                if old or match is None or not _pid_alive(int(match.group(1))):
                    part.unlink()
                    logger.info("Removed leftover partial download %s", part)
            except OSError:
                continue


def _cached_ok(dest: Path, url: str, sha256: str | None, size: int | None) -> bool:
    """True when ``dest`` came from ``url`` and still matches its checks."""
    meta = read_meta(dest)
    if meta is None or meta.get("url") != url:
        return False
    try:
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
               layer_id: str = "", session: requests.Session | None = None) -> Path:
    """Download ``url`` into the file ``dest``, atomically, verified and with retries.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL; redirects are followed.
    dest : Path
        The target file. Its folder is created. A valid earlier download (its sidecar
        names the same URL and the checks below pass) is returned as it is.
    sha256, size : optional
        Expected SHA-256 (hexadecimal) and byte size of the file.
    progress : callable, optional
        Called as ``progress(bytes_done, total_or_None)`` as chunks arrive.
    retries : int
        Extra attempts after a transient failure (``0``: try once).
    backoff : float
        First pause in seconds; it doubles at each attempt, capped at a few seconds.
    timeout : float
        Connect and read timeout in seconds.
    layer_id : str
        Layer named in error messages.
    session : requests.Session, optional
        Session to reuse; a private one is opened and closed otherwise.

    Returns
    -------
    Path
        ``dest``, holding the downloaded file, next to ``dest.meta.json``.

    Raises
    ------
    DataUnavailable
        The host cannot be reached, the server refuses the file, or the body keeps
        arriving cut short. The message says how to set a mirror.
    IntegrityError
        The file keeps failing its size or SHA-256 check.
    """
    dest = Path(dest)
    what = (f"layer {layer_id!r}", f"la couche « {layer_id} »") if layer_id else (
        f"file {dest.name!r}", f"le fichier « {dest.name} »")
    if not url.startswith(("http://", "https://")):
        raise DataUnavailable(f"Cannot download {what[0]}: {url!r} is not an http(s) URL.",
                              fr=f"Impossible de télécharger {what[1]} : {url!r} "
                              "n'est pas une URL http(s).")
    expected_sha = sha256.lower() if sha256 else None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(dest) + ".lock")
        try:
            lock.acquire(timeout=0)
        except LockTimeout:
            logger.info("Waiting for another download of %s", dest)
            lock.acquire()
    except OSError as exc:
        raise _cache_error(dest, exc) from None
    try:
        _remove_leftovers(dest)
        if _cached_ok(dest, url, expected_sha, size):
            logger.debug("Using cached %s for %s", dest, url)
            return dest
        own = session is None
        sess = session if session is not None else requests.Session()
        try:
            return _download(sess, url, dest, expected_sha, size, progress,
                             max(0, retries), backoff, timeout, what)
        finally:
            if own:
                sess.close()
    finally:
        lock.release()


def _download(sess: requests.Session, url: str, dest: Path, sha256: str | None,
              size: int | None, progress: Progress | None, retries: int, backoff: float,
              timeout: float, what: tuple[str, str]) -> Path:
    """Run the attempts; raise the public error of the last failure."""
    attempt = 0
    while True:
        try:
            meta = _attempt(sess, url, dest, sha256, size, progress, timeout)
            atomic_write_bytes(_meta_path(dest), json.dumps(meta, indent=2).encode())
        except _Failure as failure:
            if not failure.retry or attempt >= retries:
                raise _public_error(failure, url, what) from None
            delay = min(max(backoff * 2 ** attempt, failure.delay or 0.0), MAX_DELAY)
            logger.warning("Download of %s failed (%s), retry %d/%d in %.2fs",
                           url, failure.detail, attempt + 1, retries, delay)
            time.sleep(delay)
            attempt += 1
        except OSError as exc:  # the cache folder cannot be written
            raise _cache_error(dest, exc) from None
        else:
            logger.info("Downloaded %s (%d bytes) to %s", url, meta["size"], dest)
            return dest


def _attempt(sess: requests.Session, url: str, dest: Path, sha256: str | None,
             size: int | None, progress: Progress | None, timeout: float) -> dict[str, Any]:
    """One GET into a part file, verified and renamed onto ``dest``; return its meta."""
    part = _part_path(dest)
    done, expected_len = 0, None
    try:
        with sess.get(url, stream=True, timeout=(timeout, timeout), allow_redirects=True,
                      headers={"Accept-Encoding": "identity"}) as resp:
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
            total = None if encoded else expected_len
            digest = hashlib.sha256()
            with open(part, "xb") as fh:
                for chunk in resp.iter_content(CHUNK_SIZE):
                    fh.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                fh.flush()
                os.fsync(fh.fileno())
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
            _meta_path(dest).unlink()  # an old sidecar must never vouch for the new file
        os.replace(part, dest)
        _fsync_dir(dest.parent)
        return meta
    except requests.exceptions.Timeout as exc:
        raise _Failure("offline", f"timed out ({_reason(exc)})") from None
    except (requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError) as exc:
        announced = f", {expected_len} bytes announced" if expected_len is not None else ""
        raise _Failure("truncated", f"connection closed mid-body{announced}") from None
    except requests.exceptions.ConnectionError as exc:
        raise _Failure("offline", _reason(exc)) from None
    except requests.exceptions.RequestException as exc:  # bad URL, too many redirects
        raise _Failure("request", f"{type(exc).__name__}: {exc}", retry=False) from None
    finally:
        with contextlib.suppress(OSError):
            part.unlink()


def _reason(exc: BaseException) -> str:
    """A short cause out of the nested urllib3 message: ``Connection refused``..."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip()
    return "timed out" if "timed out" in text.lower() else type(exc).__name__


#: kind of failure -> (English, French) cause; ``{}`` is the failure's detail
_CAUSES = {
    "offline": ("no connection ({})", "pas de connexion"),
    "truncated": ("the transfer was cut short ({})", "transfert interrompu"),
    "http": ("the server answered {}", "le serveur a répondu {}"),
    "request": ("{}", "requête refusée ({})"),
}


def _public_error(failure: _Failure, url: str, what: tuple[str, str]) -> DataUnavailable:
    en, fr = what
    if failure.kind == "integrity":
        return IntegrityError(
            f"Downloaded {en} from {url} fails its check: {failure.detail}. The file "
            "changed on the server: update size/sha256 in the catalogue, or set "
            "PTCE_GEO_MIRROR to a folder or http(s) base URL holding the expected file.",
            fr=f"Le fichier téléchargé pour {fr} depuis {url} est corrompu ou a changé "
            f"({failure.fr}). Mettez à jour size/sha256 dans le catalogue, ou définissez "
            "PTCE_GEO_MIRROR vers un dossier ou une URL miroir contenant le bon fichier.")
    cause_en, cause_fr = (c.format(failure.detail) for c in _CAUSES[failure.kind])
    return DataUnavailable(
        f"Cannot download {en} from {url}: {cause_en}. {MIRROR_HINT_EN}",
        fr=f"Impossible de télécharger {fr} depuis {url} : {cause_fr}. {MIRROR_HINT_FR}")


def _cache_error(dest: Path, exc: OSError) -> DataUnavailable:
    return DataUnavailable(
        f"Cannot write the cache file {dest}: {exc.strerror or exc}. Free some space or "
        "set PTCE_GEO_CACHE to a writable folder.",
        fr=f"Impossible d'écrire le fichier de cache {dest} : {exc.strerror or exc}. "
        "Libérez de la place ou définissez PTCE_GEO_CACHE vers un dossier accessible.")
