"""folium maps of poles, territories, pieces and zones, for display only.

Geometries drawn here are simplified and rounded copies: never use them to compute.
Every string from data is HTML-escaped before it reaches a tooltip, a popup, the
legend or the attribution. No tile layer is drawn unless one is configured
(``PTCE_GEO_TILES``, a URL template, with ``PTCE_GEO_TILES_ATTRIBUTION``): the maps
work with no network at all once :func:`ptce_geo.assets.install` has pointed folium at
local copies of Leaflet.

Everything a person reads on a map is French: zoom and layer controls, the drawing
toolbar (Leaflet.draw's local strings), popups' close button, a metric scale only, and
figures written the French way. Place names come from the communes layer
(:func:`place_labels`), drawn by zoom without any network.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

try:  # an optional dependency: notebooks install it with ptce_geo[maps], the app with ptce_geo[app]
    import folium
    import folium.plugins
    from branca.element import Element, MacroElement
    from jinja2 import Template
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"ptce_geo.maps draws folium maps and needs folium ({exc}): install it with "
                      "`pip install 'ptce_geo[maps]'` (or folium itself).") from exc

from .fmt import TYPOLOGY_LABELS, fr_pct
from .palette import TYPOLOGY_COLOURS, UNIT_PALETTE, UNKNOWN_COLOUR

__all__ = [
    "TYPOLOGY_COLOURS", "TYPOLOGY_LABELS", "UNKNOWN_COLOUR", "UNIT_PALETTE", "TileConfig",
    "esc", "tiles_from_env", "display_geometries", "tolerance_for", "bounds_of", "clip_layer",
    "new_map", "add_poles", "add_seats", "add_outlines", "add_units", "add_lines", "add_legend",
    "add_attribution", "add_draw", "finish", "map_html", "internal_borders", "typology_legend",
    "LOW_CONFIDENCE_STYLE", "LOW_CONFIDENCE_LABEL",
    "place_labels", "add_labels", "view_zoom", "add_zoom_button", "DRAW_LOCAL_FR",
]

#: how a perimeter of low confidence (``confiance`` = ``faible``) is drawn: dashed outline, pale fill
LOW_CONFIDENCE_STYLE = {"dashArray": "6 4", "fillOpacity": 0.12}
LOW_CONFIDENCE_LABEL = "Confiance faible (tirets)"
_CSS = """<style>
.leaflet-container { background: #eef1f4; }
.leaflet-control-attribution { max-width: 380px; }
.ptce-legend { background: rgba(255,255,255,.92); padding: 5px 9px; border-radius: 4px;
  font: 12px/1.4 sans-serif; box-shadow: 0 0 4px rgba(0,0,0,.3); max-width: 230px; }
.ptce-legend summary { cursor: pointer; font-weight: bold; }
.ptce-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid #555; }
.ptce-legend i.ptce-low { border: 2px dashed #333; background: rgba(127,127,127,.12); box-sizing: border-box; }
.ptce-legend i.line { height: 0; border: 0; border-top: 3px solid; vertical-align: 3px; width: 16px; }
.ptce-legend i.dash { height: 0; border: 0; border-top: 2px dashed; vertical-align: 3px; width: 16px; }
.ptce-label { position: absolute; transform: translate(-50%, -115%); white-space: nowrap; pointer-events: none;
  font: 600 11px/1.1 sans-serif; color: #1a1a1a;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff, 0 0 4px #fff; }
.ptce-label.major { font-size: 13px; font-weight: 700; }
.ptce-zoom-button a { width: auto !important; padding: 0 8px; font: bold 12px/30px sans-serif; }
.leaflet-control-attribution { font-size: 10px !important; line-height: 1.3; max-width: 70%; }
.ptce-popup td, .ptce-popup th { padding: 1px 4px; text-align: left; vertical-align: top; }
</style>"""


@dataclass(frozen=True)
class TileConfig:
    """A base tile layer: URL template and the attribution its provider requires."""

    url: str
    attribution: str
    name: str = "Fond de carte"


def esc(value: object) -> str:
    """HTML-escape any value as text (``None`` and NaN give ``""``).

    Braces become ``&#123;`` and ``&#125;`` as well: branca compiles every rendered
    script again as a Jinja template, so ``{{ … }}`` or ``{% … %}`` from data would
    otherwise run on the server (template injection). Browsers still show braces.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _no_braces(html.escape(str(value), quote=True))


def _no_braces(text: str) -> str:
    """Braces as HTML character references, so that Jinja never sees a delimiter."""
    return text.replace("{", "&#123;").replace("}", "&#125;")


def tiles_from_env() -> TileConfig | None:
    """The base tiles named by ``PTCE_GEO_TILES`` (none by default: no network needed)."""
    url = os.environ.get("PTCE_GEO_TILES", "").strip()
    if not url:
        return None
    attribution = os.environ.get("PTCE_GEO_TILES_ATTRIBUTION", "").strip() or "Fond de carte : " + url.split("/")[2]
    return TileConfig(url=url, attribution=attribution)


def tolerance_for(bounds: Sequence[float], *, pixels: int = 1500) -> float:
    """Simplification tolerance (degrees) for a view of ``bounds``: ~1 px of a 1500 px map."""
    minx, miny, maxx, maxy = bounds
    extent = max(maxx - minx, maxy - miny, 1e-4)
    return max(extent / pixels, 1e-5)


def display_geometries(geoms: Iterable, *, tolerance: float, coverage: bool = False,
                       decimals: int = 5) -> np.ndarray:
    """Simplified, rounded copies of lon/lat geometries, for drawing only.

    Parameters
    ----------
    geoms : array of shapely geometries (EPSG:4326)
    tolerance : float
        Douglas-Peucker tolerance in degrees.
    coverage : bool
        The geometries tile the plane (a partition, the pieces of a pole): simplify them
        together so that shared borders stay shared.
    decimals : int
        Coordinates are rounded to this many decimals (5 ≈ 1 m).
    """
    arr = np.asarray(list(geoms) if not isinstance(geoms, np.ndarray) else geoms, dtype=object)
    if len(arr) == 0:
        return arr
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    out = arr.copy()
    if coverage and ok.sum() > 1:
        try:
            out[ok] = shapely.coverage_simplify(arr[ok], tolerance, simplify_boundary=True)
        except shapely.errors.GEOSException:  # not a clean coverage: simplify one by one
            out[ok] = shapely.simplify(arr[ok], tolerance, preserve_topology=True)
    else:
        out[ok] = shapely.simplify(arr[ok], tolerance, preserve_topology=True)
    out[ok] = shapely.transform(out[ok], lambda xy: np.round(xy, decimals))
    return out


def bounds_of(geoms: Iterable) -> tuple[float, float, float, float]:
    """Total bounds (minx, miny, maxx, maxy) of lon/lat geometries."""
    b = shapely.total_bounds(np.asarray(list(geoms), dtype=object))
    return tuple(float(v) for v in b)


def clip_layer(layer: gpd.GeoDataFrame, bounds: Sequence[float], *, margin: float = 0.15) -> gpd.GeoDataFrame:
    """Rows of ``layer`` near ``bounds`` (grown by ``margin`` of its size), clipped to that box."""
    minx, miny, maxx, maxy = bounds
    dx = max((maxx - minx) * margin, 0.05)
    dy = max((maxy - miny) * margin, 0.05)
    box = (minx - dx, miny - dy, maxx + dx, maxy + dy)
    idx = layer.sindex.query(shapely.box(*box), predicate="intersects")
    sub = layer.iloc[np.sort(idx)].copy()
    if len(sub):
        sub = sub.set_geometry(shapely.clip_by_rect(sub.geometry.to_numpy(), *box))
        sub = sub[~sub.geometry.is_empty]
    return sub


#: the only JavaScript and stylesheet a map of :func:`new_map` loads (folium's names for them)
MAP_JS, MAP_CSS = ("leaflet",), ("leaflet_css",)


def _leaflet_only() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """folium's (name, address) pairs of :data:`MAP_JS` and :data:`MAP_CSS`, as it names them now."""
    return ([p for p in folium.Map.default_js if p[0] in MAP_JS],
            [p for p in folium.Map.default_css if p[0] in MAP_CSS])


def map_assets() -> list[str]:
    """The addresses of the files a map of :func:`new_map` loads (Leaflet's script, then its
    stylesheet), as folium names them now: its CDN's, or local copies once an app has pointed
    folium at them."""
    js, css = _leaflet_only()
    return [url for _, url in (*js, *css)]


def new_map(*, bounds: Sequence[float] | None = None, tiles: TileConfig | None = None,
            height: int = 560) -> folium.Map:
    """An empty map fitted to ``bounds`` (France when ``None``), with local assets only."""
    m = folium.Map(location=[46.6, 2.4], zoom_start=6, tiles=None, height=height, control_scale=False,
                   zoom_control=False, prefer_canvas=False, zoom_snap=0.25, zoom_delta=0.5)
    # Leaflet only: no Bootstrap nor icon fonts (nothing here uses them)
    m.default_js, m.default_css = _leaflet_only()
    m.get_root().header.add_child(Element(_CSS), name="ptce_css")
    m.add_child(_FrenchControls())
    if tiles is not None:
        folium.TileLayer(tiles.url, attr=esc(tiles.attribution), name=esc(tiles.name)).add_to(m)
    if bounds:  # above the legend and the credits, which sit along the map's foot
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]], padding_top_left=(12, 12),
                     padding_bottom_right=(12, 64))
    else:  # France, moved right of the legends that sit bottom left over the Atlantic
        m.fit_bounds([[41.3, -5.2], [51.1, 9.8]], padding_top_left=(90, 12), padding_bottom_right=(12, 12))
    return m


