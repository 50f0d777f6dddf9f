"""Inputs that are not regular files, outputs that must not be replaced (review findings of issue 17).

Each test reproduces a finding of the outside review on the code before the fix:
``--poles /dev/zero`` grew without end, a FIFO blocked for ever, ``--output`` replaced a
device node or a symbolic link with a regular file, ``export --output F --poles F``
overwrote its own input, and a JSON document that is a string was read again as a path.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ptce_geo._integrity import (
    atomic_copy,
    atomic_write_bytes,
    atomic_write_files,
    check_output,
    read_regular_file,
    read_sidecar,
    sidecar_matches,
    write_sidecar,
)
from ptce_geo.cli import main
from ptce_geo.errors import InvalidInput, InvalidPerimeter
from ptce_geo.perimeters import parse_json

REPO = Path(__file__).resolve().parent.parent
POLY = {"type": "Polygon", "coordinates": [[[2.0, 45.0], [2.1, 45.0], [2.1, 45.1], [2.0, 45.0]]]}


def _poles_doc(*ids: str) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": i, "nom": i}, "geometry": POLY} for i in ids]}


# ------------------------------------------------------------------ inputs
def test_dev_zero_is_refused_at_once_not_read_without_end():
    start = time.monotonic()
    with pytest.raises(InvalidPerimeter, match="not a regular file"):
        parse_json("/dev/zero")
    assert time.monotonic() - start < 10  # (it grew to 11 GB in 20 s)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "poles.fifo"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def read() -> None:
        try:
            parse_json(fifo)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            result.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():  # the old reader blocks here until a writer opens the FIFO
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert isinstance(result[0], InvalidPerimeter) and "not a regular file" in str(result[0])


def test_size_is_checked_while_reading_not_from_st_size(tmp_path):
    big = tmp_path / "big.geojson"
    big.write_bytes(b" " * 2048)
    with pytest.raises(InvalidInput, match="larger than"):
        read_regular_file(big, max_bytes=1024)
    assert read_regular_file(big, max_bytes=4096) == b" " * 2048
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_regular_file(tmp_path, max_bytes=10)


@pytest.mark.parametrize("doc, word", [("null", "null"), ('"/etc/hostname"', "a string"),
                                        ("3000000000", "a number"), ("true", "a boolean")])
def test_a_json_document_that_is_no_object_is_refused_never_reread(tmp_path, doc, word, capsys):
    path = tmp_path / "p.geojson"
    path.write_text(doc, encoding="utf-8")
    with pytest.raises(InvalidPerimeter, match=word):
        parse_json(path)
    # a parsed value given back is never taken for a path (or a size: bytes(3e9))
    with pytest.raises(InvalidPerimeter):
        parse_json(3_000_000_000)
    assert main(["poles", "check", str(path), "--catalogue", str(REPO / "boundaries" / "mirror-2024.toml")]) == 2
    out = capsys.readouterr().out
    assert word in out and "hostname" not in out.replace(str(path), "")


# ------------------------------------------------------------------ outputs
def test_check_output_refuses_devices_fifos_links_folders_and_inputs(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real = tmp_path / "real.csv"
    real.write_text("x")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    for path, words in ((Path("/dev/null"), "device"), (fifo, "FIFO"), (link, "symbolic link"),
                        (tmp_path, "folder")):
        with pytest.raises(InvalidInput, match=words):
            check_output(path)
    with pytest.raises(InvalidInput, match="input"):
        check_output(real, inputs=[str(real)])
    with pytest.raises(InvalidInput, match="input"):  # the same file by another name
        check_output(link.parent / "." / "real.csv", inputs=[link])
    new = tmp_path / "new.csv"
    assert check_output(new, inputs=[real]) == new


def test_atomic_writes_leave_a_link_and_its_target_alone(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    with pytest.raises(InvalidInput, match="symbolic link"):
        atomic_write_bytes(link, b"new")
    with pytest.raises(InvalidInput):
        atomic_write_files([(tmp_path / "a.txt", b"a"), (link, b"b")])
    assert link.is_symlink() and target.read_text() == "keep" and not (tmp_path / "a.txt").exists()


def _private_device(folder: Path, minor: int) -> Path:
    """A character device of our own: /dev/null (minor 3) or /dev/full (minor 7), in ``folder``."""
    path = folder / f"dev-{minor}"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs root")
    return path


@pytest.mark.realdata
@pytest.mark.parametrize("minor", [3, 7], ids=["null", "full"])
def test_cli_output_onto_a_device_is_refused_and_the_device_stays(minor, mirror_env, capsys, tmp_path):
    # a device of our own, never the machine's /dev/null: the code before the fix replaced it
    device = _private_device(tmp_path, minor)
    poles = tmp_path / "p.geojson"
    poles.write_text(json.dumps(_poles_doc("a")))
    code = main(["analyze", "--layer", "epci", "--poles", str(poles), "--output", str(device)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --output") and "device" in err and err.count("\n") == 1
    after = os.lstat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == os.makedev(1, minor)


@pytest.mark.realdata
def test_cli_output_onto_its_own_poles_file_is_refused(mirror_env, capsys, tmp_path):
    poles = tmp_path / "p.geojson"
    text = json.dumps(_poles_doc("a"))
    poles.write_text(text)
    for argv in (["export", "--format", "csv", "--poles", str(poles), "--output", str(poles)],
                 ["analyze", "--layer", "epci", "--poles", str(poles), "--output", str(poles)],
                 ["scorecard", "--poles", str(poles), "-o", str(poles)]):
        assert main(argv) == 2
        assert "also an input" in capsys.readouterr().err
    assert poles.read_text() == text


def test_export_refuses_its_input_and_links_before_computing(tmp_path):
    from ptce_geo.export import export

    poles = tmp_path / "p.geojson"
    poles.write_text("{}")
    with pytest.raises(InvalidInput, match="input"):
        export(None, fmt="csv", output=poles, inputs=(str(poles),))  # refused before any computation
    link = tmp_path / "x.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(InvalidInput, match="symbolic link"):
        export(None, fmt="csv", output=link)
    assert not (tmp_path / "elsewhere.csv").exists()


def test_a_full_disk_behind_stdout_is_one_line_with_exit_2(tmp_path):
    code = ("import sys; from ptce_geo.cli import main; "
            "sys.exit(main(['layers', '--format', 'json', '--catalogue', sys.argv[1]]))")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", code, str(REPO / "boundaries" / "catalogue.toml")],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: cannot write the output") and proc.stderr.count("\n") == 1


# ------------------------------------------------------------------ sidecars and copies
def test_sidecars_vouch_only_for_the_bytes_they_describe(tmp_path):
    import hashlib

    f = tmp_path / "t.parquet"
    f.write_bytes(b"abc")
    write_sidecar(f, {"size": 3, "sha256": hashlib.sha256(b"abc").hexdigest(), "rows": 1})
    assert read_sidecar(f)["rows"] == 1 and sidecar_matches(f) and sidecar_matches(f, data=b"abc")
    assert not sidecar_matches(f, sha256="0" * 64) and not sidecar_matches(f, size=4)
    f.write_bytes(b"abd")
    assert not sidecar_matches(f)
    f.unlink()
    f.mkdir()  # a folder where the file was
    assert not sidecar_matches(f)


def test_atomic_copy_streams_and_returns_the_sha256(tmp_path):
    import hashlib

    src = tmp_path / "src.bin"
    data = os.urandom(3 << 20)
    src.write_bytes(data)
    dest = tmp_path / "m" / "dest.bin"
    assert atomic_copy(src, dest) == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data
    with pytest.raises(InvalidInput, match="input"):
        atomic_copy(src, src)
    assert [p.name for p in dest.parent.iterdir()] == ["dest.bin"]
