"""Where fetched files and fast-load tables live, and how they are checked.

Layout under the cache folder (``PTCE_GEO_CACHE``, default ``boundaries/cache``)::

    downloads/<layer>/<vintage>/<hash>-<file name>     files fetched over http(s)
    downloads/.../<file>.meta.json                      url, size, sha256, date
    layers/<layer>-<vintage>-<fingerprint>.parquet      normalised layer (GeoParquet)
    layers/....parquet.meta.json                        its sha256, rows, build date

Every cached file has a sidecar with its sha256. A file whose bytes no longer match is
reported, deleted and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd

from ._http import atomic_write_bytes, file_sha256
from .catalogue import LayerSpec, Source
from .settings import cache_dir

logger = logging.getLogger(__name__)

__all__ = ["Cache"]


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
        return path.with_name(path.name + ".meta.json")

    def has_table(self, path: Path) -> bool:
        """True when a table and its sidecar exist (not checked byte by byte)."""
        return path.exists() and self._meta_path(path).exists()

    def read_table(self, path: Path) -> gpd.GeoDataFrame | None:
        """Return the cached table, or ``None`` when absent or corrupted.

        A corrupted table (size or sha256 differing from its sidecar, or unreadable) is
        logged and deleted so that the caller rebuilds it.
        """
        meta_path = self._meta_path(path)
        if not path.exists() or not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = path.read_bytes()
            if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ValueError("checksum differs from its sidecar")
            table = gpd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # corrupted sidecar, bytes or parquet
            logger.warning("cached table %s is corrupted (%s): rebuilding it", path, exc)
            self.discard(path)
            return None
        return table

    def write_table(self, path: Path, table: gpd.GeoDataFrame, **meta: object) -> None:
        """Write a table atomically with its sidecar (sha256, size, rows, date)."""
        buf = io.BytesIO()
        table.to_parquet(buf, index=False, compression="zstd")
        data = buf.getvalue()
        atomic_write_bytes(path, data)
        record = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": int(len(table)),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **meta,
        }
        atomic_write_bytes(self._meta_path(path), json.dumps(record, indent=1, default=str).encode())

    def discard(self, path: Path) -> None:
        """Delete a cached file and its sidecar, ignoring absent files."""
        for p in (path, self._meta_path(path)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def verify_download(self, path: Path, source: Source) -> bool:
        """True when a downloaded file exists and matches its sidecar and catalogue."""
        meta_path = self._meta_path(path)
        if not path.exists() or not meta_path.exists():
            return False
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if path.stat().st_size != meta.get("size"):
            return False
        if source.size is not None and source.size != meta.get("size"):
            return False
        digest = file_sha256(path)
        if digest != meta.get("sha256"):
            return False
        return source.sha256 is None or source.sha256 == digest
