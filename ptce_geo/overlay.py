"""The pieces table: every (perimeter ∩ unit), computed once.

Two paths give the same table:

* **by codes** — when a perimeter is a union of communes and the layer's units are unions
  of communes of the same vintage (a partition dissolved from the communes, or a zones
  layer whose members the catalogue gives: Territoires d'industrie by EPCI, CRTE by
  commune…), a piece is the set of communes in both: its area is the sum of their areas.
  No geometry operation, no sliver. A commune may belong to several units (nested CRTE)
  or to none; a zone with a member that cannot be resolved is left to its outline.
* **by geometry** — otherwise: candidate pairs come from an STRtree; units the perimeter
  covers are taken whole, without clipping; only units on the perimeter's boundary are
  intersected.

Every figure of the scorecard (:mod:`ptce_geo.metrics`) is derived from this table, as
tobler derives its estimates from one intersection table. Areas are equal-area
(:mod:`ptce_geo.projection`); lengths geodesic.

Threads and GEOS
----------------
The geometry path runs in threads (shapely releases the GIL). GEOS *prepared* geometries
are not thread-safe (libgeos/geos#825): their lazily built indexes are shared state. So
no geometry seen by a caller is ever prepared here: each chunk of work makes its own
copies of the perimeters it needs (from WKB), prepares those, and drops them. Layer
geometries are only read, never prepared. Layer indexes (code positions, commune
membership, STRtree) are built once per process under a lock and only read afterwards;
shapely builds an STRtree completely when it is created.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .catalogue import Catalogue, load_catalogue
from .errors import InvalidInput, InvalidPerimeter
from .geometry import polygonal_part, repair_polygonal
from .layers import commune_membership, load_layer, shared_key, zone_members
from .projection import area_m2, length_m

WGS84 = pyproj.CRS.from_epsg(4326)

logger = logging.getLogger(__name__)

__all__ = ["Overlay", "overlay", "PreparedPerimeters", "lonlat_perimeters", "geometric_pairs", "WEIGHTS",
           "cores"]

_POLY_TYPES = (3, 6)  # shapely type ids of Polygon, MultiPolygon
#: the measures a share can be taken in
WEIGHTS = ("area", "population")
#: pairs below which the geometry path stays in the calling thread
_MIN_PARALLEL_PAIRS = 1500


def cores() -> int:
    """Number of CPU cores this process may use (its affinity, not the machine's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, eq=False)
class Overlay:
    """The pieces of a set of perimeters against one layer (read-only).

    The pieces are held as arrays (fast to compute and to read); :attr:`pieces` and
    :attr:`poles` present them as tables, built on first access.

    Attributes
    ----------
    layer : str
        Layer id.
    kind : str
        ``"partition"`` or ``"zones"``.
    weight : str
        The measure its shares are taken in: ``"area"`` or ``"population"``.
    pole_ids : numpy.ndarray
        Perimeter ids, in the order of the perimeters given.
    pole_area, pole_population : numpy.ndarray
        Area (m²) and population (NaN when unknown) of each perimeter.
    pole_method : numpy.ndarray
        ``"codes"`` or ``"geometry"``: how each perimeter was given.
    piece_pole : numpy.ndarray
        For each piece, the position of its perimeter in :attr:`pole_ids`.
    unit_code, unit_name, area, unit_area, population, unit_population : numpy.ndarray
        For each piece: the unit, the piece's area and the unit's (m²), populations
        (``None`` when not computed: always known by codes, and by geometry with
        ``weight="population"``).
    piece_geoms : numpy.ndarray
        The piece's geometry; ``None`` where it is the union of its communes, built on
        first access to :attr:`geoms`.
    piece_method : numpy.ndarray or None
        ``"codes"`` (a set of shared communes) or ``"geometry"`` for each piece.
    piece_communes : numpy.ndarray or None
        For pieces by codes, the positions of their communes in :attr:`communes_geoms`.
    communes_geoms : numpy.ndarray or None
        The communes layer's geometries (the pieces by codes are unions of them). A
        pickled Overlay (sent from a worker process, kept on disk) carries only the
        communes its pieces use, and :attr:`piece_communes` points into those.
    """

    layer: str
    kind: str
    weight: str
    pole_ids: np.ndarray
    pole_area: np.ndarray
    pole_method: np.ndarray
    pole_population: np.ndarray
    piece_pole: np.ndarray
    unit_code: np.ndarray
    unit_name: np.ndarray
    area: np.ndarray
    unit_area: np.ndarray
    piece_geoms: np.ndarray
    population: np.ndarray | None = None
    unit_population: np.ndarray | None = None
    piece_method: np.ndarray | None = None
    piece_communes: np.ndarray | None = None
    communes_geoms: np.ndarray | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.communes_geoms is None or self.piece_communes is None:
            return state
        used = [c for c in self.piece_communes if c is not None and len(c)]
        keep = np.unique(np.concatenate(used)) if used else np.empty(0, np.int64)
        remapped = np.empty(len(self.piece_communes), dtype=object)
        for k, c in enumerate(self.piece_communes):
            remapped[k] = None if c is None else np.searchsorted(keep, c)
        state["piece_communes"], state["communes_geoms"] = remapped, self.communes_geoms[keep]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @cached_property
    def geoms(self) -> np.ndarray:
        """The geometry of each piece (unions of communes built here, once)."""
        geoms = np.asarray(self.piece_geoms, dtype=object).copy()
        todo = np.flatnonzero(shapely.is_missing(geoms))
        if len(todo) and self.piece_communes is not None and self.communes_geoms is not None:
            for k in todo:
                if self.piece_communes[k] is not None:
                    geoms[k] = _union(self.communes_geoms[self.piece_communes[k]])
        return geoms

    @property
    def method(self) -> np.ndarray:
        """``"codes"`` or ``"geometry"`` for each piece."""
        if self.piece_method is not None:
            return self.piece_method
        return np.full(len(self.area), "geometry", dtype=object)

    @cached_property
    def n_communes(self) -> np.ndarray:
        """Number of shared communes of each piece by codes (0 for pieces by geometry)."""
        if self.piece_communes is None:
            return np.zeros(len(self.area), dtype=np.int64)
        return np.fromiter((0 if c is None else len(c) for c in self.piece_communes), dtype=np.int64,
                           count=len(self.area))

    @cached_property
    def pieces(self) -> gpd.GeoDataFrame:
        """One row per (perimeter, unit) with a positive overlap: ``pole_id``, ``unit_code``,
        ``unit_name``, ``area_m2`` (piece), ``unit_area_m2``, ``population`` and
        ``unit_population`` (when known), ``geometry``."""
        cols = {"pole_id": _objects(self.pole_ids[self.piece_pole]), "unit_code": _objects(self.unit_code),
                "unit_name": _objects(self.unit_name), "area_m2": self.area, "unit_area_m2": self.unit_area}
        if self.population is not None:
            cols["population"] = self.population
            cols["unit_population"] = self.unit_population
        return gpd.GeoDataFrame(cols, geometry=gpd.array.from_shapely(self.geoms, crs=WGS84))

    @cached_property
    def poles(self) -> pd.DataFrame:
        """Indexed by ``pole_id``: ``area_m2``, ``method`` (``"codes"`` or ``"geometry"``),
        ``population`` (NaN when unknown)."""
        index = pd.Index(_objects(self.pole_ids), name="pole_id")
        return pd.DataFrame({"area_m2": self.pole_area, "method": _objects(self.pole_method, index),
                             "population": self.pole_population}, index=index)

    @classmethod
    def from_frames(cls, *, layer: str, kind: str, pieces: gpd.GeoDataFrame, poles: pd.DataFrame,
                    weight: str = "area") -> "Overlay":
        """An overlay from tables shaped as :attr:`pieces` and :attr:`poles` (hand-built cases)."""
        ids = poles.index.to_numpy(dtype=object)
        pop = "population" in pieces
        return cls(layer=layer, kind=kind, weight=weight, pole_ids=ids,
                   pole_area=poles["area_m2"].to_numpy(dtype=float),
                   pole_method=poles["method"].to_numpy(dtype=object) if "method" in poles
                   else np.full(len(ids), "geometry", dtype=object),
                   pole_population=poles["population"].to_numpy(dtype=float) if "population" in poles
                   else np.full(len(ids), np.nan),
                   piece_pole=poles.index.get_indexer(pieces["pole_id"]).astype(np.int64),
                   unit_code=pieces["unit_code"].to_numpy(dtype=object),
                   unit_name=pieces["unit_name"].to_numpy(dtype=object),
                   area=pieces["area_m2"].to_numpy(dtype=float), unit_area=pieces["unit_area_m2"].to_numpy(dtype=float),
                   piece_geoms=pieces.geometry.to_numpy(),
                   population=pieces["population"].to_numpy(dtype=float) if pop else None,
                   unit_population=pieces["unit_population"].to_numpy(dtype=float) if pop else None)

    @property
    def piece_length_m(self) -> np.ndarray:
        """Geodesic outline of each piece (m), in the order of :attr:`pieces`."""
        return self._outlines[0]

    @property
    def union_length_m(self) -> np.ndarray:
        """Geodesic outline of the union of each perimeter's pieces (m), in :attr:`pole_ids` order."""
        return self._outlines[1]

    @cached_property
    def _outlines(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`piece_length_m` and :attr:`union_length_m`, measured in one call of
        :func:`~ptce_geo.projection.length_m` (each geometry's length is independent of the
        others measured with it)."""
        geoms = self.geoms
        unions = np.empty(len(self.pole_ids), dtype=object)
        for k in np.unique(self.piece_pole):
            unions[k] = _union(geoms[self.piece_pole == k])
        lengths = length_m(np.concatenate([np.asarray(geoms, dtype=object), unions]))
        return lengths[:len(geoms)], lengths[len(geoms):]


def _is_polygonal(type_id: np.ndarray) -> np.ndarray:
    """Whether each shapely type id is a Polygon or a MultiPolygon (``np.isin`` without its overhead)."""
    return (type_id == _POLY_TYPES[0]) | (type_id == _POLY_TYPES[1])


def _objects(values: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """Text held as Python objects: pandas 3 would store it as Arrow strings, whose
    element-wise access from Python is two orders of magnitude slower."""
    return pd.Series(np.asarray(values, dtype=object), index=index, dtype=object, copy=False)


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of pieces: the fast coverage union when they share borders exactly."""
    if len(geoms) == 1:
        return geoms[0]
    try:
        union = shapely.coverage_union_all(geoms)
        if union.is_valid:
            return union
    except shapely.errors.GEOSException:
        pass  # not a clean coverage (clipped pieces, overlapping zones)
    return shapely.union_all(geoms)


# ---------------------------------------------------------------- layer indexes
@dataclass(eq=False)
class _LayerIndex:
    """What the engine reads of one layer table, built once per process."""

    table: gpd.GeoDataFrame
    geoms: np.ndarray
    area: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    population: np.ndarray | None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tree: shapely.STRtree | None = None

    @property
    def tree(self) -> shapely.STRtree:
        """STRtree of the polygonal units (positions in :attr:`polygonal`)."""
        with self._lock:
            if self._tree is None:
                self._tree = shapely.STRtree(self.polygonal_geoms)
            return self._tree

    @cached_property
    def type_id(self) -> np.ndarray:
        """Shapely type id of each unit's geometry."""
        return shapely.get_type_id(self.geoms)

    @cached_property
    def polygonal(self) -> np.ndarray:
        """Positions of the units with a polygonal geometry."""
        return np.flatnonzero(_is_polygonal(self.type_id))

    @cached_property
    def polygonal_geoms(self) -> np.ndarray:
        """The geometries of :attr:`polygonal` (the tree's), copied once rather than at each overlay."""
        return self.geoms[self.polygonal]

    @cached_property
    def point_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """Every point of the units given as points (Point, MultiPoint), in unit order, and
        the position of its unit. Shared by every caller: only read, never prepared."""
        pointy = np.flatnonzero((self.type_id == 0) | (self.type_id == 4))
        parts, owner = shapely.get_parts(self.geoms[pointy], return_index=True)
        return parts, pointy[owner]

    @cached_property
    def position(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.codes)}

    @cached_property
    def _index(self) -> pd.Index | None:
        index = pd.Index(self.codes, dtype=object)
        return index if index.is_unique else None

    def positions(self, codes: np.ndarray) -> np.ndarray:
        """The position of each code (``-1`` when unknown), as :attr:`position` gives it."""
        if self._index is not None:  # one vectorised lookup
            return self._index.get_indexer(pd.Index(codes, dtype=object)).astype(np.int64, copy=False)
        return np.fromiter((self.position.get(c, -1) for c in codes), dtype=np.int64, count=len(codes))


@dataclass(eq=False)
class _Membership:
    """Which units each commune belongs to (CSR by commune position), for the units whose
    communes are all known (``complete``); the others are measured by their outline."""

    offsets: np.ndarray   # int, len(communes) + 1
    units: np.ndarray     # unit positions, grouped by commune
    unit_n: np.ndarray    # number of communes of each unit
    unit_area: np.ndarray  # sum of its communes' areas
    unit_pop: np.ndarray | None  # sum of its communes' populations
    complete: np.ndarray  # bool per unit
    exact_geoms: bool     # True when a unit's own geometry is the union of its communes

    @classmethod
    def build(cls, rows: pd.DataFrame, communes: _LayerIndex, units: _LayerIndex, *,
              complete: np.ndarray | None, exact_geoms: bool) -> "_Membership":
        ci = communes.positions(rows["commune"].to_numpy(dtype=object))
        ui = units.positions(rows["code"].to_numpy(dtype=object))
        n_units = len(units.codes)
        complete = np.ones(n_units, bool) if complete is None else complete
        ok = (ci >= 0) & (ui >= 0)
        ok[ok] &= complete[ui[ok]]
        # distinct (commune, unit) pairs in (commune, unit) order, sorted as one integer key
        key = np.unique(ci[ok] * max(n_units, 1) + ui[ok])
        pairs = np.stack(np.divmod(key, max(n_units, 1)), axis=1).astype(np.int64, copy=False)
        n_com = len(communes.codes)
        offsets = np.zeros(n_com + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs[:, 0], minlength=n_com), out=offsets[1:])
        unit_n = np.bincount(pairs[:, 1], minlength=n_units)
        complete = complete & (unit_n > 0)  # a unit without any commune is measured by its outline
        pop = communes.population
        return cls(offsets=offsets, units=pairs[:, 1].copy(), unit_n=unit_n,
                   unit_area=np.bincount(pairs[:, 1], weights=communes.area[pairs[:, 0]], minlength=n_units),
                   unit_pop=None if pop is None else np.bincount(pairs[:, 1], weights=pop[pairs[:, 0]],
                                                                 minlength=n_units),
                   complete=complete, exact_geoms=exact_geoms)


