"""Tests of ptce_geo._http against a loopback HTTP server (no traffic leaves 127.0.0.1)."""

from __future__ import annotations

import collections
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from ptce_geo._http import (
    atomic_write_bytes,
    fetch_file,
    file_sha256,
    read_meta,
    tqdm_progress,
)
from ptce_geo.errors import DataUnavailable, IntegrityError

REPO_ROOT = Path(__file__).resolve().parent.parent
BODY = bytes(range(256)) * 1200  # 300 KiB, not compressible into anything clever
BODY_SHA = hashlib.sha256(BODY).hexdigest()
OLD = b"previous cache content\n"

Route = Callable[[BaseHTTPRequestHandler, int], None]


class Loopback:
    """Routes and request counts of the test server."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def send(h: BaseHTTPRequestHandler, body: bytes, *, status: int = 200,
         length: int | None = None, chunk: int = 1 << 16, delay: float = 0.0,
         headers: dict[str, str] | None = None) -> None:
    """Answer ``body`` in chunks; ``length`` overrides the Content-Length header."""
    h.send_response(status)
    h.send_header("Content-Length", str(len(body) if length is None else length))
    h.send_header("ETag", '"v1"')
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.end_headers()
    for start in range(0, len(body), chunk):
        h.wfile.write(body[start:start + chunk])
        h.wfile.flush()
        if delay:
            time.sleep(delay)


@pytest.fixture
def server():
    state = Loopback()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            with state.lock:
                state.hits[path] += 1
                n = state.hits[path]
            route = state.routes.get(path)
            try:
                if route is None:
                    send(self, b"not found", status=404)
                else:
                    route(self, n)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.part-*"))


def child_fetch(url: str, dest: Path, **kwargs) -> subprocess.Popen:
    """Run fetch_file in a fresh Python process; it prints 'ready' first, then 'done'."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        print("ready", flush=True)
        from ptce_geo._http import fetch_file
        fetch_file({url!r}, Path({str(dest)!r}), **{kwargs!r})
        print("done", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# ------------------------------------------------------------------------------ tests


def test_plain_download(server, tmp_path):
    server.routes["/f.bin"] = lambda h, n: send(h, BODY)
    calls: list[tuple[int, int | None]] = []
    dest = tmp_path / "sub" / "f.bin"
    out = fetch_file(server.url("/f.bin"), dest, progress=lambda d, t: calls.append((d, t)),
                     layer_id="communes")
    assert out == dest
    assert dest.read_bytes() == BODY
    meta = read_meta(dest)
    assert meta["sha256"] == BODY_SHA == file_sha256(dest)
    assert meta["size"] == len(BODY)
    assert meta["url"] == meta["final_url"] == server.url("/f.bin")
    assert meta["etag"] == '"v1"'
    assert meta["fetched_at"].endswith("+00:00")
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == len(BODY) and len(done) > 1
    assert {t for _, t in calls} == {len(BODY)}
    assert parts(dest.parent) == []


def test_valid_cache_is_reused(server, tmp_path):
    server.routes["/f.bin"] = lambda h, n: send(h, BODY)
    dest = tmp_path / "f.bin"
    fetch_file(server.url("/f.bin"), dest, sha256=BODY_SHA)
    fetch_file(server.url("/f.bin"), dest, sha256=BODY_SHA, size=len(BODY))
    assert server.hits["/f.bin"] == 1
    dest.write_bytes(b"x" * len(BODY))  # corrupted in place: the sha256 check sees it
    fetch_file(server.url("/f.bin"), dest, sha256=BODY_SHA)
    assert server.hits["/f.bin"] == 2
    assert dest.read_bytes() == BODY


def test_stale_sidecar_for_other_url_downloads_again(server, tmp_path):
    server.routes["/a"] = lambda h, n: send(h, b"aaa")
    server.routes["/b"] = lambda h, n: send(h, b"bbb")
    dest = tmp_path / "f.bin"
    fetch_file(server.url("/a"), dest)
    fetch_file(server.url("/b"), dest)
    assert dest.read_bytes() == b"bbb"
    assert read_meta(dest)["url"] == server.url("/b")


def test_server_errors_are_retried(server, tmp_path):
    def route(h, n):
        if n <= 2:
            send(h, b"oops", status=500)
        else:
            send(h, BODY)

    server.routes["/f.bin"] = route
    dest = tmp_path / "f.bin"
    fetch_file(server.url("/f.bin"), dest, backoff=0.01)
    assert dest.read_bytes() == BODY
    assert server.hits["/f.bin"] == 3


def test_429_is_retried(server, tmp_path):
    server.routes["/f.bin"] = lambda h, n: (
        send(h, b"slow down", status=429) if n == 1 else send(h, b"ok"))
    dest = tmp_path / "f.bin"
    fetch_file(server.url("/f.bin"), dest, backoff=0.01)
    assert dest.read_bytes() == b"ok"
    assert server.hits["/f.bin"] == 2


def test_truncated_body_keeps_previous_cache(server, tmp_path):
    def route(h, n):  # announce the full length, send half, close
        send(h, BODY[: len(BODY) // 2], length=len(BODY))
        h.close_connection = True

    server.routes["/f.bin"] = route
    dest = tmp_path / "f.bin"
    dest.write_bytes(OLD)
    with pytest.raises(DataUnavailable) as info:
        fetch_file(server.url("/f.bin"), dest, retries=2, backoff=0.01, layer_id="communes")
    assert "communes" in str(info.value) and server.url("/f.bin") in str(info.value)
    assert server.hits["/f.bin"] == 3
    assert dest.read_bytes() == OLD
    assert parts(tmp_path) == []
    assert read_meta(dest) is None


def test_checksum_mismatch_raises_integrity_error(server, tmp_path):
    corrupted = b"\xff" + BODY[1:]
    server.routes["/f.bin"] = lambda h, n: send(h, corrupted)
    dest = tmp_path / "f.bin"
    dest.write_bytes(OLD)
    with pytest.raises(IntegrityError) as info:
        fetch_file(server.url("/f.bin"), dest, sha256=BODY_SHA.upper(), retries=1,
                   backoff=0.01, layer_id="epci")
    message = str(info.value)
    assert BODY_SHA in message
    assert hashlib.sha256(corrupted).hexdigest() in message
    assert "epci" in message and server.url("/f.bin") in message
    assert server.hits["/f.bin"] == 2
    assert dest.read_bytes() == OLD
    assert parts(tmp_path) == []


def test_size_mismatch_raises(server, tmp_path):
    server.routes["/f.bin"] = lambda h, n: send(h, BODY)
    dest = tmp_path / "f.bin"
    with pytest.raises(IntegrityError) as info:
        fetch_file(server.url("/f.bin"), dest, size=len(BODY) + 1, retries=0)
    assert str(len(BODY)) in str(info.value) and str(len(BODY) + 1) in str(info.value)
    assert not dest.exists()
    assert parts(tmp_path) == []


def test_unreachable_host_names_layer_url_and_mirror(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/communes.gpkg"
    dest = tmp_path / "communes.gpkg"
    start = time.monotonic()
    with pytest.raises(DataUnavailable) as info:
        fetch_file(url, dest, retries=1, backoff=0.01, timeout=2, layer_id="communes")
    assert time.monotonic() - start < 3
    assert type(info.value) is DataUnavailable
    message = str(info.value)
    assert "communes" in message and url in message and "PTCE_GEO_MIRROR" in message
    assert "\n" not in message
    assert "« communes »" in info.value.fr and "PTCE_GEO_MIRROR" in info.value.fr
    assert not dest.exists() and parts(tmp_path) == []


def test_404_is_not_retried(server, tmp_path):
    dest = tmp_path / "f.bin"
    with pytest.raises(DataUnavailable) as info:
        fetch_file(server.url("/missing"), dest, backoff=0.01, layer_id="ze")
    assert "404" in str(info.value) and "ze" in str(info.value)
    assert server.hits["/missing"] == 1
    assert not dest.exists()


def test_redirect_is_followed_and_recorded(server, tmp_path):
    def redirect(h, n):
        h.send_response(302)
        h.send_header("Location", "/real/f.bin")
        h.send_header("Content-Length", "0")
        h.end_headers()

    server.routes["/old/f.bin"] = redirect
    server.routes["/real/f.bin"] = lambda h, n: send(h, BODY)
    dest = tmp_path / "f.bin"
    fetch_file(server.url("/old/f.bin"), dest)
    assert dest.read_bytes() == BODY
    meta = read_meta(dest)
    assert meta["url"] == server.url("/old/f.bin")
    assert meta["final_url"] == server.url("/real/f.bin")


def test_not_http_url_is_refused(tmp_path):
    with pytest.raises(DataUnavailable):
        fetch_file("ftp://example.invalid/x", tmp_path / "x")


def test_concurrent_processes_download_once(server, tmp_path):
    gate = threading.Event()

    def route(h, n):
        gate.wait(10)
        send(h, BODY, chunk=1 << 15, delay=0.01)

    server.routes["/f.bin"] = route
    dest = tmp_path / "f.bin"
    url = server.url("/f.bin")
    first = child_fetch(url, dest, backoff=0.01)
    wait_for(lambda: server.hits["/f.bin"] == 1)  # first holds the lock, mid-request
    second = child_fetch(url, dest, backoff=0.01)
    assert second.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # let it import and block on the lock
    assert second.poll() is None
    gate.set()
    for proc in (first, second):
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "done" in out
    assert server.hits["/f.bin"] == 1
    assert dest.read_bytes() == BODY
    assert read_meta(dest)["sha256"] == BODY_SHA
    assert parts(tmp_path) == []


def test_concurrent_threads_download_once(server, tmp_path):
    server.routes["/f.bin"] = lambda h, n: send(h, BODY, chunk=1 << 15, delay=0.01)
    dest = tmp_path / "f.bin"
    errors: list[BaseException] = []

    def run():
        try:
            fetch_file(server.url("/f.bin"), dest)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert errors == []
    assert server.hits["/f.bin"] == 1
    assert dest.read_bytes() == BODY


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_killed_download_leaves_cache_and_is_cleaned(server, tmp_path):
    slow = threading.Event()
    slow.set()
    server.routes["/f.bin"] = lambda h, n: send(
        h, BODY, chunk=4096, delay=0.05 if slow.is_set() else 0.0)
    dest = tmp_path / "f.bin"
    dest.write_bytes(OLD)
    proc = child_fetch(server.url("/f.bin"), dest)
    wait_for(lambda: any(p.stat().st_size > 0 for p in parts(tmp_path)))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    leftovers = parts(tmp_path)
    assert len(leftovers) == 1 and str(proc.pid) in leftovers[0].name
    assert dest.read_bytes() == OLD
    slow.clear()
    fetch_file(server.url("/f.bin"), dest)
    assert dest.read_bytes() == BODY
    assert parts(tmp_path) == []


def test_leftover_rules(tmp_path):
    dest = tmp_path / "f.bin"
    live_fresh = tmp_path / f"f.bin.part-{os.getpid()}-aa"
    live_old = tmp_path / f"f.bin.part-{os.getpid()}-bb"
    other = tmp_path / "g.bin.part-1-cc"
    for p in (live_fresh, live_old, other):
        p.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(live_old, (two_hours_ago, two_hours_ago))
    from ptce_geo._http import _remove_leftovers

    _remove_leftovers(dest)
    assert live_fresh.exists() and not live_old.exists() and other.exists()


def test_atomic_write_bytes(tmp_path):
    target = tmp_path / "a" / "b.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert parts(target.parent) == []


def test_read_meta_missing_or_broken(tmp_path):
    dest = tmp_path / "f.bin"
    assert read_meta(dest) is None
    Path(str(dest) + ".meta.json").write_text("{not json")
    assert read_meta(dest) is None


def test_tqdm_progress_callback(server, tmp_path, capsys):
    server.routes["/f.bin"] = lambda h, n: send(h, BODY)
    with tqdm_progress("communes", disable=False) as callback:
        fetch_file(server.url("/f.bin"), tmp_path / "f.bin", progress=callback)
        callback(10, None)  # a retry restarting from zero resets the bar
    err = capsys.readouterr().err
    assert "communes" in err
