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
    # the figures the first example's comment gives are those it computes (one decimal, in %)
    said = _said_shares(blocks[0], 'pieces[pieces.pole_id == "ptce23"]')
    pieces = namespace["pieces"]
    computed = pieces[pieces["pole_id"] == "ptce23"].set_index("unit_name")["share_of_pole"]
    assert said == {name: round(100 * share, 1) for name, share in computed.items()}


def _said_shares(block: str, statement: str) -> dict[str, float]:
    """The ``NAME 12.3 %`` pairs of the comment of the line of ``block`` that holds ``statement``."""
    line = next(line for line in block.splitlines() if statement in line)
    comment = line.split("#", 1)[1]
    pairs = re.findall(r"\s*([^,]+?) (\d+(?:\.\d+)?) %", comment)
    assert pairs, f"no figure in the comment of {line!r}"
    return {name.strip(): float(value) for name, value in pairs}


def _command_block() -> tuple[str, str]:
    """The sentence introducing the « Command line » section's commands, and their block."""
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("\n## Command line\n", 1)[1]
    intro, rest = section.split("```sh\n", 1)
    return intro, rest.split("```", 1)[0]


def test_readme_command_lines_work_as_written_or_say_what_to_replace():
    """Every argument of the « Command line » block is real, or a placeholder the text names."""
    intro, block = _command_block()
    assert "each line works as written" in intro
    placeholders = set(re.findall(r"`([A-Z][A-Z_]*(?:\.[a-z]+)?)`", intro))
    assert placeholders == {"MY_POLES.csv", "MY_ZONES.zip", "CODE"}
    used = set()
    for line in block.strip().splitlines():
        command = line.split("  #", 1)[0].strip()
        assert command.startswith("./dev ptce-geo ")
        assert not re.search(r"\[|\]|\.\.\.|…|<|>", command), line  # no syntax to fill in
        for word in command.split()[2:]:
            word = word.strip("\"'")
            if word in placeholders:
                used.add(word)
            elif re.fullmatch(r"[\w./-]+\.(geojson|csv|zip|toml|gpkg)", word) and not word.startswith(("~", "..")):
                assert (REPO / word).is_file(), f"{word} in {line!r} is not a file of the checkout"
            else:
                assert not re.fullmatch(r"[A-Z][A-Z_]+(\.\w+)?", word), f"{word} in {line!r} is not named a placeholder"
    assert used == placeholders
