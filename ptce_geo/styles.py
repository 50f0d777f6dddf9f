"""Default styles of the GeoPackage exports, so that QGIS opens them as the app shows them.

QGIS reads a layer's default style from the GeoPackage's ``layer_styles`` table (the
table QGIS itself writes with « Save as default »): one row per layer, with the style as
QML (QGIS's own format) and as SLD (OGC Symbology Encoding 1.1, for other GIS). This
module writes both for each kind of exported layer:

* poles (and their equal-area copies): filled by typology with the app's colours
  (:data:`ptce_geo.palette.TYPOLOGY_COLOURS`), labelled by name;
* seats: white dots outlined in dark grey, as in the app, labelled by name;
* pieces: one colour per unit (the app's « Découpages » palette), labelled by unit name;
* overlaps: coloured by relation to the pole, labelled by zone name;
* tables without geometry (scorecard, metadata): field aliases only.

Every layer gets French field aliases (:func:`ptce_geo.columns.french_header`). All
text is XML-escaped: names from data never change the structure of a style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from .columns import french_headers
from .fmt import RELATION_LABELS, TYPOLOGY_LABELS
from .palette import RELATION_COLOURS, TYPOLOGY_COLOURS, UNIT_PALETTE, UNKNOWN_COLOUR

__all__ = ["LayerStyle", "style_for", "qml", "sld", "LAYER_STYLES_COLUMNS"]

#: columns of the ``layer_styles`` table, as QGIS creates it
LAYER_STYLES_COLUMNS = ("f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                        "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time")
#: a piece layer gets one colour per unit up to this many units (a single colour beyond)
MAX_CATEGORIES = 400
_QGIS_VERSION = "3.28.0-Firenze"


@dataclass(frozen=True)
class LayerStyle:
    """How one layer is drawn.

    Attributes
    ----------
    geometry : {"polygon", "point", "none"}
    category_field : str or None
        The attribute the categories read (``None``: one symbol for all).
    categories : list of (value, label, hex colour)
    default_colour : str
        The colour of features in no category (and of the single symbol).
    label_field : str or None
        The attribute shown as label.
    fill_alpha : int
        Opacity of fills, 0 to 255.
    outline : str or None
        Outline colour (``None``: a darker shade of each fill).
    aliases : dict
        Field name → French alias.
    """

    geometry: str
    category_field: str | None = None
    categories: tuple[tuple[str, str, str], ...] = ()
    default_colour: str = UNKNOWN_COLOUR
    label_field: str | None = None
    fill_alpha: int = 150
    outline: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)


def _kind(name: str) -> str:
    if name == "poles" or name.startswith("poles_"):
        return "poles"
    for prefix in ("seats", "pieces", "overlaps", "scorecard"):
        if name == prefix or name.startswith(prefix + "_"):
            return prefix
    return "table"


def style_for(name: str, columns, *, geometry: str, values=None) -> LayerStyle:
    """The style of an exported layer.

    Parameters
    ----------
    name : str
        The layer name (``poles``, ``poles_epsg3035``, ``seats``, ``pieces_epci``,
        ``overlaps_crte``, ``scorecard``…): it says what the layer holds.
    columns : sequence of str
        Its fields (for the aliases).
    geometry : {"polygon", "point", "none"}
    values : sequence of (code, name), optional
        The units of a pieces layer, coloured one by one.
    """
    kind = _kind(name)
    table = {"pieces": "pieces", "overlaps": "overlaps"}.get(kind, "")
    cols = [c for c in columns if c not in ("geometry", "geom")]
    aliases = dict(zip(cols, french_headers(cols, table=table)))
    if geometry == "none":
        return LayerStyle(geometry="none", aliases=aliases)
    if kind == "poles":
        cats = tuple((t, TYPOLOGY_LABELS.get(t, t), c) for t, c in TYPOLOGY_COLOURS.items())
        return LayerStyle(geometry=geometry, category_field="typology", categories=cats, label_field="nom",
                          aliases=aliases)
    if kind == "seats":
        return LayerStyle(geometry=geometry, default_colour="#FFFFFF", outline="#222222", label_field="nom",
                          fill_alpha=255, aliases=aliases)
    if kind == "pieces":
        units = dict.fromkeys((str(code), str(name)) for code, name in (values if values is not None else []))
        if 0 < len(units) <= MAX_CATEGORIES:
            cats = tuple((code, f"{name} ({code})", UNIT_PALETTE[i % len(UNIT_PALETTE)])
                         for i, (code, name) in enumerate(units))
            return LayerStyle(geometry=geometry, category_field="unit_code", categories=cats,
                              label_field="unit_name", fill_alpha=140, outline="#333333", aliases=aliases)
        return LayerStyle(geometry=geometry, default_colour=UNIT_PALETTE[0], label_field="unit_name",
                          fill_alpha=110, outline="#333333", aliases=aliases)
    if kind == "overlaps":
        cats = tuple((r, RELATION_LABELS.get(r, r), c) for r, c in RELATION_COLOURS.items())
        return LayerStyle(geometry=geometry, category_field="relation", categories=cats, label_field="zone_name",
                          fill_alpha=110, aliases=aliases)
    return LayerStyle(geometry=geometry, label_field="nom" if "nom" in cols else None, aliases=aliases)


# ---------------------------------------------------------------- colours
def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _darker(hex_colour: str, factor: float = 0.6) -> str:
    r, g, b = (int(round(v * factor)) for v in _rgb(hex_colour))
    return f"#{r:02X}{g:02X}{b:02X}"


def _qcolour(hex_colour: str, alpha: int = 255) -> str:
    r, g, b = _rgb(hex_colour)
    return f"{r},{g},{b},{alpha}"


# ---------------------------------------------------------------- QML
def _props(props: dict[str, str], indent: str) -> str:
    return "\n".join(f"{indent}<prop k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in props.items())


def _qml_symbol(style: LayerStyle, name: str, colour: str) -> str:
    outline = style.outline or _darker(colour)
    if style.geometry == "point":
        props = {"name": "circle", "color": _qcolour(colour, style.fill_alpha), "outline_color": _qcolour(outline),
                 "outline_width": "0.4", "outline_width_unit": "MM", "outline_style": "solid", "size": "2.6",
                 "size_unit": "MM", "angle": "0", "joinstyle": "bevel", "scale_method": "diameter"}
        return (f'      <symbol type="marker" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">\n'
                f'        <layer class="SimpleMarker" enabled="1" locked="0" pass="0">\n'
                f"{_props(props, '          ')}\n        </layer>\n      </symbol>")
    props = {"color": _qcolour(colour, style.fill_alpha), "style": "solid", "outline_color": _qcolour(outline),
             "outline_style": "solid", "outline_width": "0.4", "outline_width_unit": "MM", "joinstyle": "bevel",
             "offset": "0,0", "offset_unit": "MM"}
    return (f'      <symbol type="fill" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">\n'
            f'        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
            f"{_props(props, '          ')}\n        </layer>\n      </symbol>")


def _qml_renderer(style: LayerStyle) -> str:
    if style.category_field is None or not style.categories:
        return ('  <renderer-v2 type="singleSymbol" symbollevels="0" forceraster="0" enableorderby="0">\n'
                "    <symbols>\n" + _qml_symbol(style, "0", style.default_colour) + "\n    </symbols>\n"
                "  </renderer-v2>")
    cats, symbols = [], []
    for i, (value, label, colour) in enumerate(style.categories):
        cats.append(f"      <category value={quoteattr(value)} label={quoteattr(label)} symbol=\"{i}\" "
                    'render="true"/>')
        symbols.append(_qml_symbol(style, str(i), colour))
    n = len(style.categories)  # features in no category (a typology not computed): grey
    cats.append(f'      <category value="" label="Non calculée" symbol="{n}" render="true"/>')
    symbols.append(_qml_symbol(style, str(n), style.default_colour))
    return (f'  <renderer-v2 type="categorizedSymbol" attr={quoteattr(style.category_field)} symbollevels="0" '
            'forceraster="0" enableorderby="0">\n'
            "    <categories>\n" + "\n".join(cats) + "\n    </categories>\n"
            "    <symbols>\n" + "\n".join(symbols) + "\n    </symbols>\n"
            "  </renderer-v2>")


def _qml_labels(style: LayerStyle) -> str:
    if not style.label_field:
        return ""
    placement = "0" if style.geometry == "point" else "1"  # around the point / over the centroid
    return ('  <labeling type="simple">\n    <settings calloutType="simple">\n'
            f"      <text-style fieldName={quoteattr(style.label_field)} isExpression=\"0\" fontFamily=\"Sans Serif\" "
            'fontSize="9" fontSizeUnit="Point" fontWeight="50" fontItalic="0" textColor="20,20,20,255" '
            'textOpacity="1" multilineHeight="1" blendMode="0" previewBkgrdColor="255,255,255,255">\n'
            '        <text-buffer bufferDraw="1" bufferSize="0.8" bufferSizeUnits="MM" '
            'bufferColor="255,255,255,255" bufferOpacity="0.9" bufferNoFill="1" bufferJoinStyle="128"/>\n'
            "      </text-style>\n"
            '      <text-format wrapChar="" multilineAlign="3" autoWrapLength="24" useMaxLineLengthForAutoWrap="1"/>\n'
            f'      <placement placement="{placement}" dist="1" distUnits="MM" centroidWhole="1" '
            'centroidInside="1" fitInPolygonOnly="0" priority="5"/>\n'
            '      <rendering obstacle="1" scaleVisibility="0" fontLimitPixelSize="0" displayAll="0" '
            'upsidedownLabels="0" labelPerPart="0" mergeLines="0" limitNumLabels="0"/>\n'
            "    </settings>\n  </labeling>")


def qml(style: LayerStyle) -> str:
    """The style as a QGIS QML document (symbology, labels and field aliases)."""
    aliases = "\n".join(f"    <alias field={quoteattr(f)} index=\"{i}\" name={quoteattr(a)}/>"
                        for i, (f, a) in enumerate(style.aliases.items()))
    geometry_type = {"point": "0", "polygon": "2"}.get(style.geometry, "4")
    parts = ["<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
             f'<qgis version="{_QGIS_VERSION}" styleCategories="Symbology|Labeling|Fields" '
             f'labelsEnabled="{1 if style.label_field and style.geometry != "none" else 0}">']
    if style.geometry != "none":
        parts.append(_qml_renderer(style))
        if style.label_field:
            parts.append(_qml_labels(style))
    parts.append("  <aliases>\n" + aliases + "\n  </aliases>" if aliases else "  <aliases/>")
    parts.append(f"  <layerGeometryType>{geometry_type}</layerGeometryType>")
    parts.append("</qgis>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- SLD
_SLD_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
             'xmlns:se="http://www.opengis.net/se" xmlns:ogc="http://www.opengis.net/ogc" '
             'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:schemaLocation="http://www.opengis.net/sld '
             'http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">\n')


def _sld_symbolizer(style: LayerStyle, colour: str) -> str:
    outline = style.outline or _darker(colour)
    opacity = f"{style.fill_alpha / 255:.2f}"
    if style.geometry == "point":
        return ("        <se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>"
                f'<se:Fill><se:SvgParameter name="fill">{colour}</se:SvgParameter></se:Fill>'
                f'<se:Stroke><se:SvgParameter name="stroke">{outline}</se:SvgParameter>'
                '<se:SvgParameter name="stroke-width">1</se:SvgParameter></se:Stroke></se:Mark>'
                "<se:Size>9</se:Size></se:Graphic></se:PointSymbolizer>")
    return ("        <se:PolygonSymbolizer>"
            f'<se:Fill><se:SvgParameter name="fill">{colour}</se:SvgParameter>'
            f'<se:SvgParameter name="fill-opacity">{opacity}</se:SvgParameter></se:Fill>'
            f'<se:Stroke><se:SvgParameter name="stroke">{outline}</se:SvgParameter>'
            '<se:SvgParameter name="stroke-width">1</se:SvgParameter></se:Stroke></se:PolygonSymbolizer>')


def _sld_rule(name: str, title: str, symbolizer: str, condition: str = "") -> str:
    return (f"      <se:Rule>\n        <se:Name>{escape(name)}</se:Name>\n"
            f"        <se:Description><se:Title>{escape(title)}</se:Title></se:Description>\n"
            + (f"        {condition}\n" if condition else "") + symbolizer + "\n      </se:Rule>")


def sld(style: LayerStyle, layer_name: str) -> str:
    """The style as an OGC SLD 1.1 document (fills, categories, labels)."""
    rules = []
    if style.geometry != "none":
        if style.category_field and style.categories:
            for value, label, colour in style.categories:
                cond = (f"<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>{escape(style.category_field)}"
                        f"</ogc:PropertyName><ogc:Literal>{escape(value)}</ogc:Literal></ogc:PropertyIsEqualTo>"
                        "</ogc:Filter>")
                rules.append(_sld_rule(value, label, _sld_symbolizer(style, colour), cond))
            rules.append(_sld_rule("autre", "Non calculée", _sld_symbolizer(style, style.default_colour),
                                   "<se:ElseFilter/>"))
        else:
            rules.append(_sld_rule("tous", "Tous", _sld_symbolizer(style, style.default_colour)))
        if style.label_field:
            text = ("        <se:TextSymbolizer><se:Label><ogc:PropertyName>" + escape(style.label_field)
                    + "</ogc:PropertyName></se:Label><se:Font>"
                    '<se:SvgParameter name="font-family">Sans-Serif</se:SvgParameter>'
                    '<se:SvgParameter name="font-size">12</se:SvgParameter></se:Font>'
                    '<se:Halo><se:Radius>1.5</se:Radius><se:Fill><se:SvgParameter name="fill">#FFFFFF'
                    "</se:SvgParameter></se:Fill></se:Halo>"
                    '<se:Fill><se:SvgParameter name="fill">#141414</se:SvgParameter></se:Fill></se:TextSymbolizer>')
            rules.append(_sld_rule("etiquettes", "Étiquettes", text))
    body = ("      <se:FeatureTypeStyle>\n" + "\n".join(rules) + "\n      </se:FeatureTypeStyle>\n") if rules else ""
    return (_SLD_HEAD + "  <NamedLayer>\n"
            f"    <se:Name>{escape(layer_name)}</se:Name>\n"
            f"    <UserStyle>\n      <se:Name>{escape(layer_name)}</se:Name>\n" + body
            + "    </UserStyle>\n  </NamedLayer>\n</StyledLayerDescriptor>\n")
