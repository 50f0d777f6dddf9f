"""The app's first page (app_pages.shell): Streamlit's index.html, in French, and nothing else changed."""

from __future__ import annotations

import logging
import os
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
    # every script, link (bundles, preloads, font, icon, stylesheet) and meta is Streamlit's, in its order
    kept = ("script", "link", "meta", "div", "body", "head")
    assert [t for t in ours.tags if t[0] in kept] == [t for t in original.tags if t[0] in kept]
    assert sum(t == "script" for t, _ in ours.tags) >= 2 and sum(t == "link" for t, _ in ours.tags) > 10


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
    assert (folder / "index.html").read_text(encoding="utf-8") == shell.shell_html(_streamlit_index())
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
        assert page == shell.shell_html(_streamlit_index())
        js = next((STATIC / "static" / "js").glob("index.*.js"))
        with urllib.request.urlopen(f"{base}/static/js/{js.name}", timeout=10) as r:
            assert r.read() == js.read_bytes()
        with urllib.request.urlopen(base + "/carte", timeout=10) as r:  # a page's address: the same shell
            assert r.read().decode("utf-8") == page
    finally:
        served.stop(proc, log)
    assert "first page is served in French" in (tmp_path / "serve.log").read_text()
