"""What a person sees in the served app, read from a real browser (Playwright), and checks on it.

* :func:`visible_texts` — every visible text of a page and of its frames (if any: maps are
  drawn in the page), and the tooltips and labels a person meets (``title``, ``aria-label``,
  ``placeholder``); Material icon ligatures and hidden accessibility copies excluded.
* :func:`english_hits` — English UI phrases among them (:data:`ENGLISH`).
* :func:`decimal_hits` — figures written with a decimal point (« 44.39 », « 70.9% »).
* :func:`wide_tables` — tables whose content is wider than their box (a sideways scroll).
* :class:`FrameRecorder` — the tables the browser receives (Streamlit protobuf messages
  over the websocket), to check the figures drawn on the tables' canvas, which the DOM
  does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: English phrases of Streamlit, Leaflet, Leaflet.draw and Python that must not reach a French page
ENGLISH = (
    # Streamlit widgets and chrome
    "Press Enter to apply", "Press Enter to submit", "Press Enter", "Drag and drop", "drag and drop",
    "Browse files", "Upload", "per file", "files are not allowed", "File must be", "is too large",
    "Only one file is allowed", "File size is too small", "Unexpected error", "No results", "No options",
    "Choose an option", "Choose options", "Select all", "matches", "Clear all", "Remove", "Running",
    "Stop", "Rerun", "Download as CSV", "Download", "Search", "Fullscreen", "Close", "Show/hide columns",
    "Copy", "empty", "Loading", "Please wait", "Connecting", "Made with Streamlit", "Deploy", "Settings",
    "Print", "Sort ascending", "Sort descending", "Autosize", "Pin column", "Unpin column", "Hide column",
    "Skip to main content", "Open sidebar", "Close sidebar", "Collapse sidebar", "Expand sidebar",
    "Copy to clipboard", "View fullscreen", "Exit fullscreen", "Increment", "Decrement", "Delete",
    "Clear value", "Clear selection", "Show password", "Open", "Toggle", "Help",
    # Leaflet
    "Zoom in", "Zoom out", "Close popup", "Layers",
    # Leaflet.draw
    "Draw a polygon", "Draw a rectangle", "Draw a polyline", "Draw a circle", "Draw a marker", "Finish",
    "Delete last point", "Cancel", "Click to start drawing shape", "Click to continue drawing shape",
    "Click to finish drawing shape", "Click and drag to draw rectangle", "Release mouse to finish drawing",
    "Edit layers", "Delete layers", "No layers to edit", "No layers to delete", "Save", "Clear All",
    "Drag handles or markers to edit features", "Click on a feature to remove", "Save changes",
    "Cancel editing", "shape edges cannot cross",
    # values leaking from Python or JavaScript
    "None", "NaN", "nan", "True", "False", "null", "undefined",
)
_ENGLISH_RE = [(p, re.compile(r"(?<![\w])" + re.escape(p) + r"(?![\w])")) for p in ENGLISH]
#: imperial units of a scale bar (« 100 mi », « 500 ft »)
_IMPERIAL = re.compile(r"\b\d+\s?(mi|ft)\b")
#: a figure with a decimal point; versions (« 1.9.3 ») are not figures
_DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
#: licence and version names are not figures (« ODbL 1.0 », « Licence Ouverte 2.0 », « GPL-3.0 »)
_VERSIONS = re.compile(r"(ODbL|GPL|Ouverte|Etalab|CC[- ]BY(?:-SA)?|[Vv]ersion|Leaflet|ptce_geo)[ -]?v?\d+\.\d+(\.\d+)*")
#: a size in English units (« 229.0B », « 64MB »)
_SIZE = re.compile(r"\b\d+(?:[.,]\d+)?\s?(B|KB|MB|GB)\b")

_TEXTS_JS = """() => {
  const out = [];
  const shown = el => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
    }
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;
  };
  const skip = el => el.closest('[data-testid="stIconMaterial"], .material-icons, .material-symbols-rounded, '
                                + 'script, style, noscript, canvas, [aria-hidden="true"], .sr-only');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walker.nextNode())) {
    const t = n.textContent.replace(/\\s+/g, ' ').trim();
    const el = n.parentElement;
    if (!t || !el || skip(el) || !shown(el)) continue;
    out.push(t);
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder]')) {
    if (skip(el) || !shown(el)) continue;
    for (const a of ['title', 'aria-label', 'placeholder']) {
      const v = el.getAttribute(a);
      if (v && v.trim()) out.push(v.trim());
    }
  }
  return out;
}"""


def visible_texts(page) -> list[tuple[str, str]]:
    """(where, text) of everything visible in the page and its frames."""
    out: list[tuple[str, str]] = []
    for i, frame in enumerate(page.frames):
        try:
            texts = frame.evaluate(_TEXTS_JS)
        except Exception:  # a frame detached while the page re-renders
            continue
        where = "page" if frame == page.main_frame else f"frame {i}"
        out.extend((where, t) for t in texts)
    return out


def english_hits(texts: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(where, phrase, text) for every English UI phrase found."""
    hits = []
    for where, text in texts:
        for phrase, rx in _ENGLISH_RE:
            if rx.search(text):
                hits.append((where, phrase, text[:160]))
        if _IMPERIAL.search(text):
            hits.append((where, "imperial unit", text[:160]))
        if _SIZE.search(text):
            hits.append((where, "English size unit", text[:160]))
    return hits


