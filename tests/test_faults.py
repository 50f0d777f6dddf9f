"""Faults while writing: a full disk, a crash half-way, a killed process.

A full disk is simulated by a write error: every file opened for writing under one
folder (through ``open``, whatever module opens it) accepts ``free`` bytes in all, then
raises ``OSError(ENOSPC)``. A crash is an exception raised half-way through the write of
the n-th file. Each fault hits the four writes that matter:

* a download (:func:`ptce_geo._http.fetch_file`);
* a layer's cache table (:func:`ptce_geo.layers.load_layer`);
* ``ptce-geo poles build`` (:func:`ptce_geo.poles.build_file`);
* an export (:func:`ptce_geo.export.export`), which writes up to three files.

Every time: the previous files are byte-for-byte intact, no temporary file is left, the
error is a :class:`~ptce_geo.errors.PtceGeoError` saying what to do (the simulated crash
itself propagates), and the next run, without the fault, works.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO_ROOT, serve_directory
from ptce_geo._http import fetch_file, read_meta
from ptce_geo.errors import DataUnavailable, InvalidInput
from ptce_geo.export import export, export_files

ENOSPC = os.strerror(errno.ENOSPC)  # "No space left on device"


class _Writer:
    """A file object whose ``write`` obeys a :class:`Disk`."""

    def __init__(self, fh, disk: "Disk", index: int) -> None:
        self._fh, self._disk, self._index = fh, disk, index

    def write(self, data) -> int:
        return self._disk.write(self._fh, self._index, bytes(data))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)

    def __getattr__(self, name):
        return getattr(self._fh, name)


class Disk:
    """Faults for files written under ``folder``.

    Parameters
    ----------
    free : int, optional
        Bytes that can still be written in all; the next byte raises ENOSPC.
    crash_on : int, optional
        The n-th file opened for writing (0-based) raises ``crash`` half-way through
        its first write.
    """

    def __init__(self, folder: Path, *, free: int | None = None, crash_on: int | None = None,
                 crash: BaseException | None = None) -> None:
        self.folder = Path(folder).resolve()
        self.free, self.crash_on, self.crash = free, crash_on, crash or RuntimeError("simulated crash")
        self.opened: list[str] = []
        self.faults = 0

    def covers(self, file, mode: str) -> bool:
        if isinstance(file, int) or not any(c in mode for c in "wxa+"):
            return False
        try:
            return Path(os.fspath(file)).resolve().is_relative_to(self.folder)
        except (TypeError, ValueError):
            return False

    def write(self, fh, index: int, data: bytes) -> int:
        if self.crash_on is not None and index == self.crash_on:
            fh.write(data[: len(data) // 2])
            fh.flush()
            self.faults += 1
            raise self.crash
        if self.free is not None and len(data) > self.free:
            fh.write(data[: self.free])
            self.free = 0
            self.faults += 1
            raise OSError(errno.ENOSPC, ENOSPC)
        if self.free is not None:
            self.free -= len(data)
        return fh.write(data)

    def __enter__(self) -> "Disk":
        """Route ``open`` (builtins and io) through the faults until the block ends."""
        real_open = self._real = builtins.open

        def faulty_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            if not self.covers(file, mode):
                return fh
            self.opened.append(Path(os.fspath(file)).name)
            return _Writer(fh, self, len(self.opened) - 1)

        builtins.open = io.open = faulty_open
        return self

    def __exit__(self, *exc) -> None:
        builtins.open = io.open = self._real


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path → bytes), lock files aside."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".part-" in p.name)


# ------------------------------------------------------------------ (a) downloads
@pytest.fixture()
def served(tmp_path):
    """A folder served over loopback http: ``(folder, base_url, server)``."""
    folder = tmp_path / "www"
    folder.mkdir()
    server, url = serve_directory(folder)
    try:
        yield folder, url, server
    finally:
        server.shutdown()
        server.server_close()


V1 = b"version one " * 20_000
V2 = b"VERSION TWO, longer " * 20_000


def test_full_disk_during_a_download_keeps_the_previous_cache(served, tmp_path, monkeypatch):
    folder, url, server = served
    cache = tmp_path / "cache"
    dest = cache / "layer" / "f.bin"
    (folder / "f.bin").write_bytes(V1)
    fetch_file(url + "f.bin", dest, retries=0)
    before = snapshot(cache)
    assert dest.read_bytes() == V1 and read_meta(dest)["sha256"] == hashlib.sha256(V1).hexdigest()

    (folder / "f.bin").write_bytes(V2)  # the file changed upstream; the catalogue names its new sha256
    with Disk(cache, free=100_000) as disk, pytest.raises(DataUnavailable) as err:
        fetch_file(url + "f.bin", dest, sha256=hashlib.sha256(V2).hexdigest(), retries=3, backoff=0.01)
    assert disk.faults == 1
    message = str(err.value)
    assert ENOSPC in message and "PTCE_GEO_CACHE" in message and str(dest) in message
    assert "PTCE_GEO_CACHE" in err.value.fr and "Libérez de la place" in err.value.fr
    assert snapshot(cache) == before  # previous file and its sidecar, byte for byte
    assert leftovers(cache) == []
    assert len(server.requests) == 2  # a full disk is not retried

    # space freed: the next run downloads the new file
    fetch_file(url + "f.bin", dest, sha256=hashlib.sha256(V2).hexdigest(), retries=0)
    assert dest.read_bytes() == V2 and read_meta(dest)["sha256"] == hashlib.sha256(V2).hexdigest()


def test_full_disk_when_writing_the_sidecar_never_vouches_for_wrong_bytes(served, tmp_path, monkeypatch):
    folder, url, server = served
    cache = tmp_path / "cache"
    dest = cache / "f.bin"
    (folder / "f.bin").write_bytes(V1)
    fetch_file(url + "f.bin", dest, retries=0)
    (folder / "f.bin").write_bytes(V2)
    # the body fits, its sidecar does not
    with Disk(cache, free=len(V2)), pytest.raises(DataUnavailable, match="PTCE_GEO_CACHE"):
        fetch_file(url + "f.bin", dest, sha256=hashlib.sha256(V2).hexdigest(), retries=0)
    meta = read_meta(dest)
    assert meta is None or meta["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert leftovers(cache) == []
    fetch_file(url + "f.bin", dest, sha256=hashlib.sha256(V2).hexdigest(), retries=0)
    assert dest.read_bytes() == V2 and read_meta(dest)["sha256"] == hashlib.sha256(V2).hexdigest()
    assert len(server.requests) == 3  # the file without a sidecar was fetched again, not trusted


def test_crash_half_way_through_a_download(served, tmp_path, monkeypatch):
    folder, url, _ = served
    cache = tmp_path / "cache"
    dest = cache / "f.bin"
    (folder / "f.bin").write_bytes(V1)
    fetch_file(url + "f.bin", dest, retries=0)
    before = snapshot(cache)
    (folder / "f.bin").write_bytes(V2)
    with Disk(cache, crash_on=0, crash=KeyboardInterrupt()), pytest.raises(KeyboardInterrupt):
        fetch_file(url + "f.bin", dest, sha256=hashlib.sha256(V2).hexdigest(), retries=0)
    assert snapshot(cache) == before and leftovers(cache) == []


# ------------------------------------------------------------------ (b) layer cache tables
@pytest.fixture()
def fresh_cache(mirror_env, tmp_path, monkeypatch):
    """The mirror, with an empty cache folder and nothing held in memory."""
    from ptce_geo.layers import clear_memory_cache

    cache = tmp_path / "cache"
    monkeypatch.setenv("PTCE_GEO_CACHE", str(cache))
    clear_memory_cache()
    yield cache
    clear_memory_cache()


def _regions():
    from ptce_geo.layers import load_layer

    return load_layer("regions")


def same_table(a, b) -> bool:
    """Same units, names, areas and geometries (text dtypes aside)."""
    import numpy as np
    import shapely

    return (list(a["code"]) == list(b["code"]) and list(a["nom"]) == list(b["nom"])
            and np.array_equal(a["area_m2"].to_numpy(), b["area_m2"].to_numpy())
            and bool(shapely.equals_exact(a.geometry.to_numpy(), b.geometry.to_numpy(), 0).all()))


def test_full_disk_when_caching_a_layer_still_gives_the_layer(fresh_cache, monkeypatch, caplog):
    from ptce_geo.layers import clear_memory_cache

    with Disk(fresh_cache, free=0) as disk:
        table = _regions()  # dissolved from the communes: two tables to cache, neither fits
    assert disk.faults == len(disk.opened) >= 1
    assert len(table) == 18 and table["code"].is_unique  # 13 metropolitan + 5 overseas régions
    assert "layer regions: cannot write its cache table" in caplog.text
    assert "PTCE_GEO_CACHE" in caplog.text and ENOSPC in caplog.text
    assert [p for p in snapshot(fresh_cache) if p.endswith(".parquet")] == [] and leftovers(fresh_cache) == []

    clear_memory_cache()
    again = _regions()
    assert same_table(again, table)
    assert [p for p in snapshot(fresh_cache) if p.endswith(".parquet")]  # now cached


@pytest.mark.parametrize("free", [0, "table"], ids=["nothing-fits", "sidecar-does-not-fit"])
def test_full_disk_when_rebuilding_a_cached_layer(fresh_cache, monkeypatch, free):
    from ptce_geo.cache import Cache
    from ptce_geo.layers import clear_memory_cache, load_layer

    reference = _regions()
    tables = sorted((fresh_cache / "layers").glob("regions-*.parquet"))
    assert len(tables) == 1
    before = snapshot(fresh_cache)
    size = len(before[str(tables[0].relative_to(fresh_cache))])
    with Disk(fresh_cache, free=size if free == "table" else 0) as disk:
        rebuilt = load_layer("regions", refresh=True)  # the communes stay in memory: one table to write
    assert disk.faults == 1 and len(rebuilt) == 18
    if free == 0:
        assert snapshot(fresh_cache) == before  # table and sidecar untouched
    assert leftovers(fresh_cache) == []
    # whatever the fault left, the cache never serves a table its sidecar does not vouch for
    read = Cache(fresh_cache).read_table(tables[0])
    assert read is None or same_table(read, reference)
    clear_memory_cache()
    assert same_table(_regions(), reference)


# ------------------------------------------------------------------ (c) ptce-geo poles build
POLES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"id": "seignanx", "nom": "Seignanx", "epci": ["244000659"]}, "geometry": None},
    {"type": "Feature", "properties": {"id": "albi", "nom": "Albi", "communes": ["81004"]}, "geometry": None},
]}


@pytest.fixture()
def poles_file(mirror_env, tmp_path) -> Path:
    folder = tmp_path / "poles"
    folder.mkdir()
    path = folder / "poles.geojson"
    path.write_text(json.dumps(POLES, ensure_ascii=False, indent=1), "utf-8")
    return path


def test_full_disk_during_poles_build_keeps_the_file(catalogue, poles_file, monkeypatch):
    from ptce_geo.poles import build_file

    before = poles_file.read_bytes()
    with Disk(poles_file.parent, free=64) as disk, pytest.raises(InvalidInput) as err:
        build_file(poles_file, catalogue=catalogue)
    assert disk.faults == 1
    assert ENOSPC in str(err.value) and str(poles_file) in str(err.value) and "unchanged" in str(err.value)
    assert "inchangé" in err.value.fr
    assert poles_file.read_bytes() == before and leftovers(poles_file.parent) == []
    build_file(poles_file, catalogue=catalogue)
    built = json.loads(poles_file.read_text("utf-8"))
    assert [f["geometry"]["type"] for f in built["features"]] == ["MultiPolygon", "MultiPolygon"]


@pytest.mark.parametrize("crash", [RuntimeError("simulated crash"), KeyboardInterrupt()],
                         ids=["exception", "interrupt"])
def test_crash_half_way_through_poles_build(catalogue, poles_file, monkeypatch, crash):
    from ptce_geo.poles import build_file

    build_file(poles_file, catalogue=catalogue)  # a built file: what the crash must not damage
    before = poles_file.read_bytes()
    with Disk(poles_file.parent, crash_on=0, crash=crash) as disk, pytest.raises(type(crash)):
        build_file(poles_file, catalogue=catalogue)
    assert disk.faults == 1
    assert poles_file.read_bytes() == before and leftovers(poles_file.parent) == []


def test_cli_poles_build_on_a_full_disk_is_one_line(catalogue, poles_file, monkeypatch, capsys):
    from ptce_geo.cli import main

    before = poles_file.read_bytes()
    with Disk(poles_file.parent, free=0):
        assert main(["poles", "build", "--poles", str(poles_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and ENOSPC in err and err.count("\n") == 1
    assert "Traceback" not in err and "internal error" not in err
    assert poles_file.read_bytes() == before


def test_killed_poles_build_leaves_the_previous_file(catalogue, poles_file, mirror_env):
    """A process killed (SIGKILL) in the middle of writing: the previous file stays whole."""
    from ptce_geo.poles import build_file

    before = poles_file.read_bytes()
    code = textwrap.dedent(f"""
        import builtins, sys, time
        from pathlib import Path
        real_open = builtins.open
        class Slow:
            def __init__(self, fh): self.fh = fh
            def __enter__(self): return self
            def __exit__(self, *a): self.fh.close()
            def __getattr__(self, n): return getattr(self.fh, n)
            def write(self, data):
                self.fh.write(data[: len(data) // 2]); self.fh.flush()
                print("half", flush=True)
                time.sleep(600)
        def slow_open(file, mode="r", *a, **k):
            fh = real_open(file, mode, *a, **k)
            return Slow(fh) if ".part-" in str(file) else fh
        builtins.open = slow_open
        from ptce_geo.poles import build_file
        build_file(Path({str(poles_file)!r}))
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.strip() == "half", child.stderr.read()[-2000:]
        assert len(leftovers(poles_file.parent)) == 1  # the half-written temporary file
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert poles_file.read_bytes() == before
    build_file(poles_file, catalogue=catalogue)  # the next run works
    assert all(f["geometry"] for f in json.loads(poles_file.read_text("utf-8"))["features"])


# ------------------------------------------------------------------ (d) exports
@pytest.fixture()
def perimeters(catalogue):
    from ptce_geo.perimeters import read_perimeters

    return read_perimeters(POLES, catalogue=catalogue)


EXPORT_FILES = {"geojson": ["out.geojson", "out-epci.geojson", "out.geojson.provenance.json"],
                "csv": ["out.csv", "out-epci.csv", "out.csv.provenance.json"],
                "gpkg": ["out.gpkg"]}


def _old_export(folder: Path, fmt: str) -> dict[str, bytes]:
    folder.mkdir(exist_ok=True)
    for name in EXPORT_FILES[fmt]:
        (folder / name).write_bytes(f"previous {name}".encode())
    return snapshot(folder)


@pytest.mark.parametrize("fmt,position", [(f, i) for f, names in EXPORT_FILES.items() for i in range(len(names))])
def test_full_disk_during_an_export_keeps_every_previous_file(catalogue, perimeters, tmp_path, monkeypatch,
                                                              fmt, position):
    folder = tmp_path / "out"
    before = _old_export(folder, fmt)
    files = export_files(perimeters, fmt=fmt, stem="out", layers=["epci"], catalogue=catalogue)
    assert sorted(files) == sorted(EXPORT_FILES[fmt])
    sizes = [len(data) for data in files.values()]  # in the order they are written
    free = sum(sizes[:position]) + sizes[position] // 2  # the disk fills during file number ``position``
    with Disk(folder, free=free) as disk, pytest.raises(InvalidInput) as err:
        export(perimeters, fmt=fmt, output=folder / f"out.{fmt}", layers=["epci"], catalogue=catalogue)
    assert disk.faults == 1 and len(disk.opened) == position + 1
    assert ENOSPC in str(err.value) and EXPORT_FILES[fmt][position] in str(err.value)
    assert snapshot(folder) == before and leftovers(folder) == []
    export(perimeters, fmt=fmt, output=folder / f"out.{fmt}", layers=["epci"], catalogue=catalogue)
    after = snapshot(folder)
    assert sorted(after) == sorted(EXPORT_FILES[fmt])
    assert all(after[name] != before[name] for name in after)  # every file is the new export


@pytest.mark.parametrize("position", [0, 1, 2])
def test_crash_half_way_through_an_export_keeps_every_previous_file(catalogue, perimeters, tmp_path, monkeypatch,
                                                                    position):
    folder = tmp_path / "out"
    before = _old_export(folder, "geojson")
    with Disk(folder, crash_on=position) as disk, pytest.raises(RuntimeError, match="simulated crash"):
        export(perimeters, fmt="geojson", output=folder / "out.geojson", layers=["epci"], catalogue=catalogue)
    assert disk.faults == 1
    assert snapshot(folder) == before and leftovers(folder) == []