class _GeoJson(folium.GeoJson):
    """folium's GeoJson with its bounds given (folium would walk every coordinate in Python)."""

    def __init__(self, data, *, bounds=None, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self._ptce_bounds = bounds

    def _get_self_bounds(self):
        return self._ptce_bounds if self._ptce_bounds is not None else super()._get_self_bounds()


def _folium_bounds(geoms) -> list | None:
    """[[south, west], [north, east]] of lon/lat geometries (``None`` when empty)."""
    arr = np.asarray(list(geoms) if not isinstance(geoms, np.ndarray) else geoms, dtype=object)
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))] if len(arr) else arr
    if not len(arr):
        return None
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(arr))
    return [[miny, minx], [maxy, maxx]]


def _collection(gdf: gpd.GeoDataFrame, props: Sequence[str], geoms: np.ndarray) -> dict:
    """A FeatureCollection with only ``props``, every string escaped."""
    feats = []
    cols = [gdf[p].to_numpy() if p in gdf else np.full(len(gdf), None) for p in props]
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        values = {}
        for p, col in zip(props, cols):
            v = col[i]
            if isinstance(v, np.generic):  # numpy bool, int, float: plain Python values
                v = v.item()
            if isinstance(v, float) and np.isnan(v):
                v = None
            values[p] = v if isinstance(v, (int, float, bool)) or v is None else (
                _no_braces(str(v)) if p.endswith("_html") else esc(v))
        feats.append({"type": "Feature", "properties": values, "geometry": json.loads(shapely.to_geojson(geom))})
    return {"type": "FeatureCollection", "features": feats}


