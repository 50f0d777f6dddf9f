"""Shared pytest fixtures.

Real-data tests read the boundary mirror in ``../shared/data`` (or ``PTCE_GEO_MIRROR``
when it names a folder). In CI (``CI`` set) a missing mirror is an error; elsewhere
those tests are skipped with a message saying so. No test sends traffic beyond
127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MIRROR_CATALOGUE = REPO_ROOT / "boundaries" / "mirror-2024.toml"


def _mirror_folder() -> Path | None:
    env = os.environ.get("PTCE_GEO_MIRROR", "")
    candidates = [Path(env)] if env and not env.startswith(("http://", "https://")) else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "communes" / "communes_2024.geojson.gz").is_file():
            return c.resolve()
    return None


MIRROR = _mirror_folder()


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The mirror folder; skip (outside CI) when absent."""
    if MIRROR is None:
        if os.environ.get("CI"):
            pytest.fail("the boundary mirror (../shared/data or PTCE_GEO_MIRROR) is missing in CI")
        pytest.skip("boundary mirror ../shared/data absent: real-data test skipped")
    return MIRROR


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One cache folder for the whole test session (layers are built once)."""
    return tmp_path_factory.mktemp("ptce_cache")


@pytest.fixture()
def mirror_env(mirror_dir, session_cache, monkeypatch):
    """Point ptce_geo at the mirror catalogue, the mirror folder and the session cache."""
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(mirror_dir))
    monkeypatch.setenv("PTCE_GEO_CATALOGUE", str(MIRROR_CATALOGUE))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(session_cache))
    return mirror_dir


@pytest.fixture()
def catalogue(mirror_env):
    """The mirror catalogue, loaded."""
    from ptce_geo.catalogue import load_catalogue

    return load_catalogue(MIRROR_CATALOGUE)


class _QuietHandler:
    """Mixin silencing http.server's request log."""

    def log_message(self, *args):  # noqa: D401 - http.server API
        pass


def serve_directory(folder):
    """Serve ``folder`` over http on 127.0.0.1 (random free port), in a thread.

    Returns ``(server, base_url)``; ``server.requests`` lists the paths asked for and
    ``server.shutdown()`` stops it.
    """
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(_QuietHandler, SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            server.requests.append(self.path)
            return super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="session")
def http_mirror(mirror_dir):
    """The mirror folder served over loopback http: ``(server, base_url)``."""
    server, url = serve_directory(mirror_dir)
    try:
        yield server, url
    finally:
        server.shutdown()
        server.server_close()
