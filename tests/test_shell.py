"""The app's first page (app_pages.shell): Streamlit's index.html, in French, fetching early what the
opening page needs, and nothing else changed."""

from __future__ import annotations

import logging
import os
import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

import served
from streamlit import file_util

from app_pages import shell

STATIC = Path(file_util.get_static_dir())


class _Page(HTMLParser):
    """What a browser reads from a page: its elements with their attributes, and its text by element."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag):
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag):]

    def handle_data(self, data):
        for tag in self._open:
            self.text[tag] = self.text.get(tag, "") + data


def _streamlit_index() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


def test_the_shell_is_streamlits_page_in_french_with_every_file_it_loads():
    original, ours = _Page(_streamlit_index()), _Page(shell.shell_html(_streamlit_index()))
    assert dict(original.tags[[t for t, _ in original.tags].index("html")][1])["lang"] == "en"  # what is fixed
    assert dict(ours.tags[[t for t, _ in ours.tags].index("html")][1]) == {"lang": "fr"}
    assert ours.text["title"] == "PTCE géo" and original.text["title"] == "Streamlit"
    noscript = " ".join(ours.text["noscript"].split())
    assert noscript.startswith("PTCE géo a besoin de JavaScript") and "enable" not in noscript
    # in the root, until Streamlit draws the app there, a French status instead of a white page
    status = [t for t in ours.tags if t[0] == "div" and ("role", "status") in t[1]]
    # (the text of the root and of the status, which hold only it)
    assert len(status) == 1 and " ".join(ours.text["div"].split()) == "Chargement de PTCE géo…" * 2
    assert ours.tags[ours.tags.index(status[0]) - 1] == ("div", (("id", "root"),))
    assert "div" not in original.text  # Streamlit's root is empty
    # every script, link (bundles, preloads, font, icon, stylesheet) and meta is Streamlit's, in its order
    kept = ("script", "link", "meta", "div", "body", "head")
    assert [t for t in ours.tags if t[0] in kept and t not in status] == [t for t in original.tags if t[0] in kept]
    assert sum(t == "script" for t, _ in ours.tags) >= 2 and sum(t == "link" for t, _ in ours.tags) > 10


def _js_files() -> list[str]:
    return sorted(p.name for p in (STATIC / "static" / "js").iterdir())


def test_the_opening_pages_element_code_is_fetched_with_the_page():
    """Streamlit's page plus, at the end of its head, the opening page's on-demand modules and the map's files."""
    index = _streamlit_index()
    modules = shell.first_run_chunks(STATIC, index)
    # the modules named after the opening page's elements are there, and only those elements' own
    names = {m.split(".", 1)[0] for m in modules}
    assert set(shell.FIRST_RUN_ELEMENTS) <= names
    assert not names & {"DataFrame", "Arrow", "Slider", "FileUploader", "Plot", "Table"}
    assert set(modules) <= set(_js_files()) and len(modules) == len(set(modules))
    preloaded = set(re.findall(r'href="\./static/js/([^"]+)"', index))
    assert not set(modules) & preloaded  # nothing Streamlit's page loads already
    # what each module imports first, read independently: every file named in its import statements
    js = STATIC / "static" / "js"
    for name in modules:
        for dep in re.findall(r'from\s*["`\']\./([^"`\']+\.js)["`\']', (js / name).read_text(encoding="utf-8")):
            assert dep in modules or dep in preloaded or dep.startswith("index."), (name, dep)
    assets = ["/app/static/vendor/88d58c69-leaflet.js", "/app/static/vendor/c11d0f6f-leaflet.css",
              "https://cdn.jsdelivr.net/npm/leaflet.js", "//unpkg.com/leaflet.css", "/app/static/vendor/x.png"]
    original, ours = _Page(index), _Page(shell.shell_html(index, modules=modules, assets=assets))
    added = [t for t in ours.tags if t[0] == "link" and t not in original.tags]
    assert added == [("link", (("rel", "modulepreload"), ("crossorigin", None), ("href", f"./static/js/{m}")))
                     for m in modules] + [
        ("link", (("rel", "preload"), ("as", "script"), ("href", assets[0]))),
        ("link", (("rel", "preload"), ("as", "style"), ("href", assets[1])))]  # never another host's
    head = shell.shell_html(index, modules=modules, assets=assets)
    assert head.index(f"./static/js/{modules[-1]}") < head.index("</head>") < head.index("<body")


