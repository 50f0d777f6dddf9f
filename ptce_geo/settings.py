"""Where ptce_geo finds its catalogue, mirror and cache.

Three environment variables steer the data path; every function that reads them also
takes an explicit keyword argument, which wins.

``PTCE_GEO_CATALOGUE``
    Path of the catalogue TOML file. Default: ``catalogue.toml`` of the mirror folder
    when ``PTCE_GEO_MIRROR`` names a folder holding one (a mirror made by
    ``ptce-geo mirror``), else ``boundaries/mirror-2024.toml`` when that folder is laid
    out like the project's offline copy, else ``boundaries/catalogue.toml`` (official
    hosts).
``PTCE_GEO_MIRROR``
    A folder or an ``http(s)://`` base URL that replaces the official hosts. Set to an
    empty value, it means "no mirror" (and turns the search below off).
``PTCE_GEO_CACHE``
    Folder of the download and fast-load cache. Default: ``boundaries/cache``.
``PTCE_GEO_POLES``
    The poles file the app shows. Default: the repository's ``poles.geojson``.

**Finding a mirror by itself.** The command line (``ptce-geo``), ``./dev`` and the app
call :func:`discover_data` once at start. When neither ``PTCE_GEO_MIRROR`` nor
``PTCE_GEO_CATALOGUE`` is set (and no ``--catalogue`` is given), it looks, in this
order, for

1. ``../shared/data`` beside the checkout (the project's offline copy, read with
   ``boundaries/mirror-2024.toml``, or with its own ``catalogue.toml``);
2. ``../ptce-geo-mirror`` beside the checkout (the conventional place of a mirror made
   by ``ptce-geo mirror``, read with its own ``catalogue.toml``);

and, when one is found, sets both variables for the process. Without one, the official
hosts are used. ``ptce-geo -v`` prints what was chosen and why.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "BOUNDARIES_DIR",
    "DEFAULT_CATALOGUE",
    "MIRROR_CATALOGUE",
    "MIRROR_CATALOGUE_NAME",
    "DEFAULT_POLES",
    "MIRROR_SEARCH",
    "DataChoice",
    "catalogue_path",
    "mirror_base",
    "cache_dir",
    "POLES_ENV",
    "poles_path",
    "discover_data",
    "mirror_hint",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
#: the package's own copies of the poles file and the catalogues (``ptce_geo/data``, links
#: in a checkout, files in an installed wheel)
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
#: running from a checkout (or an editable install), not from an installed wheel
CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "boundaries").is_dir()
BOUNDARIES_DIR = REPO_ROOT / "boundaries" if CHECKOUT else PACKAGE_DATA
DEFAULT_CATALOGUE = BOUNDARIES_DIR / "catalogue.toml"
MIRROR_CATALOGUE = BOUNDARIES_DIR / "mirror-2024.toml"
DEFAULT_POLES = (REPO_ROOT if CHECKOUT else PACKAGE_DATA) / "poles.geojson"
#: the cache of an installed wheel (a checkout keeps it in ``boundaries/cache``)
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ptce_geo"
#: environment variable naming the poles file the app shows
POLES_ENV = "PTCE_GEO_POLES"
#: the name of the catalogue a mirror made by ``ptce-geo mirror`` carries
MIRROR_CATALOGUE_NAME = "catalogue.toml"
#: folders searched for a mirror when no data setting is given, in order
MIRROR_SEARCH = (REPO_ROOT.parent / "shared" / "data", REPO_ROOT.parent / "ptce-geo-mirror")
#: a file every mirror laid out like the project's offline copy holds (see mirror-2024.toml)
_SHARED_LAYOUT_MARK = Path("communes") / "communes_2024.geojson.gz"


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _mirror_catalogue_of(folder: Path) -> Path | None:
    """The catalogue that reads ``folder``: its own, or the project's mirror catalogue."""
    own = folder / MIRROR_CATALOGUE_NAME
    if own.is_file():
        return own
    if (folder / _SHARED_LAYOUT_MARK).is_file() and MIRROR_CATALOGUE.is_file():
        return MIRROR_CATALOGUE
    return None


