"""benchmarks/bench_peers.py on a small input: every variant is timed against the peer, and the
harness-overhead ratio is recorded."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from zoo.registry import REGISTRY

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_peers.py"


@pytest.fixture(scope="module")
def peers():
    if "x3d_xs" not in REGISTRY.names("preset"):
        pytest.skip("the first-party presets are not installed")
    pytest.importorskip("pytorchvideo")
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_pair_rows_ratios_and_harness_overhead(peers):
    pair = peers.Pair("x3d_xs", "pytorchvideo x3d_xs", peers._pytorchvideo_x3d_xs, 4, 160)
    overhead = {}
    rows = peers.run_pair(pair, [1, 2], compile_=False, min_seconds=0.0, rounds=2, bf16=False,
                          overhead=overhead)
    assert [(r["batch"], r["variant"].split(" (")[0]) for r in rows][:3] == [
        (1, "pytorchvideo x3d_xs"), (1, "zoo default"), (1, "zoo fast: channels_last_3d")]
    assert len(rows) == 6 and all(r["clips_s"] > 0 for r in rows)
    assert [r["ratio"] for r in rows if r["variant"].startswith("pytorchvideo")] == [1.0, 1.0]
    assert set(overhead) == {("x3d_xs", 1), ("x3d_xs", 2)} and all(v > 0 for v in overhead.values())


def test_interleaved_rates_take_turns_and_report_medians(peers):
    order, values = [], {"a": iter([3.0, 1.0, 2.0]), "b": iter([10.0, 30.0, 20.0])}

    def timer(label):
        order.append(label)
        return next(values[label])

    rates = peers.interleaved_rates({"a": lambda: timer("a"), "b": lambda: timer("b")}, rounds=3)
    assert order == ["a", "b"] * 3
    assert rates == {"a": 2.0, "b": 20.0}


def test_timm_lstm_peer_takes_zoos_sizes(peers):
    import zoo
    model = zoo.build("cnn_lstm_r18", num_classes=400, frames=2, size=32)
    peer = peers._timm_lstm(model)
    assert sum(p.numel() for p in peer.parameters()) == sum(p.numel() for p in model.parameters())
