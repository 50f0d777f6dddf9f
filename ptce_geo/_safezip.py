"""Read one dataset out of an uploaded zip archive, safely.

Only the members of one dataset are read (``.shp .shx .dbf .prj .cpg``, or one
``.geojson``/``.json``/``.gpkg``), copied under fixed names into a folder the caller
owns (a temporary one). A zip with an absolute or ``..`` member path, encrypted members,
more than :data:`MAX_MEMBERS` entries, a total uncompressed size above the caller's cap,
or a member inflating more than :data:`MAX_RATIO` times is refused; the bytes really
inflated are counted while copying, so a lying header does not help.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import InvalidInput, UploadRejected

__all__ = ["MAX_UNZIPPED_BYTES", "MAX_RATIO", "MAX_MEMBERS", "file_kind", "unzip_dataset"]

MAX_UNZIPPED_BYTES = 256 * 1024**2
#: largest inflation ratio accepted for a zip member above 1 MiB
MAX_RATIO = 200
MAX_MEMBERS = 1000
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_SINGLE = (".geojson", ".json", ".gpkg")
_CHUNK = 1 << 20


def _reject(en: str, fr: str) -> UploadRejected:
    return UploadRejected(en, fr=fr)


def _kind(head: bytes) -> str | None:
    """``zip``, ``gpkg``, ``geojson``, ``shp`` or None, from the first bytes."""
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if head[:16] == b"SQLite format 3\x00":
        return "gpkg"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shp"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "geojson" if text[:1] == b"{" else None


def _zip_entry_count(data: bytes) -> int:
    """Entries announced by the end-of-central-directory record (before parsing it all)."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if pos < 0 or pos + 22 > len(data):
        return -1
    return struct.unpack("<H", data[pos + 10:pos + 12])[0]


def _safe_name(name: str) -> bool:
    if not name or "\x00" in name:
        return False
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return False
    return ".." not in PurePosixPath(norm).parts


def _datasets(infos: list[zipfile.ZipInfo]) -> dict[str, list[zipfile.ZipInfo]]:
    """Readable datasets of a zip: key (member path without suffix, or member path) → members."""
    parts: dict[str, dict[str, zipfile.ZipInfo]] = {}
    singles: dict[str, list[zipfile.ZipInfo]] = {}
    for info in infos:
        norm = info.filename.replace("\\", "/")
        base = norm.rsplit("/", 1)[-1]
        if info.is_dir() or norm.startswith("__MACOSX/") or base.startswith("._"):
            continue
        low = norm.lower()
        suffix = next((s for s in _SHP_PARTS if low.endswith(s)), None)
        if suffix:
            parts.setdefault(low[: -len(suffix)], {})[suffix] = info
        elif low.endswith(_SINGLE):
            singles[norm] = [info]
    out = {}
    for stem, members in parts.items():
        if ".shp" in members:
            out[members[".shp"].filename[:-4]] = list(members.values())
    out.update(singles)
    return out