def test_a_bundle_of_another_form_gives_no_early_fetch(tmp_path):
    bundle = ('const __vite__mapDeps=(i,m=__vite__mapDeps,d=(m.f||(m.f=["./a.1.js","./Radio.2.js","./b.css"])))'
              '=>i.map(i=>d[i]);x=()=>H(()=>import(`./Radio.2.js`),__vite__mapDeps([1,0,2]),import.meta.url);'
              'y=()=>H(()=>import("./Slider.3.js"),__vite__mapDeps([0]));')
    assert shell.lazy_chunks(bundle) == {"Radio.2.js": ["Radio.2.js", "a.1.js", "b.css"], "Slider.3.js": ["a.1.js"]}
    assert shell.lazy_chunks("import('./Radio.2.js')") == {}  # no table of files: not a bundle we know
    (tmp_path / "static" / "js").mkdir(parents=True)
    for name in ("index.0.js", "a.1.js", "Radio.2.js", "Slider.3.js"):
        (tmp_path / "static" / "js" / name).write_text(bundle if name == "index.0.js" else "", encoding="utf-8")
    page = '<script type="module" crossorigin src="./static/js/index.0.js"></script>'
    assert shell.first_run_chunks(tmp_path, page, elements=("Radio",)) == ["Radio.2.js", "a.1.js"]
    preloaded = page + '<link rel="modulepreload" crossorigin href="./static/js/a.1.js">'
    assert shell.first_run_chunks(tmp_path, preloaded, elements=("Radio",)) == ["Radio.2.js"]
    (tmp_path / "static" / "js" / "Radio.2.js").unlink()  # a file the table names but the build lacks
    assert shell.first_run_chunks(tmp_path, page, elements=("Radio",)) == ["a.1.js"]
    assert shell.first_run_chunks(tmp_path, "<script src='./static/js/none.js'></script>") == []


def test_a_page_not_as_expected_is_refused_naming_what_is_missing():
    page = _streamlit_index()
    no_noscript = page[:page.index("<noscript>")] + page[page.index("</noscript>") + len("</noscript>"):]
    with pytest.raises(shell.ShellError, match="<noscript>"):
        shell.shell_html(no_noscript)
    with pytest.raises(shell.ShellError, match="<html>, <title>"):
        shell.shell_html("<head></head><noscript>x</noscript>")


def test_build_links_streamlits_files_and_writes_the_page_once(tmp_path):
    folder = shell.build(STATIC, tmp_path)
    assert folder.parent == tmp_path / shell.FOLDER
    assert (folder / "index.html").read_text(encoding="utf-8") == shell.shell_html(
        _streamlit_index(), modules=shell.first_run_chunks(STATIC, _streamlit_index()))
    with_assets = shell.build(STATIC, tmp_path, assets=["/app/static/vendor/l.js"])
    assert with_assets != folder and '"/app/static/vendor/l.js"' in (with_assets / "index.html").read_text()
    others = sorted(p.name for p in STATIC.iterdir() if p.name != "index.html")
    assert sorted(p.name for p in folder.iterdir() if p.name != "index.html") == others
    for name in others:
        assert (folder / name).is_symlink() and (folder / name).resolve() == (STATIC / name).resolve()
    js = next((STATIC / "static" / "js").glob("index.*.js"))
    assert (folder / "static" / "js" / js.name).read_bytes() == js.read_bytes()
    stamp = (folder / "index.html").stat().st_mtime_ns
    assert shell.build(STATIC, tmp_path) == folder and (folder / "index.html").stat().st_mtime_ns == stamp
    assert not [p for p in folder.iterdir() if ".part-" in p.name]
    (folder / "static").unlink()  # a link lost (a cache cleaned by hand): built again, not served broken
    assert shell.build(STATIC, tmp_path) == folder and (folder / "static").resolve() == (STATIC / "static").resolve()