def _detail(fields: Sequence[str], aliases: Sequence[str] | None, cls):
    labels = aliases is not None
    return cls(fields=list(fields), aliases=[esc(a) for a in aliases] if labels else None, labels=labels)


def add_poles(m: folium.Map, poles: gpd.GeoDataFrame, *, name: str = "Pôles", tolerance: float = 0.002,
              selected: str | None = None, show: bool = True) -> folium.GeoJson:
    """Draw pole perimeters coloured by ``colour`` (or typology), with tooltip and popup.

    ``poles`` has ``id``, ``nom``, ``geometry`` and optionally ``colour``, ``typology``,
    ``confidence`` (a ``faible`` perimeter is drawn with :data:`LOW_CONFIDENCE_STYLE`),
    ``tooltip_html`` and ``popup_html`` (already-escaped HTML built with :func:`esc`).
    """
    g = poles.copy()
    if "colour" not in g:
        g["colour"] = [TYPOLOGY_COLOURS.get(t, UNKNOWN_COLOUR) for t in g.get("typology", [None] * len(g))]
    if "tooltip_html" not in g:
        g["tooltip_html"] = [f"<b>{esc(n)}</b>" for n in g["nom"]]
    g["selected"] = g["id"].astype(str).eq(str(selected)) if selected is not None else False
    if len(g) > 1:  # large poles first, so that small ones (Île-de-France) stay on top and clickable
        extent = shapely.area(shapely.envelope(g.geometry.to_numpy()))
        g = g.iloc[np.argsort(-np.nan_to_num(extent), kind="stable")].copy()
    g["low"] = g["confidence"].eq("faible").to_numpy() if "confidence" in g else False
    props = ["id", "nom", "colour", "selected", "low", "tooltip_html"] + (["popup_html"] if "popup_html" in g else [])
    shown = display_geometries(g.geometry.to_numpy(), tolerance=tolerance)
    data = _collection(g, props, shown)

    def style(feature):
        p = feature["properties"]
        out = {"color": "#111111" if p["selected"] else p["colour"], "weight": 3.5 if p["selected"] else 1.5,
               "fillColor": p["colour"], "fillOpacity": 0.55 if p["selected"] else 0.45}
        if p.get("low"):  # a perimeter the sources hardly support: dashed and pale
            out.update(LOW_CONFIDENCE_STYLE, weight=3.0 if p["selected"] else 2.0)
        return out

    layer = _GeoJson(
        data, bounds=_folium_bounds(shown), name=esc(name), style_function=style, show=show,
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.55},
        tooltip=_detail(["tooltip_html"], None, folium.GeoJsonTooltip),
        popup=_detail(["popup_html"], None, folium.GeoJsonPopup) if "popup_html" in g else None,
    )
    layer.add_to(m)
    return layer


