"""The benchmark harness on toy presets with a tiny budget: rows, failures, resuming, the
leaderboard and the model cards."""
from __future__ import annotations

import csv
import json

import pytest

from toys import install
from zoo.bench import cards, harness
from zoo.bench.leaderboard import markdown
from zoo.bench.store import ResultStore
from zoo.registry import REGISTRY

BROKEN = '''
from zoo import register_preset


@register_preset("broken_preset")
def broken_preset():
    return {"backbone": "no_such_backbone", "temporal_head": "acme_pool"}
'''
TINY = ["--steps", "2", "--train-clips-per-class", "1", "--test-clips-per-class", "1", "--quiet"]
TOYS = "acme_single,acme_two_stream,broken_preset"


@pytest.fixture
def toy_presets(fake_dist):
    install(fake_dist)
    fake_dist("broken-zoo", {"zoo.presets": {"broken_preset": "broken_zoo:broken_preset"}},
              {"broken_zoo.py": BROKEN})


def run(tmp_path, *extra):
    argv = ["--presets", TOYS, "--results", str(tmp_path / "results"),
            "--cards", str(tmp_path / "CARDS.md"), *TINY, *extra]
    assert harness.main(argv) == 0
    return ResultStore(tmp_path / "results" / harness.STORE_NAME)


def test_rows_leaderboard_and_cards(toy_presets, tmp_path):
    store = run(tmp_path)
    rows = {r["preset"]: r for r in store.rows()}
    assert set(rows) == {"acme_single", "acme_two_stream", "broken_preset"}
    profile = "cpu-small[steps=2,train_clips_per_class=1,test_clips_per_class=1]"
    assert {r["profile"] for r in rows.values()} == {profile}
    single = rows["acme_single"]
    assert single["status"] == "ok" and single["paper"] == "Acme" and single["source"] == "acme-zoo"
    for field in ("top1", "top1_appearance", "top1_motion"):
        assert 0 <= single[field] <= 1
    assert single["clips_per_s"] > 0 and single["params"] > 0 and single["gflops"] > 0
    small = harness.PROFILES["cpu-small"]
    assert single["input"] == {"rgb": {"modality": "rgb", "frames": small.frames,
                                       "size": small.size, "channels": 3}}
    assert single["default_input"]["rgb"]["size"] == 16 and single["default_gflops"] > 0
    assert rows["acme_two_stream"]["input"]["flow"]["channels"] == 6
    broken = rows["broken_preset"]
    assert broken["status"] == "failed" and broken["reason"].startswith("build: ")
    assert "no_such_backbone" in broken["reason"]

    results = tmp_path / "results"
    board = (results / "leaderboard.md").read_text()
    assert board == markdown(store.rows())
    assert "`acme_two_stream`" in board and "Failed:" in board and "no_such_backbone" in board
    with open(results / "leaderboard.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["status"] for r in table] == ["ok", "ok", "failed"]
    assert {"top1_appearance", "top1_motion", "clips_per_s", "gflops"} <= set(table[0])

    card_text = (tmp_path / "CARDS.md").read_text()
    assert card_text == cards.render_cards(store.rows(), profile)
    assert "## acme_single" in card_text and "## broken_preset" in card_text
    assert "failed: build: " in card_text


def test_resume_skips_stored_presets_and_never_duplicates(toy_presets, tmp_path, capsys):
    store = run(tmp_path)
    before = store.path.read_text()
    run(tmp_path)
    assert store.path.read_text() == before
    assert "acme_single: stored, skipped" in capsys.readouterr().out
    run(tmp_path, "--presets", "acme_single", "--force")
    run(tmp_path, "--retry-failed")
    lines = store.path.read_text().splitlines()
    assert sorted(json.loads(line)["preset"] for line in lines) == sorted(TOYS.split(","))


def test_rows_of_other_settings_run_again_and_default_cost_is_reused(toy_presets, tmp_path,
                                                                      capsys, monkeypatch):
    store = run(tmp_path, "--presets", "acme_single")
    first = store.rows()[0]
    assert first["settings"]["steps"] == 2 and first["default_config"]
    calls = []
    monkeypatch.setattr("zoo.bench.measure.gflops",
                        lambda model, inputs=None: calls.append(model) or 1.0)
    changed = dict(harness.PROFILES["cpu-small"].__dict__, lr=0.5)
    monkeypatch.setitem(harness.PROFILES, "cpu-small", harness.Profile(**changed))
    run(tmp_path, "--presets", "acme_single")
    assert "stored under other cpu-small settings, running it again" in capsys.readouterr().out
    (second,) = store.rows()
    assert second["settings"]["lr"] == 0.5 and second["gflops"] == 1.0
    assert len(calls) == 1  # the profile's input only: the default-input cost came from the row
    assert second["default_gflops"] == first["default_gflops"]


def test_store_replaces_rows_and_survives_a_cut_line(tmp_path):
    store = ResultStore(tmp_path / "rows.jsonl")
    key = {"preset": "p", "dataset": "d", "profile": "x"}
    store.put({**key, "status": "failed"})
    store.put({**key, "status": "ok"})
    assert store.rows() == [{**key, "status": "ok"}]
    with open(store.path, "a") as handle:
        handle.write('{"preset": "q", "dat')  # a run killed while writing
    with pytest.warns(RuntimeWarning, match="unreadable result row"):
        assert len(store.rows()) == 1
    with pytest.warns(RuntimeWarning):
        store.put({**key, "preset": "q", "status": "ok"})
    assert [r["preset"] for r in store.rows()] == ["p", "q"]


def test_preset_selection_and_profile_key():
    names = ["c3d", "i3d", "r3d_18", "two_stream", "two_stream_3d"]
    assert harness.select_presets(names, "two_stream*,c3d", "two_stream_3d") == ["c3d", "two_stream"]
    args = harness.parser().parse_args(["--steps", "5", "--bf16"])
    assert harness.profile_from_args(args).key == "cpu-small[steps=5,bf16=True]"
    assert harness.profile_from_args(harness.parser().parse_args([])).key == "cpu-small"


@pytest.mark.slow
def test_real_presets_smoke(tmp_path):
    wanted = ["single_frame", "c3d"]
    if not set(wanted) <= set(REGISTRY.names("preset")):
        pytest.skip("the first-party presets are not installed")
    argv = ["--presets", ",".join(wanted), "--results", str(tmp_path), "--no-cards",
            "--batch-size", "2", *TINY]
    assert harness.main(argv) == 0
    rows = ResultStore(tmp_path / harness.STORE_NAME).rows()
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("reason") for r in rows]
