"""Time to serve the opening page's files, with and without uvicorn's fast event loop and parser.

A browser opening the app first loads Streamlit's page and about a hundred JavaScript, CSS
and font files (the shell, :mod:`app_pages.shell`, asks for them all from the page's head).
Streamlit serves them with uvicorn, which uses uvloop (event loop) and httptools (HTTP
parser) when they are installed — the ``[app]`` extra installs both — and otherwise asyncio's
own loop and h11, written in Python.

Two servers are started side by side (``python -m app_pages.serve``): the baseline with
uvloop and httptools hidden from Python, the other as installed. Each round fetches the page
and every file it names, over 6 keep-alive connections as a browser does, from each server in
turn. Prints the median time of each, their ratio and the cores used. Run it on an otherwise
idle machine::

    .venv/bin/python bench/bench_serving.py [--rounds 9]

(the data settings are not needed: on an unprepared cache the server starts at once).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import queue
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import served  # noqa: E402

CONNECTIONS = 6
#: what hides the two modules from the baseline server (imported at its start)
HIDE = "import sys\nfor name in ('uvloop', 'httptools'):\n    sys.modules[name] = None\n"
ASSET = re.compile(r"""(?:src|href)=["'](?:\./|/)?(static/[^"']+)["']""")


def page_files(base: str) -> list[str]:
    """The page's path and every file of Streamlit's static folder its HTML names."""
    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    conn.request("GET", "/")
    html = conn.getresponse().read().decode()
    conn.close()
    return ["/", *dict.fromkeys("/" + p for p in ASSET.findall(html))]


def fetch_all(base: str, paths: list[str]) -> tuple[float, int]:
    """Seconds to fetch ``paths`` over :data:`CONNECTIONS` keep-alive connections, and bytes read."""
    host = urlsplit(base)
    todo: queue.Queue[str] = queue.Queue()
    for p in paths:
        todo.put(p)
    sizes: list[int] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        while True:
            try:
                path = todo.get_nowait()
            except queue.Empty:
                break
            conn.request("GET", path, headers={"Accept-Encoding": "gzip, deflate, br"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{path}: HTTP {resp.status}")
            sizes.append(len(body))
        conn.close()

    t = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t, sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    missing = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{', '.join(missing)} not installed: both servers would be the baseline "
              "(pip install -e '.[app]' installs them)")
        raise SystemExit(2)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        hide = Path(tmp, "hide")
        hide.mkdir()
        (hide / "sitecustomize.py").write_text(HIDE)
        env = dict(os.environ)
        base_env = dict(env, PYTHONPATH=os.pathsep.join([str(hide), *filter(None, [env.get("PYTHONPATH")])]))
        servers = {}
        try:
            servers["asyncio + h11 (baseline)"] = served.start(base_env, Path(tmp, "baseline.log"),
                                                               launcher=("app_pages.serve",))
            servers["uvloop + httptools"] = served.start(env, Path(tmp, "fast.log"), launcher=("app_pages.serve",))
            time.sleep(1.0)  # both idle
            paths = {name: page_files(base) for name, (_, base, _) in servers.items()}
            first = next(iter(paths.values()))
            if any(p != first for p in paths.values()):
                raise SystemExit("the two servers name different files")
            times: dict[str, list[float]] = {name: [] for name in servers}
            nbytes = 0
            for name, (_, base, _) in servers.items():  # one round each, not timed
                fetch_all(base, first)
            for _ in range(args.rounds):
                for name, (_, base, _) in servers.items():
                    seconds, nbytes = fetch_all(base, first)
                    times[name].append(seconds)
        finally:
            for proc, _, log in servers.values():
                served.stop(proc, log)
    print(f"the opening page and its {len(first) - 1} files ({nbytes / 1e6:.1f} MB), {CONNECTIONS} connections, "
          f"median of {args.rounds} rounds, {cores} core(s) available (run on an otherwise idle machine)")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(f"  {name:26s} {medians[name]:.3f} s (min {min(ts):.3f}, max {max(ts):.3f})")
    baseline, fast = medians.values()
    print(f"uvloop + httptools: {baseline / fast:.1f}x faster than asyncio + h11")


if __name__ == "__main__":
    main()
