"""What the URL holds (page, pole, territory, level, measure) and the measure of shares.

A link pasted in an email restores the view: at a session's first run the query
parameters are read once (:func:`init`); pages take their first values from them
(:func:`initial`) and write back what they show (:func:`set_params`). Parameters of the
other pages are dropped, so a link names only what the page it opens needs.
"""

from __future__ import annotations

import streamlit as st

#: the query parameters each page may hold (besides ``page`` and ``mesure``)
PAGE_PARAMS = {
    "carte": ("pole",),
    "territoire": ("territoire",),
    "decoupages": ("pole", "echelon"),
    "zones": ("couche",),
}
GLOBAL_PARAMS = ("page", "mesure")
MEASURES = {"area": "Surface", "population": "Population"}
MEASURE_KEY = "mesure"
#: session keys: the page of the previous run, and whether this run opened its page
_LAST_PAGE_KEY, _ENTERED_KEY = "_page_last_run", "_page_entered"


def init() -> None:
    """Read the URL once per session (its first run)."""
    if "_url_in" not in st.session_state:
        st.session_state["_url_in"] = {k: st.query_params.get(k) for k in st.query_params}


def note_page(page: str) -> None:
    """Record that this run shows ``page`` (a URL slug); called once per run, before the page."""
    st.session_state[_ENTERED_KEY] = st.session_state.get(_LAST_PAGE_KEY) != page
    st.session_state[_LAST_PAGE_KEY] = page


def entered() -> bool:
    """Whether this run opened its page: the session's first run, or the first after another page."""
    return bool(st.session_state.get(_ENTERED_KEY, True))


def initial(name: str, default: str | None = None) -> str | None:
    """The value the URL gave ``name`` when the session opened (or ``default``)."""
    value = (st.session_state.get("_url_in") or {}).get(name)
    return value if value not in (None, "") else default


def set_params(page: str, **params: str | None) -> None:
    """Make the URL say ``page`` and ``params`` (and the measure); drop other pages' parameters."""
    want = {"page": page}
    measure_ = st.session_state.get(MEASURE_KEY, "area")
    if measure_ != "area":
        want["mesure"] = measure_
    for key in PAGE_PARAMS.get(page, ()):
        value = params.get(key)
        if value not in (None, ""):
            want[key] = str(value)
    current = {k: st.query_params.get(k) for k in st.query_params}
    if current == want:
        return
    for key in list(current):
        if key not in want:
            del st.query_params[key]
    for key, value in want.items():
        if current.get(key) != value:
            st.query_params[key] = value


def measure() -> str:
    """The measure of every share in the app: ``"area"`` (default) or ``"population"``."""
    value = st.session_state.get(MEASURE_KEY)
    if value not in MEASURES:
        value = initial("mesure", "area")
        value = value if value in MEASURES else "area"
    return value


def measure_words() -> tuple[str, str]:
    """(« surface », « de la surface ») or (« population », « de la population »), for sentences."""
    return ("population", "de la population") if measure() == "population" else ("surface", "de la surface")
