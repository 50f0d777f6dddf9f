"""Fuzzing the file readers: random mutations of valid files raise only ptce_geo's errors.

Each reader gets a few thousand mutated inputs (truncations, flipped and inserted bytes,
non-UTF-8 bytes, huge numbers, NaN, deep nesting, wrong types). An input may be accepted
or refused with a :class:`~ptce_geo.errors.PtceGeoError` carrying a message; anything
else is a crash. The counts are printed (run pytest with ``-s`` to see them).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fuzzhelp import replace_random_node
from ptce_geo.catalogue import load_catalogue
from ptce_geo.errors import PtceGeoError
from ptce_geo.perimeters import check_perimeters, read_perimeters

ROOT = Path(__file__).resolve().parent.parent

VALID_POLES = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"id": "a", "nom": "Pôle A", "epci": ["244000659"]}, "geometry": None},
        {"type": "Feature", "properties": {"id": "b", "nom": "Pôle B", "communes": ["07010", "07019"]},
         "geometry": None},
        {"type": "Feature", "properties": {"id": "c", "nom": "Carré"},
         "geometry": {"type": "Polygon", "coordinates": [[[2.0, 47.0], [2.2, 47.0], [2.2, 47.2], [2.0, 47.2], [2.0, 47.0]]]}},
    ],
}


def _tree_mutations(rng: random.Random, doc):
    """Structured mutations of a parsed JSON document (wrong types, huge numbers…)."""
    weird = [None, 1e308, -1e308, float("nan"), float("inf"), 10**400, "", "x" * 10_000, [], {}, True,
             [[[[[]]]]], "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"), -1, 0.5]
    doc = json.loads(json.dumps(doc))
    for _ in range(rng.randint(1, 4)):
        replace_random_node(rng, doc, weird)
    return doc


def _byte_mutations(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return data[: rng.randrange(len(data))]
    if kind == 1:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 2:
        pos = rng.randrange(len(data))
        return data[:pos] + bytes([0xFF, 0xFE, 0xC3]) + data[pos:]
    if kind == 3:
        depth = rng.choice([50, 5_000, 200_000])
        return b"[" * depth + b"]" * depth
    if kind == 4:
        return data.replace(b"47.0", b"NaN", rng.randint(1, 3))
    return data.replace(b"2.0", b"1e999", 1)


def _run(fn, inputs) -> tuple[int, list[str]]:
    crashes = []
    for item in inputs:
        try:
            fn(item)
        except PtceGeoError as exc:
            assert str(exc), "a refusal must carry a message"
        except Exception as exc:  # noqa: BLE001 - counting crashes is the point
            crashes.append(f"{exc.__class__.__name__}: {str(exc)[:120]}")
    return len(inputs), crashes


def test_fuzz_perimeter_reader(catalogue):
    rng = random.Random(20141231)
    base = json.dumps(VALID_POLES).encode()
    inputs = [_byte_mutations(rng, base) for _ in range(700)]
    inputs += [json.dumps(_tree_mutations(rng, VALID_POLES), allow_nan=True).encode() for _ in range(1300)]

    def read(data: bytes) -> None:
        check_perimeters(data, catalogue=catalogue)
        read_perimeters(data, catalogue=catalogue)

    n, crashes = _run(read, inputs)
    print(f"\nperimeter reader: {n:,} inputs, {len(crashes)} crashes")
    assert n == 2000
    assert not crashes, crashes[:5]


def test_fuzz_catalogue_reader(tmp_path):
    rng = random.Random(2024)
    base = (ROOT / "boundaries" / "mirror-2024.toml").read_bytes()
    file = tmp_path / "fuzz.toml"
    inputs = [_byte_mutations(rng, base) for _ in range(1000)]
    lines = base.decode().splitlines()
    for _ in range(1000):  # value-level mutations keep the TOML mostly parseable
        mutated = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(mutated))
            if "=" in mutated[i]:
                key = mutated[i].split("=", 1)[0]
                mutated[i] = key + "= " + rng.choice(["1", "-5", "true", "'x'", "[]", "{}", "1e999", "nan",
                                                      "2024-01-01", "'" + "é" * 300 + "'"])
            elif rng.random() < 0.5:
                del mutated[i]
        inputs.append("\n".join(mutated).encode())

    def read(data: bytes) -> None:
        file.write_bytes(data)
        cat = load_catalogue(file)
        for spec in cat:  # what the rest of the library touches
            spec.fingerprint()
            if spec.source is not None:
                spec.source.filename

    n, crashes = _run(read, inputs)
    print(f"\ncatalogue reader: {n:,} inputs, {len(crashes)} crashes")
    assert n == 2000
    assert not crashes, crashes[:5]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_geometry_is_refused_cleanly(catalogue, depth):
    coords = "[" * depth + "]" * depth
    text = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"x"},'
            '"geometry":{"type":"Polygon","coordinates":' + coords + "}}]}")
    with pytest.raises(PtceGeoError) as err:
        read_perimeters(text.encode(), catalogue=catalogue)
    assert "feature #1" in str(err.value) or "JSON" in str(err.value)
