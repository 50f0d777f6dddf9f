"""Where ptce_geo finds its catalogue, mirror and cache.

Three environment variables steer the data path; every function that reads them also
takes an explicit keyword argument, which wins.

``PTCE_GEO_CATALOGUE``
    Path of the catalogue TOML file. Default: ``boundaries/catalogue.toml`` of the
    repository.
``PTCE_GEO_MIRROR``
    A folder or an ``http(s)://`` base URL that replaces the official hosts.
``PTCE_GEO_CACHE``
    Folder of the download and fast-load cache. Default: ``boundaries/cache``.
``PTCE_GEO_POLES``
    The poles file the app shows. Default: the repository's ``poles.geojson``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "BOUNDARIES_DIR",
    "DEFAULT_CATALOGUE",
    "MIRROR_CATALOGUE",
    "DEFAULT_POLES",
    "catalogue_path",
    "mirror_base",
    "cache_dir",
    "POLES_ENV",
    "poles_path",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
BOUNDARIES_DIR = REPO_ROOT / "boundaries"
DEFAULT_CATALOGUE = BOUNDARIES_DIR / "catalogue.toml"
MIRROR_CATALOGUE = BOUNDARIES_DIR / "mirror-2024.toml"
DEFAULT_POLES = REPO_ROOT / "poles.geojson"
#: environment variable naming the poles file the app shows
POLES_ENV = "PTCE_GEO_POLES"


def catalogue_path(explicit: str | os.PathLike | None = None) -> Path:
    """Return the catalogue file to use: argument, then environment, then default."""
    value = explicit or os.environ.get("PTCE_GEO_CATALOGUE")
    return Path(value).expanduser() if value else DEFAULT_CATALOGUE


def mirror_base(explicit: str | os.PathLike | None = None) -> str | None:
    """Return the mirror base (folder path or URL) or ``None`` when none is set."""
    value = explicit if explicit is not None else os.environ.get("PTCE_GEO_MIRROR")
    value = str(value).strip() if value is not None else ""
    return value or None


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: argument, then ``PTCE_GEO_CACHE``, then default."""
    value = explicit or os.environ.get("PTCE_GEO_CACHE")
    return Path(value).expanduser() if value else BOUNDARIES_DIR / "cache"


def poles_path(explicit: str | os.PathLike | None = None) -> Path:
    """The poles file: argument, then ``PTCE_GEO_POLES``, then the repository's ``poles.geojson``."""
    value = explicit or os.environ.get(POLES_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_POLES
