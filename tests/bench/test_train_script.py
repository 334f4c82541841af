"""benchmarks/bench_train.py on a tiny input: both variants timed, the same loss curve."""
from __future__ import annotations

import argparse

import pytest

from benchmark_scripts import loaded
from zoo.engine import step, train
from zoo.registry import REGISTRY


@pytest.fixture(scope="module")
def bench():
    if "r3d_18" not in REGISTRY.names("preset"):
        pytest.skip("the first-party presets are not installed")
    with loaded("bench_train") as module:
        yield module


def test_rows_ratios_and_the_same_loss_curve(bench, monkeypatch):
    # zoo's step in float32 even where bf16 is native, whose rounding moves the curve by ~0.1
    for module in (step, train):
        monkeypatch.setattr(module, "native_bf16", lambda device: False)
    args = argparse.Namespace(frames=4, size=32, width=0.125, batch=4, min_seconds=0.0, rounds=1,
                              loss_steps=3, compile=False)
    rows, diff = bench.run_preset("r3d_18", args)
    assert [r["variant"] for r in rows][0] == bench.PLAIN and rows[0]["ratio"] == 1.0
    assert len(rows) == 2 and all(r["clips_s"] > 0 for r in rows)
    assert [r["precision"] for r in rows] == ["fp32", "fp32"]
    assert diff < 1e-3