_INDEX_LOCK = threading.Lock()
_INDEXES: OrderedDict[tuple, object] = OrderedDict()
_MAX_INDEXES = 96


def _cached(key: tuple | None, build):
    """A process-wide cached index (``key`` None: built each time, for user tables)."""
    if key is None:
        return build()
    with _INDEX_LOCK:
        if key in _INDEXES:
            _INDEXES.move_to_end(key)
            return _INDEXES[key]
    value = build()  # outside the lock: two threads may build, one result is kept
    with _INDEX_LOCK:
        value = _INDEXES.setdefault(key, value)
        while len(_INDEXES) > _MAX_INDEXES:
            _INDEXES.popitem(last=False)
    return value


def _layer_index(table: gpd.GeoDataFrame) -> _LayerIndex:
    token = shared_key(table)  # only the process-wide table itself, never a copy or subset of it
    return _cached(("layer", token) if token else None,
                   lambda: _LayerIndex(table=table, geoms=table.geometry.to_numpy(),
                                       area=table["area_m2"].to_numpy(dtype=float),
                                       codes=table["code"].to_numpy(dtype=object),
                                       names=table["nom"].to_numpy(dtype=object),
                                       population=_population_array(table)))


def _membership(layer_id: str, table: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                catalogue: Catalogue) -> _Membership:
    """The communes of each unit: the layer's own membership (units dissolved from the
    communes), or the members the catalogue gives for a zones layer (Territoires
    d'industrie by EPCI, CRTE by commune…), a zone with an unresolved member being left to
    its outline (:func:`ptce_geo.layers.zone_members`)."""
    ct, lt = shared_key(communes), shared_key(table)
    key = ("membership", layer_id, ct, lt) if ct and lt else None
    spec = catalogue[layer_id]

    def build() -> _Membership:
        units = _layer_index(table)
        if spec.nested_in_communes:
            return _Membership.build(commune_membership(layer_id, catalogue=catalogue), _layer_index(communes),
                                     units, complete=None, exact_geoms=True)
        members = zone_members(layer_id, catalogue=catalogue)
        complete = np.fromiter((c in members.complete for c in units.codes), dtype=bool, count=len(units.codes))
        return _Membership.build(members.rows, _layer_index(communes), units, complete=complete,
                                 exact_geoms=False)
    return _cached(key, build)