def test_another_streamlit_build_gets_a_folder_of_its_own(tmp_path):
    other = tmp_path / "other-static"
    other.mkdir()
    (other / "index.html").write_text(_streamlit_index().replace("Streamlit", "Streamlit 2"), encoding="utf-8")
    (other / "favicon.png").write_bytes(b"\x89PNG")
    mine, theirs = shell.build(STATIC, tmp_path / "cache"), shell.build(other, tmp_path / "cache")
    assert mine != theirs and (theirs / "favicon.png").resolve() == (other / "favicon.png").resolve()
    assert "<title>PTCE géo</title>" in (theirs / "index.html").read_text(encoding="utf-8")


def test_install_serves_the_shell_or_leaves_streamlits_page(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(file_util, "get_static_dir", lambda: str(STATIC))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ptce_geo.app"):
        assert shell.install(not_a_folder) is None
    assert file_util.get_static_dir() == str(STATIC)  # unchanged
    assert "Streamlit's own index.html is served" in caplog.text
    folder = shell.install(tmp_path / "cache")
    assert folder is not None and file_util.get_static_dir() == str(folder)


def test_the_served_app_sends_the_french_page_and_streamlits_bundles(tmp_path):
    """``python -m app_pages.serve`` (no poles file: nothing to prepare, the server starts at once)."""
    env = {**os.environ, "PTCE_GEO_CACHE": str(tmp_path / "cache"), "PTCE_GEO_POLES": str(tmp_path / "none.geojson")}
    proc, base, log = served.start(env, tmp_path / "serve.log", launcher=("app_pages.serve",))
    try:
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            page = r.read().decode("utf-8")
            assert r.headers["Cache-Control"] == "no-cache"
        index = _streamlit_index()  # nothing prepared: no map files to fetch early
        assert page == shell.shell_html(index, modules=shell.first_run_chunks(STATIC, index))
        js = next((STATIC / "static" / "js").glob("index.*.js"))
        with urllib.request.urlopen(f"{base}/static/js/{js.name}", timeout=10) as r:
            assert r.read() == js.read_bytes()
        with urllib.request.urlopen(base + "/carte", timeout=10) as r:  # a page's address: the same shell
            assert r.read().decode("utf-8") == page
    finally:
        served.stop(proc, log)
    assert "first page is served in French" in (tmp_path / "serve.log").read_text()


def test_an_unprepared_server_imports_the_apps_modules_before_a_visitor_asks(tmp_path):
    """``serve.preimport_app`` (an unprepared cache): the app's modules and Streamlit's emoji table
    loaded, and Leaflet's files installed, in a thread, so that the first visitor's script run draws
    the page at once instead of importing them after the browser has connected."""
    import subprocess
    import sys

    code = ("import sys, logging; logging.basicConfig(level=logging.INFO)\n"
            "from app_pages import serve\n"
            "assert 'app_pages.carte' not in sys.modules and 'streamlit.emojis' not in sys.modules\n"
            "t = serve.preimport_app(); t.join(120)\n"
            "missing = [m for m in serve.app_modules() if m not in sys.modules]\n"
            "print('missing', missing)\n")
    env = {k: v for k, v in os.environ.items()}
    proc = subprocess.run([sys.executable, "-c", code], cwd=served.REPO, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "missing []" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "the app's modules imported in" in proc.stderr and "failed" not in proc.stderr, proc.stderr[-2000:]