def _mirror_relative_file(catalogue: Path) -> Path | None:
    """The first relative source path of a catalogue whose base is ``env:PTCE_GEO_MIRROR``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(catalogue.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    head = data.get("catalogue")
    if not isinstance(head, dict) or head.get("base") not in ("env:PTCE_GEO_MIRROR", "${PTCE_GEO_MIRROR}"):
        return None
    for layer in data.get("layer") or []:
        source = layer.get("source") if isinstance(layer, dict) else None
        loc = source.get("path") or source.get("location") if isinstance(source, dict) else source
        if isinstance(loc, str) and loc and not _is_url(loc) and not Path(loc).is_absolute():
            return Path(loc)
    return None


def catalogue_path(explicit: str | os.PathLike | None = None) -> Path:
    """Return the catalogue file to use.

    Order: the argument, ``PTCE_GEO_CATALOGUE``, the catalogue of a mirror folder named
    by ``PTCE_GEO_MIRROR`` (its own ``catalogue.toml``, or ``boundaries/mirror-2024.toml``
    for a folder laid out like the project's offline copy), then the default
    ``boundaries/catalogue.toml``.
    """
    value = explicit or os.environ.get("PTCE_GEO_CATALOGUE")
    if value:
        return Path(value).expanduser()
    mirror = mirror_base()
    if mirror and not _is_url(mirror):
        found = _mirror_catalogue_of(Path(mirror).expanduser())
        if found is not None:
            return found
    return DEFAULT_CATALOGUE


def mirror_base(explicit: str | os.PathLike | None = None) -> str | None:
    """Return the mirror base (folder path or URL) or ``None`` when none is set."""
    value = explicit if explicit is not None else os.environ.get("PTCE_GEO_MIRROR")
    value = str(value).strip() if value is not None else ""
    return value or None


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the cache folder: argument, then ``PTCE_GEO_CACHE``, then default.

    The default is ``boundaries/cache`` in a checkout and ``~/.cache/ptce_geo``
    (``$XDG_CACHE_HOME/ptce_geo``) for an installed wheel.
    """
    value = explicit or os.environ.get("PTCE_GEO_CACHE")
    if value:
        return Path(value).expanduser()
    return BOUNDARIES_DIR / "cache" if CHECKOUT else USER_CACHE


def poles_path(explicit: str | os.PathLike | None = None) -> Path:
    """The poles file: argument, then ``PTCE_GEO_POLES``, then the repository's ``poles.geojson``."""
    value = explicit or os.environ.get(POLES_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_POLES


@dataclass(frozen=True)
class DataChoice:
    """Where the boundary data comes from, and why.

    Attributes
    ----------
    catalogue : Path
        The catalogue file.
    mirror : str or None
        The mirror folder or URL; ``None`` for the official hosts.
    origin : str
        ``"settings"`` (variables or ``--catalogue``), ``"found"`` (a mirror found
        beside the checkout) or ``"official"`` (no mirror anywhere).
    """

    catalogue: Path
    mirror: str | None
    origin: str

    def describe(self) -> str:
        """One line for ``ptce-geo -v``."""
        where = {"settings": "from the settings", "found": "found beside the checkout",
                 "official": "none set or found beside the checkout: official hosts"}[self.origin]
        mirror = self.mirror or "(none)"
        return f"data: mirror {mirror} ({where}); catalogue {self.catalogue}"


def discover_data(catalogue: str | os.PathLike | None = None, *, apply: bool = True,
                  search: tuple[Path, ...] | None = None) -> DataChoice:
    """Choose the catalogue and mirror, searching beside the checkout when none is set.

    Parameters
    ----------
    catalogue : path-like, optional
        A catalogue given on the command line (``--catalogue``): it counts as a setting.
    apply : bool
        Export a mirror found beside the checkout as ``PTCE_GEO_MIRROR`` and
        ``PTCE_GEO_CATALOGUE`` for this process (and its children).
    search : tuple of Path, optional
        Folders to search (default :data:`MIRROR_SEARCH`).

    Returns
    -------
    DataChoice
    """
    env_mirror = os.environ.get("PTCE_GEO_MIRROR")
    env_catalogue = os.environ.get("PTCE_GEO_CATALOGUE")
    folders = MIRROR_SEARCH if search is None else search
    if env_mirror is None and (env_catalogue or catalogue):
        # a catalogue is given; when it reads its files from $PTCE_GEO_MIRROR, which is
        # not set, use a folder beside the checkout that holds them
        chosen = catalogue_path(catalogue)
        first = _mirror_relative_file(chosen)
        for folder in folders if first is not None else ():
            if (folder / first).is_file():
                folder = folder.resolve()
                if apply:
                    os.environ["PTCE_GEO_MIRROR"] = str(folder)
                return DataChoice(chosen, str(folder), "found")
        return DataChoice(chosen, None, "settings")
    if env_mirror is not None or env_catalogue or catalogue:
        chosen = catalogue_path(catalogue)
        return DataChoice(chosen, mirror_base(), "settings" if (env_mirror or env_catalogue or catalogue)
                          else "official")
    for folder in folders:
        found = _mirror_catalogue_of(folder) if folder.is_dir() else None
        if found is None:
            continue
        folder = folder.resolve()
        if apply:
            os.environ["PTCE_GEO_MIRROR"] = str(folder)
            os.environ["PTCE_GEO_CATALOGUE"] = str(found)
        return DataChoice(found, str(folder), "found")
    return DataChoice(DEFAULT_CATALOGUE, None, "official")


def mirror_hint(catalogue: str | os.PathLike | None = None) -> tuple[str, str]:
    """What to do without network: the English and French sentences of every offline error.

    They name both settings (``PTCE_GEO_MIRROR`` and ``PTCE_GEO_CATALOGUE``, with the
    catalogue that fits each kind of mirror) and how to make a mirror elsewhere.
    """
    try:
        shown = os.path.relpath(MIRROR_CATALOGUE)
        if shown.startswith(".."):
            shown = str(MIRROR_CATALOGUE)
    except ValueError:  # pragma: no cover - another drive on Windows
        shown = str(MIRROR_CATALOGUE)
    en = (f"Without network, use a mirror: set PTCE_GEO_MIRROR to a folder (or http(s) base URL) holding a copy "
          f"of the files and PTCE_GEO_CATALOGUE to the catalogue that reads it ({shown} for a copy laid out like "
          "the project's shared/data, DIR/catalogue.toml for a mirror made by `ptce-geo mirror DIR`); on a "
          "machine with network, `ptce-geo fetch` then `ptce-geo mirror DIR` makes one (see the README, "
          "'Offline use and mirrors').")
    fr = (f"Sans réseau, utilisez un miroir : définissez PTCE_GEO_MIRROR vers un dossier (ou une URL) contenant "
          f"une copie des fichiers et PTCE_GEO_CATALOGUE vers le catalogue qui le lit ({shown} pour une copie "
          "organisée comme shared/data, DOSSIER/catalogue.toml pour un miroir fait par `ptce-geo mirror "
          "DOSSIER`) ; sur une machine connectée, `ptce-geo fetch` puis `ptce-geo mirror DOSSIER` en fabrique "
          "un (voir le README, « Offline use and mirrors »).")
    return en, fr


def _shell_exports() -> str:
    """``export`` lines for ``./dev``: the variables :func:`discover_data` would set."""
    import shlex

    choice = discover_data(apply=False)
    if choice.origin != "found":
        return ""
    return (f"export PTCE_GEO_MIRROR={shlex.quote(str(choice.mirror))}\n"
            f"export PTCE_GEO_CATALOGUE={shlex.quote(str(choice.catalogue))}\n")


if __name__ == "__main__":  # python -m ptce_geo.settings [--shell] (./dev calls _shell_exports)
    if sys.argv[1:] == ["--shell"]:
        sys.stdout.write(_shell_exports())
    else:
        sys.stdout.write(discover_data(apply=False).describe() + "\n")