def clear_indexes() -> None:
    """Forget the layer indexes held by this process (tests, after a layer refresh)."""
    with _INDEX_LOCK:
        _INDEXES.clear()


# ---------------------------------------------------------------- geometry path
def _pairs_chunk(perims: np.ndarray, wkb: np.ndarray, pi: np.ndarray,
                 units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classify and cut one chunk of candidate pairs, with private prepared perimeters.

    Returns the positions (in the chunk) of pairs with a polygonal piece, the pieces, and
    whether each unit was covered (taken whole). Pieces are the caller's own (unprepared)
    unit or perimeter geometries, or new intersections: never the private copies.
    """
    uniq, local = np.unique(pi, return_inverse=True)
    own = shapely.from_wkb(wkb[uniq])  # copies owned by this call: safe to prepare here
    shapely.prepare(own)
    a = own[local]
    covered = shapely.covers(a, units)  # the unit lies wholly inside: no clipping
    geoms = np.empty(len(pi), dtype=object)
    geoms[covered] = units[covered]
    rest = np.flatnonzero(~covered)
    rest = rest[shapely.intersects(a[rest], units[rest])]
    inside = shapely.within(a[rest], units[rest])  # the perimeter lies inside one unit
    geoms[rest[inside]] = perims[pi[rest[inside]]]
    rest = rest[~inside]
    if len(rest):
        cut = shapely.intersection(a[rest], units[rest])
        odd = ~_is_polygonal(shapely.get_type_id(cut))  # touching pairs: lines, points
        cut[odd] = [polygonal_part(g) for g in cut[odd]]
        geoms[rest] = cut
    keep = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    return keep, geoms[keep], covered[keep]


def geometric_pairs(perims: np.ndarray, units: np.ndarray, *, tree: shapely.STRtree | None = None,
                    workers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intersect perimeters with units, clipping only the units on their boundary.

    Safe to call from several threads at once on shared inputs: nothing given is
    prepared or modified (see the module notes).

    Parameters
    ----------
    perims, units : arrays of polygonal geometries (same CRS)
    tree : shapely.STRtree, optional
        An STRtree of ``units`` (built here when absent).
    workers : int, optional
        Threads to use (default: the cores of this process).

    Returns
    -------
    (pi, ui, geoms, whole)
        Index of the perimeter, index of the unit, the polygonal piece, and whether the
        unit was covered (taken whole, unclipped), for every pair whose intersection is
        polygonal.
    """
    perims = np.asarray(perims, dtype=object)
    units = np.asarray(units, dtype=object)
    tree = tree if tree is not None else shapely.STRtree(units)
    pi, ui = tree.query(perims)  # envelopes only: no predicate, nothing prepared
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, dtype=object), np.empty(0, bool))
    if not len(pi):
        return empty
    wkb = shapely.to_wkb(perims)
    workers = workers or cores()
    n_chunks = min(workers * 2, max(len(pi) // _MIN_PARALLEL_PAIRS, 1))
    bounds = np.linspace(0, len(pi), n_chunks + 1).astype(int)
    chunks = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]

    def run(lohi: tuple[int, int]):
        lo, hi = lohi
        keep, geoms, whole = _pairs_chunk(perims, wkb, pi[lo:hi], units[ui[lo:hi]])
        return keep + lo, geoms, whole

    if len(chunks) == 1:
        results = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
            results = list(pool.map(run, chunks))
    keep = np.concatenate([r[0] for r in results])
    geoms = np.concatenate([r[1] for r in results]) if results else empty[2]
    whole = np.concatenate([r[2] for r in results])
    return pi[keep], ui[keep], geoms, whole


def _geometry_path(perims: np.ndarray, index: _LayerIndex) -> dict[str, np.ndarray]:
    """Pieces of perimeters (an array of geometries) by geometry: arrays pi, ui, area_m2, _geom."""
    poly = index.polygonal
    pi, uj, geoms, whole = geometric_pairs(perims, index.polygonal_geoms, tree=index.tree)
    ui = poly[uj]
    area = np.empty(len(pi))
    area[whole] = index.area[ui[whole]]
    area[~whole] = area_m2(geoms[~whole])
    keep = area > 0
    n = int(keep.sum())
    lists_of = np.empty(n, dtype=object)
    return {"pi": pi[keep], "ui": ui[keep], "area_m2": area[keep], "_geom": geoms[keep],
            "unit_area": index.area[ui[keep]], "communes": lists_of, "method": np.full(n, "geometry", dtype=object)}


# ---------------------------------------------------------------- code path
def _member_positions(lists: np.ndarray, communes: _LayerIndex) -> tuple[np.ndarray, np.ndarray]:
    """(perimeter position, commune position) of every commune of lists of codes, once each."""
    pos = communes.position
    pi, ci = [], []
    for k, codes in enumerate(lists):
        if codes is None or (isinstance(codes, float) and np.isnan(codes)):
            continue
        found = [pos[c] for c in codes if c in pos]
        pi.extend([k] * len(found))
        ci.extend(found)
    if not ci:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.stack([np.asarray(pi, np.int64), np.asarray(ci, np.int64)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _code_path(lists: np.ndarray, index: _LayerIndex, communes: _LayerIndex,
               member: _Membership, cpop: np.ndarray | None) -> dict[str, np.ndarray]:
    """Pieces of perimeters given as lists of commune codes, by sums over communes (no geometry).

    A piece is the set of the perimeter's communes in the unit. Its geometry is the unit's
    own when it is the whole unit of a layer dissolved from the communes; otherwise the
    union of its communes, left to build on demand (``None`` with its commune positions).
    """
    pi, ci = _member_positions(lists, communes)
    starts, counts = member.offsets[ci], member.offsets[ci + 1] - member.offsets[ci]
    rows_pi, rows_ci = np.repeat(pi, counts), np.repeat(ci, counts)
    # unit of each (perimeter commune, membership) row: starts[k] + 0..counts[k]-1
    step = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    rows_ui = member.units[np.repeat(starts, counts) + step]
    n_units = max(len(index.codes), 1)
    keys, inv = np.unique(rows_pi * n_units + rows_ui, return_inverse=True)
    out_pi, out_ui = keys // n_units, keys % n_units
    area = np.bincount(inv, weights=communes.area[rows_ci], minlength=len(keys))
    n = np.bincount(inv, minlength=len(keys))
    geoms = np.empty(len(keys), dtype=object)
    if member.exact_geoms:
        whole = n == member.unit_n[out_ui]
        geoms[whole] = index.geoms[out_ui[whole]]  # the unit itself, no union needed
    order = np.argsort(inv, kind="stable")
    lists_of = np.empty(len(keys), dtype=object)
    lists_of[:] = np.split(rows_ci[order], np.cumsum(n)[:-1]) if len(keys) else []
    out = {"pi": out_pi, "ui": out_ui, "area_m2": area, "_geom": geoms, "unit_area": member.unit_area[out_ui],
           "communes": lists_of, "method": np.full(len(keys), "codes", dtype=object)}
    if cpop is not None:
        out["population"] = np.bincount(inv, weights=cpop[rows_ci], minlength=len(keys))
        out["unit_population"] = member.unit_pop[out_ui] if member.unit_pop is not None else np.full(len(keys), np.nan)
    return out


def _repaired(frame: gpd.GeoDataFrame, labels: pd.Series, where: str) -> gpd.GeoDataFrame:
    """The frame with invalid geometries made valid (polygonal parts kept), with a warning.

    Predicates on invalid geometries are undefined: a MultiPolygon whose parts share an
    edge does not ``cover`` the units lying across that edge, and they were lost.
    """
    geoms = frame.geometry.to_numpy()
    if shapely.is_valid(geoms[~shapely.is_missing(geoms)]).all():
        return frame
    return frame.set_geometry(repair_polygonal(geoms, labels=labels.to_numpy(), where=where), crs=frame.crs)


def _population_array(table: gpd.GeoDataFrame) -> np.ndarray | None:
    if "population" not in table:
        return None
    return np.nan_to_num(table["population"].to_numpy(dtype=float))


def lonlat_perimeters(perimeters: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The perimeters in EPSG:4326, or an error naming what a frame lacks and the fix.

    A frame without a CRS is read as longitude/latitude (EPSG:4326) when its coordinates
    can be degrees; coordinates in metres (Lambert-93…), swapped or not finite are refused
    with the check that refuses them in a perimeter file
    (:func:`ptce_geo.checks.coordinate_problem`). Degrees outside France are accepted:
    such a perimeter touches no unit, which the scorecard's warnings say.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        ``id`` (a unique text per perimeter) and a geometry; other columns are kept.

    Returns
    -------
    geopandas.GeoDataFrame
        ``perimeters`` itself when already in EPSG:4326, else a converted copy.

    Raises
    ------
    InvalidPerimeter
        Without an ``id`` column, or without a CRS and with coordinates that are not degrees.
    """
    if not isinstance(perimeters, gpd.GeoDataFrame):
        raise InvalidPerimeter(f"perimeters must be a GeoDataFrame, not a {type(perimeters).__name__}: read a "
                               "file with ptce_geo.read_perimeters (or load_poles).",
                               fr="Les périmètres doivent être une table géographique (GeoDataFrame).")
    if "id" not in perimeters.columns:
        shown = ", ".join(map(str, list(perimeters.columns)[:8])) + ("…" if len(perimeters.columns) > 8 else "")
        raise InvalidPerimeter(f"the perimeters have no 'id' column (columns: {shown}): add one holding a unique "
                               "text id per perimeter, e.g. gdf['id'] = gdf['code'].astype(str) or "
                               "gdf['id'] = [f'p{i}' for i in range(len(gdf))].",
                               fr="Les périmètres n'ont pas de colonne « id » : ajoutez un identifiant unique "
                               "par périmètre.")
    if perimeters.crs is None:
        from .checks import coordinate_problem

        def problem(geoms: np.ndarray):
            coords = shapely.get_coordinates(geoms)
            if len(coords) > 200_000:  # a sample says metres as surely
                coords = coords[:: len(coords) // 200_000]
            return coordinate_problem("", coords, outside=False, source="the GeoDataFrame")

        geoms = perimeters.geometry.to_numpy()
        whole = problem(geoms)
        if whole is not None:  # name the first perimeter at fault (the frame when none is alone)
            pid, first = next(((pid, p) for pid, g in zip(perimeters["id"], geoms)
                               if (p := problem(np.array([g], dtype=object))) is not None), (None, whole))
            fix = ("declare the CRS the coordinates are in, e.g. gdf = gdf.set_crs('EPSG:2154') for Lambert-93 "
                   "(ptce_geo converts them to longitude/latitude), or reproject them to EPSG:4326"
                   if "metres" in first.message else first.fix)
            which = "the perimeters" if pid is None else f"perimeter {str(pid)[:40]!r}"
            raise InvalidPerimeter(f"{which} {first.message}: {fix}.",
                                   fr="Les coordonnées des périmètres ne sont pas des longitudes/latitudes et "
                                   "la table ne déclare pas son système de coordonnées.")
        return perimeters.set_crs("EPSG:4326")
    if not perimeters.crs.equals("EPSG:4326"):
        return perimeters.to_crs("EPSG:4326")
    return perimeters


class PreparedPerimeters:
    """Perimeters checked once for many overlays: in EPSG:4326, repaired, index reset.

    :func:`overlay` and :func:`ptce_geo.zones.overlap_zones` take it in place of the
    frame; a :class:`~ptce_geo.scorecard.Scorecard` prepares its perimeters once for its
    twenty layers. It also remembers each perimeter's area, method and population per
    communes table (the measure every share divides by). Never modified after
    construction; the frame given is never modified either.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame
        As returned by :func:`ptce_geo.perimeters.read_perimeters`.
    """

    def __init__(self, perimeters: gpd.GeoDataFrame) -> None:
        frame = lonlat_perimeters(perimeters).reset_index(drop=True)
        self.frame = _repaired(frame, frame["id"], "perimeters")
        self.ids = self.frame["id"].to_numpy(dtype=object)
        #: the ``nom`` column (None without one), read once for every layer's summary
        self.names = self.frame["nom"].to_numpy() if "nom" in self.frame else None
        self.geoms = self.frame.geometry.to_numpy()
        by_codes = (self.frame["definition"].eq("codes").to_numpy(dtype=bool, copy=True)
                    if "definition" in self.frame else np.zeros(len(self.frame), bool))
        self.communes = self.frame["communes"].to_numpy() if "communes" in self.frame else None
        if self.communes is not None:  # a perimeter "by codes" without any code is measured by its outline
            by_codes &= np.array([isinstance(c, (list, tuple)) and len(c) > 0 for c in self.communes], bool)
        self.by_codes = by_codes
        self._tables: dict[tuple, tuple] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_tables"], state["_lock"] = {}, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _remember(self, key: tuple, owner: object, build):
        """``build()`` once per ``key``; ``owner`` (a communes index) must be the same object."""
        with self._lock:
            hit = self._tables.get(key)
        if hit is not None and hit[0] is owner:
            return hit[1]
        value = build()
        with self._lock:
            self._tables[key] = (owner, value)
        return value

    def pole_table(self, communes: "_LayerIndex | None", cpop: np.ndarray | None):
        """Area, method and population of each perimeter (see :func:`_pole_table`)."""
        area, method, pop = self._remember(("table", id(communes), cpop is None), communes, lambda: _pole_table(
            self.geoms, self.communes, np.flatnonzero(self.by_codes), communes, cpop))
        return area.copy(), method.copy(), pop.copy()

    def drawn_population(self, communes: "_LayerIndex", cpop: np.ndarray) -> np.ndarray:
        """Population of each drawn perimeter, by area within each commune."""
        drawn = np.flatnonzero(~self.by_codes)
        return self._remember(("drawn", id(communes)), communes,
                              lambda: _interpolated(self.geoms[drawn], communes, cpop))


def prepared(perimeters: "gpd.GeoDataFrame | PreparedPerimeters") -> PreparedPerimeters:
    """``perimeters`` prepared once (returned as is when it already is)."""
    return perimeters if isinstance(perimeters, PreparedPerimeters) else PreparedPerimeters(perimeters)


def overlay(
    perimeters: gpd.GeoDataFrame | PreparedPerimeters,
    layer: str | gpd.GeoDataFrame,
    *,
    catalogue: Catalogue | None = None,
    weight: str | None = None,
    kind: str | None = None,
) -> Overlay:
    """Compute the pieces of perimeters against a layer.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame or PreparedPerimeters
        As returned by :func:`ptce_geo.perimeters.read_perimeters` (``id``,
        ``communes``, ``geometry``); another CRS than EPSG:4326 is converted to it.
        Never modified. Prepared once (:class:`PreparedPerimeters`) for many layers.
    layer : str or geopandas.GeoDataFrame
        A catalogue layer id, or a table with ``code``, ``nom``, ``geometry``
        (``area_m2`` is measured when absent).
    catalogue : Catalogue, optional
    weight : {"area", "population"}, optional
        The measure of shares (default ``"area"``), recorded in the result. Pieces by
        codes always carry populations (sums of commune populations); with
        ``"population"``, pieces by geometry get them too, by area within each commune
        (a part holding the fraction f of a commune's area holds the fraction f of its
        population), as do drawn perimeters and units without a population of their own.
    kind : {None, "zones", "partition"}
        What a table given as ``layer`` is: ``"partition"`` when its units tile the
        territory without overlapping (``border_km`` is then measured), ``"zones"``
        otherwise. Default: the table's ``attrs["kind"]`` (set by
        :func:`~ptce_geo.layers.load_layer`), else ``"zones"``. A layer id has its own kind.

    Returns
    -------
    Overlay
    """
    weight = weight or "area"
    if weight not in WEIGHTS:
        raise InvalidInput(f"Unknown weight {weight!r}: use 'area' or 'population'.",
                           fr=f"Pondération inconnue « {weight} » : choisissez la surface ou la population.")
    if kind not in (None, "zones", "partition"):
        raise InvalidInput(f"Unknown layer kind {kind!r}: use 'zones' or 'partition'.")
    catalogue = catalogue or load_catalogue()
    prep = prepared(perimeters)
    if isinstance(layer, str):
        spec = catalogue[layer]
        table = load_layer(layer, catalogue=catalogue, shared=True)
        layer_id, kind, members_known = spec.id, spec.kind, spec.has_members
    else:
        table = layer.to_crs("EPSG:4326") if layer.crs and not layer.crs.equals("EPSG:4326") else layer
        table = _repaired(table, table["code"], "layer table")
        if "area_m2" not in table:
            table = table.assign(area_m2=area_m2(table.geometry.to_numpy()))
        kind = kind or table.attrs.get("kind") or "zones"  # a loaded layer's table keeps its kind
        layer_id, members_known = str(table.attrs.get("layer", "upload")), False
    by_codes = prep.by_codes
    index = _layer_index(table)
    # the communes measure pieces by codes and populations; drawn perimeters by area need none
    # (the members of a zones layer are read only for perimeters given by codes)
    need = by_codes.any() or weight == "population"
    communes_table = load_layer("communes", catalogue=catalogue, shared=True) if need else None
    communes = _layer_index(communes_table) if communes_table is not None else None
    cpop = communes.population if communes is not None else None
    if weight == "population" and cpop is None:
        raise InvalidInput("Population weighting needs commune populations: the communes layer of this "
                           "catalogue has none (add its population_field).",
                           fr="Les populations communales manquent : la pondération par la population est "
                           "impossible avec ce catalogue.")
    member = _membership(layer_id, table, communes_table, catalogue) if members_known and by_codes.any() else None
    code_sel = np.flatnonzero(by_codes) if member is not None else np.empty(0, np.int64)
    geo_sel = np.flatnonzero(~by_codes) if member is not None else np.arange(len(prep))
    geoms = prep.geoms
    parts = []
    if len(code_sel):
        part = _code_path(prep.communes[code_sel], index, communes, member, cpop)
        part["pi"] = code_sel[part["pi"]]
        parts.append(part)
        if not member.complete.all():  # zones whose members are not all known: by their outline
            part = _geometry_path(geoms[code_sel], index)
            keep = ~member.complete[part["ui"]]
            part = {k: v[keep] for k, v in part.items()}
            part["pi"] = code_sel[part["pi"]]
            parts.append(part)
    if len(geo_sel):
        part = _geometry_path(geoms[geo_sel], index)
        part["pi"] = geo_sel[part["pi"]]
        parts.append(part)
    for key in ("population", "unit_population"):  # known by codes only: NaN for pieces by geometry
        if any(key in q for q in parts):
            for q in parts:
                q.setdefault(key, np.full(len(q["pi"]), np.nan))
    rows = {k: np.concatenate([q[k] for q in parts]) for k in parts[0]} if parts else {
        "pi": np.empty(0, np.int64), "ui": np.empty(0, np.int64), "area_m2": np.empty(0),
        "_geom": np.empty(0, dtype=object), "unit_area": np.empty(0), "communes": np.empty(0, dtype=object),
        "method": np.empty(0, dtype=object)}
    if len(parts) > 1:
        order = np.lexsort((rows["ui"], rows["pi"]))
        rows = {k: v[order] for k, v in rows.items()}
    pi, ui = rows["pi"].astype(np.int64), rows["ui"].astype(np.int64)
    area, method, pole_pop = prep.pole_table(communes, cpop)
    pop = unit_pop = None
    if weight == "population" or len(code_sel):
        pop, unit_pop = _piece_populations(rows, index, member, communes, cpop,
                                           interpolate=weight == "population")
    drawn = np.flatnonzero(~by_codes)
    if weight == "population" and len(drawn):  # drawn perimeters: by area within each commune
        pole_pop[drawn] = prep.drawn_population(communes, cpop)
    return Overlay(layer=layer_id, kind=kind, weight=weight, pole_ids=prep.ids,
                   pole_area=area, pole_method=method, pole_population=pole_pop, piece_pole=pi,
                   unit_code=index.codes[ui], unit_name=index.names[ui], area=rows["area_m2"].astype(float),
                   unit_area=rows["unit_area"].astype(float), piece_geoms=rows["_geom"].astype(object),
                   population=pop, unit_population=unit_pop, piece_method=rows["method"].astype(object),
                   piece_communes=rows["communes"],
                   communes_geoms=communes.geoms if communes is not None else None)


def _interpolated(geoms: np.ndarray, communes: _LayerIndex, cpop: np.ndarray) -> np.ndarray:
    """Population in each polygon, by area within each commune: a part holding the fraction
    f of a commune's area holds the fraction f of its population."""
    out = np.zeros(len(geoms))
    ok = np.flatnonzero(_is_polygonal(shapely.get_type_id(geoms)))
    if not len(ok):
        return out
    cp = _geometry_path(geoms[ok], communes)
    ratio = np.minimum(cp["area_m2"] / communes.area[cp["ui"]], 1.0)
    out[ok] = np.bincount(cp["pi"], weights=cpop[cp["ui"]] * ratio, minlength=len(ok))
    return out


def _piece_populations(rows: dict, index: _LayerIndex, member: _Membership | None, communes: _LayerIndex,
                       cpop: np.ndarray | None, *, interpolate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Population of each piece and of its unit.

    Pieces by codes: sums of their communes' populations (exact). Pieces by geometry, when
    ``interpolate``: by area within each commune; NaN otherwise. A unit's population is the
    layer's own, else the sum over its communes when they are all known, else its outline's
    population by area within each commune.
    """
    n = len(rows["pi"])
    pop = rows["population"].astype(float) if "population" in rows else np.full(n, np.nan)
    unit_pop = rows["unit_population"].astype(float) if "unit_population" in rows else np.full(n, np.nan)
    geo = rows["method"] == "geometry"
    if not geo.any():
        return pop, unit_pop
    ui = rows["ui"][geo]
    if index.population is not None:
        unit_pop[geo] = index.population[ui]
    elif interpolate:
        touched = np.unique(ui)
        known = np.full(len(index.codes), np.nan)
        if member is not None and member.unit_pop is not None:
            known[member.complete] = member.unit_pop[member.complete]
        todo = touched[np.isnan(known[touched])]
        if len(todo):
            known[todo] = _interpolated(index.geoms[todo], communes, cpop)
        unit_pop[geo] = known[ui]
    if interpolate and cpop is not None:
        pop[geo] = _interpolated(rows["_geom"][geo], communes, cpop)
    return pop, unit_pop


def _pole_table(geoms: np.ndarray, members: np.ndarray | None, code_sel: np.ndarray, communes: _LayerIndex | None,
                cpop: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area, method and population of each perimeter.

    Perimeters given by codes are measured as the sums over their communes, the same
    measure as their pieces: their shares are exact.
    """
    n = len(geoms)
    by_codes = np.zeros(n, bool)
    by_codes[code_sel] = True
    area = np.zeros(n)
    area[~by_codes] = area_m2(geoms[~by_codes])
    pop = np.full(n, np.nan)
    if len(code_sel):
        pi, ci = _member_positions(members[code_sel], communes)
        area[code_sel] = np.bincount(pi, weights=communes.area[ci], minlength=len(code_sel))
        if cpop is not None:
            pop[code_sel] = np.bincount(pi, weights=cpop[ci], minlength=len(code_sel))
    return area, np.where(by_codes, "codes", "geometry").astype(object), pop
