"""The scorecard of a set of perimeters: every level, every figure, computed once.

A :class:`Scorecard` is built from perimeters and :class:`~ptce_geo.options.Options`.
It holds the overlay of each partition level (computed on first use, then kept), the
per-level table of :func:`~ptce_geo.metrics.layer_scorecard`, the cross-level summary
(one row per pole: units kept per level, the typology, the dominant unit of each level,
the zone d'emploi — and the other "matching" zonings — that fit it best, QPV figures,
descriptive columns of the poles file) and the overlaps with zones layers. The command
line, the app, the exports and the pole card all read one Scorecard; nothing in it
modifies its inputs, and every figure has one definition (the functions of
:mod:`ptce_geo.metrics` and :mod:`ptce_geo.zones`).

A Scorecard is safe to share between threads (the app shares the poles' one between
sessions): each figure is computed once under its own lock, then only read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd

from .cache import code_digest
from .catalogue import Catalogue, load_catalogue
from .errors import DataUnavailable, InvalidInput
from .metrics import SCORECARD_COLUMNS, layer_arrays, piece_shares, share_arrays, typology
from .options import DEFAULT_THRESHOLD, Options
from .overlay import Overlay, PreparedPerimeters, lonlat_perimeters, overlay

logger = logging.getLogger(__name__)

__all__ = ["Scorecard", "stored_scorecard", "stored_scorecard_path", "LEVELS", "MATCHING", "DESCRIPTIVE", "pole_scorecard", "all_layer_scorecards",
           "qpv_figures"]

T = TypeVar("T")

#: partition levels of the typology, narrowest first
LEVELS = ("communes", "epci", "departements", "regions")
#: the level standing for its EPCI at the intercommunal level of the typology (the EPT of
#: the Métropole du Grand Paris), when the catalogue has it
EPCI_SUBLEVEL = "ept"
#: zonings a pole may follow better than an administrative unit: level → column prefix
MATCHING = {"zones_emploi": "ze", "bassins_vie": "bv", "aires_attraction": "aav"}
#: descriptive columns of the summary: column → property names of the poles file (read and
#: normalised by :func:`ptce_geo.poles.descriptive_columns`; ``confidence`` and ``type_pole``
#: always present, None where a pole says nothing; the others when some pole has them)
DESCRIPTIVE = {"confidence": ("confiance", "confidence"), "type_pole": ("type_pole",),
               "filiere_pole": ("filiere_pole",), "appel_2011_pole_temoin": ("appel_2011_pole_temoin",),
               "appel_2013_laureat": ("appel_2013_laureat",), "territoire_classe_densite": ("territoire",),
               "territoire_profil": ("territoire",), "territoire_part_urbaine": ("territoire",),
               "territoire_part_population_qpv": ("territoire",)}
_ALWAYS = ("confidence", "type_pole")


class Scorecard:
    """Every figure of a set of perimeters, computed once.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As returned by :func:`ptce_geo.perimeters.read_perimeters` (``id``, ``nom``,
        ``definition``, ``communes``, ``properties``, ``geometry``), or any frame with an
        ``id`` column and a CRS (none: degrees, checked by
        :func:`~ptce_geo.overlay.lonlat_perimeters`). Not modified.
    options : Options, optional
        Threshold, weight and tolerance (default ``Options()``).
    catalogue : Catalogue, optional
        Default: the catalogue named by ``PTCE_GEO_CATALOGUE``.
    levels : sequence of str, optional
        Partition layers to measure (default: every partition layer of the catalogue,
        in catalogue order).
    zones : sequence of str, optional
        Zones layers whose programmes :attr:`programmes` and the summary list (default:
        every zones layer of the catalogue; ``()``: none, and no programme columns).
        :meth:`zones` still measures any zones layer asked for.

    Examples
    --------
    >>> card = Scorecard(read_perimeters("poles.geojson"))            # doctest: +SKIP
    >>> card.summary[["nom", "typology", "n_epci"]]                    # doctest: +SKIP
    >>> card.shares("epci").query("pole_id == 'ptce23'")               # doctest: +SKIP
    """

    def __init__(self, perimeters: gpd.GeoDataFrame, *, options: Options | None = None,
                 catalogue: Catalogue | None = None, levels: Sequence[str] | None = None,
                 zones: Sequence[str] | None = None) -> None:
        self.catalogue = catalogue or load_catalogue()
        self.options = options or Options()
        self.perimeters = lonlat_perimeters(perimeters).copy()  # an `id` column, EPSG:4326
        partition = self.catalogue.ids(kind="partition")
        if levels is None:
            levels = partition
        for lid in levels:
            if self.catalogue[lid].kind != "partition":
                raise InvalidInput(f"level {lid!r} is a zones layer, not a partition: use Scorecard.zones({lid!r}).",
                                   fr=f"« {lid} » est une couche de zones, pas un découpage.")
        self.levels = tuple(levels)
        if zones is None:
            zones = self.catalogue.ids(kind="zones")
        for lid in zones:
            if lid not in self.catalogue.layers or self.catalogue[lid].kind != "zones":
                raise InvalidInput(f"{lid!r} is not a zones layer of the catalogue: give zones layers only.",
                                   fr=f"« {lid} » n'est pas une couche de zones du catalogue.")
        self.zone_ids = tuple(zones)
        self._values: dict[tuple, Any] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()

    # -------------------------------------------------------------- memo
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # locks cannot be pickled (st.cache_data, worker processes)
        del state["_locks"], state["_guard"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._locks, self._guard = {}, threading.Lock()

    def _memo(self, key: tuple, build: Callable[[], T]) -> T:
        if key in self._values:
            return self._values[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = build()
            return self._values[key]

    def __repr__(self) -> str:
        return (f"Scorecard({len(self.perimeters)} perimeter(s), levels={list(self.levels)}, "
                f"zones={list(self.zone_ids)}, "
                f"{self.options!r}, catalogue={self.catalogue.name!r})")

    @property
    def ids(self) -> np.ndarray:
        """Perimeter ids, in order."""
        return self.perimeters["id"].to_numpy()

    @property
    def prepared(self) -> PreparedPerimeters:
        """The perimeters checked once (CRS, repairs, which are given by codes) for every layer."""
        return self._memo(("prepared",), lambda: PreparedPerimeters(self.perimeters))

    # -------------------------------------------------------------- per level
    def overlay(self, level: str) -> Overlay:
        """The pieces of every perimeter on ``level`` (any catalogue layer id)."""
        self.catalogue[level]  # an unknown id: CatalogueError naming the known ones
        return self._memo(("overlay", level), lambda: overlay(
            self.prepared, level, catalogue=self.catalogue,
            weight=self.options.weight if self.catalogue[level].nested_in_communes else "area"))

    def shares(self, level: str) -> gpd.GeoDataFrame:
        """Each piece of ``level`` with its shares and whether it is kept (read-only)."""
        return self._memo(("shares", level),
                          lambda: piece_shares(self.overlay(level), threshold=self.options.threshold))

    def level_arrays(self, level: str) -> dict[str, np.ndarray]:
        """The per-level figures of ``level`` as arrays in perimeter order (read-only)."""
        return self._memo(("arrays", level),
                          lambda: layer_arrays(self.overlay(level), threshold=self.options.threshold))

    def level_table(self, level: str) -> pd.DataFrame:
        """One row per perimeter for ``level`` (columns :data:`~ptce_geo.metrics.SCORECARD_COLUMNS`)."""
        def build() -> pd.DataFrame:
            cols = self.level_arrays(level)
            return pd.DataFrame({k: pd.Series(v, dtype=object) if v.dtype == object else v
                                 for k, v in cols.items()}, columns=SCORECARD_COLUMNS)
        return self._memo(("level", level), build)

    @property
    def levels_table(self) -> pd.DataFrame:
        """The per-level tables of every level, stacked (one row per perimeter and level)."""
        return self._memo(("levels_table",), lambda: pd.concat(
            [self.level_table(lid) for lid in self.levels], ignore_index=True) if self.levels
            else pd.DataFrame())

    def pole_levels(self, pole_id: str) -> pd.DataFrame:
        """The per-level rows of one perimeter, levels in rows (for a pole's card)."""
        t = self.levels_table
        return t[t["pole_id"] == pole_id].reset_index(drop=True)

    # -------------------------------------------------------------- zones
    def zones(self, layer: str):
        """Overlap of every perimeter with a zones layer (:class:`~ptce_geo.zones.ZoneOverlap`)."""
        from .zones import overlap_zones

        self.catalogue[layer]
        return self._memo(("zones", layer), lambda: overlap_zones(
            self.prepared, layer, catalogue=self.catalogue, options=self.options))

    @property
    def qpv(self):
        """QPV per pole and per district (:class:`~ptce_geo.zones.QpvTables`), or None without a
        ``qpv`` layer. Always measured in area (a population share of a district would be
        an estimate by area within each commune, which undercounts dense districts)."""
        if "qpv" not in self.catalogue.layers:
            return None
        from .zones import overlap_zones, qpv_tables

        if self.options.weight == "area":
            return self._memo(("qpv",), lambda: qpv_tables(self.zones("qpv")))
        area = Options(threshold=self.options.threshold, tolerance=self.options.tolerance)
        return self._memo(("qpv",), lambda: qpv_tables(overlap_zones(
            self.prepared, "qpv", catalogue=self.catalogue, options=area)))

    def zone_layers(self) -> list[str]:
        """The zones layers of :attr:`zone_ids` whose data can be had (others are logged and left out)."""
        def build() -> list[str]:
            ok = []
            for lid in self.zone_ids:
                try:
                    self.zones(lid)
                except DataUnavailable as exc:
                    logger.warning("zones layer %s left out of the programmes: %s", lid, exc)
                    continue
                ok.append(lid)
            return ok
        return self._memo(("zone_layers",), build)

    @property
    def programmes(self) -> pd.DataFrame:
        """One row per perimeter across every zones layer: the programmes it sits in
        (:func:`ptce_geo.zones.programme_summary`: a French line, and machine columns)."""
        from .zones import programme_summary

        return self._memo(("programmes",), lambda: programme_summary(
            self.perimeters, {lid: self.zones(lid) for lid in self.zone_layers()}, catalogue=self.catalogue))

    # -------------------------------------------------------------- summary
    @property
    def summary(self) -> pd.DataFrame:
        """One row per perimeter across every level (computed once, then kept).

        Returns
        -------
        pandas.DataFrame
            In perimeter order:

            * ``pole_id``, ``nom``;
            * the descriptive columns of the poles file: ``confidence`` and ``type_pole``
              always, the other :data:`DESCRIPTIVE` columns (``filiere_pole``, the calls,
              the ``territoire_*`` profile) when the file has them;
            * ``area_km2`` and ``population`` (when known) of each perimeter;
            * ``typology`` (``commune``, ``intra-EPCI``, ``inter-EPCI``,
              ``inter-départemental``, ``inter-régional``), from the kept units of the
              communes, EPCI, départements and régions; None when one of them is not in
              :attr:`levels`. When the catalogue has EPT, ``n_interco`` is the
              intercommunal count it uses: the kept EPCI, each EPCI holding EPT (the
              Métropole du Grand Paris) replaced by its kept EPT, and each of its communes
              in no EPT (Paris) counted as a territory of its own;
            * for each level of :attr:`levels`: ``n_<level>`` (units kept),
              ``dominant_<level>`` and ``dominant_<level>_share`` (the unit with the largest
              share), ``border_<level>_km`` (unit borders inside the perimeter);
            * for each matching zoning measured (zones d'emploi, bassins de vie, aires
              d'attraction): ``best_<p>_code``, ``best_<p>_name``, ``best_<p>_iou`` (the unit
              of highest IoU; ``<p>`` is ``ze``, ``bv``, ``aav``);
            * ``qpv_count``, ``qpv_inside``, ``qpv_area_share`` when the catalogue has QPV
              (always in area);
            * ``programmes`` and ``programmes_historiques`` (one French line each: the
              programmes in force, and history) when :attr:`zone_ids` is not empty
              (see :attr:`programmes`).

            The README's « What the figures mean » defines every figure.
        """
        return self._memo(("summary",), self._summary)

    def _summary(self) -> pd.DataFrame:
        """Build :attr:`summary` (its docstring lists the columns)."""
        p = self.perimeters
        cols: dict[str, Any] = {"pole_id": self.ids, "nom": p["nom"].to_numpy() if "nom" in p else self.ids}
        from .poles import descriptive_columns

        described = descriptive_columns(p)
        for col in DESCRIPTIVE:
            values = list(described[col].to_numpy())
            if col in _ALWAYS or any(v is not None for v in values):
                cols[col] = values
        if self.levels:
            ov = self.overlay(self.levels[0])
            cols["area_km2"] = ov.pole_area / 1e6
            if not np.isnan(ov.pole_population).all():
                cols["population"] = ov.pole_population
        if all(lid in self.levels for lid in LEVELS):
            counts = [self.level_arrays(lid)["n_units"] for lid in LEVELS]
            if EPCI_SUBLEVEL in self.levels:
                cols["n_interco"] = counts[1] = self._intercommunal_counts()
            cols["typology"] = [typology(*(int(c[k]) for c in counts)) for k in range(len(p))]
        else:
            cols["typology"] = [None] * len(p)
        for lid in self.levels:
            a = self.level_arrays(lid)
            cols[f"n_{lid}"] = a["n_units"]
            cols[f"dominant_{lid}"] = a["dominant_name"]
            cols[f"dominant_{lid}_share"] = a["dominant_share"]
            cols[f"border_{lid}_km"] = a["border_km"]
        for lid, prefix in MATCHING.items():
            if lid in self.levels:
                a, ov = self.level_arrays(lid), self.overlay(lid)
                names = dict(zip(ov.unit_code, ov.unit_name))
                cols[f"best_{prefix}_code"] = a["best_iou_code"]
                cols[f"best_{prefix}_name"] = [names.get(c) for c in a["best_iou_code"]]
                cols[f"best_{prefix}_iou"] = a["best_iou"]
        try:
            qpv = self.qpv
        except DataUnavailable as exc:
            logger.warning("QPV figures left out: %s", exc)
            qpv = None
        if qpv is not None:
            q = qpv.poles
            if not np.array_equal(q["pole_id"].to_numpy(dtype=object), self.ids):  # in perimeter order
                q = q.set_index("pole_id").reindex(self.ids)
            for col in ("qpv_count", "qpv_inside", "qpv_area_share"):
                cols[col] = q[col].to_numpy()
        if self.zone_ids:
            prog = self.programmes
            cols["programmes"] = prog["programmes"].to_numpy()
            cols["programmes_historiques"] = prog["historique"].to_numpy()
        front = [c for c in ("pole_id", "nom", *DESCRIPTIVE, "area_km2", "population", "typology") if c in cols]
        order = front + [c for c in cols if c not in front]
        return pd.DataFrame({c: (pd.Series(cols[c], dtype=object) if _is_text(cols[c]) else cols[c])
                             for c in order})

    def _intercommunal_counts(self) -> np.ndarray:
        """Kept intercommunal territories of each perimeter, the EPT standing for their EPCI.

        In the Métropole du Grand Paris the level acting between the communes and the
        département is the établissement public territorial: a perimeter over two EPT is
        inter-EPCI though it lies in one EPCI. So an EPCI holding EPT is replaced by its
        kept EPT, and each of its communes outside any EPT (Paris) is a territory of its
        own, kept as it is kept at the communes level. Elsewhere the EPCI count stays.
        """
        hosts, alone = _ept_hosts(self.catalogue)
        n = len(self.perimeters)

        def kept(level: str, units: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
            ov = self.overlay(level)
            s, u, _ = share_arrays(ov)
            keep = (s >= self.options.threshold) | (u >= 1 - self.options.threshold)
            if units is not None:
                keep &= units(ov.unit_code)
            return np.bincount(ov.piece_pole[keep], minlength=n)

        in_hosts = np.vectorize(lambda c: c in hosts, otypes=[bool])
        is_alone = np.vectorize(lambda c: c in alone, otypes=[bool])
        return (kept("epci", lambda c: ~in_hosts(c) if len(c) else np.zeros(0, bool))
                + kept(EPCI_SUBLEVEL)
                + kept("communes", lambda c: is_alone(c) if len(c) else np.zeros(0, bool))).astype(int)

    # -------------------------------------------------------------- warnings
    @property
    def warnings(self) -> list[str]:
        """One line per perimeter that touches no unit of a level (outside the data, at sea).

        Levels whose units leave some communes out by design (``no_unit`` in the
        catalogue: the EPT outside Grand Paris, communes outside any aire d'attraction…)
        are not checked: touching none of their units is normal, and a perimeter abroad
        is named by the complete levels anyway.
        """
        def build() -> list[str]:
            lines = []
            for lid in self.levels:
                if self.catalogue[lid].no_unit:
                    continue
                a = self.level_arrays(lid)
                for pid in a["pole_id"][a["covered_share"] <= 0]:
                    lines.append(f"perimeter {pid!r} touches no unit of {lid!r}: it lies outside the layer's "
                                 "territory (abroad, at sea?); check its coordinates.")
            return lines
        return self._memo(("warnings",), build)


def _is_text(values: Any) -> bool:
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    return arr.dtype == object


def all_layer_scorecards(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                         threshold: float = DEFAULT_THRESHOLD, weight: str | None = None,
                         layers: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The per-layer scorecard of every partition layer of the catalogue, stacked."""
    return Scorecard(perimeters, catalogue=catalogue, options=Options(threshold=threshold, weight=weight or "area"),
                     levels=layers).levels_table


def qpv_figures(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                tolerance: float = 0.01) -> pd.DataFrame:
    """QPV touched, QPV wholly inside, and the QPV area share of each perimeter (by ``pole_id``)."""
    card = Scorecard(perimeters, catalogue=catalogue, options=Options(tolerance=tolerance), levels=())
    return card.qpv.poles.set_index("pole_id")[["qpv_count", "qpv_inside", "qpv_area_share"]]


def pole_scorecard(perimeters: gpd.GeoDataFrame, *, catalogue: Catalogue | None = None,
                   threshold: float = DEFAULT_THRESHOLD, weight: str | None = None) -> pd.DataFrame:
    """One row per perimeter across all partition layers: ``Scorecard(...).summary``."""
    return Scorecard(perimeters, catalogue=catalogue,
                     options=Options(threshold=threshold, weight=weight or "area")).summary


def _ept_hosts(catalogue: Catalogue) -> tuple[frozenset, frozenset]:
    """The EPCI that hold EPT (the Métropole du Grand Paris), and their communes in no EPT
    (Paris), from the layers' commune memberships (computed once per process)."""
    from .layers import load_layer, shared_key
    from .overlay import _cached, _membership

    communes = load_layer("communes", catalogue=catalogue, shared=True)
    ept = load_layer(EPCI_SUBLEVEL, catalogue=catalogue, shared=True)
    epci = load_layer("epci", catalogue=catalogue, shared=True)
    key = ("ept_hosts", shared_key(communes), shared_key(ept), shared_key(epci))

    def build() -> tuple[frozenset, frozenset]:
        m_ept = _membership(EPCI_SUBLEVEL, ept, communes, catalogue)
        m_epci = _membership("epci", epci, communes, catalogue)
        in_ept = np.diff(m_ept.offsets) > 0
        has_epci = np.diff(m_epci.offsets) > 0
        first = m_epci.offsets[:-1]
        unit = np.where(has_epci, m_epci.units[np.minimum(first, max(len(m_epci.units) - 1, 0))], -1)
        codes = epci["code"].to_numpy(dtype=object)
        host_units = np.unique(unit[in_ept & (unit >= 0)])
        lone = has_epci & ~in_ept & np.isin(unit, host_units)
        return (frozenset(codes[host_units]),
                frozenset(communes["code"].to_numpy(dtype=object)[lone]))
    return _cached(key if all(key[1:]) else None, build)


# ------------------------------------------------------------------ kept on disk
#: bumped when what a stored Scorecard holds changes shape
_STORE_FORMAT = 1
def _store_key(data: bytes, catalogue: Catalogue, options: Options, levels: Sequence[str] | None,
               zones: Sequence[str] | None) -> str:
    parts = [f"format={_STORE_FORMAT}", code_digest(), hashlib.sha256(data).hexdigest(), repr(options),
             repr(tuple(levels) if levels is not None else None), str(catalogue.path.resolve()),
             repr(tuple(zones) if zones is not None else None),
             repr(sorted((s.id, s.fingerprint(), s.status, s.period, s.notice, s.vintage) for s in catalogue)),
             repr([catalogue.resolve(s.source) if s.source else "" for s in catalogue])]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def stored_scorecard_path(poles: str | os.PathLike, *, catalogue: Catalogue | None = None,
                          options: Options | None = None, levels: Sequence[str] | None = None,
                          zones: Sequence[str] | None = None, cache: Any = None) -> Path:
    """Where :func:`stored_scorecard` keeps the Scorecard of ``poles`` (the file may not exist yet).

    Parameters are those of :func:`stored_scorecard`. ``ptce-geo fetch`` writes it; a
    launcher can tell by it whether the app's first page will compute or only read.
    """
    from .cache import Cache

    catalogue = catalogue or load_catalogue()
    cache = cache or Cache()
    data = Path(poles).expanduser().read_bytes()
    return cache.root / "scorecards" / f"{_store_key(data, catalogue, options or Options(), levels, zones)}.pickle"


def stored_scorecard(poles: str | os.PathLike, *, catalogue: Catalogue | None = None,
                     options: Options | None = None, levels: Sequence[str] | None = None,
                     zones: Sequence[str] | None = None, cache: Any = None) -> Scorecard:
    """The Scorecard of a poles file with every figure computed, kept on disk between runs.

    What does not depend on a session (the poles' overlays on every level, the summary,
    QPV and programme figures) is computed once, then read back from the cache folder
    (``scorecards/<key>.pickle`` with its SHA-256 sidecar) by every later process: an app
    restarted with its cache prepared draws its first map without recomputing. The key
    holds the poles file's bytes, the catalogue (layers, vintages, sources, statuses),
    the options and the library's own code: any change computes afresh. A stored file
    that fails its checksum or cannot be read is recomputed and replaced.

    Parameters
    ----------
    poles : path-like
        The poles file (GeoJSON or CSV list).
    catalogue : Catalogue, optional
    options : Options, optional
    levels, zones : sequence of str, optional
        As for :class:`Scorecard`.
    cache : ptce_geo.cache.Cache, optional
        Default: the cache folder of the settings.

    Returns
    -------
    Scorecard
    """
    from .cache import Cache
    from .layers import prepare_layers
    from .perimeters import read_perimeters

    catalogue = catalogue or load_catalogue()
    options = options or Options()
    cache = cache or Cache()
    path = stored_scorecard_path(poles, catalogue=catalogue, options=options, levels=levels, zones=zones,
                                 cache=cache)

    def compute() -> Scorecard:
        # a cold cache: the layers this computation reads (from the settings' cache folder, where
        # load_layer looks) are built by a child process meanwhile
        first = ["epci", "qpv", *(levels if levels is not None else catalogue.ids(kind="partition")), "ept",
                 *(zones if zones is not None else catalogue.ids(kind="zones"))]
        prepare_layers([lid for lid in dict.fromkeys(first) if lid in catalogue.layers], catalogue=catalogue)
        # a path (its name in messages); the key's bytes are what was read just before
        card = Scorecard(read_perimeters(poles, catalogue=catalogue), catalogue=catalogue, options=options,
                         levels=levels, zones=zones)
        card.summary
        card.programmes
        if card.qpv is not None:
            card.qpv
        return card

    # one computation per key, across threads and processes: the others wait, then read
    card, read = cache.computed_once(path, compute, kind=Scorecard, what="the scorecard", poles=str(poles),
                                     options=repr(options))
    if read:
        card.catalogue = catalogue  # the same layers, by the key: this process's object
        logger.info("scorecard of %s read from %s", poles, path)
    return card