def add_seats(m: folium.Map, seats: gpd.GeoDataFrame, *, name: str = "Sièges des structures porteuses") -> None:
    """Draw seat points (``id``, ``nom``, ``siege_nom``, point geometry) as small circles."""
    if not len(seats):
        return
    g = seats.copy()
    seat_names = g["siege_nom"] if "siege_nom" in g else g["nom"]
    g["tooltip_html"] = [f"<b>{esc(n)}</b><br>Siège : {esc(s)}" for n, s in zip(g["nom"], seat_names)]
    geoms = shapely.transform(g.geometry.to_numpy(), lambda xy: np.round(xy, 5))
    _GeoJson(
        _collection(g, ["id", "nom", "tooltip_html"], geoms), bounds=_folium_bounds(geoms), name=esc(name),
        marker=folium.CircleMarker(radius=4, color="#222222", weight=1, fill=True, fill_color="#FFFFFF",
                                   fill_opacity=1),
        tooltip=_detail(["tooltip_html"], None, folium.GeoJsonTooltip),
    ).add_to(m)


def add_outlines(m: folium.Map, layer: gpd.GeoDataFrame, *, name: str, colour: str = "#555555",
                 weight: float = 1.0, tolerance: float = 0.002, show: bool = True, fill_opacity: float = 0.0,
                 dash: str | None = None, label: str = "") -> None:
    """Draw the units of a context layer (``code``, ``nom``) as outlines with a tooltip."""
    if not len(layer):
        return
    g = layer.copy()
    g["tooltip_html"] = [f"{esc(label)} <b>{esc(n)}</b> ({esc(c)})" for n, c in zip(g["nom"], g["code"])]
    shown = display_geometries(g.geometry.to_numpy(), tolerance=tolerance)
    data = _collection(g, ["code", "tooltip_html"], shown)
    style = {"color": colour, "weight": weight, "fillColor": colour, "fillOpacity": fill_opacity}
    if dash:
        style["dashArray"] = dash
    _GeoJson(data, bounds=_folium_bounds(shown), name=esc(name), show=show, style_function=lambda f: style,
                   marker=folium.CircleMarker(radius=5, fill=True),  # point zones (programme sites)
                   tooltip=_detail(["tooltip_html"], None, folium.GeoJsonTooltip)).add_to(m)


def add_units(m: folium.Map, pieces: gpd.GeoDataFrame, *, name: str, tolerance: float) -> dict[str, str]:
    """Draw pieces coloured by unit (``unit_code``, ``unit_name``, ``share_of_pole``).

    Returns
    -------
    dict
        unit code → colour, in the order drawn (largest share first).
    """
    g = pieces.sort_values("share_of_pole", ascending=False).reset_index(drop=True)
    colours = {code: UNIT_PALETTE[i % len(UNIT_PALETTE)] for i, code in enumerate(g["unit_code"])}
    g["colour"] = g["unit_code"].map(colours)
    g["tooltip_html"] = [f"<b>{esc(n)}</b> ({esc(c)})<br>{esc(fr_pct(s))} du pôle"
                         for n, c, s in zip(g["unit_name"], g["unit_code"], g["share_of_pole"])]
    shown = display_geometries(g.geometry.to_numpy(), tolerance=tolerance, coverage=True)
    data = _collection(g, ["unit_code", "colour", "tooltip_html"], shown)
    _GeoJson(data, bounds=_folium_bounds(shown), name=esc(name),
                   style_function=lambda f: {"color": "#ffffff", "weight": 0.6, "fillColor": f["properties"]["colour"],
                                             "fillOpacity": 0.65},
                   tooltip=_detail(["tooltip_html"], None, folium.GeoJsonTooltip)).add_to(m)
    return colours


