"""File integrity, in one place: atomic writes, SHA-256, checksummed sidecars, safe paths.

Used by the downloader (:mod:`ptce_geo._http`), the cache (:mod:`ptce_geo.cache`), the
exports (:mod:`ptce_geo.export`), ``ptce-geo poles build``, the command line and the app's
first page (``app_pages.shell``: :func:`atomic_symlink`).

* :func:`atomic_write_files` writes one or several files as one step: every file goes
  to a temporary file beside its target (``<name>.part-<pid>-<random>``), is flushed and
  fsynced, and only when all are written are they renamed onto their targets with
  :func:`os.replace`. A failure (a full disk, an exception, a killed process) leaves
  every target as it was; part files of dead writers are removed by the next writer.
* :func:`check_output` refuses to write over what is not a plain file: a device node
  (``/dev/null``, ``/dev/full``…), a FIFO, a socket, a folder, a symbolic link, or one of
  the command's own input files.
* :func:`read_regular_file` reads an input that must be a regular file, with its size
  checked while reading (``st_size`` says 0 for ``/dev/zero``) and without blocking on a
  FIFO.
* Sidecars (``<file>.meta.json``) record a file's size and SHA-256 so that a later
  reader can tell whether the bytes are still the ones written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import InvalidInput, PtceGeoError

__all__ = [
    "META_SUFFIX",
    "atomic_copy",
    "atomic_symlink",
    "atomic_write_bytes",
    "atomic_write_files",
    "check_output",
    "file_sha256",
    "read_regular_file",
    "read_sidecar",
    "remove_leftovers",
    "sidecar_path",
    "sidecar_matches",
    "write_sidecar",
]

logger = logging.getLogger(__name__)

META_SUFFIX = ".meta.json"
STALE_PART_AGE = 3600.0  # seconds after which any part file is a leftover
_BLOCK = 1 << 20


# ------------------------------------------------------------------ checksums and sidecars
def file_sha256(path: str | os.PathLike) -> str:
    """Return the hexadecimal SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<path>.meta.json``: where the record of a file lives."""
    return Path(str(path) + META_SUFFIX)


def read_sidecar(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record of ``path``, or ``None`` when missing, unreadable or not a JSON object."""
    try:
        data = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_sidecar(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write the record of ``path`` atomically (JSON; values that are not JSON become text)."""
    atomic_write_bytes(sidecar_path(path), json.dumps(record, indent=1, default=str).encode("utf-8"))


def sidecar_matches(path: str | os.PathLike, *, size: int | None = None, sha256: str | None = None,
                    data: bytes | None = None) -> bool:
    """True when ``path`` is a regular file whose bytes match its sidecar (and ``size``/``sha256``).

    ``data``, when given, is the file's content already read (no second read).
    """
    record = read_sidecar(path)
    if record is None:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != record.get("size"):
        return False
    if size is not None and st.st_size != size:
        return False
    try:
        digest = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path)
    except OSError:
        return False
    return digest == record.get("sha256") and (sha256 is None or digest == sha256.lower())


# ------------------------------------------------------------------ output paths
def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 what: str = "output") -> Path:
    """Refuse an output path that is not, or would not be, a plain file of its own.

    Parameters
    ----------
    path : path-like
        Where a file is about to be written.
    inputs : iterable of path-like
        Files the command reads (``--poles``, ``--catalogue``…); ``None`` items are skipped.
    what : str
        Words naming the path in messages (``"--output"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InvalidInput
        When ``path`` is a symbolic link, a folder, a device node, a FIFO or a socket, or
        the same file as one of ``inputs``: writing there would replace it, or write into
        a device instead of a file.
    """
    target = Path(path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InvalidInput(f"{what} {target}: cannot be checked ({exc.strerror or exc}): choose another path.",
                           fr=f"Chemin de sortie {target.name} inaccessible ; choisissez-en un autre.") from None
    if st is not None:
        kind = None
        if stat.S_ISLNK(st.st_mode):
            kind = ("a symbolic link (it is never replaced): give the path of the real file, or another name",
                    "un lien symbolique (jamais remplacé) : donnez le chemin du vrai fichier ou un autre nom")
        elif stat.S_ISDIR(st.st_mode):
            kind = ("a folder: give a file name inside it", "un dossier : donnez un nom de fichier")
        elif not stat.S_ISREG(st.st_mode):
            kind = ("a device, FIFO or socket, not a regular file: give the path of a file",
                    "un périphérique, un tube ou une socket, pas un fichier : donnez le chemin d'un fichier")
        if kind is not None:
            raise InvalidInput(f"{what} {target} is {kind[0]}.", fr=f"{target.name} est {kind[1]}.")
    for source in inputs:
        if source is None:
            continue
        if st is not None and _same_file(target, Path(source)) or \
                os.path.abspath(target) == os.path.abspath(source):
            raise InvalidInput(f"{what} {target} is also an input of this command: writing it would replace the "
                               "file being read; choose another output file.",
                               fr=f"{target.name} est aussi un fichier lu par la commande : choisissez un autre "
                               "fichier de sortie.")
    return target


# ------------------------------------------------------------------ atomic writes
def _part_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.part-{os.getpid()}-{secrets.token_hex(4)}")


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows it."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened there
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


def remove_leftovers(dest: Path) -> None:
    """Remove part files of ``dest`` (and of its sidecar) left by dead processes or older than an hour."""
    dest = Path(dest)
    now = time.time()
    for pattern in (f"{dest.name}.part-*", f"{dest.name}{META_SUFFIX}.part-*"):
        try:
            found = list(dest.parent.glob(pattern))
        except OSError:
            continue
        for part in found:
            match = re.search(r"\.part-(\d+)-[0-9a-f]+$", part.name)
            try:
                old = now - part.lstat().st_mtime > STALE_PART_AGE
                if old or match is None or not _pid_alive(int(match.group(1))):
                    part.unlink()
                    logger.info("Removed leftover partial file %s", part)
            except OSError:
                continue


def atomic_write_files(targets: Iterable[tuple[str | os.PathLike, bytes]], *,
                       inputs: Iterable[str | os.PathLike | None] = (), what: str = "output") -> None:
    """Write several files as one step: all to temporary files first, then renamed.

    Every target is first checked with :func:`check_output` (no symlink, device, FIFO,
    folder, nor one of ``inputs``). A failure while writing (a full disk, an exception)
    removes the temporary files and leaves every target as it was. Part files left by a
    killed process for the same targets are removed first.

    Raises
    ------
    InvalidInput
        A target is not a plain file of its own (see :func:`check_output`).
    OSError
        A folder cannot be written (its ``filename`` names the file).
    """
    pairs = [(Path(t), d) for t, d in targets]
    inputs = [i for i in inputs if i is not None]
    for target, _ in pairs:
        check_output(target, inputs=inputs, what=what)
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_leftovers(target)
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
        fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *,
                       inputs: Iterable[str | os.PathLike | None] = (), what: str = "output") -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, then :func:`os.replace`.

    Readers see either the old file or the new one, never a partial write. See
    :func:`atomic_write_files` for the checks and errors.
    """
    atomic_write_files([(Path(path), data)], inputs=inputs, what=what)


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike, *,
                inputs: Iterable[str | os.PathLike | None] = (), what: str = "output") -> str:
    """Copy a file atomically (part file, fsync, rename); return the SHA-256 of the bytes written.

    The copy streams (a large file is never held in memory). See :func:`atomic_write_files`
    for the checks and errors.
    """
    target = Path(target)
    check_output(target, inputs=[source, *inputs], what=what)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    part = _part_path(target)
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(part, "xb") as dst:
            for block in iter(lambda: src.read(_BLOCK), b""):
                dst.write(block)
                digest.update(block)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(part, target)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(target)
        raise
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return digest.hexdigest()


def atomic_symlink(target: str | os.PathLike, link: str | os.PathLike) -> None:
    """Make ``link`` a symbolic link to ``target`` atomically: made under a part name, then renamed.

    Readers find either what ``link`` was or the new link, never no file; a link of a dead
    writer left under its part name is removed by the next writer (:func:`remove_leftovers`).
    """
    target, link = Path(target), Path(link)
    remove_leftovers(link)
    part = _part_path(link)
    try:
        os.symlink(target, part, target_is_directory=target.is_dir())
        os.replace(part, link)
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
    fsync_dir(link.parent)


# ------------------------------------------------------------------ inputs
def read_regular_file(path: str | os.PathLike, *, max_bytes: int, what: str = "file",
                      error: type[PtceGeoError] = InvalidInput) -> bytes:
    """Read a file that must be a regular file of at most ``max_bytes`` bytes.

    The size is checked while reading (a device such as ``/dev/zero`` reports 0 bytes),
    a FIFO is refused without waiting for a writer, and the check is made on the opened
    file itself (no race between a check and the open).

    Parameters
    ----------
    path : path-like
    max_bytes : int
        The most that is read; a larger file is refused.
    what : str
        Words naming the file in messages, before its path (``"--poles"``, or ``""``).
    error : PtceGeoError subclass
        The exception raised (default :class:`InvalidInput`).

    Raises
    ------
    error
        Missing, unreadable, not a regular file, or larger than ``max_bytes``.
    """
    path = Path(path)
    name = path.name or str(path)
    what = f"{what} {path}".strip()
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{what}: cannot be read ({exc.strerror or exc}): check the path.",
                    fr=f"Impossible de lire {name} : vérifiez le chemin.") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, FIFO or socket"
            raise error(f"{what}: is {kind}, not a regular file: give the path of a file.",
                        fr=f"{name} n'est pas un fichier ordinaire : donnez le chemin d'un fichier.")
        if st.st_size > max_bytes:
            raise _too_large(error, what, path, max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            block = os.read(fd, min(_BLOCK, max_bytes + 1 - total))
            if not block:
                break
            chunks.append(block)
            total += len(block)
            if total > max_bytes:  # the file grew, or lies about its size
                raise _too_large(error, what, path, max_bytes)
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{what}: cannot be read ({exc.strerror or exc}): check the path.",
                    fr=f"Impossible de lire {name} : vérifiez le chemin.") from None
    finally:
        os.close(fd)


def _too_large(error: type[PtceGeoError], what: str, path: Path, max_bytes: int) -> PtceGeoError:
    mb = max_bytes / 2**20
    return error(f"{what}: larger than {mb:.0f} MB: simplify it or split it first.",
                 fr=f"{path.name} : fichier trop gros (plus de {mb:.0f} Mo) ; simplifiez-le ou découpez-le.")
