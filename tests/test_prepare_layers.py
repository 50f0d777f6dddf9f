"""Layers prepared by a child process on a cold cache: the same tables, never built twice at once."""

from __future__ import annotations

import os

import pytest
import shapely
from filelock import FileLock

from ptce_geo import layers
from ptce_geo.cache import Cache
from ptce_geo.layers import _build_tables, _fingerprint, load_layer, prepare_layers

pytestmark = pytest.mark.realdata


def _path(catalogue, cache: Cache, lid: str):
    spec = catalogue[lid]
    return cache.table_path(spec, _fingerprint(spec, catalogue))


def test_a_child_process_builds_the_tables_the_caller_reads(catalogue, tmp_path):
    if len(os.sched_getaffinity(0)) < 2:
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