def add_lines(m: folium.Map, geom, *, name: str, colour: str = "#C00000", weight: float = 3.0,
              tooltip: str = "") -> None:
    """Draw a (multi)line geometry, such as internal borders."""
    if geom is None or geom.is_empty:
        return
    data = {"type": "Feature", "properties": {"tooltip_html": esc(tooltip)},
            "geometry": json.loads(shapely.to_geojson(shapely.transform(geom, lambda xy: np.round(xy, 5))))}
    _GeoJson(data, bounds=_folium_bounds([geom]), name=esc(name), style_function=lambda f: {"color": colour, "weight": weight},
                   tooltip=_detail(["tooltip_html"], None, folium.GeoJsonTooltip) if tooltip else None).add_to(m)


class _Control(MacroElement):
    """A Leaflet control holding fixed HTML (built from escaped pieces)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var ctl = L.control({position: {{ this.position|tojson }}});
            ctl.onAdd = function () {
                var div = L.DomUtil.create('div', 'ptce-legend');
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            // after every other control (the layer switcher stays on top of its corner)
            setTimeout(function () { ctl.addTo({{ this._parent.get_name() }}); }, 0);
        })();
        {% endmacro %}
    """)

    def __init__(self, html_text: str, position: str = "bottomright") -> None:
        super().__init__()
        self._name = "PtceLegend"
        self.html = html_text
        self.position = position


class _Attribution(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
    """)

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "PtceAttribution"
        self.text = text


def _no_braces_json(value) -> str:
    """JSON safe to paste in a script that Jinja renders again (see :func:`esc`).

    Inside strings, braces, angle brackets and ampersands become ``\\u`` escapes
    (JavaScript reads them back unchanged); braces of objects are kept apart. Data can
    neither close the script nor open a template tag.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    out, in_string, escaped = [], False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            elif ch in "{}<>&":
                ch = f"\\u{ord(ch):04x}"
        elif ch == '"':
            in_string = True
        out.append(ch)
    text = "".join(out)
    # structural braces of objects: keep them apart so that « {{ » or « {% » never appears
    return text.replace("{{", "{ {").replace("}}", "} }").replace("{%", "{ %").replace("%}", "% }")


class _FrenchControls(MacroElement):
    """Zoom buttons and popups' close button in French; a metric scale only."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            L.control.zoom({position: 'topleft', zoomInTitle: 'Zoom avant', zoomOutTitle: 'Zoom arrière'}).addTo(map);
            L.control.scale({position: 'bottomleft', metric: true, imperial: false}).addTo(map);
            map.on('popupopen', function (e) {
                var b = e.popup.getElement && e.popup.getElement().querySelector('.leaflet-popup-close-button');
                if (b) { b.setAttribute('aria-label', 'Fermer'); b.setAttribute('title', 'Fermer'); }
            });
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "PtceFrenchControls"


class _LayerControlFr(MacroElement):
    """The layer switcher's button titled in French."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            var c = map.getContainer().querySelectorAll('.leaflet-control-layers-toggle');
            for (var i = 0; i < c.length; i++) {
                c[i].setAttribute('title', 'Couches affichées'); c[i].setAttribute('aria-label', 'Couches affichées');
            }
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "PtceLayerControlFr"


class _ZoomButton(MacroElement):
    """A button that fits the map to fixed bounds (an inset without a second map)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            var ctl = L.control({position: {{ this.position|tojson }}});
            ctl.onAdd = function () {
                var div = L.DomUtil.create('div', 'leaflet-bar ptce-zoom-button');
                var a = L.DomUtil.create('a', '', div);
                a.href = '#'; a.setAttribute('role', 'button');
                a.textContent = {{ this.label|tojson }}; a.title = {{ this.title|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.on(a, 'click', function (e) {
                    L.DomEvent.preventDefault(e);
                    map.fitBounds({{ this.bounds|tojson }});
                });
                return div;
            };
            ctl.addTo(map);
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, label: str, title: str, bounds, position: str = "topleft") -> None:
        super().__init__()
        self._name = "PtceZoomButton"
        self.label, self.title, self.position = label, title, position
        self.bounds = [[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]]


def add_zoom_button(m: folium.Map, label: str, bounds: Sequence[float], *, title: str = "") -> None:
    """A map button « label » that zooms to ``bounds`` (minx, miny, maxx, maxy)."""
    m.add_child(_ZoomButton(label, title or label, bounds))


class _Labels(MacroElement):
    """Place names drawn by zoom: each label appears from its own zoom level on."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            var data = {{ this.data }};
            var pane = map.getPane('ptceLabels') || map.createPane('ptceLabels');
            pane.style.zIndex = 640; pane.style.pointerEvents = 'none';
            var markers = data.map(function (d) {
                var span = document.createElement('span');
                span.className = 'ptce-label' + (d[4] ? ' major' : '');
                span.textContent = d[3];
                return [d[2], L.marker([d[0], d[1]], {pane: 'ptceLabels', interactive: false, keyboard: false,
                        icon: L.divIcon({className: 'ptce-label-anchor', html: span, iconSize: null})})];
            });
            function update() {
                var z = map.getZoom() + {{ this.offset }};
                markers.forEach(function (m) {
                    if (z >= m[0]) { if (!map.hasLayer(m[1])) m[1].addTo(map); }
                    else if (map.hasLayer(m[1])) map.removeLayer(m[1]);
                });
            }
            map.on('zoomend', update);
            map.whenReady(update);
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: str, offset: float = 0.0) -> None:
        super().__init__()
        self._name = "PtceLabels"
        self.data = data
        self.offset = float(offset)


