"""The first hour, for real: one way in, offline fast and complete, quiet and local (issue 17).

* ``./dev ptce-geo analyze --layer epci`` works from the checkout with no variable set;
  ``-v`` says which mirror was chosen; the search order is the documented one.
* Without network and without a mirror, a command fails in a few seconds with one
  message naming ``PTCE_GEO_MIRROR`` and ``PTCE_GEO_CATALOGUE`` (``unshare -n`` when the
  machine allows it, else name resolution made to fail inside the process).
* ``ptce-geo mirror DIR`` makes a folder mirror from a filled cache, and
  ``PTCE_GEO_MIRROR=DIR PTCE_GEO_CATALOGUE=DIR/catalogue.toml ptce-geo fetch`` works with
  the network off.
* The app, in its default configuration, opens no connection beyond 127.0.0.1 (checked
  with ``strace -f -e trace=connect`` when available, and always with an audit hook on
  every socket of the server's Python processes) and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import MIRROR_CATALOGUE, REPO_ROOT

PTCE_GEO = Path(sys.executable).with_name("ptce-geo")
BESIDE = REPO_ROOT.parent / "shared" / "data"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who set nothing (the test's own PTCE_GEO_* removed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTCE_GEO_")}
    env.update(extra)
    return env


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


UNSHARE = _can_unshare()

#: name resolution and connections beyond loopback fail inside the process (no traffic at all)
NO_NETWORK_SITE = textwrap.dedent('''
    import socket
    _real_getaddrinfo, _real_connect = socket.getaddrinfo, socket.socket.connect
    _LOCAL = ("127.0.0.1", "::1", "localhost")

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL and host is not None:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
''')


def _offline(cmd: list[str], env: dict[str, str], tmp_path: Path, timeout: float = 600):
    """Run ``cmd`` with no network: in an empty network namespace, or with resolution failing."""
    if UNSHARE:
        return subprocess.run(["unshare", "-n", *cmd], env=env, capture_output=True, text=True, timeout=timeout)
    site = tmp_path / "nonet"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NO_NETWORK_SITE)
    env = dict(env, PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]))
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------ one way in
@pytest.mark.realdata
def test_dev_ptce_geo_analyze_works_with_no_variable_set(mirror_dir, session_cache):
    if not (BESIDE / "communes" / "communes_2024.geojson.gz").is_file():
        pytest.skip("the mirror is not beside the checkout (../shared/data)")
    import hashlib

    venv = Path(sys.executable).parent.parent  # the environment running the tests
    stamp = venv / ".ptce_geo-installed"
    want = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.is_file() or stamp.read_text().strip() != want:
        pytest.skip("the test environment was not installed by ./dev for this pyproject.toml (./dev would "
                    "install again, which needs the network)")
    env = _clean_env(PTCE_GEO_CACHE=str(session_cache), PTCE_GEO_VENV=str(venv))
    proc = subprocess.run([str(REPO_ROOT / "dev"), "ptce-geo", "analyze", "--layer", "epci", "-v"], env=env,
                          capture_output=True, text=True, timeout=900, cwd="/")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("pole_id,") and ",layer," in lines[0] and len(lines) == 30  # header, 29 poles
    assert "found beside the checkout" in proc.stderr and "mirror-2024.toml" in proc.stderr


def test_the_installed_command_and_its_help(capsys):
    proc = subprocess.run([str(PTCE_GEO), "--version"], capture_output=True, text=True, timeout=60)
    import ptce_geo

    assert proc.returncode == 0 and proc.stdout.strip() == f"ptce-geo {ptce_geo.__version__}"
    proc = subprocess.run([str(PTCE_GEO), "analyze", "--help"], capture_output=True, text=True, timeout=60,
                          env=_clean_env(PTCE_GEO_CATALOGUE=str(REPO_ROOT / "boundaries" / "catalogue.toml")))
    from ptce_geo.catalogue import load_catalogue

    ids = load_catalogue(REPO_ROOT / "boundaries" / "catalogue.toml").ids(kind="partition")
    listed = re.search(r"--layer LAYER\s+one of: ([^(]*)\(see", proc.stdout)
    assert listed and listed.group(1).split() == [f"{i}," for i in ids[:-1]] + [ids[-1]], proc.stdout


@pytest.mark.parametrize("argv", [["layers", "-v"], ["-v", "layers"], ["--verbose", "layers"],
                                  ["layers", "--verbose"], ["-v", "layers", "-v"]])
def test_verbose_says_which_mirror_and_catalogue(tmp_path, argv):
    """``-v`` works before the command (as the README writes ``ptce-geo -v …``) and after it."""
    env = _clean_env(PTCE_GEO_MIRROR="", PTCE_GEO_CACHE=str(tmp_path))
    proc = subprocess.run([str(PTCE_GEO), *argv], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "INFO: data: mirror (none) (none set or found beside the checkout: official hosts)" in proc.stderr
    assert "catalogue.toml" in proc.stderr
    assert proc.stdout.split()[0] == "id" and "communes" in proc.stdout  # the command itself ran


@pytest.mark.parametrize("argv", [["--debug", "pieces", "--layer", "nope"], ["pieces", "--layer", "nope", "--debug"],
                                  ["pieces", "--layer", "nope"]])
def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path, argv):
    """``--debug`` (before or after the command) shows the traceback; without it, one line. The unknown
    layer is said before any layer is read (an empty mirror folder: nothing could be read anyway)."""
    env = _clean_env(PTCE_GEO_CATALOGUE=str(REPO_ROOT / "boundaries" / "mirror-2024.toml"),
                     PTCE_GEO_MIRROR=str(tmp_path / "empty-mirror"), PTCE_GEO_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([str(PTCE_GEO), *argv], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    debug = "--debug" in argv
    assert ("Traceback (most recent call last)" in proc.stderr) is debug, proc.stderr
    assert "Unknown layer 'nope'" in proc.stderr
    if not debug:
        assert proc.stderr.startswith("error: Unknown layer 'nope'") and proc.stderr.count("\n") == 1, proc.stderr


def test_pieces_help_lists_every_layer_and_analyze_only_divisions():
    env = _clean_env(PTCE_GEO_CATALOGUE=str(REPO_ROOT / "boundaries" / "catalogue.toml"))
    from ptce_geo.catalogue import load_catalogue

    cat = load_catalogue(REPO_ROOT / "boundaries" / "catalogue.toml")
    for command, kind in (("pieces", None), ("analyze", "partition")):
        proc = subprocess.run([str(PTCE_GEO), command, "--help"], capture_output=True, text=True, timeout=60, env=env)
        listed = re.search(r"--layer LAYER\s+one of: ([^(]*)\(see", proc.stdout)
        assert listed and [w.rstrip(",") for w in listed.group(1).split()] == cat.ids(kind=kind), proc.stdout
    assert "qpv" in cat.ids() and "qpv" not in cat.ids(kind="partition")


def test_without_verbose_nothing_is_logged(tmp_path):
    env = _clean_env(PTCE_GEO_MIRROR="", PTCE_GEO_CACHE=str(tmp_path))
    proc = subprocess.run([str(PTCE_GEO), "layers"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "" and "communes" in proc.stdout


def test_the_search_order_beside_the_checkout(tmp_path, monkeypatch):
    from ptce_geo.settings import MIRROR_CATALOGUE as SHARED_CATALOGUE
    from ptce_geo.settings import discover_data

    first, second = tmp_path / "shared" / "data", tmp_path / "ptce-geo-mirror"
    second.mkdir(parents=True)
    (second / "catalogue.toml").write_text("[catalogue]\nname = 'x'\n")
    for name in ("PTCE_GEO_MIRROR", "PTCE_GEO_CATALOGUE"):
        monkeypatch.delenv(name, raising=False)
    choice = discover_data(search=(first, second), apply=False)
    assert (choice.origin, choice.mirror, choice.catalogue) == ("found", str(second), second / "catalogue.toml")
    (first / "communes").mkdir(parents=True)
    (first / "communes" / "communes_2024.geojson.gz").write_bytes(b"")
    choice = discover_data(search=(first, second))  # the first place wins, and is exported
    assert choice.catalogue == SHARED_CATALOGUE and choice.mirror == str(first)
    assert os.environ["PTCE_GEO_MIRROR"] == str(first) and os.environ["PTCE_GEO_CATALOGUE"] == str(SHARED_CATALOGUE)
    # a catalogue given without its mirror: the folder beside the checkout that holds its files
    monkeypatch.delenv("PTCE_GEO_MIRROR")
    choice = discover_data(str(SHARED_CATALOGUE), search=(second, first))
    assert choice.mirror == str(first) and choice.origin == "found"
    # set, even empty, the variables win: no search
    monkeypatch.setenv("PTCE_GEO_MIRROR", "")
    monkeypatch.delenv("PTCE_GEO_CATALOGUE")
    choice = discover_data(search=(first, second))
    assert choice.origin == "official" and choice.mirror is None
    # PTCE_GEO_MIRROR alone, naming a folder laid out like shared/data, finds its catalogue
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(first))
    assert discover_data(search=()).catalogue == SHARED_CATALOGUE


# ------------------------------------------------------------------ offline
def test_offline_without_a_mirror_fails_in_seconds_naming_both_settings(tmp_path):
    env = _clean_env(PTCE_GEO_MIRROR="", PTCE_GEO_CACHE=str(tmp_path / "cache"))
    start = time.monotonic()
    proc = _offline([str(PTCE_GEO), "analyze", "--layer", "epci"], env, tmp_path, timeout=120)
    took = time.monotonic() - start
    print(f"offline failure after {took:.1f} s ({'unshare -n' if UNSHARE else 'resolution refused in-process'})")
    assert proc.returncode == 2, proc.stderr
    assert took < 10, f"{took:.1f} s"
    err = proc.stderr
    assert "retry" not in err  # no attempt after the first: the name cannot be resolved
    assert err.startswith("error: Cannot download layer 'communes'") and err.count("\n") == 1
    assert "PTCE_GEO_MIRROR" in err and "PTCE_GEO_CATALOGUE" in err and "mirror-2024.toml" in err
    assert "ptce-geo mirror" in err


@pytest.mark.realdata
def test_following_the_message_literally_works(mirror_dir, session_cache, tmp_path):
    """PTCE_GEO_MIRROR alone, set to a copy laid out like shared/data, now finds its catalogue."""
    env = _clean_env(PTCE_GEO_MIRROR=str(mirror_dir), PTCE_GEO_CACHE=str(session_cache))
    proc = _offline([str(PTCE_GEO), "analyze", "--layer", "regions", "-v"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 30 and "mirror-2024.toml" in proc.stderr


@pytest.mark.realdata
def test_a_wrong_mirror_names_the_catalogue_to_use(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _clean_env(PTCE_GEO_MIRROR=str(empty), PTCE_GEO_CACHE=str(tmp_path / "cache"))
    proc = _offline([str(PTCE_GEO), "fetch", "communes"], env, tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "not found" in proc.stderr and "mirror-2024.toml" in proc.stderr and "PTCE_GEO_CATALOGUE" in proc.stderr


@pytest.mark.realdata
def test_mirror_from_a_filled_cache_then_fetch_with_the_network_off(mirror_dir, http_mirror, tmp_path, monkeypatch):
    from ptce_geo.catalogue import load_catalogue
    from ptce_geo.cli import main
    from ptce_geo.layers import _obtain, clear_memory_cache, source_files

    cache = tmp_path / "cache"
    monkeypatch.setenv("PTCE_GEO_CACHE", str(cache))
    monkeypatch.setenv("PTCE_GEO_CATALOGUE", str(MIRROR_CATALOGUE))
    # 1. a colleague with network fills the cache (over http: here a loopback copy)
    monkeypatch.setenv("PTCE_GEO_MIRROR", http_mirror[1])
    cat = load_catalogue()
    from ptce_geo.cache import Cache

    for spec in cat:
        for source in source_files(spec):
            _obtain(spec, source, cat, Cache(), None)
    # 2. then makes the mirror with the network gone (the server's address now refuses)
    monkeypatch.setenv("PTCE_GEO_MIRROR", "http://127.0.0.1:9/")
    folder = tmp_path / "mirror"
    assert main(["mirror", str(folder)]) == 0
    written = load_catalogue(folder / "catalogue.toml")
    assert written.ids() == cat.ids()
    for spec in written:  # the same bytes as the original files, with their size and SHA-256
        original = cat[spec.id].source
        if original is None:
            continue
        assert spec.source.sha256 == original.sha256 and spec.source.size == original.size
        assert (folder / spec.source.location).stat().st_size == original.size
    # 3. elsewhere, with no network at all
    env = _clean_env(PTCE_GEO_MIRROR=str(folder), PTCE_GEO_CATALOGUE=str(folder / "catalogue.toml"),
                     PTCE_GEO_CACHE=str(tmp_path / "office-cache"))
    proc = _offline([str(PTCE_GEO), "fetch", "communes", "regions", "qpv"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    counts = dict(line.split(": ") for line in proc.stdout.strip().splitlines())
    clear_memory_cache()
    monkeypatch.setenv("PTCE_GEO_MIRROR", str(mirror_dir))
    from ptce_geo.layers import load_layer

    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "check-cache"))
    assert counts["regions"] == "18 units ready"
    assert counts["qpv"] == f"{len(load_layer('qpv', catalogue=load_catalogue(MIRROR_CATALOGUE)))} units ready"


def test_mirror_refuses_to_write_over_its_source(tmp_path, monkeypatch, capsys):
    from ptce_geo.cli import main

    folder = tmp_path / "m"
    (folder / "communes").mkdir(parents=True)
    src = folder / "communes" / "communes.geojson"
    src.write_text('{"type": "FeatureCollection", "features": []}')
    cat = folder / "catalogue.toml"
    cat.write_text(textwrap.dedent('''
        [catalogue]
        name = "tiny"
        [[layer]]
        id = "communes"
        title = "Communes"
        kind = "partition"
        vintage = 2024
        licence = "x"
        attribution = "x"
        code_field = "code"
        source = { path = "communes/communes.geojson", format = "geojson" }
    '''))
    monkeypatch.setenv("PTCE_GEO_CACHE", str(tmp_path / "cache"))
    assert main(["mirror", str(folder), "--catalogue", str(cat)]) == 2
    assert "also an input" in capsys.readouterr().err
    assert src.read_text().startswith('{"type"')


# ------------------------------------------------------------------ quiet and local
def test_streamlit_configuration_is_local_and_quiet():
    import tomllib

    conf = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    assert conf["server"]["address"] == "127.0.0.1" and conf["server"]["headless"] is True
    assert conf["browser"]["gatherUsageStats"] is False and conf["browser"]["serverAddress"] == "localhost"
    assert {".venv", "boundaries/cache"} <= set(conf["server"]["folderWatchBlacklist"])
    dev = (REPO_ROOT / "dev").read_text("utf-8")
    assert "--server.address 127.0.0.1" in dev and "--browser.gatherUsageStats false" in dev


def test_no_tracked_file_names_a_path_of_this_machine():
    needle = "/wo" + "rk/"
    proc = subprocess.run(["git", "grep", "-n", needle], cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        pytest.skip("not a git checkout")
    assert proc.stdout == "", proc.stdout


AUDIT_SITE = textwrap.dedent('''
    import json, os, sys
    _LOG = os.environ["PTCE_TEST_NET_LOG"]
    _EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo", "socket.gethostbyname"}

    def _hook(event, args):
        if event in _EVENTS:
            try:
                with open(_LOG, "a") as fh:
                    fh.write(json.dumps([event, os.getpid(), repr(args[1] if event != "socket.getaddrinfo" else args[0])])
                             + "\\n")
            except Exception:
                pass

    sys.addaudithook(_hook)
''')

_LOCAL_HOSTS = {"'127.0.0.1'", "'::1'", "'localhost'", "None"}


def _view_page(port: int, timeout: float) -> list:
    """Open a session over the app's websocket, run the first page; return its ForwardMsgs."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async def run() -> list:
        msgs = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None) as ws:
            back = BackMsg()
            back.rerun_script.query_string = ""
            back.rerun_script.page_script_hash = ""
            await ws.send(back.SerializeToString())
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                fwd = ForwardMsg()
                fwd.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=end - time.monotonic()))
                msgs.append(fwd)
                if fwd.WhichOneof("type") == "script_finished":
                    return msgs
        raise AssertionError("the page did not finish")

    return asyncio.run(run())