def decimal_hits(texts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(where, text) of texts holding a figure with a decimal point."""
    return [(where, text[:160]) for where, text in texts if _DECIMAL.search(_VERSIONS.sub("", text))]


_WIDE_JS = """() => {
  const out = [];
  document.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"]').forEach((box, i) => {
    const title = (box.querySelector('th') || {}).textContent || '';
    const sc = box.querySelector('.dvn-scroller');
    if (sc && sc.scrollWidth > sc.clientWidth + 2) out.push([i, title, sc.scrollWidth, sc.clientWidth]);
    const tb = box.querySelector('table');
    if (!sc && tb && tb.scrollWidth > box.clientWidth + 2) out.push([i, title, tb.scrollWidth, box.clientWidth]);
  });
  return out;
}"""


def wide_tables(page) -> list[list]:
    """[index, first header, content width, box width] of every table wider than its box."""
    return page.evaluate(_WIDE_JS)


@dataclass
class ReceivedTable:
    """A table as the browser received it: values, and the strings drawn for them."""

    columns: list[str]
    values: dict = field(default_factory=dict)    # column → list of values
    display: dict = field(default_factory=dict)   # column → list of strings (pandas Styler)


class FrameRecorder:
    """Decodes the Streamlit messages a page receives and keeps its tables (st.dataframe)."""

    def __init__(self) -> None:
        self.tables: list[ReceivedTable] = []

    def attach(self, page) -> None:
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def clear(self) -> None:
        self.tables.clear()

    def _frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        try:
            from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

            msg = ForwardMsg()
            msg.ParseFromString(payload)
            if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
                return
            el = msg.delta.new_element
            if el.WhichOneof("type") != "dataframe":
                return
            self.tables.append(_decode(el.dataframe.arrow_data))
        except Exception:  # not a message we can read: nothing to check
            return


def _decode(arrow) -> ReceivedTable:
    import pyarrow as pa

    data = pa.ipc.open_stream(arrow.data).read_all().to_pandas()
    table = ReceivedTable(columns=[str(c) for c in data.columns],
                          values={str(c): list(data[c]) for c in data.columns})
    if arrow.styler.display_values:
        shown = pa.ipc.open_stream(arrow.styler.display_values).read_all().to_pandas()
        table.display = {str(c): [str(v) for v in shown[c]] for c in shown.columns}
    return table


def undisplayed_decimals(table: ReceivedTable) -> list[tuple[str, object]]:
    """(column, value) drawn with a decimal point: a float shown raw, or a display string with one."""
    bad = []
    for col, values in table.values.items():
        shown = table.display.get(col)
        if shown is not None:
            bad.extend((col, s) for s in shown if _DECIMAL.search(s))
            continue
        for v in values:
            if isinstance(v, float) and v == v and not float(v).is_integer():
                bad.append((col, v))
                break
    return bad


# ---------------------------------------------------------------- walking the app
def wait_idle(page, timeout_s: float = 120.0, settle: float = 0.4) -> None:
    """Wait until the app has finished running (no running indicator, no spinner) twice in a row."""
    import time

    deadline = time.monotonic() + timeout_s
    calm = 0
    while time.monotonic() < deadline:
        busy = page.evaluate("""() => !!document.querySelector('[data-testid="stStatusWidget"] button, '
                                + '[data-testid="stSpinner"], [data-stale="true"]')
                                || !!Array.from(document.querySelectorAll('[data-testid="stStatusWidget"]'))
                                     .find(e => e.offsetParent !== null && e.innerText.trim())""")
        calm = 0 if busy else calm + 1
        if calm >= 2:
            return
        time.sleep(settle)


def wait_map(page, timeout_s: float = 90.0):
    """The first frame in which Leaflet has drawn SVG paths (the page itself: maps are drawn in it)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.locator("svg path.leaflet-interactive").count() > 0:
                    return frame
            except Exception:
                continue
        time.sleep(0.1)
    raise AssertionError("no Leaflet polygon drawn within the time limit")


