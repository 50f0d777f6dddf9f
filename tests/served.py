"""A Streamlit server of the app for the tests: started on a free port of 127.0.0.1, stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port of 127.0.0.1 free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(env: dict, log_path: Path, *, launcher: tuple[str, ...] = ("streamlit", "run", "app.py"),
           port: int | None = None) -> tuple[subprocess.Popen, str, object]:
    """``streamlit run app.py`` (or ``launcher``) on ``port`` (default: a free one) of 127.0.0.1, once it
    answers its health check."""
    port = port or free_port()
    log = log_path.open("w")
    cmd = [sys.executable, "-m", *launcher, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base, log
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.flush()
            stop(proc, log)
            pytest.fail("streamlit did not start: " + log_path.read_text()[-2000:])
        time.sleep(0.3)


def stop(proc, log) -> None:
    """Stop a server of :func:`start` (killed after 15 s) and close its log."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
