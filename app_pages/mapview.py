"""Maps in a page: a folium map turned once into the arguments of the streamlit-folium component.

``streamlit_folium.st_folium`` renders its folium map to HTML and JavaScript on every
script run (jinja templates compiled per element, every geometry serialised to JSON):
0.3 to 0.6 s of CPU for the national map, paid again by every session on every run.
Here the map is rendered once — :func:`prepare` runs ``st_folium`` itself with the
component call intercepted, so the arguments are exactly the ones it would send — and
:func:`show` hands those arguments to the component. Pages describe a map by a hashable
``spec`` (what the map shows: page, pole, level, measure, layers, data keys); maps with a
spec are prepared once per process and shared by every session (``common.show_map``).

The component's key is the one ``st_folium`` derives (a digest of the script and the
widget key), so the browser keeps the same map across runs, as with ``st_folium``.

While it renders, branca turns every element's rendered script (the GeoJSON layers: 230 kB
for the national map's départements) into a Jinja template that it compiles, only to render
it once as it is. :func:`prepare` gives branca, for the time of its rendering, a template
maker that skips compiling a text without Jinja syntax (:func:`_template`): the same text,
a third less time for the national map (0.30 to 0.19 s).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, SimpleNamespace

import branca.element
import jinja2
import streamlit as st
import streamlit.runtime
import streamlit_folium
from streamlit_folium import generate_js_hash, st_folium

#: the component streamlit-folium declares; its arguments are what the browser receives
_COMPONENT = _REAL = streamlit_folium._component_func
_CAPTURE = threading.Lock()
_REGISTERED: list[int] = []  # id of the runtime the component is registered with
_PER_CALL = ("key", "on_change")  # given by :func:`show`, not kept
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
    """A map rendered for the component: its arguments (read-only), shared by sessions."""

    args: Mapping[str, object]
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
        The interactions sent back to Python (``st_folium``'s ``returned_objects``).
    """
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
    args = {k: v for k, v in captured.items() if k not in _PER_CALL}
    return PreparedMap(MappingProxyType(args))


def show(prepared: PreparedMap, *, key: str, on_change: Callable[[], None] | None = None):
    """Display a prepared map; returns what ``st_folium`` returns (the ``returned`` interactions)."""
    _register()
    hash_key = prepared.component_key(key)

    def changed() -> None:  # as st_folium: the interactions also under the widget key
        st.session_state[key] = st.session_state.get(hash_key, {})
        if on_change is not None:
            on_change()

    args = dict(prepared.args)
    args["default"] = copy.deepcopy(args["default"])
    return _COMPONENT(**args, key=hash_key, on_change=changed)


def _register() -> None:
    """Register the component with the server's runtime (once per runtime).

    Streamlit registers a custom component when its module is imported during a script
    run. ``serve`` imports streamlit-folium before the server runs (to prepare the maps),
    so the server's runtime would not know where the component's files are.
    """
    if not streamlit.runtime.exists():
        return
    runtime = streamlit.runtime.get_instance()
    if _REGISTERED != [id(runtime)]:
        runtime.component_registry.register_component(_REAL)
        _REGISTERED[:] = [id(runtime)]
