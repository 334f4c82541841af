"""The benchmark harness on toy presets with a tiny budget: rows (stream rows included),
failures, resuming, the leaderboard rendered from its columns, and the model cards."""
from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from toys import install
from zoo.bench import cards, cli, leaderboard
from zoo.bench.profiles import PROFILES, Profile
from zoo.bench.rows import BenchRow
from zoo.bench.jobs import DATASET
from zoo.bench import run as run_module
from zoo.bench.run import STORE_NAME, reference_paces
from zoo.bench.store import ResultStore
from zoo.registry import REGISTRY

BROKEN = '''
from zoo import register_preset


@register_preset("broken_preset")
def broken_preset():
    return {"backbone": "no_such_backbone", "temporal_head": "acme_pool"}


@register_preset("acme_single_large")
def acme_single_large():
    """acme_single at a larger input: the same network once the benchmark sets the input."""
    return {"backbone": "acme_frame", "temporal_head": "acme_pool", "input": {"frames": 8, "size": 64}}
'''
TINY = ["--jobs", "1", "--steps", "2", "--train-clips-per-class", "1", "--test-clips-per-class", "2",
        "--latency-runs", "2", "--precise-bn-batches", "1", "--quiet", "--no-cost"]
TOYS = "acme_single,acme_two_stream,broken_preset"
PROFILE = "cpu-small[steps=2,train_clips_per_class=1,test_clips_per_class=2,latency_runs=2," \
          "precise_bn_batches=1,jobs=1]"


@pytest.fixture
def toy_presets(fake_dist):
    install(fake_dist)
    fake_dist("broken-zoo", {"zoo.presets": {"broken_preset": "broken_zoo:broken_preset",
                                             "acme_single_large": "broken_zoo:acme_single_large"}},
              {"broken_zoo.py": BROKEN})


def run(tmp_path, *extra):
    """The toys' run; it exits 1 when broken_preset (which fails) is among its jobs."""
    argv = ["--presets", TOYS, "--results", str(tmp_path / "results"),
            "--cards", str(tmp_path / "CARDS.md"), *TINY, *extra]
    presets = argv[len(argv) - 1 - argv[::-1].index("--presets") + 1]  # the last one given
    assert cli.main(argv) == (1 if "broken_preset" in presets.split(",") else 0)
    return ResultStore(tmp_path / "results" / STORE_NAME)


