"""What the harness measures, on toy components: intervals, the arrow of time, shuffled
frames, the training step's per-stream losses, data wait, latency, peak memory, precise BN;
combinations, shards and merging; the HTML page, the Pareto plot and the paper-scale cost."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from toys import install
from zoo.bench import cli, cost, jobs, leaderboard, run
from zoo.bench.measure import (Budget, PeakMemory, _Schedule, arrow_of_time, latency,
                               recompute_bn_stats, score, shuffle_frames, train_for_budget,
                               wilson_interval)
from zoo.bench.rows import BenchRow
from zoo.bench.run import STORE_NAME, per_class_subset
from zoo.bench.store import ResultStore
from zoo.data import collate
from zoo.engine.step import TrainStep

TINY = ["--jobs", "1", "--steps", "2", "--train-clips-per-class", "1", "--test-clips-per-class", "1",
        "--latency-runs", "2", "--quiet", "--no-cards", "--no-cost"]


@pytest.fixture
def toys(fake_dist):
    install(fake_dist)


def bench(results, *extra):
    assert cli.main(["--results", str(results), *TINY, *extra]) == 0
    return {r.preset: r for r in ResultStore(results / STORE_NAME).rows()}


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(45, 50)  # 0.9 of 50: the textbook interval
    assert lo == pytest.approx(0.7864, abs=1e-3) and hi == pytest.approx(0.9565, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_score_by_group_with_intervals():
    logits = torch.eye(4)[[0, 1, 2, 3, 0, 0]]
    labels = torch.tensor([0, 1, 2, 3, 1, 2])
    out = score(logits * 5, labels, {"a": [0, 1], "b": [2, 3]})
    assert out["top1"] == pytest.approx(4 / 6) and out["metric"] == "top1"
    assert out["groups"] == {"a": pytest.approx(2 / 3), "b": pytest.approx(2 / 3)}
    assert out["group_ci"]["a"] == wilson_interval(2, 3)
    multi = score(torch.randn(4, 3), torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]))
    assert multi["metric"] == "map" and 0 <= multi["map"] <= 1


def test_arrow_of_time_counts_flips_to_the_reversed_class():
    pairs = {0: 1, 1: 0, 2: 3, 3: 2}
    forward = torch.eye(5)[[0, 1, 2, 4]]  # clip 3 is predicted as a class with no reversal
    backward = torch.eye(5)[[1, 1, 3, 4]]  # clip 1 keeps its prediction
    out = arrow_of_time(forward, backward, pairs)
    assert out["arrow"] == pytest.approx(2 / 4)
    assert out["unchanged_reversed"] == pytest.approx(2 / 4)


def test_shuffle_frames_uses_one_permutation_per_clip_for_all_streams():
    t = torch.arange(6.0).view(1, 1, 6, 1, 1).repeat(2, 3, 1, 2, 2)
    out = shuffle_frames({"rgb": t, "flow": t[:, :2].clone()}, seeds=[1, 2])
    order = out["rgb"][:, 0, :, 0, 0]
    assert sorted(order[0].tolist()) == list(range(6)) and not torch.equal(order[0], order[1])
    assert torch.equal(out["flow"][:, 0, :, 0, 0], order)  # same permutation, every stream
    labels = type("D", (), {"__len__": lambda self: 9, "label": lambda self, i: i % 3})()
    assert per_class_subset(labels, 2) == [0, 1, 2, 3, 4, 5]
    assert per_class_subset(labels, 0) == list(range(9))


def _factors(budget, hits=lambda step: 0, seconds_per_step=0.0):
    """The learning-rate factors of a whole run of `budget`; every batch has 10 clips, one of
    each class, and `hits(step)` of them (the first ones) are right."""
    schedule, factors = _Schedule(budget), []
    while (factor := schedule.factor(len(factors))) is not None:
        factors.append(factor)
        right = torch.arange(10) < hits(len(factors))
        schedule.observe(len(factors), len(factors) * seconds_per_step, torch.arange(10), right)
    return factors, schedule


def test_schedule_warms_up_holds_then_cools_down_within_the_steps():
    factors, schedule = _factors(Budget(steps=120, warmup_steps=10, cooldown=0.2))
    assert len(factors) == 120 and schedule.stopped == "steps"
    assert factors[0] == pytest.approx(0.1) and factors[9:100] == [1.0] * 91
    assert factors[100] == 1.0 and factors[-1] == pytest.approx(0.05)  # linear to 0
    assert all(a > b for a, b in zip(factors[100:], factors[101:]))


def test_schedule_cools_down_once_the_training_set_is_fitted():
    # right on every clip from step 30: the window of 5 batches is full of hits at step 34
    budget = Budget(steps=500, warmup_steps=10, fit_accuracy=0.95, fit_window=5, cooldown=0.5)
    factors, schedule = _factors(budget, hits=lambda step: 10 if step >= 30 else 3)
    assert schedule.stopped == "fit" and schedule.decay_from == 34
    assert len(factors) == 34 + 17
    never, schedule = _factors(Budget(steps=50, fit_accuracy=0.8), hits=lambda step: 9)
    assert schedule.stopped == "steps" and len(never) == 50  # 90% right, one class never


def test_schedule_keeps_within_the_time():
    factors, schedule = _factors(Budget(steps=10_000, seconds=6.0, cooldown=0.2),
                                 seconds_per_step=0.01)
    assert schedule.stopped == "time" and len(factors) == 500 + 100  # 5 s, then 1 s cooling


def test_train_step_adds_each_streams_own_loss(fake_dist):
    install(fake_dist)
    import zoo
    torch.manual_seed(0)
    model = zoo.build("acme_two_stream", num_classes=3)
    inputs = {n: torch.randn(2, *s.shape) for n, s in model.spec.inputs.items()}
    labels = torch.tensor([0, 2])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    fused_only = TrainStep(model, optimizer, "cpu").loss(inputs, labels)
    with_streams = TrainStep(model, optimizer, "cpu", stream_weight=1.0).loss(inputs, labels)
    logits, streams = model.forward_with_streams(inputs)
    expected = sum(torch.nn.functional.cross_entropy(x, labels) for x in [logits, *streams.values()])
    assert set(streams) == {"rgb", "flow"}
    assert with_streams.item() == pytest.approx(expected.item(), rel=1e-5)
    assert with_streams.item() > fused_only.item()


class _Slow(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import time
        time.sleep(0.1)
        return {"inputs": {"rgb": torch.randn(3, 2, 4, 4)}, "label": i % 2, "video": str(i)}


def _wrapped():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(96, 2))
    wrapped = type("M", (torch.nn.Module,), {"forward": lambda self, x: model(x["rgb"])})()
    wrapped.add_module("m", model)
    return wrapped


def test_data_wait_latency_and_peak_memory():
    loader = torch.utils.data.DataLoader(_Slow(), batch_size=2, collate_fn=collate)
    wrapped = _wrapped()
    stats = {}
    assert train_for_budget(wrapped, loader, Budget(3), 1e-3, 0.0, progress=False,
                            stats=stats)[0] == 3
    assert stats["stopped"] == "steps" and stats["fit_step"] is None
    assert stats["clips"] == 6 and 0.3 < stats["data_wait_s"] / stats["seconds"] <= 1
    lat = latency(wrapped, {"rgb": torch.randn(1, 3, 2, 4, 4)}, runs=3)
    assert 0 < lat["latency_p50_ms"] <= lat["latency_p95_ms"] and lat["clips_per_s_b1"] > 0
    with PeakMemory() as memory:
        # 256 MiB, touched: more than the pages an earlier test may have freed but kept resident
        block = torch.ones(256, 2**20 // 4)
        block += 1
    assert memory.mb >= 128
    del block


def test_a_time_budget_ends_training_and_the_bar_counts_seconds(capsys):
    loader = torch.utils.data.DataLoader(_Slow(), batch_size=2, collate_fn=collate)
    steps, _ = train_for_budget(_wrapped(), loader, Budget(1000, 0.35), 1e-3, 0.0, progress=True)
    assert 1 <= steps < 10
    bar = capsys.readouterr().err
    assert "/0 s" in bar or " s [" in bar  # seconds of the budget, not "3/1000 steps"
    assert "/1000" not in bar


def test_combinations_filters_cap_and_incompatible_skipped(toys, tmp_path, capsys):
    names = [j.name for j in jobs.combination_jobs(
        "backbone=acme_*;head=acme_pool,acme_rnn;fusion=acme_mean")]
    assert "combo:acme_frame+acme_pool" in names and "combo:acme_clip+acme_rnn" in names
    assert "combo:acme_frame+acme_rnn+acme_mean" in names
    assert len(names) == len(set(names)) == 4 + 4
    assert [j.name for j in jobs.combination_jobs("streams=1;backbone=acme_clip;"
                                                  "head=acme_*", 1)] == ["combo:acme_clip+acme_pool"]
    with pytest.raises(ValueError, match="bad --combos"):
        jobs.parse_combo_filter("colour=red")
    rows = bench(tmp_path, "--presets", "", "--max-combos", "10",
                 "--combos", "backbone=acme_clip;head=acme_pool,acme_rnn;streams=1")
    # acme_rnn consumes frame features: acme_clip + acme_rnn is incompatible and leaves no row
    assert set(rows) == {"combo:acme_clip+acme_pool"}
    assert rows["combo:acme_clip+acme_pool"].ok and rows["combo:acme_clip+acme_pool"].kind == "combo"
    assert "combo:acme_clip+acme_rnn: incompatible, skipped" in capsys.readouterr().out
    assert cli.main(["--presets", "acme_*", "--list"]) == 0  # default: no combinations
    assert "combo:" not in capsys.readouterr().out


def test_shards_partition_the_jobs_and_merge_without_duplicates(toys, tmp_path, capsys):
    all_jobs = [jobs.Job(n) for n in "abcdefg"]
    parts = [jobs.shard(all_jobs, i, 3) for i in range(3)]
    assert sorted(j.name for p in parts for j in p) == list("abcdefg")
    assert jobs.shard(list(reversed(all_jobs)), 1, 3) == parts[1]  # deterministic
    with pytest.raises(ValueError):
        jobs.parse_shard("3/3")
    listed = []
    for i in range(2):
        assert cli.main(["--presets", "acme_single,acme_two_stream", "--shard", f"{i}/2",
                         "--list"]) == 0
        listed.append(capsys.readouterr().out.split())
    assert sorted(listed[0] + listed[1]) == ["acme_single", "acme_two_stream"]
    row = dict(dataset=jobs.DATASET, profile="cpu-small", status="ok", top1=0.5,
               top1_ci=(0.4, 0.6), clips_per_s=10.0, params=1000)
    for i, names in enumerate(listed):
        store = ResultStore(tmp_path / f"s{i}" / STORE_NAME)
        for name in names:
            store.put(BenchRow(preset=name, **row))
    out = tmp_path / "merged"
    stores = [tmp_path / s / STORE_NAME for s in ("s0", "s1", "s0")]
    assert leaderboard.main(["--merge", *map(str, stores), "--results", str(out)]) == 0
    lines = (out / STORE_NAME).read_text().splitlines()
    assert sorted(json.loads(x)["preset"] for x in lines) == ["acme_single", "acme_two_stream"]
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "pareto.png"):
        assert (out / name).is_file()
    failed = BenchRow(preset=listed[0][0], dataset=jobs.DATASET, profile="cpu-small",
                      reason="x")
    ResultStore(tmp_path / "f.jsonl").put(failed)
    merged = leaderboard.merge_rows([stores[0], tmp_path / "f.jsonl"])
    assert [r.status for r in merged] == ["ok"]  # a finished row beats a failure


def _row(name, top1, speed, ci):
    return BenchRow(name, "moving_shapes", "p", status="ok", top1=top1, top1_ci=ci,
                    clips_per_s=speed, params=10**6)


def test_ranks_ties_html_page_and_pareto_plot(tmp_path):
    rows = [_row("fast", 0.2, 100.0, (0.1, 0.3)), _row("good", 0.9, 10.0, (0.85, 0.95)),
            _row("close", 0.88, 5.0, (0.82, 0.93)), _row("bad", 0.1, 5.0, (0.05, 0.25)),
            BenchRow("<b>", "moving_shapes", "p", reason="boom & co")]
    ok, failed = leaderboard.ranked(rows)
    assert [(rank, tied, r.preset) for rank, tied, r in ok] == [
        (1, "1–2", "good"), (2, "1–2", "close"), (3, "3–4", "fast"), (4, "3–4", "bad")]
    assert [r.preset for r in failed] == ["<b>"]
    assert [r.preset for r in leaderboard.pareto_front(rows)] == ["good", "fast"]
    page = leaderboard.html_page(rows)
    assert page.startswith("<!DOCTYPE html>") and "<script>" in page and "sortable" in page
    assert "http" not in page and "src=" not in page  # self-contained
    assert page.count('<tr class="front">') == 2 and "&lt;b&gt;" in page and "boom &amp; co" in page
    assert leaderboard.pareto_plot(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert not leaderboard.pareto_plot(rows[4:], tmp_path / "none.png")


def test_multi_label_rows_rank_by_map():
    base = dict(dataset="charades", profile="cpu-small", status="ok", metric="map",
                clips_per_s=1.0, params=1, num_classes=157)
    rows = [BenchRow("a", map=0.2, **base), BenchRow("b", map=0.4, **base)]
    text = leaderboard.markdown(rows)
    assert "| # | tied | preset | mAP |" in text and "`charades`, 157 classes; mAP on its test" in text
    assert text.index("`b`") < text.index("`a`")


def test_paper_scale_cost_is_measured_once_per_config(toys, tmp_path):
    store = ResultStore(tmp_path / cost.COST_STORE, cost.CostRow)
    (row,) = cost.measure_costs(["acme_single"], store, progress=False)
    assert row.status == "ok" and row.params > 0 and row.gflops > 0
    assert row.clips_per_s_b1 > 0 and row.clips_per_s_b8 > 0
    assert row.input["rgb"]["size"] == 16  # the preset's own input, not the benchmark's
    assert cost.measure_costs(["acme_single"], store, progress=False) == []  # stored
    elsewhere = dataclasses.replace(row, processor="Another CPU (AVX2)")
    store.replace([elsewhere], drop=lambda r: True)
    assert cost.measure_costs(["acme_single"], store, progress=False) == []  # on another machine
    store.put(dataclasses.replace(elsewhere, config="an older config"))
    assert len(cost.measure_costs(["acme_single"], store, progress=False)) == 1
    assert len(cost.measure_costs(["acme_single"], store, force=True, progress=False)) == 1
    text = "\n".join(leaderboard.cost_table(["acme_single"], store.rows()))
    assert "## Cost at the paper's scale" in text and "| `acme_single` | rgb 4x16² |" in text


def test_the_cost_table_reads_the_benchmark_rows_machine():
    def measured(processor, params):
        return cost.CostRow("p", processor, "2.14", status="ok", params=params)

    here, other = "AMD EPYC (AVX512, avx512_bf16)", "AMD EPYC (AVX2)"
    rows = [BenchRow("p", "d", "x", env={"processor": here, "torch": "2.14"})]
    for stored in ([measured(here, 1), measured(other, 2)], [measured(other, 2), measured(here, 1)]):
        assert cost.costs_for(rows, stored)["p"].params == 1  # one row a preset, this machine's
    assert cost.costs_for(rows, [measured(other, 2)])["p"].params == 2  # else another's
    assert run.machine().startswith(run.processor() + " (")


def test_precise_bn_sets_the_exact_statistics_of_the_training_batches():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm3d(2, momentum=0.01)
            self.fc = torch.nn.Linear(2, 3)

        def forward(self, inputs):
            return self.fc(self.bn(inputs["rgb"]).mean((2, 3, 4)))

    torch.manual_seed(0)
    clips = 3 + 2 * torch.randn(8, 2, 2, 3, 3)
    items = [{"inputs": {"rgb": c}, "label": 0, "video": str(i)} for i, c in enumerate(clips)]
    loader = torch.utils.data.DataLoader(items, batch_size=4, collate_fn=collate)
    net = Net()
    assert recompute_bn_stats(net, loader, batches=2) == 1
    assert not net.training  # left ready for testing
    flat = clips.transpose(0, 1).reshape(2, -1)
    assert torch.allclose(net.bn.running_mean, flat.mean(1), atol=1e-5)
    # the population variance, from per-batch variances (1% off the pooled one here)
    assert torch.allclose(net.bn.running_var, flat.var(1), rtol=0.02)
    assert net.bn.momentum == 0.01  # restored
    assert recompute_bn_stats(net, loader, batches=0) == 0
