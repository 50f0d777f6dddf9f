"""Serve Leaflet and the folium plugin assets locally: no CDN request, ever.

folium's classes name their JavaScript and CSS by CDN URL (``default_js`` /
``default_css``). Behind a strict proxy, or with no network at all, a map that loads
them stays blank. The PyPI package ``folium-offline`` (import name ``offlinefolium``)
ships the text of those files, keyed by the same URLs. :func:`install` writes them into
a folder the web server serves (the app's ``static/vendor/``, served by Streamlit at
``/app/static/vendor/``) and points every folium class at the local copies.

A URL folium names but the package lacks is pointed at a local path as well: the browser
then gets a 404 from 127.0.0.1, never a request to the outside.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import pkgutil
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

from ptce_geo._http import atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = ["VENDOR_DIR", "asset_table", "local_name", "install", "external_links", "folium_classes"]

#: the folder (under the app's ``static/``) that holds the copies
VENDOR_DIR = "vendor"
_LOCK = threading.Lock()
_INSTALLED: dict[tuple[str, str], dict[str, str]] = {}
#: the CDN URLs each class named before :func:`install` rewrote them
_ORIGINAL: dict[tuple[type, str], list[tuple[str, str]]] = {}


def asset_table() -> dict[str, str]:
    """Every asset ``folium-offline`` carries: CDN URL → file text.

    Returns
    -------
    dict
        Read from ``offlinefolium.elements._res`` and any other ``_res`` table of the
        package's modules and plugins.
    """
    import offlinefolium

    table: dict[str, str] = {}
    modules = [f"offlinefolium.{m.name}" for m in pkgutil.iter_modules(offlinefolium.__path__)]
    modules += [f"offlinefolium.plugins.{m.name}"
                for m in pkgutil.iter_modules(importlib.import_module("offlinefolium.plugins").__path__)]
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception:  # an optional plugin whose own imports fail: skip it
            logger.debug("offlinefolium module %s not importable", name)
            continue
        res = getattr(module, "_res", None)
        if isinstance(res, dict):
            table.update({k: v for k, v in res.items() if isinstance(k, str) and isinstance(v, str)})
    return table


def local_name(url: str) -> str:
    """File name of the local copy of ``url``: a short hash then the URL's file name.

    The hash keeps two files of the same name (``leaflet.css`` of two versions) apart.
    """
    base = Path(urlsplit(url).path).name or "asset"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)
    if not base.endswith((".js", ".css")):
        base += ".js" if "js" in url.rsplit("/", 1)[-1].lower() else ".css"
    return f"{hashlib.sha1(url.encode()).hexdigest()[:8]}-{base}"


def folium_classes() -> list[type]:
    """Every folium class (map, features, plugins) that names JS or CSS assets."""
    import folium
    import folium.plugins  # noqa: F401  (registers the plugin classes)
    from folium.elements import JSCSSMixin

    seen: list[type] = []
    stack = [JSCSSMixin]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    # folium.Map is not a JSCSSMixin in every version: add it explicitly
    if folium.Map not in seen:
        seen.append(folium.Map)
    return seen


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def install(static_dir: str | Path, *, url_prefix: str = "/app/static") -> dict[str, str]:
    """Write the assets into ``static_dir/vendor`` and point folium at them.

    Parameters
    ----------
    static_dir : path-like
        The folder the web server serves (for Streamlit: ``static/`` next to ``app.py``
        with ``server.enableStaticServing = true``).
    url_prefix : str
        The URL path under which ``static_dir`` is served (``/app/static`` for
        Streamlit; prefix it with the server's base URL path when there is one).

    Returns
    -------
    dict
        CDN URL → local URL, for every URL folium's classes name.

    Notes
    -----
    Files are written atomically and only when missing or different. The class
    attributes are rewritten from the URLs they first held, so calling again (another
    folder or prefix) points them at the new copies; the same call twice is a no-op.
    """
    static_dir = Path(static_dir)
    prefix = "/" + url_prefix.strip("/") + "/" + VENDOR_DIR + "/"
    key = (str(static_dir.resolve()), prefix)
    with _LOCK:
        if key in _INSTALLED:
            return _INSTALLED[key]
        table = asset_table()
        classes = folium_classes()
        urls: dict[str, str] = {}
        for cls in classes:
            for attr in ("default_js", "default_css"):
                pairs = cls.__dict__.get(attr)
                if pairs and (cls, attr) not in _ORIGINAL:
                    _ORIGINAL[(cls, attr)] = list(pairs)
                for _, url in _ORIGINAL.get((cls, attr), []):
                    if _is_remote(url):
                        urls[url] = prefix + local_name(url)
        folder = static_dir / VENDOR_DIR
        missing = []
        for url, local in urls.items():
            text = table.get(url)
            if text is None:
                missing.append(url)
                continue
            path = folder / local.rsplit("/", 1)[-1]
            data = text.encode("utf-8")
            if not path.is_file() or path.stat().st_size != len(data) or path.read_bytes() != data:
                atomic_write_bytes(path, data)
        if missing:
            logger.info("%d folium assets absent from folium-offline (served as local 404s): %s",
                        len(missing), ", ".join(sorted(missing)[:5]))
        for (cls, attr), pairs in _ORIGINAL.items():
            setattr(cls, attr, [(name, urls.get(url, url)) for name, url in pairs])
        _INSTALLED[key] = urls
        return urls


_LINK = re.compile(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']""", re.IGNORECASE)


def external_links(html: str) -> list[str]:
    """URLs outside the page's own server that ``html`` loads (script src, link href)."""
    return _LINK.findall(html)