def test_rows_streams_leaderboard_and_cards(toy_presets, tmp_path):
    store = run(tmp_path)
    rows = {r.preset: r for r in store.rows()}
    assert set(rows) == {"acme_single", "acme_two_stream", "acme_two_stream:rgb",
                         "acme_two_stream:flow", "broken_preset"}
    assert {r.profile for r in rows.values()} == {PROFILE}
    single = rows["acme_single"]
    assert single.ok and single.paper == "Acme" and single.source == "acme-zoo"
    assert single.test_clips == 24 and single.arrow_clips == 16  # 2 per class; 8 motion classes
    assert set(single.groups) == {"appearance", "motion"}
    lo, hi = single.top1_ci
    assert 0 <= lo <= single.top1 <= hi <= 1
    assert 0 <= single.arrow <= 1 and 0 <= single.unchanged_reversed <= 1
    assert single.temporal_reliance == pytest.approx(single.top1 - single.shuffled, abs=1e-3)
    assert single.clips_per_s > 0 and single.params > 0 and single.gflops > 0
    assert single.width == 1.0  # the toy's `width` is a channel count: built at its own
    assert single.input == {"rgb": {"modality": "rgb", "frames": 8, "size": 32, "channels": 3}}
    assert single.chance == pytest.approx(1 / 12, abs=1e-4)
    assert "motion" in single.group_docs
    flow = rows["acme_two_stream:flow"]
    assert flow.kind == "stream" and flow.of == "acme_two_stream" and flow.ok
    assert set(flow.input) == {"flow"} and flow.test_clips == 24 and flow.arrow is not None
    # frames averaged by design (acme_pool): permuting them changes no logit; order is read by
    # the flow stream's recurrent head, and flow is not a series of frames to permute
    assert single.order_change == 0 and single.order_clips == 24
    assert rows["acme_two_stream:rgb"].order_change == 0
    assert flow.order_change is None and rows["acme_two_stream"].order_change is None
    broken = rows["broken_preset"]
    assert not broken.ok and broken.reason.startswith("build: ")
    assert "no_such_backbone" in broken.reason

    results = tmp_path / "results"
    board = (results / "leaderboard.md").read_text()
    assert board == leaderboard.markdown(store.rows())
    assert "`acme_two_stream` · flow only" in board and "Failed:" in board
    assert "arrow of time" in board and "95% CI" in board and "*motion*:" in board
    with open(results / "leaderboard.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["status"] for r in table][-1] == "failed" and len(table) == 5
    assert {"top1_appearance", "top1_motion_ci", "arrow", "clips_per_s", "gflops"} <= set(table[0])

    card_text = (tmp_path / "CARDS.md").read_text()
    assert card_text == cards.render_cards(store.rows(), (), PROFILE)
    assert "## acme_two_stream" in card_text and "flow stream alone: " in card_text
    assert "failed: build: " in card_text


def test_resume_skips_stored_presets_and_never_duplicates(toy_presets, tmp_path, capsys):
    store = run(tmp_path)
    before = store.path.read_text()
    run(tmp_path)
    assert store.path.read_text() == before
    assert "acme_single: stored, skipped" in capsys.readouterr().out
    run(tmp_path, "--presets", "acme_two_stream", "--force")
    run(tmp_path, "--retry-failed")
    names = sorted(json.loads(line)["preset"] for line in store.path.read_text().splitlines())
    assert names == sorted(TOYS.split(",") + ["acme_two_stream:rgb", "acme_two_stream:flow"])


def test_rows_of_other_settings_run_again(toy_presets, tmp_path, capsys, monkeypatch):
    store = run(tmp_path, "--presets", "acme_single")
    assert store.rows()[0].settings["steps"] == 2
    changed = dict(PROFILES["cpu-small"].__dict__, lr=0.5)
    monkeypatch.setitem(PROFILES, "cpu-small", Profile(**changed))
    run(tmp_path, "--presets", "acme_single")
    assert "stored under other cpu-small settings, running it again" in capsys.readouterr().out
    (second,) = store.rows()
    assert second.settings["lr"] == 0.5


def test_a_run_slower_than_the_stored_results_it_replaces_ends_with_a_note(toy_presets, tmp_path,
                                                                         capsys, monkeypatch):
    monkeypatch.setattr(run_module, "PACE_JOBS", 1)  # the note comes after the first job too
    def rerun_after_storing(steps, train_s):
        (stored,) = store.rows()
        store.put(dataclasses.replace(stored, steps=steps, train_s=train_s,
                                      env={**stored.env, "processor": "Another CPU"}))
        capsys.readouterr()
        run(tmp_path, *more_steps, "--force")
        return capsys.readouterr().err

    more_steps = ("--presets", "acme_single", "--steps", "20")  # train_s is kept to 0.1 s
    store = run(tmp_path, *more_steps)
    err = rerun_after_storing(steps=10 ** 6, train_s=1.0)  # stored: a million steps a second
    assert "zoo: note: 1 presets trained" in err and "measured on Another CPU," in err
    assert "zoo: note (after 1 jobs): 1 presets trained" in err
    assert "x slower than for the stored results" in err and "--time-scale " in err
    assert "zoo: note" not in rerun_after_storing(steps=1, train_s=1000.0)


def test_the_reference_pace_comes_from_rows_trained_alike_time_limits_aside():
    settings = dataclasses.asdict(PROFILES["cpu-small"])
    scaled = {**settings, "time_scale": 3.0, "deadline": 1.0}
    rows = [BenchRow("a", DATASET, "k", status="ok", steps=300, train_s=30.0, settings=scaled,
                     env={"processor": "P"}),
            BenchRow("b", DATASET, "k", status="ok", steps=100, train_s=10.0,
                     settings={**settings, "lr": 1.0}),  # trained otherwise
            BenchRow("a:rgb", DATASET, "k", kind="stream", status="ok", steps=5, train_s=1.0,
                     settings=settings),
            BenchRow("c", DATASET, "k", status="failed", settings=settings),
            BenchRow("d", "other", "k", status="ok", steps=10, train_s=1.0, settings=settings)]
    assert reference_paces(rows, settings) == ({"a": 10.0}, "P")
    assert reference_paces([], settings) == ({}, "")


def test_store_replaces_rows_and_survives_a_cut_line(tmp_path):
    store = ResultStore(tmp_path / "rows.jsonl")
    store.put(BenchRow("p", "d", "x"))
    store.put(BenchRow("p", "d", "x", status="ok"))
    assert [r.status for r in store.rows()] == ["ok"]
    with open(store.path, "a") as handle:
        handle.write('{"preset": "q", "dat')  # a run killed while writing
    with pytest.warns(RuntimeWarning, match="unreadable result row"):
        assert len(store.rows()) == 1
    with pytest.warns(RuntimeWarning):
        store.put(BenchRow("q", "d", "x", status="ok"))
    assert [r.preset for r in store.rows()] == ["p", "q"]
    store.replace_job([BenchRow("m", "d", "x"), BenchRow("m:rgb", "d", "x", kind="stream", of="m")])
    store.replace_job([BenchRow("m", "d", "x", status="ok")])  # its stream rows go with it
    assert [r.preset for r in store.rows()] == ["p", "q", "m"]


def test_preset_selection_profile_key_and_errors(capsys):
    from zoo.bench.jobs import select_presets
    names = ["c3d", "i3d", "r3d_18", "two_stream", "two_stream_3d"]
    assert select_presets(names, "two_stream*,c3d", "two_stream_3d") == ["c3d", "two_stream"]
    args = cli.parser().parse_args(["--steps", "5", "--bf16"])
    assert cli.profile_from_args(args).key == "cpu-small[steps=5,bf16=True]"
    assert cli.profile_from_args(cli.parser().parse_args([])).key == "cpu-small"
    assert cli.main(["--presets", "no_such_*"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: no preset matches 'no_such_*'")


def test_gpu_full_profile_is_selectable():
    profile = cli.profile_from_args(cli.parser().parse_args(["--profile", "gpu-full"]))
    assert profile.key == "gpu-full" and profile.device == "cuda" and profile.bf16
    assert (profile.frames, profile.size, profile.width) == (16, 112, 1.0)
    assert not PROFILES["cpu-small"].bf16  # bf16 off by default on the CPU
    assert PROFILES["cpu-small"].test_clips_per_class >= 50
    assert PROFILES["cpu-small"].model_overrides() == {"width": 0.125, "batch_norm": True}
    assert PROFILES["gpu-full"].model_overrides() == {}  # the papers' networks as they are


@pytest.mark.slow
def test_real_presets_smoke(tmp_path):
    wanted = ["single_frame", "two_stream"]
    if not set(wanted) <= set(REGISTRY.names("preset")):
        pytest.skip("the first-party presets are not installed")
    argv = ["--presets", ",".join(wanted), "--results", str(tmp_path), "--no-cards",
            "--batch-size", "2", *TINY, "--jobs", "2"]  # two worker processes
    assert cli.main(argv) == 0
    rows = {r.preset: r for r in ResultStore(tmp_path / STORE_NAME).rows()}
    assert all(r.ok for r in rows.values()), [r.reason for r in rows.values()]
    assert {"two_stream:rgb", "two_stream:flow"} <= set(rows)
    assert rows["single_frame"].width == PROFILES["cpu-small"].width
    assert rows["single_frame"].env["threads"] == 1  # each job in a one-thread process


def test_the_paper_scale_cost_is_measured_once_and_tabulated(toy_presets, tmp_path, capsys):
    argv = ["--presets", "acme_single", "--results", str(tmp_path), "--no-cards",
            *[a for a in TINY if a != "--no-cost"]]
    assert cli.main(argv) == 0
    assert "acme_single at its paper's scale: " in capsys.readouterr().out
    board = (tmp_path / "leaderboard.md").read_text()
    assert "## Cost at the paper's scale" in board and "| `acme_single` | rgb 4x16² |" in board
    assert cli.main([*argv, "--force"]) == 0  # the preset again; its cost is stored
    assert "at its paper's scale" not in capsys.readouterr().out


def test_scale_overrides_reach_only_the_components_that_take_them():
    from zoo.bench.jobs import Job
    from zoo.bench.run import build_scaled, describe_scale

    if not {"c3d", "r3d_18"} <= set(REGISTRY.names("preset")):
        pytest.skip("the first-party presets are not installed")
    profile = dataclasses.replace(PROFILES["cpu-small"], frames=4)
    _, scale = build_scaled(Job("c3d"), 5, profile)
    assert scale == {"width": 0.125, "batch_norm": True}
    assert describe_scale(scale, "rgb 4x32²") == "width 1/8, batch norm added, rgb 4x32²"
    _, scale = build_scaled(Job("r3d_18"), 5, profile)  # has batch norm: takes width only
    assert scale == {"width": 0.125}
    _, scale = build_scaled(Job("c3d"), 5, dataclasses.replace(profile, batch_norm=False))
    assert scale == {"width": 0.125}


def test_a_presets_own_learning_rate_time_limit_and_size_reach_its_row_and_it_starts_first(
        toy_presets, tmp_path):
    store = run(tmp_path, "--presets", "acme_single,acme_two_stream",
                "--lr-by-preset", "acme_two_stream=0.01",
                "--seconds-by-preset", "acme_two_stream=300",
                "--size-by-preset", "acme_two_stream=24",
                "--overrides-by-preset", "acme_two_stream:hidden_size=9")
    rows = [r for r in store.rows() if r.kind == "preset"]
    assert [r.preset for r in rows] == ["acme_two_stream", "acme_single"]  # longest limit first
    own, default = rows
    assert own.lr == 0.01 and "hidden_size=9, lr 0.01, 300 s limit" in own.scale
    assert "acme_two_stream built with hidden_size=9" in own.budget
    assert {s["size"] for s in own.input.values()} == {24} and "x24²" in own.scale
    assert default.lr == PROFILES["cpu-small"].lr and "limit" not in default.scale
    assert "hidden_size" not in default.scale
    assert {s["size"] for s in default.input.values()} == {32}
    assert "2 steps or 30 s (acme_two_stream 300 s)" in own.budget
    assert "32x32, acme_two_stream at 24x24" in own.budget
    with pytest.raises(ValueError, match="seconds_by_preset: 'mvit_b' is not NAME=SECONDS"):
        dataclasses.replace(PROFILES["cpu-small"], seconds_by_preset="mvit_b").own_seconds()
    with pytest.raises(ValueError, match="'cnn_lstm=1024' is not NAME:KEY=VALUE"):
        dataclasses.replace(PROFILES["cpu-small"], overrides_by_preset="cnn_lstm=1024").own_overrides()


def test_a_presets_own_build_override_reaches_its_model(toy_presets):
    from zoo.bench.jobs import Job
    from zoo.bench.run import build_scaled

    profile = dataclasses.replace(PROFILES["cpu-small"], overrides_by_preset="acme_two_stream:hidden_size=9")
    model, scale = build_scaled(Job("acme_two_stream"), 3, profile)
    assert scale["hidden_size"] == 9 and model.streams["flow"].temporal_head.rnn.hidden_size == 9


def test_the_same_network_is_trained_once(toy_presets, tmp_path):
    store = run(tmp_path, "--presets", "acme_single,acme_single_large")
    rows = {r.preset: r for r in store.rows()}
    first, twin = rows["acme_single"], rows["acme_single_large"]
    assert first.ok and twin.ok and not first.same_as and twin.same_as == "acme_single"
    assert (twin.top1, twin.steps, twin.params) == (first.top1, first.steps, first.params)
    assert twin.source == "broken-zoo" and twin.paper != first.paper  # its own metadata
    assert "the same network as `acme_single`" in twin.note


@pytest.mark.parametrize("top1_ci, arrow, order_change, expected", [
    ((0.05, 0.10), None, None, "learned nothing in this budget: its top-1 interval reaches "
                               "chance (0.083) after 166 steps"),
    ((0.40, 0.47), 0.02, None, "reads no arrow of time here: 2% of the 400 motion clips"),
    ((0.40, 0.47), 0.07, 0.0, "blind to frame order by design: permuting the frames of 64 test "
                              "clips changes no logit (by under 0.0001 of the largest); arrow "
                              "of time 7%"),
    ((0.40, 0.47), 0.02, 0.03, "reads no arrow of time here"),  # order read, arrow not learned
    ((0.40, 0.47), 0.90, None, ""),
    ((0.10, 0.14), 0.02, None, ""),  # above chance, not yet twice it: neither said
])
def test_a_rows_note_says_what_its_figures_show(top1_ci, arrow, order_change, expected):
    row = BenchRow("m", "d", "x", status="ok", top1=sum(top1_ci) / 2, top1_ci=top1_ci,
                   chance=1 / 12, steps=166, arrow=arrow, arrow_clips=400,
                   order_change=order_change, order_clips=64)
    assert row.note.startswith(expected) and bool(row.note) == bool(expected)


def test_a_rows_note_counts_the_unreadable_clips_it_skipped():
    row = BenchRow("m", "d", "x", status="ok", top1=0.9, top1_ci=(0.85, 0.95), chance=0.5,
                   skipped_loads=2)
    assert row.note == "2 unreadable clips skipped (the run's log names them)"
    row.top1_ci = (0.4, 0.6)
    assert row.note.startswith("learned nothing in this budget") and row.note.endswith(
        "; 2 unreadable clips skipped (the run's log names them)")
