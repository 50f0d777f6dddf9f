"""Where fetched files and fast-load tables live, and how they are checked.

Layout under the cache folder (``PTCE_GEO_CACHE``, default ``boundaries/cache``)::

    downloads/<layer>/<vintage>/<hash>-<file name>     files fetched over http(s)
    downloads/.../<file>.meta.json                      url, size, sha256, date
    layers/<layer>-<vintage>-<fingerprint>.parquet      normalised layer (GeoParquet)
    layers/....parquet.meta.json                        its sha256, rows, build date
    layers/<layer>-...membership-<key>.pickle           a layer's commune → unit rows
    layers/<layer>-...members-<key>.pickle              a zones layer's communes (zone_members)
    scorecards/<key>.pickle                             a stored Scorecard (stored_scorecard)

Every cached file has a sidecar with its sha256 (:mod:`ptce_geo._integrity`). A file
whose bytes no longer match is reported, deleted and rebuilt, never used. A cache that
cannot be written (a read-only or immutable folder, a full disk) never stops a layer
from loading out of a mirror folder: the layer is built and used without being kept. A
cache root that is a file, or an entry replaced by a folder, is reported in one line
naming ``PTCE_GEO_CACHE``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import logging
import os
import pickle
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pyproj
from filelock import FileLock, Timeout

from ._integrity import atomic_write_bytes, file_sha256, read_sidecar, sidecar_matches, sidecar_path, write_sidecar
from .catalogue import LayerSpec, Source
from .errors import DataUnavailable, InvalidInput
from .settings import cache_dir

logger = logging.getLogger(__name__)

__all__ = ["Cache", "code_digest"]

_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """SHA-256 of the library's own source: what the cache keeps as Python objects (stored
    Scorecards, membership indexes) is keyed by it, so it is never read by other code."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        digest = hashlib.sha256()
        for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        _CODE_DIGEST = digest.hexdigest()
    return _CODE_DIGEST


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