def _unzip(data: bytes, where: str, folder: Path, *, layer: str | None,
           max_unzipped_bytes: int) -> tuple[Path, str]:
    """Copy one dataset of a zip into ``folder``; return its path and format."""
    count = _zip_entry_count(data)
    if count < 0 or count == 0xFFFF or count > MAX_MEMBERS:
        raise _reject(f"{where}: the zip archive is damaged or holds more than {MAX_MEMBERS} entries: "
                      "zip only the files of the layer.",
                      f"{where} : archive zip endommagée ou de plus de {MAX_MEMBERS} fichiers ; "
                      "ne zippez que les fichiers de la couche.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _reject(f"{where}: is not a readable zip archive ({exc}): zip the files again.",
                      f"{where} : archive zip illisible ; recréez-la.") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            if not _safe_name(info.filename):
                raise _reject(f"{where}: the zip holds an unsafe path {info.filename[:80]!r} (absolute or "
                              "with '..'): it is refused; zip the layer's files without folders above them.",
                              f"{where} : l'archive contient un chemin dangereux ({info.filename[:80]}) ; "
                              "elle est refusée.")
            if info.flag_bits & 0x1:
                raise _reject(f"{where}: the zip is encrypted: zip the files without a password.",
                              f"{where} : l'archive est chiffrée ; zippez les fichiers sans mot de passe.")
        found = _datasets(infos)
        if not found:
            raise InvalidInput(f"{where}: the zip holds no Shapefile (.shp with .shx and .dbf), GeoJSON or "
                               "GeoPackage: zip the layer's files.",
                               fr=f"{where} : l'archive ne contient ni Shapefile (.shp, .shx, .dbf), ni GeoJSON, "
                               "ni GeoPackage.")
        if layer is not None:
            keys = [k for k in found if k == layer or k.rsplit("/", 1)[-1].rsplit(".", 1)[0] == layer
                    or k.rsplit("/", 1)[-1] == layer]
        else:
            keys = list(found)
        if len(keys) != 1:
            names = ", ".join(sorted(found))[:300]
            raise InvalidInput(f"{where}: the zip holds {len(found)} layers ({names}); "
                               + ("none is " + repr(layer) if layer else "name the one to read (layer=…)")
                               + " or zip a single layer.",
                               fr=f"{where} : l'archive contient plusieurs couches ({names}) ; "
                               "n'en zippez qu'une.")
        members = found[keys[0]]
        total = sum(i.file_size for i in members)
        if total > max_unzipped_bytes:
            raise _reject(f"{where}: the files to read inflate to {total / 2**20:.0f} MB, over the "
                          f"{max_unzipped_bytes // 2**20} MB limit: simplify the layer or keep fewer zones.",
                          f"{where} : une fois décompressés, les fichiers dépassent "
                          f"{max_unzipped_bytes // 2**20} Mo ; simplifiez la couche.")
        for info in members:
            if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _reject(f"{where}: member {info.filename!r} inflates {info.file_size // max(info.compress_size, 1)}"
                              f" times (limit {MAX_RATIO}): the archive looks like a zip bomb and is refused.",
                              f"{where} : le fichier {info.filename} se décompresse de façon anormale "
                              "(bombe zip) ; l'archive est refusée.")
        suffixes = [Path(i.filename).suffix.lower() for i in members]
        if ".shp" in suffixes:
            missing = [s for s in (".shx", ".dbf") if s not in suffixes]
            if missing:
                raise InvalidInput(f"{where}: the Shapefile {keys[0]!r} lacks its {' and '.join(missing)} file: "
                                   "zip all the files of the Shapefile (.shp, .shx, .dbf, .prj).",
                                   fr=f"{where} : il manque {' et '.join(missing)} au Shapefile ; zippez tous "
                                   "ses fichiers (.shp, .shx, .dbf, .prj).")
        written = 0
        for info, suffix in zip(members, suffixes):
            target = folder / ("upload" + (".geojson" if suffix == ".json" else suffix))
            done = 0
            try:
                with zf.open(info) as src, open(target, "xb") as dst:
                    while block := src.read(_CHUNK):
                        done += len(block)
                        written += len(block)
                        if done > info.file_size or written > max_unzipped_bytes:
                            raise _reject(f"{where}: member {info.filename!r} inflates beyond its declared size "
                                          "or the limit: the archive is refused.",
                                          f"{where} : l'archive se décompresse au-delà de la limite ; "
                                          "elle est refusée.")
                        dst.write(block)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, struct.error) as exc:
                raise _reject(f"{where}: member {info.filename!r} is damaged or does not match its header "
                              f"({exc}): the archive is refused; zip the files again.",
                              f"{where} : l'archive est endommagée ({info.filename}) ; recréez-la.") from None
        main = next(i for i, s in enumerate(suffixes) if s in (".shp", ".geojson", ".json", ".gpkg"))
        path = folder / ("upload" + (".geojson" if suffixes[main] == ".json" else suffixes[main]))
    with open(path, "rb") as fh:
        kind = _kind(fh.read(64))
    if kind not in ("shp", "geojson", "gpkg"):
        raise InvalidInput(f"{where}: {members[main].filename!r} is not a {suffixes[main]} file (its content "
                           "does not match): export the layer again.",
                           fr=f"{where} : le fichier {members[main].filename} n'a pas le contenu attendu.")
    return path, kind


#: public names of the two entry points
file_kind = _kind
unzip_dataset = _unzip
