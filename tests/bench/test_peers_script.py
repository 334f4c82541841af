"""benchmarks/bench_peers.py on a small input: every variant is timed against the peer, and the
harness-overhead ratio is recorded."""
from __future__ import annotations

import pytest

from benchmark_scripts import loaded
from zoo.registry import REGISTRY


@pytest.fixture(scope="module")
def peers():
    if "x3d_xs" not in REGISTRY.names("preset"):
        pytest.skip("the first-party presets are not installed")
    pytest.importorskip("pytorchvideo")
    with loaded("bench_peers") as module:
        yield module


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


def test_runtime_models_export_once_and_run_under_both_runtimes(peers, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    import torch
    import zoo

    model = zoo.build("r3d_18", num_classes=4, frames=4, size=32, width=0.125).eval()
    models = peers.runtime_models(model, tmp_path, int8=True)
    # OpenVINO runs a float model in the precision it picks: bf16 where the processor has it
    float_labels = [label for label in models if "int8" not in label]
    assert float_labels[0] == "onnxruntime fp32" and float_labels[1].startswith("openvino ")
    assert float_labels[1].split()[1] in ("fp32", "bf16", "f16")
    assert list(models)[2:] == ["onnxruntime int8", "openvino int8"]
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["fp32.onnx", "int8.onnx"]
    x = peers.model_inputs(model, 2)
    with torch.no_grad():
        expected = model(x)
    for label, exported in models.items():
        logits = exported(x)
        assert logits.shape == expected.shape
        if "fp32" in label:
            torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)
        elif "int8" not in label:  # half precision: within its rounding
            torch.testing.assert_close(logits, expected, rtol=5e-2, atol=5e-2)


def test_fastest_skips_the_peer_and_refused_int8(peers):
    def row(variant, clips_s, offered=True, peer=False, batch=1):
        return {"model": "m", "batch": batch, "variant": variant, "clips_s": clips_s, "ratio": clips_s,
                "share": clips_s / 10, "offered": offered, "peer": peer}

    rows = [row("peer (eager fp32)", 9.0, peer=True), row(peers.DEFAULT_LABEL, 1.0),
            row("openvino fp32", 2.0), row("openvino int8", 5.0, offered=False),
            row("onnxruntime int8", 3.0), row(peers.DEFAULT_LABEL, 1.0, batch=8)]
    (m, b, best, best_fp32), (_, b8, only, only_fp32) = peers.fastest(rows)
    assert (m, b, best["variant"], best_fp32["variant"]) == ("m", 1, "onnxruntime int8", "openvino fp32")
    assert b8 == 8 and only is only_fp32 and only["variant"] == peers.DEFAULT_LABEL
