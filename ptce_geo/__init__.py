"""ptce_geo: map France's PTCE and measure how their perimeters cut across boundaries.

The public API, in the order data flows::

    catalogue = load_catalogue()                 # boundaries/catalogue.toml or PTCE_GEO_CATALOGUE
    communes = load_layer("communes")            # GeoDataFrame, EPSG:4326, normalised columns
    poles = read_perimeters("poles.geojson")     # perimeters (codes or geometry)
    card = Scorecard(poles)                      # every level, every figure, computed once
    card.summary                                 # one row per pole across all levels
    card.shares("epci")                          # the pieces of one level with their shares
    ov = overlay(poles, "epci")                  # the pieces table of one layer

Maps (``ptce_geo.maps``) need folium (``pip install ptce_geo[maps]``) and are imported
only when used; ``import ptce_geo`` loads neither folium nor streamlit.
"""

from __future__ import annotations

import logging

from .api import (export_overlaps, export_pieces, export_poles, export_territory, load_poles, overlaps, pieces,
                  pole_card, scorecard_of)
from .catalogue import Catalogue, LayerSpec, load_catalogue
from .errors import (
    CatalogueError,
    DataUnavailable,
    IntegrityError,
    InvalidInput,
    InvalidPerimeter,
    PtceGeoError,
    UploadRejected,
)
from .layers import commune_membership, fetch_layers, layer_status, load_layer
from .metrics import SCORECARD_COLUMNS, layer_scorecard, piece_shares, typology
from .options import Options
from .overlay import Overlay, overlay
from .perimeters import check_perimeters, read_perimeters
from .scorecard import Scorecard, pole_scorecard

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
# the package's namespace holds the public API (and the subpackages), not the names this file used
del annotations, logging

__all__ = [
    "__version__",
    "Catalogue",
    "LayerSpec",
    "load_catalogue",
    "load_layer",
    "commune_membership",
    "fetch_layers",
    "layer_status",
    "read_perimeters",
    "check_perimeters",
    "Options",
    "Scorecard",
    "pole_scorecard",
    "Overlay",
    "overlay",
    "piece_shares",
    "layer_scorecard",
    "typology",
    "SCORECARD_COLUMNS",
    "load_poles",
    "scorecard_of",
    "pieces",
    "overlaps",
    "pole_card",
    "export_poles",
    "export_pieces",
    "export_overlaps",
    "export_territory",
    "PtceGeoError",
    "CatalogueError",
    "DataUnavailable",
    "IntegrityError",
    "InvalidInput",
    "InvalidPerimeter",
    "UploadRejected",
]
