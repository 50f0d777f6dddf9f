"""The notebook API: a few functions that take poles (or any perimeters) to figures and files.

Each function accepts as ``source`` a :class:`~ptce_geo.scorecard.Scorecard`, perimeters
(a GeoDataFrame from :func:`load_poles` or :func:`~ptce_geo.perimeters.read_perimeters`),
the path of a perimeter file, or nothing (the repository's poles). Given a Scorecard,
every call reuses its figures: build it once with :func:`scorecard_of` and pass it on.

>>> import ptce_geo as pg
>>> card = pg.scorecard_of(pg.load_poles())                      # doctest: +SKIP
>>> pg.pieces(card, "epci", pole="ptce23")                       # doctest: +SKIP
>>> pg.pole_card(card, "ptce05", output="ptce05_fiche.pdf")      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd

from .catalogue import Catalogue
from .options import Options
from .scorecard import Scorecard

__all__ = ["load_poles", "scorecard_of", "pieces", "overlaps", "pole_card", "export_poles", "export_pieces",
           "export_overlaps", "export_territory"]

Source = Scorecard | gpd.GeoDataFrame | str | os.PathLike | None


def load_poles(path: str | os.PathLike | None = None, *, catalogue: Catalogue | None = None) -> gpd.GeoDataFrame:
    """The poles: ``id``, ``nom``, ``communes``, ``properties`` (every attribute of the file), geometry.

    Parameters
    ----------
    path : path, optional
        A perimeter file (GeoJSON); default ``PTCE_GEO_POLES`` or the repository's ``poles.geojson``.
    catalogue : Catalogue, optional
    """
    from .perimeters import read_perimeters
    from .settings import poles_path

    return read_perimeters(path or poles_path(), catalogue=catalogue)


def scorecard_of(perimeters: Source = None, *, threshold: float = 0.01, weight: str = "area",
                 tolerance: float = 0.01, catalogue: Catalogue | None = None,
                 levels: Sequence[str] | None = None, zones: Sequence[str] | None = None) -> Scorecard:
    """The Scorecard of any perimeters at every level (figures computed on first use, then kept).

    Parameters
    ----------
    perimeters : GeoDataFrame, path or None
        Default: the repository's poles. A Scorecard is returned as it is. A GeoDataFrame
        needs an ``id`` column (a unique text per perimeter) and a CRS; without a CRS its
        coordinates are read as longitude/latitude, and refused when they are not degrees.
    threshold, weight, tolerance
        :class:`~ptce_geo.options.Options`.
    catalogue : Catalogue, optional
    levels : sequence of str, optional
        Partition layers to measure (default: all of the catalogue).
    zones : sequence of str, optional
        Zones layers whose programmes are listed (default: all of the catalogue; ``()``: none).

    Raises
    ------
    InvalidPerimeter
        A GeoDataFrame without an ``id`` column, or without a CRS and with coordinates in
        metres (Lambert-93…) or swapped: the message names the perimeter and the fix
        (:func:`ptce_geo.overlay.lonlat_perimeters`).
    """
    if isinstance(perimeters, Scorecard):
        return perimeters
    if not isinstance(perimeters, gpd.GeoDataFrame):
        perimeters = load_poles(perimeters, catalogue=catalogue)
    return Scorecard(perimeters, options=Options(threshold=threshold, weight=weight, tolerance=tolerance),
                     catalogue=catalogue, levels=levels, zones=zones)


def pieces(source: Source, level: str, *, pole: str | Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """The pieces of ``level`` (one row per pole and unit) with their shares and geometry.

    Columns ``pole_id``, ``pole_nom``, ``unit_code``, ``unit_name``, ``area_km2``,
    ``unit_area_km2``, ``share_of_pole``, ``share_of_unit``, ``iou``, ``kept``.
    """
    from .export import layer_table

    card = scorecard_of(source)
    return layer_table(card, level, pole)


def overlaps(source: Source, layer: str, *, pole: str | Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """The overlaps with a zones layer (QPV, Territoires d'industrie, CRTE…), with geometry.

    Columns ``pole_id``, ``pole_nom``, ``zone_code``, ``zone_name``, ``share_of_pole``,
    ``share_of_zone``, ``iou``, ``relation``, ``overlap_km2``, ``zone_type``.
    """
    from .export import layer_table

    card = scorecard_of(source)
    return layer_table(card, layer, pole)


def pole_card(source: Source, pole_id: str, *, fmt: str = "pdf", output: str | os.PathLike | None = None):
    """The printable card of one pole: PDF (A4, one or two pages) or standalone HTML.

    Returns the bytes, or the path written when ``output`` is given.
    """
    from .card import pole_card as make, write_card

    card = scorecard_of(source)
    if output is not None:
        return write_card(card, pole_id, output, fmt=fmt)
    return make(card, pole_id, fmt=fmt)


def _write(ds, output: str | os.PathLike, fmt: str, dialect: str) -> list[Path]:
    from .export import write_dataset

    return write_dataset(ds, output, fmt=fmt, dialect=dialect)


def export_poles(source: Source = None, *, pole: str | Sequence[str] | None = None, fmt: str = "gpkg",
                 output: str | os.PathLike = ".", levels: Sequence[str] = (), zones: Sequence[str] = (),
                 dialect: str = "machine") -> list[Path]:
    """Write the poles (all, or ``pole``) with every attribute, seats and scorecard into the folder ``output``.

    ``fmt`` is ``gpkg`` (every layer, styled for QGIS), ``geojson`` or ``csv`` (``dialect``
    ``"fr"`` for French spreadsheets). ``levels`` and ``zones`` add the pieces and overlaps
    of those layers. Returns the files written (``ptce_poles.gpkg``, ``ptce05_pole.gpkg``…).
    """
    from .export import poles_dataset

    return _write(poles_dataset(scorecard_of(source), pole, levels=levels, zones=zones), output, fmt, dialect)


def export_pieces(source: Source, level: str, *, pole: str | Sequence[str] | None = None, fmt: str = "gpkg",
                  output: str | os.PathLike = ".", dialect: str = "machine") -> list[Path]:
    """Write the pieces of ``level`` into the folder ``output`` (``ptce05_pieces_epci.gpkg``…)."""
    from .export import pieces_dataset

    return _write(pieces_dataset(scorecard_of(source), level, pole), output, fmt, dialect)


def export_overlaps(source: Source, layer: str, *, pole: str | Sequence[str] | None = None, fmt: str = "gpkg",
                    output: str | os.PathLike = ".", dialect: str = "machine") -> list[Path]:
    """Write the overlaps with a zones layer into the folder ``output`` (``ptce_overlaps_crte.gpkg``…)."""
    from .export import overlaps_dataset

    return _write(overlaps_dataset(scorecard_of(source), layer, pole), output, fmt, dialect)


def export_territory(source: Source, level: str, code: str, *, fmt: str = "gpkg", output: str | os.PathLike = ".",
                     dialect: str = "machine") -> list[Path]:
    """Write the poles acting in one unit, with both shares (``territoire_epci_<code>_poles.gpkg``…)."""
    from .export import territory_dataset

    return _write(territory_dataset(scorecard_of(source), level, code), output, fmt, dialect)
