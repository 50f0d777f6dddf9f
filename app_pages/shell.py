"""The page a browser loads first (Streamlit's ``index.html``), in French.

Streamlit's ``index.html`` declares its page English (``<html lang="en">``), is titled
« Streamlit » until the app's script sets its title, and tells a browser without JavaScript,
in English, to enable it. The app speaks French: a screen reader reading the French pages with
an English voice, and a browser offering to translate them « from English », are what a person
meets first. The shell served by ``python -m app_pages.serve`` (``./dev app``) is Streamlit's
page with those three things in French (RGAA 8.3 and 8.4: the page's default language is given
and is right).

It also asks the browser to fetch early what the opening page needs and would otherwise fetch
late (:func:`first_run_chunks`, :func:`shell_html`'s ``assets``). Streamlit loads the code of
most elements (radio buttons, list boxes, a component…) only when a script run first
draws one: in a new browser, the opening page's elements waited for some forty such files,
fetched after the server's first answer, and the map then fetched Leaflet. Declared in
the page (``<link rel="modulepreload">``, ``<link rel="preload">``), they load while Streamlit
connects. Measured on 2 cores, the first map after a restart in a new browser: median 2.43 s
against 2.51 s before (8 runs each, alternated), a gain within the machine's noise.

Only the shell is ours: every other file (Streamlit's bundles, fonts, icons) is Streamlit's own,
reached through symbolic links in a folder of the cache (:func:`build`). When anything is not
as expected (no symbolic links, a Streamlit without ``file_util.get_static_dir``),
:func:`install` logs why and Streamlit's page is served as it is. ``streamlit run app.py``
serves Streamlit's page.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
from pathlib import Path

from ptce_geo._integrity import atomic_symlink, atomic_write_bytes
from ptce_geo.settings import cache_dir

logger = logging.getLogger("ptce_geo.app")

#: the page's language (BCP 47), the title the browser shows until the app sets its own, and
#: what a browser without JavaScript shows
LANG = "fr"
TITLE = "PTCE géo"
#: the elements of the opening page's first run whose code Streamlit's bundle loads on demand (its
#: chunks are named after them): the sidebar's page list and search, st.html, the list boxes and
#: the switch, and the map's component
FIRST_RUN_ELEMENTS = ("Radio", "TextInput", "Html", "Selectbox", "Multiselect", "Checkbox", "BidiComponent")
NOSCRIPT = ("<p>PTCE géo a besoin de JavaScript pour s'afficher : activez JavaScript dans votre "
            "navigateur, puis rechargez la page.</p>")
#: what the page shows from its first paint until Streamlit draws the app in its place (React
#: replaces the root's children): on a cold start, while the server prepares the data and the
#: browser loads Streamlit's code, a visitor reads this instead of a white page
LOADING = ('<div role="status" style="font-family: \'Source Sans\', \'Source Sans Pro\', sans-serif; '
           'color: #31333f; text-align: center; padding: 6rem 2rem; font-size: 1.15rem;">'
           "Chargement de PTCE géo…</div>")
#: bump when what :func:`shell_html` changes, so that a shell built before is rebuilt
SHELL_VERSION = 4
#: the folder of the cache that holds the shells (one per Streamlit build)
FOLDER = "app-shell"

_HTML_TAG = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_TITLE = re.compile(r"<title>.*?</title>", re.IGNORECASE | re.DOTALL)
_NOSCRIPT = re.compile(r"<noscript>.*?</noscript>", re.IGNORECASE | re.DOTALL)
_HEAD_END = re.compile(r"</head>", re.IGNORECASE)
_ROOT = re.compile(r'<div id="root">\s*</div>', re.IGNORECASE)
#: Streamlit's entry bundle, and the modules its page preloads already
_ENTRY = re.compile(r"""<script\b[^>]*\bsrc=["']\./static/js/([^"']+\.js)["']""", re.IGNORECASE)
_PRELOADED = re.compile(r"""<link\b[^>]*\bhref=["']\./static/js/([^"']+\.js)["']""", re.IGNORECASE)
#: in a Vite bundle: the table of files (``m.f=[...]``) and each on-demand import with the rows of
#: the files it needs first (``import(`./Radio.x.js`),__vite__mapDeps([3,1,...])``)
_DEP_FILES = re.compile(r"""\bm\.f=\[([^\]]*)\]""")
_LAZY = re.compile(r"""import\(\s*[`"']\./([^`"']+\.js)[`"']\s*\)\s*,\s*__vite__mapDeps\(\[([\d,\s]*)\]\)""")


class ShellError(ValueError):
    """Streamlit's ``index.html`` is not as the shell expects (another Streamlit build)."""


def lazy_chunks(entry_js: str) -> dict[str, list[str]]:
    """The files a Vite bundle (``entry_js``, Streamlit's) imports on demand, each with the files
    it needs first (names relative to the bundle's folder); empty for a bundle of another form."""
    table = _DEP_FILES.search(entry_js)
    if table is None:
        return {}
    files = [f.strip().strip("`\"'").removeprefix("./") for f in table.group(1).split(",")]
    out: dict[str, list[str]] = {}
    for chunk, rows in _LAZY.findall(entry_js):
        idx = [int(r) for r in rows.replace(" ", "").split(",") if r]
        out.setdefault(chunk, [files[i] for i in idx if i < len(files)])
    return out


def first_run_chunks(static_dir: str | os.PathLike, index_html: str, *,
                     elements: tuple[str, ...] = FIRST_RUN_ELEMENTS) -> list[str]:
    """The modules (files of ``static/js``) of ``elements`` and those they import first, that
    Streamlit's page ``index_html`` does not load already, in the bundle's order.

    Empty when Streamlit's bundle is not as expected (the page is then served without them).
    """
    entry = _ENTRY.search(index_html)
    js_dir = Path(static_dir) / "static" / "js"
    if entry is None or not (js_dir / entry.group(1)).is_file():
        return []
    lazy = lazy_chunks((js_dir / entry.group(1)).read_text(encoding="utf-8"))
    have = {entry.group(1), *_PRELOADED.findall(index_html)}
    out: list[str] = []
    for chunk, deps in lazy.items():
        if chunk.split(".", 1)[0] not in elements:
            continue
        for name in (*deps, chunk):
            if name.endswith(".js") and name not in have and name not in out and (js_dir / name).is_file():
                out.append(name)
    return out


def _local(url: str) -> bool:
    """A path on the page's own server (never another host: the app makes no outside request)."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


def shell_html(index_html: str, *, modules: list[str] | tuple[str, ...] = (),
               assets: list[str] | tuple[str, ...] = ()) -> str:
    """Streamlit's ``index_html`` with its language, title and ``<noscript>`` text in French, and
    « Chargement de PTCE géo… » in its root until the app is drawn there.

    Parameters
    ----------
    index_html : str
        Streamlit's page.
    modules : sequence of str
        Files of Streamlit's ``static/js`` to fetch early (``<link rel="modulepreload">``).
    assets : sequence of str
        Paths on this server of scripts (``.js``) and stylesheets (``.css``) the page's maps
        load, to fetch early (``<link rel="preload">``); any other address is left out.

    Raises
    ------
    ShellError
        When ``index_html`` lacks one of the three (the shell would be half French).
    """
    out, n_html = _HTML_TAG.subn(f'<html lang="{LANG}">', index_html, count=1)
    out, n_title = _TITLE.subn(f"<title>{html.escape(TITLE)}</title>", out, count=1)
    out, n_noscript = _NOSCRIPT.subn(f"<noscript>{NOSCRIPT}</noscript>", out, count=1)
    out = _ROOT.sub(lambda _: f'<div id="root">{LOADING}</div>', out, count=1)  # absent: Streamlit's blank page
    missing = [name for name, n in (("<html>", n_html), ("<title>", n_title), ("<noscript>", n_noscript)) if not n]
    if missing:
        raise ShellError(f"Streamlit's index.html has no {', '.join(missing)}")
    links = [f'<link rel="modulepreload" crossorigin href="./static/js/{html.escape(name, quote=True)}">'
             for name in modules]
    kinds = {".js": "script", ".css": "style"}
    links += [f'<link rel="preload" as="{kinds[Path(url).suffix]}" href="{html.escape(url, quote=True)}">'
              for url in assets if _local(url) and Path(url).suffix in kinds]
    if links:
        out = _HEAD_END.sub(lambda m: "".join(f"  {link}\n" for link in links) + "  " + m.group(0), out, count=1)
    return out


def build(static_dir: str | os.PathLike, cache: str | os.PathLike, *,
          assets: list[str] | tuple[str, ...] = ()) -> Path:
    """The folder to serve instead of Streamlit's ``static_dir``: :func:`shell_html`'s
    ``index.html`` (with the :func:`first_run_chunks` and ``assets`` fetched early) and a
    symbolic link to each of Streamlit's other entries.

    Built once per Streamlit build, shell version and assets (the folder's name is their
    digest), so servers of different Streamlit versions sharing a cache do not meet; the links
    are made under a temporary name and renamed, and the page is written atomically.
    """
    static_dir = Path(static_dir).resolve()
    index_html = (static_dir / "index.html").read_text(encoding="utf-8")
    assets = tuple(assets)
    key = hashlib.sha256(f"{SHELL_VERSION}\n{static_dir}\n{assets}\n{index_html}".encode()).hexdigest()[:16]
    folder = Path(cache) / FOLDER / key
    entries = [entry for entry in sorted(static_dir.iterdir()) if entry.name != "index.html"]
    linked = [(folder / entry.name).is_symlink() and (folder / entry.name).resolve() == entry.resolve()
              for entry in entries]
    if (folder / "index.html").is_file() and all(linked):
        return folder
    page = shell_html(index_html, modules=first_run_chunks(static_dir, index_html), assets=assets)
    folder.mkdir(parents=True, exist_ok=True)
    for entry, ok in zip(entries, linked):
        if not ok:
            atomic_symlink(entry, folder / entry.name)
    atomic_write_bytes(folder / "index.html", page.encode("utf-8"), what="app shell")
    return folder


def install(cache: str | os.PathLike | None = None, *, assets: list[str] | tuple[str, ...] = ()) -> Path | None:
    """Make this process's Streamlit server serve :func:`build`'s folder (call before it starts),
    in ``cache`` (default: the settings' cache folder), with ``assets`` fetched early.

    Returns the folder served, or ``None`` when Streamlit's own page stays (the reason logged).
    """
    try:
        from streamlit import file_util

        folder = build(file_util.get_static_dir(), cache_dir(cache), assets=assets)
    except Exception as exc:  # noqa: BLE001 - the app works the same with Streamlit's own page
        logger.warning("ptce_geo: Streamlit's own index.html is served, in English (%s)", exc)
        return None
    file_util.get_static_dir = lambda: str(folder)
    logger.info("ptce_geo: the app's first page is served in French (%s)", folder)
    return folder