#: tier of a commune's status for labels (smaller first); other communes come by population
_STATUS_TIER = {"capitale d'etat": 0, "prefecture de region": 0, "prefecture": 1}
#: a sous-préfecture counts as a town this many times larger
_SUBPREFECTURE_WEIGHT = 3.0


def view_zoom(bounds: Sequence[float], *, width_px: int = 800, height_px: int = 560) -> float:
    """The Web Mercator zoom at which ``bounds`` fill a map of this size (as Leaflet fits them)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)

    def merc(lat: float) -> float:
        lat = np.clip(lat, -85.0, 85.0)
        return np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / (2 * np.pi)

    dx = max(maxx - minx, 1e-6) / 360.0
    dy = max(merc(maxy) - merc(miny), 1e-9)
    return float(min(np.log2(width_px / 256 / dx), np.log2(height_px / 256 / dy)))


def place_labels(names: Sequence[str], lon: Sequence[float], lat: Sequence[float], priority: Sequence[float], *,
                 zooms: Sequence[int], major: Sequence[bool] | None = None, font_px: float = 6.6,
                 height_px: float = 15.0) -> np.ndarray:
    """The zoom from which each label can be drawn without overlapping a more important one.

    Labels are taken most important first (smallest ``priority``); each gets the first
    zoom of ``zooms`` at which its box (text width estimated from its length) overlaps
    none of the more important labels shown at that zoom. So at every zoom the labels
    shown never overlap (distances only grow as one zooms in), and a label never gives
    way to a less important one; a ``major`` label (a seat, a large town) also keeps its
    place at the zooms where it does not fit yet. Returns, per label, its first zoom, or
    ``inf`` when it never fits within ``zooms``.
    """
    names = list(names)
    n = len(names)
    first = np.full(n, np.inf)
    zooms = sorted(int(z) for z in zooms)
    if not n or not zooms:
        return first
    lon = np.asarray(lon, dtype=float)
    lat = np.clip(np.asarray(lat, dtype=float), -85.0, 85.0)
    mx = (lon + 180.0) / 360.0
    my = (1 - np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / np.pi) / 2
    big = np.asarray(major, dtype=bool) if major is not None else np.zeros(n, dtype=bool)
    half_w = (np.array([len(t) for t in names]) * font_px * np.where(big, 1.2, 1.0) + 6) / 2
    half_h = np.where(big, height_px * 1.15, height_px) / 2
    order = np.argsort(np.asarray(priority, dtype=float), kind="stable")
    # the loop below reads single values: Python floats, ten times faster than numpy scalars
    mx, my, half_w, half_h, big = mx.tolist(), my.tolist(), half_w.tolist(), half_h.tolist(), big.tolist()
    cell = 96.0
    scales = {z: 256.0 * 2.0 ** z for z in zooms}
    grids: dict[int, dict[tuple[int, int], list[int]]] = {z: {} for z in zooms}

    def cells(i: int, z: int):
        px, py = mx[i] * scales[z], my[i] * scales[z]
        x0, x1 = int((px - half_w[i]) // cell), int((px + half_w[i]) // cell)
        y0, y1 = int((py - half_h[i]) // cell), int((py + half_h[i]) // cell)
        return [(cx, cy) for cx in range(x0, x1 + 1) for cy in range(y0, y1 + 1)]

    def free(i: int, z: int) -> bool:
        k = scales[z]
        for c in cells(i, z):
            for j in grids[z].get(c, ()):
                if (abs(mx[i] - mx[j]) * k < half_w[i] + half_w[j]
                        and abs(my[i] - my[j]) * k < half_h[i] + half_h[j]):
                    return False
        return True

    for i in order.tolist():
        # the first zoom where it is free, and free at every larger one, where more important
        # names may appear (each zoom tested once: the grids change only after the choice)
        ok = [free(i, z) for z in zooms]
        for n_z in range(len(zooms) - 1, -1, -1):
            if not ok[n_z]:
                break
            first[i] = zooms[n_z]
        # a major name keeps its place at the zooms where it does not fit yet, so that no
        # smaller town shows where it will appear (Contes before Nice)
        for zz in zooms:
            if zz >= first[i] or big[i]:
                for c in cells(i, zz):
                    grids[zz].setdefault(c, []).append(int(i))
    return first


def label_priority(population, status=None) -> np.ndarray:
    """Order of importance of communes for labels (smaller first).

    Capital and préfectures de région first, then préfectures (when ``status`` is
    known), then every other commune by population, a sous-préfecture counting as a
    town three times larger.
    """
    pop = np.nan_to_num(np.asarray(population, dtype=float), nan=0.0)
    tier = np.full(len(pop), 2.0)
    if status is not None:
        from .fmt import fold

        folded = [fold(s) if isinstance(s, str) else "" for s in status]
        tier = np.array([_STATUS_TIER.get(f, 2) for f in folded], dtype=float)
        pop = pop * np.array([_SUBPREFECTURE_WEIGHT if f == "sous-prefecture" else 1.0 for f in folded])
    return tier * 1e9 - np.minimum(pop, 9e8)


def add_labels(m: folium.Map, labels, *, offset: float = 0.0) -> int:
    """Draw place names: ``labels`` has ``nom``, ``lon``, ``lat``, ``minzoom`` and ``major``.

    A label shows once the map's zoom (plus ``offset``, the difference between the zoom
    the labels were placed for and Leaflet's) reaches its ``minzoom``. Returns how many
    labels were added. Names are set as text, never as HTML.
    """
    rows = [[round(float(la), 5), round(float(lo), 5), float(z), str(nm), bool(mj)]
            for nm, lo, la, z, mj in zip(labels["nom"], labels["lon"], labels["lat"], labels["minzoom"],
                                         labels["major"]) if np.isfinite(z)]
    if rows:
        m.add_child(_Labels(_no_braces_json(rows), offset=offset))
    return len(rows)


def add_legend(m: folium.Map, title: str, entries: Sequence[tuple], *, position: str = "topright",
               collapsed: bool = False) -> None:
    """A collapsible legend box: ``title`` and entries, all escaped.

    Each entry is ``(label, colour)`` (a filled square) or ``(label, colour, style)`` with
    style ``"fill"``, ``"line"`` or ``"dash"`` (outlines of context layers), or ``"low"``
    (the dashed, pale swatch of low-confidence perimeters). The boxes sit
    top right by default, under the layer switcher, where a map of France shows only its
    neighbours (Corsica, the Pyrenees and the Atlantic coast stay clear); a click on a
    title folds its box.
    """
    rows = []
    for entry in entries:
        label, colour = entry[0], entry[1]
        style = entry[2] if len(entry) > 2 else "fill"
        if style == "fill":
            rows.append(f'<div><i style="background:{esc(colour)}"></i>{esc(label)}</div>')
        elif style == "low":
            rows.append(f'<div><i class="ptce-low"></i>{esc(label)}</div>')
        else:
            rows.append(f'<div><i class="{"dash" if style == "dash" else "line"}" '
                        f'style="border-top-color:{esc(colour)}"></i>{esc(label)}</div>')
    body = f'<details{"" if collapsed else " open"}><summary>{esc(title)}</summary>{"".join(rows)}</details>'
    m.add_child(_Control(body, position=position))


def typology_legend(m: folium.Map, *, present: Iterable[str] | None = None, collapsed: bool = False,
                    low_confidence: bool = False) -> None:
    """The legend of pole colours (every typology, or those ``present``).

    With ``low_confidence``, one more line shows the style of low-confidence perimeters
    (dashed outline, pale fill), in the same box: at the scale of France the box sits over
    the Atlantic, and a second box above it would cover the Landes and the Gironde.
    """
    keep = set(present) if present is not None else None
    entries = [(TYPOLOGY_LABELS[t], c) for t, c in TYPOLOGY_COLOURS.items() if keep is None or t in keep]
    if keep is not None and any(t not in TYPOLOGY_COLOURS for t in keep):
        entries.append(("Typologie non calculée", UNKNOWN_COLOUR))
    if low_confidence:
        entries.append((LOW_CONFIDENCE_LABEL, "", "low"))
    # bottom left: at the scale of France, the Atlantic and Spain; other legends go top right
    add_legend(m, "Typologie du périmètre", entries, collapsed=collapsed, position="bottomleft")


def add_attribution(m: folium.Map, text: str) -> None:
    """Add a data attribution (plain text, escaped) to the map's attribution control."""
    if text:
        m.add_child(_Attribution(esc(text)))


