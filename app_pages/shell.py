"""The page a browser loads first (Streamlit's ``index.html``), in French.

Streamlit's ``index.html`` declares its page English (``<html lang="en">``), is titled
« Streamlit » until the app's script sets its title, and tells a browser without JavaScript,
in English, to enable it. The app speaks French: a screen reader reading the French pages with
an English voice, and a browser offering to translate them « from English », are what a person
meets first. The shell served by ``python -m app_pages.serve`` (``./dev app``) is Streamlit's
page with those three things in French (RGAA 8.3 and 8.4: the page's default language is given
and is right), and nothing else changed.

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
NOSCRIPT = ("<p>PTCE géo a besoin de JavaScript pour s'afficher : activez JavaScript dans votre "
            "navigateur, puis rechargez la page.</p>")
#: bump when what :func:`shell_html` changes, so that a shell built before is rebuilt
SHELL_VERSION = 1
#: the folder of the cache that holds the shells (one per Streamlit build)
FOLDER = "app-shell"

_HTML_TAG = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_TITLE = re.compile(r"<title>.*?</title>", re.IGNORECASE | re.DOTALL)
_NOSCRIPT = re.compile(r"<noscript>.*?</noscript>", re.IGNORECASE | re.DOTALL)


class ShellError(ValueError):
    """Streamlit's ``index.html`` is not as the shell expects (another Streamlit build)."""


def shell_html(index_html: str) -> str:
    """Streamlit's ``index_html`` with its language, title and ``<noscript>`` text in French.

    Raises
    ------
    ShellError
        When ``index_html`` lacks one of the three (the shell would be half French).
    """
    out, n_html = _HTML_TAG.subn(f'<html lang="{LANG}">', index_html, count=1)
    out, n_title = _TITLE.subn(f"<title>{html.escape(TITLE)}</title>", out, count=1)
    out, n_noscript = _NOSCRIPT.subn(f"<noscript>{NOSCRIPT}</noscript>", out, count=1)
    missing = [name for name, n in (("<html>", n_html), ("<title>", n_title), ("<noscript>", n_noscript)) if not n]
    if missing:
        raise ShellError(f"Streamlit's index.html has no {', '.join(missing)}")
    return out


def build(static_dir: str | os.PathLike, cache: str | os.PathLike) -> Path:
    """The folder to serve instead of Streamlit's ``static_dir``: :func:`shell_html`'s
    ``index.html`` and a symbolic link to each of Streamlit's other entries.

    Built once per Streamlit build and shell version (the folder's name is their digest), so
    servers of different Streamlit versions sharing a cache do not meet; the links are made
    under a temporary name and renamed, and the page is written atomically.
    """
    static_dir = Path(static_dir).resolve()
    index_html = (static_dir / "index.html").read_text(encoding="utf-8")
    key = hashlib.sha256(f"{SHELL_VERSION}\n{static_dir}\n{index_html}".encode()).hexdigest()[:16]
    folder = Path(cache) / FOLDER / key
    entries = [entry for entry in sorted(static_dir.iterdir()) if entry.name != "index.html"]
    linked = [(folder / entry.name).is_symlink() and (folder / entry.name).resolve() == entry.resolve()
              for entry in entries]
    if (folder / "index.html").is_file() and all(linked):
        return folder
    page = shell_html(index_html)
    folder.mkdir(parents=True, exist_ok=True)
    for entry, ok in zip(entries, linked):
        if not ok:
            atomic_symlink(entry, folder / entry.name)
    atomic_write_bytes(folder / "index.html", page.encode("utf-8"), what="app shell")
    return folder


def install(cache: str | os.PathLike | None = None) -> Path | None:
    """Make this process's Streamlit server serve :func:`build`'s folder (call before it starts),
    in ``cache`` (default: the settings' cache folder).

    Returns the folder served, or ``None`` when Streamlit's own page stays (the reason logged).
    """
    try:
        from streamlit import file_util

        folder = build(file_util.get_static_dir(), cache_dir(cache))
    except Exception as exc:  # noqa: BLE001 - the app works the same with Streamlit's own page
        logger.warning("ptce_geo: Streamlit's own index.html is served, in English (%s)", exc)
        return None
    file_util.get_static_dir = lambda: str(folder)
    logger.info("ptce_geo: the app's first page is served in French (%s)", folder)
    return folder
