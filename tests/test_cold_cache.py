"""A cold cache: layers prepared by a child process (the same tables, never built twice at once), the
cached tables read back as geopandas reads them, one computation of a stored Scorecard."""

from __future__ import annotations

import os

import pytest
import shapely
from filelock import FileLock

from ptce_geo import layers
from ptce_geo.cache import Cache
from ptce_geo.layers import _build_tables, _table_path, load_layer, prepare_layers
from ptce_geo.overlay import cores

pytestmark = pytest.mark.realdata


def _path(catalogue, cache: Cache, lid: str):
    return _table_path(catalogue[lid], catalogue, cache)


def test_a_child_process_builds_the_tables_the_caller_reads(catalogue, tmp_path):
    if cores() < 2:
        pytest.skip("one core: nothing is prepared in the background")
    cold = Cache(tmp_path / "cold")
    wanted = ["regions", "zones_emploi", "pnr"]
    thread = prepare_layers(wanted, catalogue=catalogue, cache=cold)
    assert thread is not None
    thread.join(600)
    # written by the child (this process has built nothing): the tables and the communes they need
    assert all(cold.has_table(_path(catalogue, cold, lid)) for lid in ["communes", *wanted])
    layers.clear_memory_cache()
    own = Cache(tmp_path / "own")
    for lid in wanted:
        theirs = load_layer(lid, catalogue=catalogue, cache=cold)
        ours = load_layer(lid, catalogue=catalogue, cache=own)  # built here, from the same files
        assert list(theirs.columns) == list(ours.columns)
        assert theirs.drop(columns="geometry").equals(ours.drop(columns="geometry")), lid
        assert (shapely.to_wkb(theirs.geometry.values) == shapely.to_wkb(ours.geometry.values)).all(), lid
    # everything cached: nothing more to start
    assert prepare_layers(wanted, catalogue=catalogue, cache=cold) is None


def test_a_table_being_written_elsewhere_is_left_to_its_writer(catalogue, tmp_path):
    cache = Cache(tmp_path / "cache")
    path = _path(catalogue, cache, "pnr")
    path.parent.mkdir(parents=True)
    with FileLock(str(path) + ".lock"):
        assert cache.busy(path)
        assert _build_tables(catalogue, str(cache.root), ["pnr"]) == []
    assert not cache.busy(path)
    assert not cache.has_table(path)
    assert _build_tables(catalogue, str(cache.root), ["pnr"]) == ["pnr"]
    assert cache.has_table(path)


def test_one_core_prepares_nothing_in_the_background(catalogue, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert prepare_layers(["pnr"], catalogue=catalogue, cache=Cache(tmp_path / "cache")) is None


def test_cached_tables_read_as_geopandas_reads_them(catalogue, session_cache, tmp_path):
    """The cache's GeoParquet reader gives geopandas' frame: columns, dtypes, geometry, CRS, attrs."""
    import io

    import geopandas as gpd
    from geopandas.testing import assert_geodataframe_equal

    from ptce_geo.cache import read_geoparquet

    cache = Cache(session_cache)
    for lid in ("communes", "qpv", "petites_villes_de_demain"):
        load_layer(lid, catalogue=catalogue, cache=cache)
        data = _path(catalogue, cache, lid).read_bytes()
        ours, theirs = read_geoparquet(data), gpd.read_parquet(io.BytesIO(data))
        assert_geodataframe_equal(ours, theirs, check_dtype=True, check_crs=True)
        assert list(ours.columns) == list(theirs.columns) and ours.crs == theirs.crs
    # another CRS, attrs, and two geometry columns (left to geopandas)
    frame = gpd.GeoDataFrame({"code": ["a", "b"], "n": [1, 2]},
                             geometry=gpd.points_from_xy([700000, 701000], [6600000, 6601000]), crs="EPSG:2154")
    frame.attrs = {"layer": "test"}
    for table in (frame, frame.assign(other=frame.geometry.buffer(1))):
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        ours, theirs = read_geoparquet(buf.getvalue()), gpd.read_parquet(io.BytesIO(buf.getvalue()))
        assert_geodataframe_equal(ours, theirs, check_dtype=True, check_crs=True)
        assert ours.crs.to_epsg() == 2154 and ours.attrs == theirs.attrs == {"layer": "test"}


def test_a_stored_scorecard_is_computed_once_for_concurrent_callers(catalogue, session_cache, tmp_path,
                                                                    monkeypatch):
    """Two threads asking for the same poles' Scorecard: one computes, the other reads what it stored."""
    import json
    import threading

    from ptce_geo import perimeters
    from ptce_geo.scorecard import stored_scorecard

    poles = tmp_path / "poles.geojson"
    poles.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"id": "once", "nom": "Calculé une fois", "communes": ["40312", "40065"]}}]}), "utf-8")
    calls = []
    real = perimeters.read_perimeters

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(perimeters, "read_perimeters", counted)
    cache = Cache(session_cache)
    cards = [None, None]

    def ask(i):
        cards[i] = stored_scorecard(poles, catalogue=catalogue, cache=cache)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert len(calls) == 1
    assert cards[0] is not cards[1]  # the second was read back from the store
    assert cards[0].summary.equals(cards[1].summary)
    assert list(cards[1].summary["pole_id"]) == ["once"] and cards[1].summary["n_communes"].iloc[0] == 2


