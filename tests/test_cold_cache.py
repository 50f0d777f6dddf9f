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
