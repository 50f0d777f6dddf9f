"""Maps in a page: a folium map turned once into what the page draws, without a frame.

``streamlit_folium.st_folium`` renders its folium map to HTML and JavaScript on every
script run (jinja templates compiled per element, every geometry serialised to JSON):
0.3 to 0.6 s of CPU for the national map, paid again by every session on every run.
Here the map is rendered once — :func:`prepare` runs ``st_folium`` itself with the
component call intercepted, so the script is exactly the one it would send — and
:func:`show` draws it. Pages describe a map by a hashable ``spec`` (what the map shows:
page, pole, level, measure, layers, data keys); maps with a spec are prepared once per
process and shared by every session (``common.show_map``).

The map is drawn in the page itself by a component of Streamlit's second generation
(``st.components.v2``; its code: ``leaflet_map.js``), not in streamlit-folium's frame. A
frame loads its own document, streamlit-folium's 225 kB bundle and Leaflet again, then
waits for a handshake before drawing: in a new browser, that held the first map back by
0.3 to 0.4 s. The interactions sent back to Python (``returned``, among
:data:`RETURNABLE`) keep streamlit-folium's names, meaning and defaults: :func:`show`
returns what ``st_folium`` returned.

The component's key is the one ``st_folium`` derives (a digest of the script and the
widget key): a new map is a new element, and the browser keeps a map across runs.

While it renders, branca turns every element's rendered script (the GeoJSON layers: 230 kB
for the national map's départements) into a Jinja template that it compiles, only to render
it once as it is. :func:`prepare` gives branca, for the time of its rendering, a template
maker that skips compiling a text without Jinja syntax (:func:`_template`): the same text,
a third less time for the national map (0.30 to 0.19 s).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import branca.element
import jinja2
import streamlit as st
import streamlit_folium
from streamlit_folium import generate_js_hash, st_folium

#: the component streamlit-folium declares (its call is intercepted by :func:`prepare`)
_REAL = streamlit_folium._component_func
_CAPTURE = threading.Lock()
#: the page's side of the maps (run in the page: ``st.components.v2``)
JS = Path(__file__).with_name("leaflet_map.js")
COMPONENT_NAME = "ptce_geo_map"
#: the component's state that holds the interactions (not ``value``, which Streamlit unwraps)
STATE = "interactions"
#: the interactions the page can send back, as streamlit-folium names them
RETURNABLE = ("last_clicked", "last_object_clicked", "last_active_drawing", "all_drawings")
#: how streamlit-folium's script makes its map (in its frame's one ``div``)
_MAKE_MAP = re.compile(r'L\.map\(\s*"map_div"')
#: the selector of a header rule meant for a frame's document: its ``html`` and ``body``,
#: folium's ``#map``, the map's ``div`` by id (the page sizes the map itself)
_FRAME_ONLY = re.compile(r"^(?:html|body)\b|[\s,](?:html|body)\b|#map(?:_div)?\b")
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
#: what opens Jinja syntax with the default delimiters (branca's templates use them)
_JINJA_SYNTAX = ("{{", "{%", "{#")


class _Literal:
    """A template without Jinja syntax: renders to its text, as a compiled one would."""

    __slots__ = ("_text",)
    module = SimpleNamespace()  # no macro (``MacroElement.render`` looks for some)

    def __init__(self, text: str) -> None:
        self._text = text

    def render(self, *args, **kwargs) -> str:
        return self._text


def _template(source, *args, **kwargs):
    """``jinja2.Template(source)``, without compiling a text that holds no Jinja syntax.

    Such a text renders to itself, but for the one final newline Jinja drops by default
    (``keep_trailing_newline``); a carriage return (which Jinja turns into a newline) or any
    option goes to Jinja.
    """
    if args or kwargs or not isinstance(source, str) or "\r" in source or any(d in source for d in _JINJA_SYNTAX):
        return jinja2.Template(source, *args, **kwargs)
    return _Literal(source[:-1] if source.endswith("\n") else source)


@dataclass(frozen=True)
class PreparedMap:
    """A map rendered once, shared by sessions.

    ``args`` are the arguments ``st_folium`` would send to its component (read-only);
    ``data`` is what the page draws (see ``leaflet_map.js``): the script, made to draw in the
    element the page gives it, the header's styles a map needs, Leaflet's files, the height,
    the interactions returned and their defaults.
    """

    args: Mapping[str, object]
    data: Mapping[str, object]
    _hashes: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def component_key(self, key: str) -> str:
        """The component key ``st_folium`` derives from the script and ``key`` (memoised)."""
        out = self._hashes.get(key)
        if out is None:
            out = self._hashes[key] = generate_js_hash(self.args["script"], key, self.args["return_on_hover"])
        return out


def prepare(m, *, height: int, returned: list[str] | None) -> PreparedMap:
    """Render ``m`` (a folium map, consumed) as ``st_folium`` would, without displaying it.

    Parameters
    ----------
    m : folium.Map
        The map; ``st_folium`` renames its elements while rendering, so it is not reused.
    height : int
        Height of the map in pixels (the width follows the container).
    returned : list of str or None
        The interactions sent back to Python (``st_folium``'s ``returned_objects``), among
        :data:`RETURNABLE`.

    Raises
    ------
    ValueError
        An interaction the page does not send back, or a script that does not make its map
        as streamlit-folium renders it.
    """
    unknown = sorted(set(returned or ()) - set(RETURNABLE))
    if unknown:
        raise ValueError(f"maps cannot return {', '.join(unknown)}; choose among {', '.join(RETURNABLE)}")
    captured: dict[str, object] = {}

    def capture(**kwargs):
        captured.update(kwargs)

    with _CAPTURE:  # only this module calls st_folium, always through here
        streamlit_folium._component_func = capture
        real_template, branca.element.Template = branca.element.Template, _template
        try:
            st_folium(m, height=height, use_container_width=True, returned_objects=returned)
        finally:
            streamlit_folium._component_func = _REAL
            branca.element.Template = real_template
    args = {k: v for k, v in captured.items() if k not in ("key", "on_change")}
    return PreparedMap(MappingProxyType(args), MappingProxyType(page_data(args)))


def page_data(args: Mapping[str, object]) -> dict[str, object]:
    """What the page draws, from the arguments ``st_folium`` gives its component."""
    script = str(args["script"])
    if len(_MAKE_MAP.findall(script)) != 1:
        raise ValueError("the map script does not make one map in streamlit-folium's map_div")
    body = _MAKE_MAP.sub("L.map(__root", script)
    body += "\nreturn [map_div, typeof drawnItems === 'undefined' ? null : drawnItems];\n"
    rules = (f"{sel.strip()} {{{rule.strip()}}}" for css in _STYLE.findall(str(args.get("header") or ""))
             for sel, rule in _RULE.findall(css) if not _FRAME_ONLY.search(sel.strip()))
    styles = "\n".join(dict.fromkeys(rules))  # once each, in their order
    return {"script": body, "styles": styles, "css_links": list(args.get("css_links") or ()),
            "js_links": list(args.get("js_links") or ()), "height": int(args["height"]),
            "returned_objects": list(args.get("returned_objects") or ()),
            "default": copy.deepcopy(args.get("default") or {}),
            "sig": hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]}


@functools.cache
def _mount() -> Callable:
    """The component's mounting command (``st.components.v2.component``), made once."""
    return st.components.v2.component(COMPONENT_NAME, js=JS.read_text(encoding="utf-8"), isolate_styles=False)


def show(prepared: PreparedMap, *, key: str, on_change: Callable[[], None] | None = None):
    """Display a prepared map; returns what ``st_folium`` returns (the ``returned`` interactions)."""
    hash_key = prepared.component_key(key)
    default = prepared.data["default"]

    def changed() -> None:  # as st_folium: the interactions also under the widget key
        st.session_state[key] = _value(st.session_state.get(hash_key), default)
        if on_change is not None:
            on_change()

    result = _mount()(key=hash_key, data=dict(prepared.data), default={STATE: copy.deepcopy(default)},
                      on_interactions_change=changed, height=int(prepared.data["height"]))
    return _value(result, default)


def _value(state, default: Mapping[str, object]) -> dict:
    """The interactions in a component's state (its :data:`STATE`), or a copy of ``default``."""
    value = state.get(STATE) if isinstance(state, Mapping) else None
    return copy.deepcopy(dict(value)) if isinstance(value, Mapping) else copy.deepcopy(dict(default))
