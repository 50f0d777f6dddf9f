"""folium maps of poles, territories, pieces and zones, for display only.

Geometries drawn here are simplified and rounded copies: never use them to compute.
Every string from data is HTML-escaped before it reaches a tooltip, a popup, the
legend or the attribution. No tile layer is drawn unless one is configured
(``PTCE_GEO_TILES``, a URL template, with ``PTCE_GEO_TILES_ATTRIBUTION``): the maps
work with no network at all once :func:`ptce_geo.assets.install` has pointed folium at
local copies of Leaflet.
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

from .fmt import TYPOLOGY_LABELS
from .palette import TYPOLOGY_COLOURS, UNIT_PALETTE, UNKNOWN_COLOUR

__all__ = [
    "TYPOLOGY_COLOURS", "TYPOLOGY_LABELS", "UNKNOWN_COLOUR", "UNIT_PALETTE", "TileConfig",
    "esc", "tiles_from_env", "display_geometries", "tolerance_for", "bounds_of", "clip_layer",
    "new_map", "add_poles", "add_seats", "add_outlines", "add_units", "add_lines", "add_legend",
    "add_attribution", "add_draw", "finish", "map_html", "internal_borders", "typology_legend",
    "confidence_legend", "LOW_CONFIDENCE_STYLE", "LOW_CONFIDENCE_LABEL",
]

#: how a perimeter of low confidence (``confiance`` = ``faible``) is drawn: dashed outline, pale fill
LOW_CONFIDENCE_STYLE = {"dashArray": "6 4", "fillOpacity": 0.12}
LOW_CONFIDENCE_LABEL = "Confiance faible : périmètre déduit ou non documenté (contour en tirets, remplissage pâle)"
_CSS = """<style>
.leaflet-container { background: #eef1f4; }
.ptce-legend { background: rgba(255,255,255,.92); padding: 6px 9px; border-radius: 4px;
  font: 12px/1.4 sans-serif; box-shadow: 0 0 4px rgba(0,0,0,.3); max-width: 240px; }
.ptce-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid #555; }
.ptce-legend i.ptce-low { border: 2px dashed #333; background: rgba(127,127,127,.12); box-sizing: border-box; }
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


def new_map(*, bounds: Sequence[float] | None = None, tiles: TileConfig | None = None,
            height: int = 560) -> folium.Map:
    """An empty map fitted to ``bounds`` (France when ``None``), with local assets only."""
    m = folium.Map(location=[46.6, 2.4], zoom_start=6, tiles=None, height=height,
                   control_scale=True, prefer_canvas=False, zoom_snap=0.25, zoom_delta=0.5)
    # Leaflet only: no Bootstrap nor icon fonts (nothing here uses them)
    m.default_js = [p for p in type(m).default_js if p[0] == "leaflet"]
    m.default_css = [p for p in type(m).default_css if p[0] == "leaflet_css"]
    m.get_root().header.add_child(Element(_CSS), name="ptce_css")
    if tiles is not None:
        folium.TileLayer(tiles.url, attr=esc(tiles.attribution), name=esc(tiles.name)).add_to(m)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]] if bounds else [[41.3, -5.2], [51.1, 9.6]])
    return m


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
    g["low"] = g["confidence"].eq("faible").to_numpy() if "confidence" in g else False
    props = ["id", "nom", "colour", "selected", "low", "tooltip_html"] + (["popup_html"] if "popup_html" in g else [])
    data = _collection(g, props, display_geometries(g.geometry.to_numpy(), tolerance=tolerance))

    def style(feature):
        p = feature["properties"]
        out = {"color": "#111111" if p["selected"] else p["colour"], "weight": 3.5 if p["selected"] else 1.5,
               "fillColor": p["colour"], "fillOpacity": 0.55 if p["selected"] else 0.45}
        if p.get("low"):  # a perimeter the sources hardly support: dashed and pale
            out.update(LOW_CONFIDENCE_STYLE, weight=3.0 if p["selected"] else 2.0)
        return out

    layer = folium.GeoJson(
        data, name=esc(name), style_function=style, show=show,
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
    folium.GeoJson(
        _collection(g, ["id", "nom", "tooltip_html"], geoms), name=esc(name),
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
    data = _collection(g, ["code", "tooltip_html"], display_geometries(g.geometry.to_numpy(), tolerance=tolerance))
    style = {"color": colour, "weight": weight, "fillColor": colour, "fillOpacity": fill_opacity}
    if dash:
        style["dashArray"] = dash
    folium.GeoJson(data, name=esc(name), show=show, style_function=lambda f: style,
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
    g["tooltip_html"] = [f"<b>{esc(n)}</b> ({esc(c)})<br>{s:.1%} du pôle"
                         for n, c, s in zip(g["unit_name"], g["unit_code"], g["share_of_pole"])]
    data = _collection(g, ["unit_code", "colour", "tooltip_html"],
                       display_geometries(g.geometry.to_numpy(), tolerance=tolerance, coverage=True))
    folium.GeoJson(data, name=esc(name),
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
    folium.GeoJson(data, name=esc(name), style_function=lambda f: {"color": colour, "weight": weight},
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
                return div;
            };
            ctl.addTo({{ this._parent.get_name() }});
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


def add_legend(m: folium.Map, title: str, entries: Sequence[tuple[str, str]]) -> None:
    """A legend box: ``title`` and (label, colour) entries, all escaped."""
    rows = "".join(f'<div><i style="background:{esc(c)}"></i>{esc(label)}</div>' for label, c in entries)
    m.add_child(_Control(f"<b>{esc(title)}</b>{rows}"))


def typology_legend(m: folium.Map, *, present: Iterable[str] | None = None) -> None:
    """The legend of pole colours (every typology, or those ``present``)."""
    keep = set(present) if present is not None else None
    entries = [(TYPOLOGY_LABELS[t], c) for t, c in TYPOLOGY_COLOURS.items() if keep is None or t in keep]
    if keep is not None and any(t not in TYPOLOGY_COLOURS for t in keep):
        entries.append(("Typologie non calculée", UNKNOWN_COLOUR))
    add_legend(m, "Typologie du périmètre", entries)


def confidence_legend(m: folium.Map) -> None:
    """The legend of the low-confidence style (a dashed, pale swatch), for maps that draw such poles."""
    m.add_child(_Control(f'<b>{esc("Fiabilité du périmètre")}</b><div><i class="ptce-low"></i>'
                         f'{esc(LOW_CONFIDENCE_LABEL)}</div>'))


def add_attribution(m: folium.Map, text: str) -> None:
    """Add a data attribution (plain text, escaped) to the map's attribution control."""
    if text:
        m.add_child(_Attribution(esc(text)))


def add_draw(m: folium.Map) -> None:
    """The drawing tools (polygon and rectangle only), for a new perimeter."""
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