@pytest.mark.realdata
@pytest.mark.slow
def test_the_app_opens_no_connection_beyond_loopback(mirror_env, tmp_path):
    pytest.importorskip("websockets")
    from test_app import write_poles

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT_SITE)
    log = tmp_path / "net.jsonl"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(site), PTCE_TEST_NET_LOG=str(log),
               PTCE_GEO_POLES=str(write_poles(tmp_path / "poles.geojson")))
    env.pop("PTCE_GEO_TILES", None)
    # the repository's configuration only: no flag but the port
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", "app.py", "--server.port", str(port)]
    strace_log = tmp_path / "strace.txt"
    if shutil.which("strace"):
        cmd = ["strace", "-f", "-qq", "-e", "trace=connect,bind", "-o", str(strace_log)] + cmd
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        msgs = _view_page(port, timeout=400)
        time.sleep(2)  # anything started by the page view has time to show
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]
    kinds = [m.delta.new_element.WhichOneof("type") for m in msgs if m.WhichOneof("type") == "delta"]
    assert "exception" not in kinds and len(kinds) > 5, out
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e[0] == "socket.bind" for e in events), "the audit hook saw nothing"
    lookups = [e for e in events if e[0] in ("socket.getaddrinfo", "socket.gethostbyname")]
    inet = [e for e in events if e[0] in ("socket.connect", "socket.sendto") and e[2].startswith("(")]
    # (an address that is a string is a Unix socket: the worker's fork server, never the network)
    outbound = [e for e in lookups if e[2] not in _LOCAL_HOSTS] + \
        [e for e in inet if not any(e[2].startswith(f"({h}") for h in _LOCAL_HOSTS)]
    assert outbound == [], outbound
    binds = {e[2] for e in events if e[0] == "socket.bind" and "(" in e[2]}
    assert f"('127.0.0.1', {port})" in binds, binds  # the server listens on loopback only
    assert all(b.startswith(("('127.", "('::1'")) for b in binds), binds
    assert "External URL" not in out and "Network URL" not in out
    # the file watcher looks at the code only (it once logged a 280 KB line listing .venv)
    assert max(len(line) for line in out.splitlines() or [""]) < 2000
    if strace_log.exists():
        trace = strace_log.read_text()
        inet = re.findall(r'(connect|bind)\(\d+, \{sa_family=AF_INET6?, [^}]*?(?:inet_addr\("([^"]+)"\)|'
                          r'inet_pton\(AF_INET6, "([^"]+)")', trace)
        addresses = {(call, v4 or v6) for call, v4, v6 in inet}
        beyond = {(c, a) for c, a in addresses if not (a.startswith("127.") or a == "::1")}
        assert addresses and not beyond, beyond


def test_every_command_line_of_the_readme_parses():
    import shlex

    from ptce_geo.cli import build_parser

    text = (REPO_ROOT / "README.md").read_text("utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("./dev ptce-geo ", "ptce-geo "))]
    assert len(lines) >= 12
    parser = build_parser()
    for line in lines:
        argv = [a for a in shlex.split(line.split("  #")[0].split(" # ")[0]) if "[" not in a and "..." not in a]
        argv = argv[2:] if argv[0] == "./dev" else argv[1:]
        if argv == ["--version"]:
            continue
        args = parser.parse_args(argv)
        assert callable(args.fn), line
        if getattr(args, "output", None):  # no example leaves a file in the repository
            assert not Path(os.path.expanduser(args.output)).resolve().is_relative_to(REPO_ROOT), line
