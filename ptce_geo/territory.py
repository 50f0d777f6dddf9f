"""Territories and the poles acting in them: one search over every level, shares both ways.

:class:`TerritoryIndex` holds the régions, départements, EPCI, EPT (when the catalogue
has an ``ept`` layer) and communes of a catalogue in one table and finds them by name or
code: case, accents, hyphens, apostrophes and « St »/« Ste » are ignored
(:func:`ptce_geo.fmt.search_key`); INSEE codes, SIREN and département numbers match
exactly. Ranking: codes, then the exact name (or a région's abbreviation: « PACA »,
« IDF »…), then names beginning with the query, then names holding every word of the query,
then a commune code whose leading zero was dropped (« 1004 » for 01004), then codes beginning
with the query; within each, by population. When nothing matches, the names closest to the
query (a typo: « Nants » offers Nantes) are offered. A commune found
brings its EPCI (and EPT) right after it. Communes are labelled with their département
(« Saint-Denis (93) »), so that homonyms can be told apart.

:func:`territory_poles` gives the poles acting in a territory with both shares (of the
territory, of the pole) in the Scorecard's measure (area or population);
:func:`nearest_poles` the poles closest to a territory, with the geodesic distance in km
between their outlines. :func:`territory_report` is what ``ptce-geo territory`` prints.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from .fmt import LEVEL_NOUNS, search_key, search_keys
from .scorecard import Scorecard

logger = logging.getLogger(__name__)

__all__ = ["SEARCH_LEVELS", "POSTAL_LIKE", "TerritoryIndex", "territory_poles", "territory_communes",
           "territory_coverage", "nearest_poles", "geodesic_distance_km", "territory_report"]

#: the levels one search covers, widest first (those the catalogue has)
SEARCH_LEVELS = ("regions", "departements", "epci", "ept", "communes")
#: the communes layer's column giving each commune's unit of a level
COMMUNE_COLUMN = {"regions": "reg", "departements": "dep", "epci": "epci", "ept": "ept", "communes": "code"}
#: match tiers, best first
TIERS = {0: "code", 1: "code de région", 2: "nom exact", 3: "sigle de région", 4: "début du nom", 5: "mots du nom",
         6: "partie du nom", 7: "code sans son zéro initial", 8: "début du code", 9: "nom approchant"}
#: the abbreviations by which régions are commonly named (their search keys), with their codes
REGION_ABBREVIATIONS = {"paca": "93", "idf": "11", "aura": "84", "bfc": "27", "hdf": "32", "cvl": "24"}
#: names this close to the query (difflib's ratio) are offered when nothing else matches
CLOSE_NAME_RATIO = 0.8
#: a query that may be a postal code (five digits): the official boundaries give none, so it is
#: read as an INSEE code, and the CLI and the app say so
POSTAL_LIKE = re.compile(r"\d{5}")
_GEOD = Geod(ellps="WGS84")
_RESULT_COLUMNS = ["level", "code", "nom", "label", "population", "dep", "tier", "match", "via"]


def _text(values) -> np.ndarray:
    return pd.Series(values, dtype=object).where(pd.notna(values), "").astype(str).to_numpy(dtype=object)


class TerritoryIndex:
    """Every territory of the search levels, found by name or code.

    Parameters
    ----------
    layers : mapping of level id → DataFrame
        Tables with ``code`` and ``nom`` (and ``population`` when known); the communes
        table also gives ``dep``, ``epci`` and ``ept`` when known. Geometries are not
        needed. Levels outside :data:`SEARCH_LEVELS` are ignored.

    Examples
    --------
    >>> index = TerritoryIndex.from_catalogue()                          # doctest: +SKIP
    >>> index.search("st denis").head(3)[["level", "code", "label"]]     # doctest: +SKIP
    """

    def __init__(self, layers: Mapping[str, pd.DataFrame]) -> None:
        frames = []
        for rank, level in enumerate(SEARCH_LEVELS):
            table = layers.get(level)
            if table is None or not len(table):
                continue
            n = len(table)
            codes = _text(table["code"])
            names = _text(table["nom"]) if "nom" in table else codes
            pop = (pd.to_numeric(table["population"], errors="coerce").to_numpy(dtype=float)
                   if "population" in table else np.full(n, np.nan))
            dep = _text(table["dep"]) if level == "communes" and "dep" in table else np.full(n, "", dtype=object)
            if level == "departements":
                labels = [f"{nm} ({c})" for nm, c in zip(names, codes)]
            elif level == "communes":
                labels = [f"{nm} ({d})" if d else nm for nm, d in zip(names, dep)]
            else:
                labels = list(names)
            frame = pd.DataFrame({
                "level": level, "level_rank": rank, "code": codes, "nom": names, "label": labels,
                "population": pop, "dep": dep, "key": search_keys(names),
                "code_key": [c.upper() for c in codes],
            })
            for parent in ("epci", "ept"):
                frame[parent] = (_text(table[parent]) if level == "communes" and parent in table
                                 else np.full(n, "", dtype=object))
            frames.append(frame)
        if frames:
            self.table = pd.concat(frames, ignore_index=True)
        else:
            self.table = pd.DataFrame(columns=["level", "level_rank", "code", "nom", "label", "population", "dep",
                                               "key", "code_key", "epci", "ept"])
        self.levels = tuple(lv for lv in SEARCH_LEVELS if lv in set(self.table["level"]))
        self._keys = self.table["key"].to_numpy(dtype=object)
        self._ukeys = self._keys.astype(str)  # fixed-width unicode: vectorised string tests
        self._uspaced = np.char.add(" ", self._ukeys) if len(self._ukeys) else self._ukeys
        self._codes = self.table["code_key"].to_numpy(dtype=object)
        self._ucodes = self._codes.astype(str)
        self._level = self.table["level"].to_numpy(dtype=object)
        self._pop = np.nan_to_num(self.table["population"].to_numpy(dtype=float), nan=-1.0)
        self._row = {(lv, c): i for i, (lv, c) in enumerate(zip(self.table["level"], self.table["code"]))}
        self._distinct: list[str] | None = None

    @classmethod
    def from_catalogue(cls, catalogue=None, *, loader=None) -> "TerritoryIndex":
        """The index of the search levels the catalogue has.

        ``loader(layer_id)`` returns a layer table (default :func:`ptce_geo.layers.load_layer`).
        """
        from .catalogue import load_catalogue
        from .layers import load_layer

        catalogue = catalogue or load_catalogue()
        load = loader or (lambda lid: load_layer(lid, catalogue=catalogue))
        return cls({lid: load(lid) for lid in SEARCH_LEVELS if lid in catalogue.layers})

    def __len__(self) -> int:
        return len(self.table)

    def _unique_keys(self) -> list[str]:
        """The distinct search keys, for the closest names to a typo (made on first use)."""
        if self._distinct is None:
            self._distinct = sorted(set(self._ukeys.tolist()))
        return self._distinct

    def get(self, level: str, code: str) -> dict | None:
        """The territory ``code`` of ``level`` as a dict (``None`` when unknown)."""
        i = self._row.get((level, str(code)))
        return None if i is None else self.table.iloc[i].to_dict()

    def search(self, query: str, *, levels: Iterable[str] | None = None, limit: int = 20) -> pd.DataFrame:
        """Territories matching ``query``, best first.

        Parameters
        ----------
        query : str
            A name (any case, with or without accents, hyphens, apostrophes; « st » for
            « saint »; a région's abbreviation), a part of it, or a code: INSEE code of a
            commune (also without its leading zero), SIREN of an EPCI or EPT, département
            number, région code. A name with a typo finds the closest names.
        levels : iterable of str, optional
            Keep only these levels (default: all). A commune matched still brings its
            EPCI, so ``search("bayonne", levels=["epci"])`` finds the CA du Pays Basque.
        limit : int
            At most this many rows.

        Returns
        -------
        pandas.DataFrame
            ``level``, ``code``, ``nom``, ``label`` (communes with their département),
            ``population``, ``dep``, ``tier`` (0 best), ``match`` (why it matched, in
            French) and ``via`` (for an EPCI or EPT brought by a commune: that commune's
            label, else empty).
        """
        wanted = None if levels is None else {str(lv) for lv in levels}
        key = search_key(query)
        code_q = "".join(str(query or "").split()).upper()
        n = len(self.table)
        if not n or not (key or code_q):
            return pd.DataFrame(columns=_RESULT_COLUMNS)
        level = self._level
        tier = np.full(n, 99)

        def assign(mask: np.ndarray, value: int) -> None:
            tier[(tier == 99) & mask] = value

        if code_q:
            exact = self._ucodes == code_q
            assign(exact & (level != "regions"), 0)
            assign(exact & (level == "regions"), 1)
        if key:
            assign(self._ukeys == key, 2)
            if key in REGION_ABBREVIATIONS:
                assign((level == "regions") & (self._ucodes == REGION_ABBREVIATIONS[key]), 3)
            assign(np.char.startswith(self._ukeys, key), 4)
            every = np.ones(n, dtype=bool)
            for w in key.split():
                every &= np.char.find(self._uspaced, " " + w) >= 0
            assign(every, 5)
            if len(key) >= 3:
                assign(np.char.find(self._ukeys, key) >= 0, 6)
        if len(code_q) == 4 and code_q.isdigit():  # a commune code whose leading zero a spreadsheet dropped
            assign((self._ucodes == "0" + code_q) & (level == "communes"), 7)
        if len(code_q) >= 2 and code_q.isalnum() and any(ch.isdigit() for ch in code_q):
            assign(np.char.startswith(self._ucodes, code_q), 8)
        if not (tier < 99).any() and len(key) >= 4 and not key.isdigit():  # a typo: the closest names
            for close in difflib.get_close_matches(key, self._unique_keys(), n=8, cutoff=CLOSE_NAME_RATIO):
                assign(self._ukeys == close, 9)
        hits = np.flatnonzero(tier < 99)
        if not len(hits):
            return pd.DataFrame(columns=_RESULT_COLUMNS)
        order = np.lexsort((self._ukeys[hits], -self._pop[hits], tier[hits]))
        hits = hits[order]
        rows: list[tuple[int, int, str]] = []  # (row, tier, via)
        seen: set[int] = set()
        budget = max(limit, 1) * 4
        for i in hits[: budget]:
            if i in seen:
                continue
            seen.add(int(i))
            rows.append((int(i), int(tier[i]), ""))
            if level[i] == "communes":  # a town offers its EPCI (and EPT)
                for parent in ("epci", "ept"):
                    j = self._row.get((parent, self.table[parent].iat[i]))
                    if j is not None and j not in seen:
                        seen.add(j)
                        rows.append((j, int(tier[i]), self.table["label"].iat[i]))
        picked = [r for r in rows if wanted is None or level[r[0]] in wanted][:limit]
        out = self.table.iloc[[r[0] for r in picked]][["level", "code", "nom", "label", "population", "dep"]].copy()
        out["tier"] = [r[1] for r in picked]
        out["match"] = [("commune membre" if r[2] else TIERS[r[1]]) for r in picked]
        out["via"] = [r[2] for r in picked]
        return out.reset_index(drop=True)


def territory_communes(communes: pd.DataFrame, level: str, code: str) -> np.ndarray:
    """Codes of the communes making the territory ``code`` of ``level`` (from the communes table)."""
    column = COMMUNE_COLUMN.get(level)
    if column is None or column not in communes:
        return np.empty(0, dtype=object)
    return communes["code"].to_numpy(dtype=object)[(communes[column].astype(str) == str(code)).to_numpy()]


def territory_poles(card: Scorecard, layer_id: str, code: str, *,
                    communes: Sequence[str] | None = None) -> pd.DataFrame:
    """The poles acting in one territory, with both shares (largest share of the territory first).

    Shares are in the Scorecard's measure (``card.options.weight``: area or population).

    Parameters
    ----------
    card : Scorecard
    layer_id : str
        The territory's level: a partition layer of the catalogue; any other level
        (an EPT, say) is measured through its ``communes``.
    code : str
        The territory's code.
    communes : sequence of str, optional
        The codes of the communes making the territory: needed only when ``layer_id``
        is not a partition layer of the catalogue.

    Returns
    -------
    pandas.DataFrame
        ``pole_id``, ``nom``, ``share_of_unit`` (of the territory), ``share_of_pole``,
        ``area_km2`` (area in common) and, weighted by population, ``population``.
    """
    cols = ["pole_id", "nom", "share_of_unit", "share_of_pole", "area_km2"]
    names = dict(zip(card.perimeters["id"], card.perimeters["nom"] if "nom" in card.perimeters
                     else card.perimeters["id"]))
    spec = card.catalogue.layers.get(layer_id)
    if spec is not None and spec.kind == "partition":
        shares = card.shares(layer_id)
        rows = shares[shares["unit_code"] == str(code)]
        out = pd.DataFrame({
            "pole_id": rows["pole_id"].to_numpy(), "share_of_unit": rows["share_of_unit"].to_numpy(),
            "share_of_pole": rows["share_of_pole"].to_numpy(), "area_km2": rows["area_m2"].to_numpy() / 1e6,
        })
        if "population" in rows and card.options.weight == "population":
            out["population"] = rows["population"].to_numpy()
    elif communes is not None and "communes" in card.catalogue.layers:
        out = _aggregate_communes(card, [str(c) for c in communes])
    else:
        return pd.DataFrame(columns=cols)
    out.insert(1, "nom", [names.get(p, p) for p in out["pole_id"]])
    out = out[out["share_of_unit"] > 0] if len(out) else out
    return out.sort_values(["share_of_unit", "nom"], ascending=[False, True]).reset_index(drop=True)


def _aggregate_communes(card: Scorecard, members: list[str]) -> pd.DataFrame:
    """Pole shares in a union of communes, summed from the communes-level pieces."""
    from .layers import load_layer

    pieces = card.shares("communes")
    inside = pieces[pieces["unit_code"].isin(members)]
    ov = card.overlay("communes")
    population = card.options.weight == "population" and ov.population is not None
    communes = load_layer("communes", catalogue=card.catalogue)
    own = communes[communes["code"].isin(members)]
    if population:
        measure, whole, totals = "population", float(own["population"].fillna(0).sum()), ov.poles["population"]
    else:
        measure, whole, totals = "area_m2", float(own["area_m2"].sum()), ov.poles["area_m2"]
    grouped = inside.groupby("pole_id", sort=False)
    summed = grouped[measure].sum()
    out = pd.DataFrame({"pole_id": summed.index.to_numpy(),
                        "share_of_unit": summed.to_numpy() / whole if whole > 0 else 0.0,
                        "share_of_pole": summed.to_numpy() / totals.reindex(summed.index).to_numpy(),
                        "area_km2": grouped["area_m2"].sum().to_numpy() / 1e6})
    if population:
        out["population"] = summed.to_numpy()
    return out


def territory_coverage(card: Scorecard, communes: pd.DataFrame, members: Sequence[str]) -> float:
    """The share of a territory (a union of communes) covered by at least one pole.

    Counted commune by commune: the covered fraction of each commune is the area of the
    union of the poles' pieces in it over its area; the territory's share is the
    area-weighted (or, for a Scorecard weighted by population, the population-weighted,
    as the engine spreads a commune's population over its area) mean of those fractions.

    Parameters
    ----------
    card : Scorecard
    communes : DataFrame
        The communes layer (``code``, ``area_m2``, ``population``).
    members : sequence of str
        Codes of the communes of the territory.
    """
    from .projection import area_m2

    members = [str(c) for c in members]
    own = communes[communes["code"].isin(members)]
    if not len(own):
        return 0.0
    pieces = card.shares("communes")
    inside = pieces[pieces["unit_code"].isin(members)]
    covered: dict[str, float] = {}
    for code, grp in inside.groupby("unit_code", sort=False):
        if len(grp) == 1:
            covered[code] = float(grp["area_m2"].iloc[0])
        else:
            covered[code] = float(area_m2(np.array([shapely.union_all(grp.geometry.to_numpy())], dtype=object))[0])
    area = own["area_m2"].to_numpy(dtype=float)
    frac = np.array([covered.get(c, 0.0) for c in own["code"]]) / np.where(area > 0, area, 1.0)
    frac = np.clip(frac, 0.0, 1.0)
    if card.options.weight == "population" and "population" in own:
        pop = np.nan_to_num(own["population"].to_numpy(dtype=float))
        return float((frac * pop).sum() / pop.sum()) if pop.sum() > 0 else 0.0
    return float((frac * area).sum() / area.sum()) if area.sum() > 0 else 0.0


# ---------------------------------------------------------------- nearest poles
_R = 6371008.8  # mean Earth radius (m): the local projection only picks the nearest pair


def _aeqd(lon0: float, lat0: float):
    """Forward and inverse spherical azimuthal equidistant projection centred on (lon0, lat0)."""
    l0, p0 = np.radians(lon0), np.radians(lat0)
    sp0, cp0 = np.sin(p0), np.cos(p0)

    def fwd(xy: np.ndarray) -> np.ndarray:
        lam, phi = np.radians(xy[:, 0]) - l0, np.radians(xy[:, 1])
        cos_c = np.clip(sp0 * np.sin(phi) + cp0 * np.cos(phi) * np.cos(lam), -1.0, 1.0)
        c = np.arccos(cos_c)
        k = np.where(c > 1e-12, c / np.sin(np.where(c > 1e-12, c, 1.0)), 1.0)
        x = _R * k * np.cos(phi) * np.sin(lam)
        y = _R * k * (cp0 * np.sin(phi) - sp0 * np.cos(phi) * np.cos(lam))
        return np.column_stack([x, y])

    def inv(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        rho = np.hypot(x, y)
        c = rho / _R
        safe = np.where(rho > 0, rho, 1.0)
        phi = np.arcsin(np.clip(np.cos(c) * sp0 + np.where(rho > 0, y * np.sin(c) * cp0 / safe, 0.0), -1, 1))
        lam = l0 + np.arctan2(x * np.sin(c), rho * cp0 * np.cos(c) - y * sp0 * np.sin(c))
        return np.column_stack([np.degrees(lam), np.degrees(phi)])

    return fwd, inv


def geodesic_distance_km(a, b) -> float:
    """The geodesic distance (km, WGS84) between two lon/lat geometries: 0 when they touch.

    The nearest pair of points is found in an azimuthal equidistant projection (spherical) centred
    between them (recentred once on the pair found), where distances near the centre
    are true in every direction, after densifying the edges (straight lines in lon/lat,
    as in GeoJSON) to 0.01°; the distance between that pair is then measured on the
    ellipsoid (pyproj ``Geod.inv``). Never in degrees.
    """
    if a is None or b is None or shapely.is_empty(a) or shapely.is_empty(b):
        return float("nan")
    if shapely.intersects(a, b):
        return 0.0
    # edges are straight in lon/lat: densify them (≤ 0.01°, ~1 km) so that their images in the
    # projection stay within a few centimetres of the chords shapely measures
    a, b = shapely.segmentize(a, 0.01), shapely.segmentize(b, 0.01)
    pa, pb = shapely.point_on_surface(a), shapely.point_on_surface(b)
    lon, lat = (pa.x + pb.x) / 2, (pa.y + pb.y) / 2
    p1 = p2 = None
    for _ in range(2):
        fwd, inv = _aeqd(lon, lat)
        line = shapely.shortest_line(shapely.transform(a, fwd), shapely.transform(b, fwd))
        ll = inv(shapely.get_coordinates(line))
        p1, p2 = (ll[0, 0], ll[0, 1]), (ll[1, 0], ll[1, 1])
        lon, lat = (p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2
    _, _, dist = _GEOD.inv(p1[0], p1[1], p2[0], p2[1])
    return float(dist) / 1000.0


def nearest_poles(perimeters, geometry, *, n: int = 3, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """The ``n`` poles nearest to a territory, by geodesic distance between outlines.

    Parameters
    ----------
    perimeters : GeoDataFrame
        Poles (``id``, ``nom``, geometry in EPSG:4326).
    geometry : shapely geometry
        The territory (EPSG:4326).
    n : int
        How many poles.
    exclude : iterable of str
        Pole ids to leave out (those acting in the territory).

    Returns
    -------
    pandas.DataFrame
        ``pole_id``, ``nom``, ``distance_km`` (0 for a pole touching the territory),
        nearest first.
    """
    skip = set(exclude)
    ids = perimeters["id"].astype(str).to_numpy()
    keep = np.array([i not in skip for i in ids], dtype=bool)
    geoms = perimeters.geometry.to_numpy()
    keep &= ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    cols = ["pole_id", "nom", "distance_km"]
    if not keep.any() or geometry is None or shapely.is_empty(geometry):
        return pd.DataFrame(columns=cols)
    idx = np.flatnonzero(keep)
    # shortlist by a rough distance in degrees scaled at the territory's latitude, then measure
    c = shapely.point_on_surface(geometry)
    scale = np.cos(np.radians(c.y))
    squash = lambda xy: np.column_stack([xy[:, 0] * scale, xy[:, 1]])  # noqa: E731
    rough = shapely.distance(shapely.transform(geoms[idx], squash), shapely.transform(geometry, squash))
    short = idx[np.argsort(rough, kind="stable")[: max(3 * n, n + 5)]]
    names = perimeters["nom"].to_numpy() if "nom" in perimeters else ids
    dist = np.array([geodesic_distance_km(geometry, geoms[i]) for i in short])
    order = np.argsort(dist, kind="stable")[:n]
    return pd.DataFrame({"pole_id": ids[short[order]], "nom": names[short[order]], "distance_km": dist[order]},
                        columns=cols)


# ---------------------------------------------------------------- the CLI's answer
def _chosen(matches: pd.DataFrame) -> pd.DataFrame:
    """The territories a query names: every homonym of an exact match, else the best match."""
    if not len(matches):
        return matches
    direct = matches[matches["via"] == ""]
    if not len(direct):
        return matches.head(1)
    best = int(direct["tier"].min())
    if best <= 2:
        return direct[direct["tier"] == best].head(10)
    return direct.head(1)


def territory_report(card: Scorecard, index: TerritoryIndex, query: str, *, levels: Iterable[str] | None = None,
                     communes: pd.DataFrame | None = None, geometries: Mapping[str, pd.DataFrame] | None = None,
                     n_nearest: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What ``ptce-geo territory QUERY`` prints: the territories found and, for each, its poles.

    For each territory named by ``query`` (every homonym of an exact name or code, else
    the best match), one row per pole acting there with both shares; when none acts
    there, one row per nearest pole with its distance in km.

    Parameters
    ----------
    card : Scorecard
        The poles (its weight gives the measure of the shares).
    index : TerritoryIndex
    query : str
    levels : iterable of str, optional
        Search only these levels.
    communes : DataFrame, optional
        The communes layer (default: loaded from ``card.catalogue``).
    geometries : mapping level → GeoDataFrame, optional
        Layers with geometries, to measure distances (default: loaded).
    n_nearest : int
        How many nearest poles when none acts in the territory.

    Returns
    -------
    (report, matches)
        ``report``: ``territory`` (label), ``level``, ``code``, ``population``,
        ``status`` (``acting`` or ``nearest``), ``pole_id``, ``pole``,
        ``share_of_territory``, ``share_of_pole``, ``distance_km``, ``weight``;
        ``matches``: the search results (:meth:`TerritoryIndex.search`).
    """
    from .layers import load_layer

    matches = index.search(query, levels=levels, limit=20)
    chosen = _chosen(matches)
    if communes is None and "communes" in card.catalogue.layers:
        communes = load_layer("communes", catalogue=card.catalogue)
    layers = dict(geometries or {})
    rows = []
    weight = card.options.weight
    for _, t in chosen.iterrows():
        members = territory_communes(communes, t["level"], t["code"]) if communes is not None else None
        acting = territory_poles(card, t["level"], t["code"], communes=members)
        base = {"territory": t["label"], "level": t["level"], "code": t["code"], "population": t["population"]}
        if len(acting):
            for _, p in acting.iterrows():
                rows.append({**base, "status": "acting", "pole_id": p["pole_id"], "pole": p["nom"],
                             "share_of_territory": p["share_of_unit"], "share_of_pole": p["share_of_pole"],
                             "distance_km": 0.0, "weight": weight})
            continue
        if t["level"] not in layers:
            layers[t["level"]] = load_layer(t["level"], catalogue=card.catalogue)
        table = layers[t["level"]]
        geom = table.geometry.to_numpy()[(table["code"].astype(str) == str(t["code"])).to_numpy()]
        near = nearest_poles(card.perimeters, geom[0] if len(geom) else None, n=n_nearest)
        if not len(near):
            rows.append({**base, "status": "none", "pole_id": None, "pole": None, "share_of_territory": None,
                         "share_of_pole": None, "distance_km": None, "weight": weight})
        for _, p in near.iterrows():
            rows.append({**base, "status": "nearest", "pole_id": p["pole_id"], "pole": p["nom"],
                         "share_of_territory": 0.0, "share_of_pole": 0.0, "distance_km": p["distance_km"],
                         "weight": weight})
    cols = ["territory", "level", "code", "population", "status", "pole_id", "pole", "share_of_territory",
            "share_of_pole", "distance_km", "weight"]
    return pd.DataFrame(rows, columns=cols), matches


def level_noun(level: str, n: int = 1) -> str:
    """« commune », « EPCI », « département »… agreeing with ``n``."""
    one, many = LEVEL_NOUNS.get(level, (level, level))
    return many if n >= 2 else one
