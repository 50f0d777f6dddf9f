"""Make a folder mirror: the source files of a catalogue's layers and the catalogue that reads them.

``ptce-geo mirror DIR`` (:func:`make_mirror`) lets a colleague with network access
prepare the boundary data for an office without it: it copies every file the layers
read — from the download cache (filled by ``ptce-geo fetch``, or downloaded now) or from
the mirror in use — into ``DIR/<layer>/<file>``, then writes ``DIR/catalogue.toml``: the
catalogue in use, each source rewritten as a path relative to the mirror, with its size
and SHA-256. Elsewhere::

    PTCE_GEO_MIRROR=DIR PTCE_GEO_CATALOGUE=DIR/catalogue.toml ptce-geo fetch

reads it with no network (``PTCE_GEO_MIRROR=DIR`` alone also finds its catalogue). The
folder may be copied on a USB stick or served over http (``PTCE_GEO_MIRROR`` is then its
URL and ``PTCE_GEO_CATALOGUE`` a local copy of ``catalogue.toml``).

Files are gathered first; nothing is written to ``DIR`` unless every file could be had.
Every file is written atomically and checked after the copy.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._integrity import atomic_copy, atomic_write_bytes, file_sha256
from .cache import Cache
from .catalogue import Catalogue, Source, load_catalogue
from .errors import CatalogueError, InvalidInput
from .settings import MIRROR_CATALOGUE_NAME

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["MirrorReport", "make_mirror", "toml_text"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MirrorReport:
    """What :func:`make_mirror` wrote: the catalogue, the layers and the files (relative path → bytes)."""

    catalogue: Path
    layers: list[str]
    files: dict[str, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def _layer_ids(catalogue: Catalogue, layers: list[str] | None) -> list[str]:
    wanted = list(dict.fromkeys(layers or catalogue.ids()))
    for lid in wanted:
        catalogue[lid]  # an unknown id: CatalogueError naming the known ones
    needs_communes = any(catalogue[lid].geometry == "dissolve" or catalogue[lid].commune_field
                         or catalogue[lid].membership is not None for lid in wanted)
    if needs_communes and "communes" not in wanted and "communes" in catalogue.layers:
        wanted.insert(0, "communes")
    return [lid for lid in catalogue.ids() if lid in wanted]


def make_mirror(folder: str | os.PathLike, *, layers: list[str] | None = None,
                catalogue: Catalogue | None = None, cache: Cache | None = None, progress=None) -> MirrorReport:
    """Copy the source files of ``layers`` (all by default) into ``folder`` with their catalogue.

    Parameters
    ----------
    folder : path-like
        The mirror folder (created). Files already there are replaced.
    layers : list of str, optional
        Layer ids; the communes are added when a layer is built from them.
    catalogue : Catalogue, optional
        The catalogue in use (default: ``PTCE_GEO_CATALOGUE``).
    cache : Cache, optional
        Where downloads are looked for (default: ``PTCE_GEO_CACHE``).
    progress : callable, optional
        As for :func:`ptce_geo.layers.load_layer` (downloads of files not cached yet).

    Returns
    -------
    MirrorReport

    Raises
    ------
    DataUnavailable
        A file cannot be had (offline and not in the cache): nothing is written.
    InvalidInput
        ``folder`` is a file, or cannot be written.
    """
    from .layers import _obtain, source_files

    catalogue = catalogue or load_catalogue()
    cache = cache or Cache()
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"mirror folder {folder} is a file: give the path of a folder (it is created).",
                           fr=f"{folder.name} est un fichier : donnez un dossier.")
    ids = _layer_ids(catalogue, layers)
    plan: dict[str, tuple[str, Path, Source]] = {}  # location -> (relative path, local file, source)
    used: set[str] = set()
    for lid in ids:
        spec = catalogue[lid]
        for source in source_files(spec):
            if source.location in plan:
                continue
            local = _obtain(spec, source, catalogue, cache, progress)  # cache, mirror, or download
            rel = f"{spec.id}/{source.filename}"
            n = 2
            while rel in used:
                stem, dot, ext = source.filename.partition(".")
                rel, n = f"{spec.id}/{stem}-{n}{dot}{ext}", n + 1
            used.add(rel)
            plan[source.location] = (rel, Path(local), source)
    files: dict[str, tuple[int, str]] = {}
    try:
        for rel, local, source in plan.values():
            target = folder / rel
            digest = atomic_copy(local, target, what="mirror file")
            size = target.stat().st_size
            if file_sha256(target) != digest:  # read back what the disk holds
                raise OSError(f"the copy of {local} differs from its source", None, str(target))
            files[rel] = (size, digest)
            logger.info("mirror: %s (%d bytes)", target, size)
        text = toml_text(_mirror_catalogue(catalogue, ids, plan, files))
        tomllib.loads(text)  # never write a catalogue that does not read back
        path = folder / MIRROR_CATALOGUE_NAME
        atomic_write_bytes(path, text.encode("utf-8"), inputs=[catalogue.path], what="mirror catalogue")
    except OSError as exc:
        raise InvalidInput(f"cannot write the mirror in {folder} ({exc.strerror or exc}): free some space or "
                           "choose a folder you can write to.",
                           fr=f"Impossible d'écrire le miroir dans {folder} ({exc.strerror or exc}).") from None
    load_catalogue(path)  # and it is a catalogue ptce_geo reads
    return MirrorReport(catalogue=path, layers=ids, files={rel: size for rel, (size, _) in files.items()})


def _mirror_catalogue(catalogue: Catalogue, ids: list[str], plan: dict, files: dict) -> dict[str, Any]:
    """The catalogue in use, restricted to ``ids``, its sources pointing into the mirror."""
    try:
        raw = tomllib.loads(catalogue.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"Catalogue {catalogue.path} cannot be read again ({exc}).") from None

    def source(value: Any) -> dict[str, Any]:
        loc = value if isinstance(value, str) else value.get("location") or value.get("url") or value.get("path")
        rel, _, parsed = plan[loc]
        size, digest = files[rel]
        out = {"path": rel, "format": parsed.format}
        for key in ("member", "sheet"):
            if getattr(parsed, key):
                out[key] = getattr(parsed, key)
        if parsed.skiprows:
            out["skiprows"] = parsed.skiprows
        out.update(size=size, sha256=digest)
        return out

    head = dict(raw.get("catalogue") or {})
    head["name"] = f"{catalogue.name}-mirror"
    head["base"] = "env:PTCE_GEO_MIRROR"
    out_layers = []
    for layer in raw.get("layer") or []:
        if layer.get("id") not in ids:
            continue
        layer = dict(layer)
        for key in ("source", "membership"):
            if layer.get(key):
                layer[key] = source(layer[key])
        if layer.get("join"):
            layer["join"] = [{**j, "source": source(j["source"])} for j in layer["join"]]
        out_layers.append(layer)
    return {"catalogue": head, "layer": out_layers}


# ------------------------------------------------------------------ a small TOML writer
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("TOML numbers must be finite here")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _key(k: str) -> str:
    return k if k and all(c.isalnum() and c.isascii() or c in "_-" for c in k) else json.dumps(k, ensure_ascii=False)


def toml_text(doc: dict[str, Any]) -> str:
    """A catalogue document (``catalogue`` table, ``layer`` array of tables) as TOML text."""
    lines = ["# Written by `ptce-geo mirror`: the catalogue of this folder mirror.",
             "# Read it with PTCE_GEO_MIRROR=<this folder or its URL> PTCE_GEO_CATALOGUE=<this file>.", "",
             "[catalogue]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in doc.get("catalogue", {}).items()]
    for layer in doc.get("layer", []):
        lines += ["", "[[layer]]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in layer.items()]
    return "\n".join(lines) + "\n"
