"""The harness's additions on toy components with a tiny budget: temporal reliance, latency,
training throughput, data wait, peak memory and environment per row; combinations, shards and
merging; the HTML page and the Pareto plot; the gpu-full profile."""
from __future__ import annotations

import json

import pytest
import torch

from toys import install
from zoo.bench import harness, leaderboard
from zoo.bench.measure import (PeakMemory, latency, recompute_bn_stats, shuffle_frames,
                               train_for_budget)
from zoo.bench.store import ResultStore

TINY = ["--steps", "2", "--train-clips-per-class", "1", "--test-clips-per-class", "1",
        "--latency-runs", "2", "--quiet", "--no-cards"]


@pytest.fixture
def toys(fake_dist):
    install(fake_dist)


def bench(results, *extra):
    assert harness.main(["--results", str(results), *TINY, *extra]) == 0
    return {r["preset"]: r for r in ResultStore(results / harness.STORE_NAME).rows()}


def test_row_has_the_new_measurements(toys, tmp_path):
    row = bench(tmp_path, "--presets", "acme_two_stream")["acme_two_stream"]
    assert row["status"] == "ok", row.get("reason")
    assert row["kind"] == "preset"
    assert row["temporal_reliance"] == pytest.approx(row["top1"] - row["shuffled_top1"], abs=1e-3)
    assert 0 <= row["shuffled_top1"] <= 1
    assert row["reliance_clips"] == 12  # 1 test clip per class here: the whole split
    assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"]
    assert row["clips_per_s_b1"] > 0 and row["clips_per_s"] > 0
    assert row["train_clips_per_s"] > 0 and 0 <= row["data_wait_frac"] < 1
    assert row["peak_mem_mb"] >= 0
    assert row["env"] == {"processor": row["env"]["processor"], "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "dtype": "fp32", "device": "cpu"}
    text = (tmp_path / "leaderboard.md").read_text()
    for header in ("Δ shuffled", "p95 ms", "train clips/s", "data wait", "peak MiB"):
        assert header in text
    assert "Environment: " in text and "fp32, cpu" in text
    csv_head = (tmp_path / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert "top1_shuffled" not in csv_head and "| shuffled |" not in text  # not a class group
    assert {"temporal_reliance", "latency_p50_ms", "data_wait_frac", "peak_mem_mb",
            "torch", "device"} <= set(csv_head)


def test_shuffle_frames_uses_one_permutation_per_clip_for_all_streams():
    t = torch.arange(6.0).view(1, 1, 6, 1, 1).repeat(2, 3, 1, 2, 2)
    out = shuffle_frames({"rgb": t, "flow": t[:, :2].clone()}, seeds=[1, 2])
    order = out["rgb"][:, 0, :, 0, 0]
    assert sorted(order[0].tolist()) == list(range(6)) and not torch.equal(order[0], order[1])
    assert torch.equal(out["flow"][:, 0, :, 0, 0], order)  # same permutation, every stream
    assert torch.equal(out["rgb"], shuffle_frames({"rgb": t}, seeds=[1, 2])["rgb"])  # seeded
    labels = type("D", (), {"__len__": lambda self: 9, "label": lambda self, i: i % 3})()
    assert harness._per_class_subset(labels, 2) == [0, 1, 2, 3, 4, 5]
    assert harness._per_class_subset(labels, 0) == list(range(9))


def test_data_wait_latency_and_peak_memory():
    class Slow(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            import time
            time.sleep(0.1)
            return {"inputs": {"rgb": torch.randn(3, 2, 4, 4)}, "label": i % 2, "video": str(i)}

    from zoo.data import collate
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(96, 2))
    wrapped = type("M", (torch.nn.Module,), {"forward": lambda self, x: model(x["rgb"])})()
    wrapped.add_module("m", model)
    loader = torch.utils.data.DataLoader(Slow(), batch_size=2, collate_fn=collate)
    stats = {}
    assert train_for_budget(wrapped, loader, 3, 0, 1e-3, 0.0, progress=False, stats=stats)[0] == 3
    assert stats["clips"] == 6 and 0.3 < stats["data_wait_s"] / stats["seconds"] <= 1
    lat = latency(wrapped, {"rgb": torch.randn(1, 3, 2, 4, 4)}, runs=3)
    assert 0 < lat["latency_p50_ms"] <= lat["latency_p95_ms"] and lat["clips_per_s_b1"] > 0
    with PeakMemory() as memory:
        block = torch.ones(64, 2**20 // 4)  # 64 MiB, touched
        block += 1
    assert memory.mb >= 32
    del block


def test_combinations_filters_cap_and_incompatible_skipped(toys, tmp_path, capsys):
    jobs = harness.combination_jobs("backbone=acme_*;head=acme_pool,acme_rnn;fusion=acme_mean")
    names = [j.name for j in jobs]
    assert "combo:acme_frame+acme_pool" in names and "combo:acme_clip+acme_rnn" in names
    assert "combo:acme_frame+acme_rnn+acme_mean" in names
    assert len(names) == len(set(names)) == 4 + 4
    assert [j.name for j in harness.combination_jobs("streams=1;backbone=acme_clip;"
                                                     "head=acme_*", 1)] == ["combo:acme_clip+acme_pool"]
    with pytest.raises(ValueError, match="bad --combos"):
        harness.parse_combo_filter("colour=red")
    rows = bench(tmp_path, "--presets", "", "--max-combos", "10",
                 "--combos", "backbone=acme_clip;head=acme_pool,acme_rnn;streams=1")
    # acme_rnn consumes frame features: acme_clip + acme_rnn is incompatible and leaves no row
    assert set(rows) == {"combo:acme_clip+acme_pool"}
    assert rows["combo:acme_clip+acme_pool"]["status"] == "ok"
    assert rows["combo:acme_clip+acme_pool"]["kind"] == "combo"
    assert "combo:acme_clip+acme_rnn: incompatible, skipped" in capsys.readouterr().out
    assert harness.main(["--presets", "acme_*", "--list"]) == 0  # default: no combinations
    assert "combo:" not in capsys.readouterr().out


def test_shards_partition_the_jobs_and_merge_without_duplicates(toys, tmp_path, capsys):
    jobs = [harness.Job(n) for n in "abcdefg"]
    parts = [harness.shard(jobs, i, 3) for i in range(3)]
    assert sorted(j.name for p in parts for j in p) == list("abcdefg")
    assert harness.shard(list(reversed(jobs)), 1, 3) == parts[1]  # deterministic
    with pytest.raises(ValueError):
        harness.parse_shard("3/3")
    listed = []
    for i in range(2):
        assert harness.main(["--presets", "acme_single,acme_two_stream", "--shard", f"{i}/2",
                             "--list"]) == 0
        listed.append(capsys.readouterr().out.split())
    assert sorted(listed[0] + listed[1]) == ["acme_single", "acme_two_stream"]
    assert len(listed[0]) == len(listed[1]) == 1
    # two shards' stores (rows as the harness writes them) merge into one table
    row = {"dataset": harness.DATASET, "profile": "cpu-small", "status": "ok", "top1": 0.5,
           "clips_per_s": 10.0, "params": 1000, "gflops": 0.01, "steps": 2,
           "input": {"rgb": {"modality": "rgb", "frames": 8, "size": 32, "channels": 3}}}
    for i, names in enumerate(listed):
        store = ResultStore(tmp_path / f"s{i}" / harness.STORE_NAME)
        for name in names:
            store.put({**row, "preset": name})
    out = tmp_path / "merged"
    stores = [tmp_path / s / harness.STORE_NAME for s in ("s0", "s1", "s0")]
    assert leaderboard.main(["--merge", *map(str, stores), "--results", str(out)]) == 0
    lines = (out / harness.STORE_NAME).read_text().splitlines()
    assert sorted(json.loads(x)["preset"] for x in lines) == ["acme_single", "acme_two_stream"]
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "pareto.png"):
        assert (out / name).is_file()
    failed = {**row, "preset": listed[0][0], "status": "failed", "reason": "x"}
    (tmp_path / "f.jsonl").write_text(json.dumps(failed) + "\n")
    merged = leaderboard.merge_rows([stores[0], tmp_path / "f.jsonl"])
    assert [r["status"] for r in merged] == ["ok"]  # a finished row beats a failure


def test_html_page_and_pareto_plot(tmp_path):
    def row(name, top1, speed):
        return {"preset": name, "status": "ok", "top1": top1, "clips_per_s": speed, "params": 1e6,
                "gflops": 0.1, "input": {"rgb": {"frames": 8, "size": 32, "channels": 3}},
                "steps": 2, "profile": "p", "dataset": "moving_shapes"}
    rows = [row("fast", 0.2, 100.0), row("good", 0.9, 10.0), row("bad", 0.1, 5.0),
            {"preset": "<b>", "status": "failed", "reason": "boom & co", "profile": "p"}]
    assert [r["preset"] for r in leaderboard.pareto_front(rows)] == ["good", "fast"]
    page = leaderboard.html_page(rows)
    assert page.startswith("<!DOCTYPE html>") and "<script>" in page and "sortable" in page
    assert "http" not in page and "src=" not in page  # self-contained
    assert page.count('<tr class="front">') == 2 and "&lt;b&gt;" in page and "boom &amp; co" in page
    assert leaderboard.pareto_plot(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert not leaderboard.pareto_plot(rows[3:], tmp_path / "none.png")


def test_gpu_full_profile_is_selectable():
    args = harness.parser().parse_args(["--profile", "gpu-full"])
    profile = harness.profile_from_args(args)
    assert profile.key == "gpu-full" and profile.device == "cuda" and profile.bf16
    assert (profile.frames, profile.size) == (16, 112) and profile.steps > 60
    assert not harness.PROFILES["cpu-small"].bf16  # bf16 off by default on the CPU
    assert harness.profile_from_args(harness.parser().parse_args(
        ["--device", "cpu"])).key == "cpu-small"


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
    from zoo.data import collate
    loader = torch.utils.data.DataLoader(items, batch_size=4, collate_fn=collate)
    net = Net()
    assert recompute_bn_stats(net, loader, batches=2) == 1
    assert not net.training  # left ready for testing
    flat = clips.transpose(0, 1).reshape(2, -1)
    assert torch.allclose(net.bn.running_mean, flat.mean(1), atol=1e-5)
    # the population variance, from per-batch variances (1% off the pooled one here)
    assert torch.allclose(net.bn.running_var, flat.var(1), rtol=0.02)
    assert not torch.allclose(net.bn.running_var, torch.ones(2), rtol=0.5)
    assert net.bn.momentum == 0.01  # restored
    assert recompute_bn_stats(net, loader, batches=0) == 0