@functools.lru_cache(maxsize=8)
def _crs(text: str) -> pyproj.CRS:
    """One CRS object per PROJ JSON definition (building one takes some 30 ms), read as geopandas
    reads it: without the ids of datum ensemble members, which older PROJ databases do not know."""
    def strip(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "members" and isinstance(value, list):
                    for member in value:
                        if isinstance(member, dict):
                            member.pop("id", None)
                else:
                    strip(value)
    definition = json.loads(text)  # a fresh copy, stripped here
    strip(definition)
    return pyproj.CRS.from_user_input(definition)


def read_geoparquet(data: bytes) -> gpd.GeoDataFrame:
    """A GeoParquet table written by :meth:`Cache.write_table`, as ``geopandas.read_parquet`` reads it.

    The same frame (columns, dtypes, geometry, CRS, attrs), but each CRS is built once per
    process instead of once per table read. Files with several geometry columns or a
    non-WKB encoding are read by geopandas itself.
    """
    table = pq.read_table(io.BytesIO(data))
    meta = table.schema.metadata or {}
    try:
        geo = json.loads(meta[b"geo"])
        column = geo["primary_column"]
        spec = geo["columns"][column]
        simple = len(geo["columns"]) == 1 and spec.get("encoding") == "WKB" and column in table.column_names
    except (KeyError, TypeError, ValueError):
        simple = False
    if not simple:
        return gpd.read_parquet(io.BytesIO(data))
    crs = spec.get("crs", "OGC:CRS84")  # the GeoParquet default
    if isinstance(crs, dict):
        crs = _crs(json.dumps(crs, sort_keys=True))
    position = table.column_names.index(column)
    frame = table.drop([column]).to_pandas()
    frame.insert(position, column, gpd.array.from_wkb(np.array(table[column]), crs=crs))
    if b"PANDAS_ATTRS" in meta:
        frame.attrs = json.loads(meta[b"PANDAS_ATTRS"])
    return gpd.GeoDataFrame(frame, geometry=column)


class Cache:
    """The cache folder of one process.

    Parameters
    ----------
    root : path-like, optional
        The folder. Default: ``PTCE_GEO_CACHE`` or ``boundaries/cache``.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = cache_dir(root)

    def download_path(self, spec: LayerSpec, source: Source) -> Path:
        """Path of the local copy of one downloaded source file."""
        tag = hashlib.sha1(source.location.encode()).hexdigest()[:8]
        return self.root / "downloads" / spec.id / str(spec.vintage) / f"{tag}-{source.filename}"

    def table_path(self, spec: LayerSpec, fingerprint: str) -> Path:
        """Path of the normalised GeoParquet table of a layer."""
        return self.root / "layers" / f"{spec.id}-{spec.vintage}-{fingerprint}.parquet"

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return sidecar_path(path)

    def _error(self, what: Path, reason: str) -> DataUnavailable:
        return DataUnavailable(
            f"The cache folder {self.root} cannot be used ({what}: {reason}): set PTCE_GEO_CACHE to a folder "
            "you can write to, or repair that path.",
            fr=f"Le dossier de cache {self.root} est inutilisable ({what.name} : {reason}) : définissez "
            "PTCE_GEO_CACHE vers un dossier accessible en écriture.")

    def ensure_folder(self, folder: Path) -> Path:
        """Create ``folder`` (under the cache root) when needed.

        Raises
        ------
        DataUnavailable
            When the cache root or a folder on the way is a file, or cannot be created.
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._error(folder, "a file stands where a folder should be") from None
        except OSError as exc:
            raise self._error(folder, exc.strerror or str(exc)) from None
        return folder

    @contextlib.contextmanager
    def lock(self, path: Path) -> Iterator[bool]:
        """Hold the lock of one cached file (``<path>.lock``) for a block; yield whether it is held.

        When the lock file cannot be created (a read-only or immutable cache folder), the
        block runs without it, after a warning: nothing will be written there anyway.
        """
        lock = FileLock(str(path) + ".lock")
        try:
            lock.acquire()
        except OSError as exc:
            logger.warning("cache folder %s cannot be written (%s): working without caching there. Set "
                           "PTCE_GEO_CACHE to a writable folder to keep prepared layers.",
                           Path(path).parent, exc.strerror or exc)
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def busy(self, path: Path) -> bool:
        """True when another process or thread holds the lock of ``path`` (it is being written)."""
        lock = FileLock(str(path) + ".lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return True
        except OSError:  # a read-only folder: nobody writes there
            return False
        lock.release()
        return False

    def has_table(self, path: Path) -> bool:
        """True when a table and its sidecar exist (not checked byte by byte)."""
        return _is_regular(path) and _is_regular(self._meta_path(path))

    def read_table(self, path: Path) -> gpd.GeoDataFrame | None:
        """Return the cached table, or ``None`` when absent or corrupted.

        A corrupted table (size or sha256 differing from its sidecar, or unreadable) is
        logged and deleted so that the caller rebuilds it. An entry that is not a regular
        file (a folder, a device) is logged and left alone.
        """
        meta_path = self._meta_path(path)
        if not os.path.lexists(path) or not os.path.lexists(meta_path):
            return None
        if not _is_regular(path) or not _is_regular(meta_path):
            logger.warning("cache entry %s is not a regular file: ignored (delete it to cache the layer "
                           "again)", path)
            return None
        try:
            table = read_geoparquet(self._entry_bytes(path))
        except Exception as exc:  # corrupted sidecar, bytes or parquet
            logger.warning("cached table %s is corrupted (%s): rebuilding it", path, exc)
            self.discard(path)
            return None
        return table

    def write_table(self, path: Path, table: gpd.GeoDataFrame, **meta: object) -> None:
        """Write a table atomically with its sidecar (sha256, size, rows, date).

        Raises
        ------
        OSError
            When the folder cannot be written or the entry is not a regular file.
        """
        buf = io.BytesIO()
        table.to_parquet(buf, index=False, compression="zstd")
        self._write_entry(path, buf.getvalue(), rows=int(len(table)), **meta)

    def _entry_bytes(self, path: Path) -> bytes:
        """The bytes of a cache entry, checked against its sidecar (``ValueError`` when they differ)."""
        data = path.read_bytes()
        if not sidecar_matches(path, data=data):
            raise ValueError("checksum differs from its sidecar, or no sidecar")
        return data

    def _write_entry(self, path: Path, data: bytes, **meta: object) -> None:
        """Write a cache entry atomically, then its sidecar (size, sha256, date, ``meta``)."""
        try:
            atomic_write_bytes(path, data, what="cache entry")
            write_sidecar(path, {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                 "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta})
        except InvalidInput as exc:  # a folder, a device or a link where the entry goes
            raise OSError(errno.EEXIST, str(exc), str(path)) from None

    def has_object(self, path: Path) -> bool:
        """True when an object and its sidecar exist (not checked byte by byte)."""
        return _is_regular(path) and _is_regular(self._meta_path(path))

    def read_object(self, path: Path) -> object | None:
        """The Python object :meth:`write_object` stored at ``path``, or ``None``.

        ``None`` when the file is absent, or when its bytes no longer match their sidecar
        or cannot be read back (then it is logged and deleted, so that the caller computes
        and stores it again). Objects are stored under keys that include
        :func:`code_digest`: only this code reads what it wrote.
        """
        if not os.path.lexists(path):
            return None
        try:
            if not _is_regular(path):
                raise ValueError("not a regular file")
            return pickle.loads(self._entry_bytes(path))
        except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
            logger.warning("cached object %s unusable (%s): computing it again", path, exc)
            if _is_regular(path):
                self.discard(path)
            return None

    def write_object(self, path: Path, value: object, **meta: object) -> None:
        """Store ``value`` (pickled) atomically at ``path`` with its sidecar (sha256, size, ``meta``).

        Raises
        ------
        OSError
            When the folder cannot be written or the entry is not a regular file.
        """
        self._write_entry(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), **meta)

    def computed_once(self, path: Path, compute: Callable[[], object], *, kind: type, what: str,
                      **meta: object) -> tuple[object, bool]:
        """``(value, read)``: the object stored at ``path``, else ``compute()`` stored there.

        Computed once across threads and processes: whoever computes holds the entry's
        lock, the others wait, then read it. ``read`` says whether it was read back. A
        stored object that is not a ``kind`` is computed again. A cache that cannot be
        written only means computing each time (said by :meth:`lock` and here).
        """
        found = self.read_object(path)
        if isinstance(found, kind):
            return found, True
        with contextlib.suppress(OSError):  # a read-only cache: said by the lock
            path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock(path) as held:
            found = self.read_object(path)
            if isinstance(found, kind):
                return found, True
            value = compute()
            if held:
                try:
                    self.write_object(path, value, **meta)
                except OSError as exc:
                    logger.warning("cannot keep %s in %s (%s): it is computed again next time", what, path.parent,
                                   exc.strerror or exc)
        return value, False

    def discard(self, path: Path) -> None:
        """Delete a cached file and its sidecar, ignoring absent files (and logging others)."""
        for p in (path, self._meta_path(path)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("cannot delete the cache entry %s (%s)", p, exc.strerror or exc)

    def verify_download(self, path: Path, source: Source) -> bool:
        """True when a downloaded file exists and matches its sidecar and catalogue."""
        meta_path = self._meta_path(path)
        if not _is_regular(path) or not _is_regular(meta_path):
            return False
        meta = read_sidecar(path)
        if meta is None:
            return False
        try:
            if path.stat().st_size != meta.get("size"):
                return False
            if source.size is not None and source.size != meta.get("size"):
                return False
            digest = file_sha256(path)
        except OSError:
            return False
        if digest != meta.get("sha256"):
            return False
        return source.sha256 is None or source.sha256 == digest
