"""MODEL_CARDS.md and the leaderboard are generated, never edited: the committed files must equal
what the generators produce from the committed results."""
from __future__ import annotations

from pathlib import Path

import pytest

from zoo.bench import cards
from zoo.bench.jobs import DATASET
from zoo.bench.leaderboard import markdown
from zoo.bench.profiles import DEFAULT_PROFILE

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"


def test_committed_model_cards_are_current():
    expected = cards.render_cards(*cards.stores(RESULTS))
    path = REPO / "MODEL_CARDS.md"
    actual = path.read_text(encoding="utf-8") if path.is_file() else ""
    assert actual == expected, f"MODEL_CARDS.md is stale: {cards.STALE_HINT}"


def test_committed_leaderboard_matches_the_results():
    rows, costs = cards.stores(RESULTS)
    rows = [r for r in rows if r.dataset == DATASET and r.profile == DEFAULT_PROFILE]
    if not rows:
        pytest.skip("no committed benchmark results")
    actual = (RESULTS / "leaderboard.md").read_text(encoding="utf-8")
    assert actual == markdown(rows, costs), "leaderboard.md is stale: run zoo bench"


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    out = tmp_path / "CARDS.md"
    out.write_text("edited by hand\n")
    argv = ["--results", str(tmp_path), "--out", str(out)]
    assert cards.main([*argv, "--check"]) == 1
    assert cards.STALE_HINT in capsys.readouterr().out
    assert cards.main(argv) == 0
    assert cards.main([*argv, "--check"]) == 0
