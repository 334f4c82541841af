"""benchmarks/bench_train.py on a tiny input: both variants timed, the same loss curve."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

from zoo.engine import step
from zoo.registry import REGISTRY

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    if "r3d_18" not in REGISTRY.names("preset"):
        pytest.skip("the first-party presets are not installed")
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_rows_ratios_and_the_same_loss_curve(bench, monkeypatch):
    # zoo's step in float32 even where bf16 is native, whose rounding moves the curve by ~0.1
    monkeypatch.setattr(step, "native_bf16", lambda device: False)
    args = argparse.Namespace(frames=4, size=32, width=0.125, batch=4, min_seconds=0.0, rounds=1,
                              loss_steps=3, compile=False)
    rows, diff = bench.run_preset("r3d_18", args)
    assert [r["variant"] for r in rows][0] == bench.PLAIN and rows[0]["ratio"] == 1.0
    assert len(rows) == 2 and all(r["clips_s"] > 0 for r in rows)
    assert diff < 1e-3