def open_widgets(page, collect) -> None:
    """Open what a person opens on a page, calling ``collect(step)`` while each is open.

    Selectboxes and multiselects (with a query that matches nothing), text inputs being
    typed into, help icons, table toolbars, file uploaders given a wrong file, the map's
    controls and tooltips.
    """
    import time

    main = page.locator('[data-testid="stMain"]')
    for box in main.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').all()[:6]:
        try:
            box.scroll_into_view_if_needed(timeout=3000)
            box.click(timeout=3000)
            time.sleep(0.3)
            collect("liste ouverte")
            page.keyboard.type("zzqx")
            time.sleep(0.4)
            collect("liste sans résultat")
            page.keyboard.press("Escape")
            page.keyboard.press("Escape")
            time.sleep(0.2)
        except Exception:
            continue
    for field_ in main.locator('[data-testid="stTextInput"] input').all()[:3]:
        try:
            field_.scroll_into_view_if_needed(timeout=3000)
            before = field_.input_value()
            field_.click(timeout=3000)
            page.keyboard.type("ab")
            time.sleep(0.3)
            collect("saisie en cours")
            field_.fill(before)
            page.keyboard.press("Escape")
            page.locator("body").click(position={"x": 5, "y": 5})
            wait_idle(page)
        except Exception:
            continue
    for icon in main.locator('[data-testid="stTooltipHoverTarget"], [data-testid="stTooltipIcon"]').all()[:8]:
        try:
            icon.scroll_into_view_if_needed(timeout=2000)
            icon.hover(timeout=2000)
            time.sleep(0.3)
            collect("info-bulle")
        except Exception:
            continue
    page.mouse.move(1, 1)  # as a person moves on: the last tooltip closes instead of covering the next widget
    time.sleep(0.3)
    for table in main.locator('[data-testid="stDataFrame"]').all()[:3]:
        try:
            table.scroll_into_view_if_needed(timeout=3000)
            table.hover(timeout=3000)
            time.sleep(0.3)
            for button in table.locator('[data-testid="stElementToolbarButton"] button').all():
                button.hover(timeout=2000)
                time.sleep(0.25)
                collect("barre d'outils du tableau")
        except Exception:
            continue
    for up in main.locator('[data-testid="stFileUploader"] input[type="file"]').all()[:2]:
        try:
            up.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"bonjour"}])
            time.sleep(0.8)
            collect("fichier refusé")
        except Exception:
            continue
    for frame in page.frames:
        try:
            if not frame.locator(".leaflet-container").count():
                continue
            for sel in (".leaflet-control-zoom-in", ".leaflet-control-layers-toggle"):
                if frame.locator(sel).count():
                    frame.locator(sel).first.hover(timeout=2000)
                    time.sleep(0.2)
                    collect("contrôle de carte")
            paths = frame.locator("svg path.leaflet-interactive")
            if paths.count():
                paths.nth(paths.count() - 1).hover(force=True, timeout=2000)
                time.sleep(0.3)
                collect("info-bulle de carte")
        except Exception:
            continue


def walk(page, base_url: str, titles: list[str], *, shots=None, extra=None) -> dict[str, list[tuple[str, str]]]:
    """Visit each page by its sidebar entry, open its widgets, return the texts seen per page.

    ``shots``: a folder for screenshots (one per page, scrolled views); ``extra(page, title,
    collect)``: page-specific actions.
    """
    seen: dict[str, list[tuple[str, str]]] = {}
    page.goto(base_url + "/", wait_until="domcontentloaded")
    wait_map(page, 400)  # the first load may prepare every layer
    wait_idle(page)
    for title in titles:
        page.locator('[data-testid="stSidebar"]').get_by_text(title, exact=True).first.click()
        wait_idle(page)
        texts: list[tuple[str, str]] = []

        def collect(step: str, _t=texts) -> None:
            _t.extend((f"{step} · {w}", x) for w, x in visible_texts(page))

        collect("page")
        if shots is not None:
            screenshots(page, shots, title)
        open_widgets(page, collect)
        if extra is not None:
            extra(page, title, collect)
        seen[title] = texts
    return seen


def screenshots(page, folder, title: str, *, limit: int = 4) -> list:
    """Screenshots of the page's main area, scrolled from top to bottom (at most ``limit``)."""
    import re as _re
    import time
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    import unicodedata

    ascii_ = unicodedata.normalize("NFKD", title.lower()).encode("ascii", "ignore").decode()
    slug = _re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")
    paths = []
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]'); "
                           "return m ? [m.scrollHeight, m.clientHeight] : [0, 0]; }")
    steps = max(1, min(limit, -(-height[0] // max(height[1], 1))))
    for i in range(steps):
        page.evaluate(f"() => {{ const m = document.querySelector('[data-testid=\"stMain\"]'); "
                      f"if (m) m.scrollTo(0, {i} * m.clientHeight); }}")
        time.sleep(0.4)
        path = folder / f"{slug}-{i + 1}.png"
        page.screenshot(path=str(path))
        paths.append(path)
    page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]'); if (m) m.scrollTo(0, 0); }")
    return paths
