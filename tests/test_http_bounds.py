"""Downloads are bounded and fail fast offline (review findings of issue 17).

Before the fix: a name-resolution failure was retried four times (about 8 s); a server
dripping a byte every few seconds held a download (and a process-wide lock) for ever;
an endless body wrote 500 MiB for a file the catalogue says is 3.9 MB; a body announced
larger than the catalogue's size was read to the end. All against loopback servers.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from ptce_geo._http import fetch_file
from ptce_geo.errors import DataUnavailable, IntegrityError
from test_http import BODY, BODY_SHA, parts, send, server  # noqa: F401 - the fixture is used by name


def _drip(h, *, length: int, every: float, stop: threading.Event) -> None:
    """Headers, then one byte every ``every`` seconds until ``stop``."""
    h.send_response(200)
    h.send_header("Content-Length", str(length))
    h.end_headers()
    for _ in range(length):
        if stop.wait(every):
            return
        h.wfile.write(b"x")
        h.wfile.flush()


def _endless(h, *, length: int | None = None, stop: threading.Event) -> None:
    h.send_response(200)
    if length is not None:
        h.send_header("Content-Length", str(length))
    h.end_headers()
    block = b"y" * 65536
    while not stop.is_set():
        h.wfile.write(block)


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


def test_name_resolution_failure_is_not_retried(monkeypatch, tmp_path):
    calls = []

    def no_dns(host, *args, **kwargs):
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    start = time.monotonic()
    with pytest.raises(DataUnavailable) as err:
        fetch_file("https://data.example.invalid/communes.geojson.gz", tmp_path / "c.gz", layer_id="communes")
    assert len(calls) == 1 and time.monotonic() - start < 5
    message = str(err.value)
    assert "cannot be resolved" in message
    assert "PTCE_GEO_MIRROR" in message and "PTCE_GEO_CATALOGUE" in message and "mirror-2024.toml" in message
    assert "ptce-geo mirror" in message and "PTCE_GEO_CATALOGUE" in err.value.fr


def test_refused_connection_is_not_retried(tmp_path, caplog):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(DataUnavailable, match="Connection refused"):
        fetch_file(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=4, backoff=1.0)
    assert "retry" not in caplog.text  # one attempt only


def test_a_dripping_server_is_cut_by_the_stall_rule(server, stop, tmp_path):
    server.routes["/slow"] = lambda h, n: _drip(h, length=10_000, every=0.3, stop=stop)
    start = time.monotonic()
    with pytest.raises(DataUnavailable) as err:
        fetch_file(server.url("/slow"), tmp_path / "slow", timeout=1.0, retries=1, backoff=0.1)
    took = time.monotonic() - start
    assert took > 1.0 and server.hits["/slow"] == 2  # two attempts, each cut after 1 s
    assert "stalled" in str(err.value) and "bloqué" in err.value.fr
    assert parts(tmp_path) == []


def test_headers_dripping_are_cut_too(server, stop, tmp_path):
    def route(h, n):
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(200):
            if stop.wait(0.3):
                return
            h.wfile.write(b"X")
            h.wfile.flush()

    server.routes["/h"] = route
    start = time.monotonic()
    with pytest.raises(DataUnavailable):
        fetch_file(server.url("/h"), tmp_path / "h", timeout=1.0, retries=0)
    assert time.monotonic() - start < 20  # 60 s of drip before


def test_the_whole_call_has_a_deadline(server, stop, tmp_path):
    def steady(h, n):  # never stalls: 20 KB/s, for ever
        h.send_response(200)
        h.end_headers()
        while not stop.wait(0.05):
            h.wfile.write(b"z" * 1024)
            h.wfile.flush()

    server.routes["/steady"] = steady
    start = time.monotonic()
    with pytest.raises(DataUnavailable) as err:
        fetch_file(server.url("/steady"), tmp_path / "s", deadline=2.0, timeout=5.0)
    assert 1.9 < time.monotonic() - start < 20
    assert "deadline" in str(err.value)


def test_an_endless_body_stops_at_the_catalogue_size(server, stop, tmp_path):
    server.routes["/endless"] = lambda h, n: _endless(h, stop=stop)
    dest = tmp_path / "communes.gz"
    start = time.monotonic()
    with pytest.raises(IntegrityError) as err:
        fetch_file(server.url("/endless"), dest, size=3_926_196, layer_id="communes")
    assert time.monotonic() - start < 30
    assert "catalogue's size" in str(err.value) and "3926196" in str(err.value)
    assert server.hits["/endless"] == 1  # not retried
    assert not dest.exists() and parts(tmp_path) == []


def test_a_file_of_unknown_size_stops_at_the_default_cap(server, stop, tmp_path):
    server.routes["/endless"] = lambda h, n: _endless(h, stop=stop)
    with pytest.raises(IntegrityError, match="unknown size"):
        fetch_file(server.url("/endless"), tmp_path / "x", max_bytes=2 << 20)
    assert parts(tmp_path) == []


def test_an_announced_length_over_the_cap_is_refused_before_reading(server, tmp_path):
    server.routes["/big"] = lambda h, n: send(h, BODY, length=10 << 30)
    with pytest.raises(IntegrityError, match="announces 10737418240 bytes"):
        fetch_file(server.url("/big"), tmp_path / "big", size=len(BODY))
    assert server.hits["/big"] == 1


def test_a_compressed_transfer_is_capped_once_decoded(server, tmp_path):
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB inflated from about 64 KiB

    def route(h, n):
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(bomb)))
        h.end_headers()
        h.wfile.write(bomb)

    server.routes["/bomb"] = route
    with pytest.raises(IntegrityError, match="more than 4194304 bytes"):
        fetch_file(server.url("/bomb"), tmp_path / "bomb", max_bytes=4 << 20)
    assert parts(tmp_path) == []


def test_a_stalled_download_blocks_no_other_file(server, stop, tmp_path):
    server.routes["/stuck"] = lambda h, n: _drip(h, length=10_000, every=0.5, stop=stop)
    server.routes["/ok"] = lambda h, n: send(h, BODY)
    errors: list[BaseException] = []

    def stuck() -> None:
        try:
            fetch_file(server.url("/stuck"), tmp_path / "stuck", timeout=30, retries=0)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=stuck, daemon=True)
    thread.start()
    time.sleep(0.5)
    start = time.monotonic()
    fetch_file(server.url("/ok"), tmp_path / "ok", sha256=BODY_SHA)
    assert time.monotonic() - start < 10 and (tmp_path / "ok").read_bytes() == BODY
    # a second download of the same file waits for the first, but never past its own deadline
    start = time.monotonic()
    with pytest.raises(DataUnavailable, match="another process has been downloading"):
        fetch_file(server.url("/stuck"), tmp_path / "stuck", deadline=1.0)
    assert time.monotonic() - start < 10
    stop.set()
    thread.join(10)


@pytest.mark.realdata
def test_a_stalled_layer_download_never_blocks_a_loaded_layer(mirror_dir, server, stop, tmp_path, monkeypatch):
    """The review's case: one mirror drips, another layer already loaded answers at once."""
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.layers import clear_memory_cache, load_layer

    folder_layer = (Path(__file__).resolve().parent.parent / "boundaries" / "mirror-2024.toml").read_text()
    # a two-layer catalogue: régions dissolved from the mirror's communes, and pnr from a dripping server
    head, _, rest = folder_layer.partition("[[layer]]")
    layers = ["[[layer]]" + block for block in rest.split("[[layer]]")]
    keep = [b for b in layers if 'id = "communes"' in b or 'id = "regions"' in b]
    pnr = next(b for b in layers if 'id = "pnr"' in b)
    path_line = next(line for line in pnr.splitlines() if line.startswith("source"))
    pnr = pnr.replace(path_line, f'source = {{ url = "{server.url("/pnr.geojson")}", format = "geojson" }}')
    cat_file = tmp_path / "cat.toml"
    # the folder as the base (a set PTCE_GEO_MIRROR would also redirect the pnr URL into it)
    head = head.replace('base = "env:PTCE_GEO_MIRROR"', f"base = {json.dumps(str(mirror_dir))}")
    cat_file.write_text(head + "".join(keep) + pnr, encoding="utf-8")
    server.routes["/pnr.geojson"] = lambda h, n: _drip(h, length=10_000, every=0.5, stop=stop)
    monkeypatch.delenv("PTCE_GEO_MIRROR", raising=False)
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    cat = load_catalogue(cat_file)
    regions = load_layer("regions", catalogue=cat)
    thread = threading.Thread(target=lambda: pytest.raises(DataUnavailable, load_layer, "pnr", catalogue=cat),
                              daemon=True)
    thread.start()
    time.sleep(1.5)
    assert server.hits["/pnr.geojson"] == 1 and thread.is_alive()  # the pnr download is dripping
    start = time.monotonic()
    again = load_layer("regions", catalogue=cat)
    communes = load_layer("communes", catalogue=cat)
    assert time.monotonic() - start < 5  # the drip lasts 5000 s
    assert len(again) == len(regions) == 18 and len(communes) > 34_000
    stop.set()
    thread.join(40)
    clear_memory_cache()