#: Leaflet.draw's strings in French (``L.drawLocal``), set before the toolbar is built
DRAW_LOCAL_FR = {
    "draw": {
        "toolbar": {
            "actions": {"title": "Annuler le dessin", "text": "Annuler"},
            "finish": {"title": "Terminer le dessin", "text": "Terminer"},
            "undo": {"title": "Supprimer le dernier point tracé", "text": "Supprimer le dernier point"},
            "buttons": {"polyline": "Tracer une ligne", "polygon": "Tracer un polygone",
                        "rectangle": "Tracer un rectangle", "circle": "Tracer un cercle",
                        "marker": "Placer un marqueur", "circlemarker": "Placer un cercle"},
        },
        "handlers": {
            "circle": {"tooltip": {"start": "Cliquez et faites glisser pour tracer un cercle."}, "radius": "Rayon"},
            "circlemarker": {"tooltip": {"start": "Cliquez sur la carte pour placer un cercle."}},
            "marker": {"tooltip": {"start": "Cliquez sur la carte pour placer un marqueur."}},
            "polygon": {"tooltip": {"start": "Cliquez pour placer le premier point du polygone.",
                                    "cont": "Cliquez pour ajouter un point.",
                                    "end": "Cliquez sur le premier point pour fermer le polygone."}},
            "polyline": {"error": "<strong>Erreur :</strong> les côtés ne peuvent pas se croiser.",
                         "tooltip": {"start": "Cliquez pour commencer la ligne.", "cont": "Cliquez pour continuer la ligne.",
                                     "end": "Cliquez sur le dernier point pour terminer la ligne."}},
            "rectangle": {"tooltip": {"start": "Cliquez et faites glisser pour tracer un rectangle."}},
            "simpleshape": {"tooltip": {"end": "Relâchez le bouton pour terminer."}},
        },
    },
    "edit": {
        "toolbar": {
            "actions": {"save": {"title": "Enregistrer les modifications", "text": "Enregistrer"},
                        "cancel": {"title": "Annuler les modifications", "text": "Annuler"},
                        "clearAll": {"title": "Effacer toutes les formes", "text": "Tout effacer"}},
            "buttons": {"edit": "Modifier les formes", "editDisabled": "Aucune forme à modifier",
                        "remove": "Supprimer des formes", "removeDisabled": "Aucune forme à supprimer"},
        },
        "handlers": {
            "edit": {"tooltip": {"text": "Faites glisser les poignées pour modifier une forme.",
                                 "subtext": "Annuler pour revenir en arrière."}},
            "remove": {"tooltip": {"text": "Cliquez sur une forme pour la supprimer."}},
        },
    },
}


