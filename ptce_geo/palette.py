"""Colours shared by every map the project draws: the app's folium maps, the pole card's
static map and the default styles of the GeoPackage exports (so QGIS shows what the app
shows). No dependency: importing it loads neither folium nor matplotlib.
"""

from __future__ import annotations

__all__ = ["TYPOLOGY_COLOURS", "UNKNOWN_COLOUR", "UNIT_PALETTE", "RELATION_COLOURS"]

#: colour of each typology (Okabe-Ito palette, readable by colour-blind people)
TYPOLOGY_COLOURS = {
    "commune": "#56B4E9",
    "intra-EPCI": "#009E73",
    "inter-EPCI": "#E69F00",
    "inter-départemental": "#D55E00",
    "inter-régional": "#CC79A7",
}
UNKNOWN_COLOUR = "#7F7F7F"
#: colours of units (pieces of a pole), cycled
UNIT_PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948",
                "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC")
#: colour of each relation between a pole and a zone (the « Zones de contrat » map)
RELATION_COLOURS = {"coincides": "#1B9E77", "pole_inside_zone": "#66A61E", "zone_inside_pole": "#7570B3",
                    "straddles": "#D95F02", "touches": "#999999"}
