"""The README's Python examples run as written (in a scratch folder holding a copy of poles.geojson)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parent.parent


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text("utf-8"), flags=re.S)


def test_readme_python_examples_run(mirror_env, tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert len(blocks) >= 2 and any("pg.pole_card" in b for b in blocks)
    shutil.copy(REPO / "poles.geojson", tmp_path / "poles.geojson")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102 - our own README
    # what the examples say they make
    assert (tmp_path / "ptce05_fiche.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "ptce05_pole.gpkg").read_bytes()[:16] == b"SQLite format 3\x00"
    text = (tmp_path / "ptce23_pieces_epci.csv").read_bytes()
    assert text[:3] == b"\xef\xbb\xbf" and b";" in text.splitlines()[0]
    bray = namespace["bray"]
    assert set(bray["pole_id"]) == {"ptce23"} and bray["share_of_pole"].sum() == pytest.approx(1.0)
    assert set(namespace["crte"]["pole_id"]) == {"ptce05"}