def _same_members(a, b) -> None:
    assert a.rows.equals(b.rows) and a.unresolved.equals(b.unresolved) and a.complete == b.complete
    assert (a.commune_pos == b.commune_pos).all() and (a.zone_pos == b.zone_pos).all() and a.sizes == b.sizes


def test_zone_members_are_kept_in_the_cache_and_read_back(catalogue, session_cache, tmp_path, monkeypatch):
    """Members computed once are read back by a fresh process (here: a cleared memory), not recomputed;
    an entry whose bytes changed is recomputed; a cache that cannot be written computes each time."""
    from ptce_geo.layers import _index_path, zone_members

    cache = Cache(session_cache)
    path = _index_path(catalogue["territoires_industrie"], catalogue, cache, "members")
    first = zone_members("territoires_industrie", catalogue=catalogue, cache=cache)
    assert cache.has_object(path)
    # the Territoires d'industrie are given by EPCI, resolved into communes of the communes layer
    communes = load_layer("communes", catalogue=catalogue, cache=cache)
    assert set(first.rows["commune"]) <= set(communes["code"]) and len(first.rows) > 10_000
    layers.clear_memory_cache()

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(layers, "_compute_members", refuse)
    _same_members(zone_members("territoires_industrie", catalogue=catalogue, cache=cache), first)
    monkeypatch.undo()
    # a damaged entry: computed again and replaced
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    layers.clear_memory_cache()
    _same_members(zone_members("territoires_industrie", catalogue=catalogue, cache=cache), first)
    assert cache.read_object(path) is not None  # stored again, intact


def test_membership_rows_are_read_from_the_cache_not_the_source_table(catalogue, session_cache, monkeypatch):
    """The commune → bassin de vie rows stored by the layer's build give the same membership as the
    INSEE table they come from, which is no longer read."""
    from ptce_geo import _readers
    from ptce_geo.layers import _index_path, _read_membership, commune_membership

    cache = Cache(session_cache)
    spec = catalogue["bassins_vie"]
    load_layer("bassins_vie", catalogue=catalogue, cache=cache)  # built (or read) in the session cache
    assert cache.has_object(_index_path(spec, catalogue, cache, "membership"))
    from_source = _read_membership(spec, catalogue, cache, None)
    layers.clear_memory_cache()

    def refuse(*args, **kwargs):
        raise AssertionError("the source table was read")

    monkeypatch.setattr(layers, "read_source", refuse)
    monkeypatch.setattr(_readers, "read_source", refuse)
    rows = commune_membership("bassins_vie", catalogue=catalogue, cache=cache)
    assert rows.equals(from_source[["commune", "code"]].reset_index(drop=True))
    # every commune of the layer belongs to exactly one bassin de vie (a partition)
    communes = load_layer("communes", catalogue=catalogue, cache=cache)
    assert rows["commune"].is_unique and set(communes["code"]) <= set(rows["commune"])


def test_the_background_child_also_prepares_the_members_of_its_zones_layers(catalogue, tmp_path):
    from ptce_geo.layers import _index_path, zone_members

    cache = Cache(tmp_path / "cold")
    load_layer("communes", catalogue=catalogue, cache=cache)
    assert _build_tables(catalogue, str(cache.root), ["action_coeur_de_ville"]) == ["action_coeur_de_ville"]
    path = _index_path(catalogue["action_coeur_de_ville"], catalogue, cache, "members")
    stored = cache.read_object(path)
    assert stored is not None
    layers.clear_memory_cache()
    computed = layers._compute_members(catalogue["action_coeur_de_ville"],
                                       load_layer("action_coeur_de_ville", catalogue=catalogue, cache=cache),
                                       load_layer("communes", catalogue=catalogue, cache=cache), catalogue, cache)
    assert stored.rows.equals(computed.rows) and stored.unresolved.equals(computed.unresolved)
    assert stored.complete == computed.complete
    assert zone_members("action_coeur_de_ville", catalogue=catalogue, cache=cache).rows.equals(computed.rows)