class _DrawLocal(MacroElement):
    """Sets ``L.drawLocal`` to French before the drawing toolbar is built."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        if (window.L) { L.drawLocal = {{ this.strings }}; }
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "PtceDrawLocal"
        self.strings = _no_braces_json(DRAW_LOCAL_FR)


def add_draw(m: folium.Map) -> None:
    """The drawing tools (polygon and rectangle only), in French, for a new perimeter."""
    m.add_child(_DrawLocal())
    folium.plugins.Draw(
        export=False, position="topleft",
        draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                      "polygon": {"allowIntersection": False, "showArea": False}, "rectangle": True},
        edit_options={"edit": True, "remove": True},
    ).add_to(m)


def finish(m: folium.Map, *, layer_control: bool = True) -> folium.Map:
    """Add the layer switcher (collapsed) and return the map."""
    if layer_control:
        folium.LayerControl(collapsed=True, position="topright").add_to(m)
        m.add_child(_LayerControlFr())
    return m


def map_html(m: folium.Map) -> str:
    """The standalone HTML page of a map (what ``Map.save`` writes)."""
    return m.get_root().render()


def internal_borders(pieces: Sequence, *, outline=None):
    """The borders between pieces of a perimeter (their outlines minus the perimeter's).

    Parameters
    ----------
    pieces : array of polygonal geometries tiling a perimeter (display copies)
    outline : geometry, optional
        The perimeter; default: the union of ``pieces``.
    """
    arr = np.asarray(list(pieces), dtype=object)
    if len(arr) < 2:
        return None
    lines = shapely.union_all(shapely.boundary(arr))
    whole = outline if outline is not None else shapely.union_all(arr)
    inner = shapely.difference(lines, shapely.buffer(shapely.boundary(whole), 1e-6))
    return None if inner.is_empty else inner
