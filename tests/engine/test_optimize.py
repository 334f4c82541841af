"""zoo.optimize: bf16 candidates only where bf16 is native, a faster candidate that disagrees with
eager fp32 is rejected, compile only for long runs, the choice is cached, the CLI's
--no-optimize; and the training step's fast path follows the plain loss."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from timm.optim import param_groups_weight_decay

import zoo
from zoo import inference
from zoo.cli import main
from zoo.engine.config import TrainConfig
from zoo.engine.step import TrainStep
from zoo.engine.train import build_optimizer
from zoo.inference import EAGER, FastPath

CHANNELS_LAST = FastPath(bf16=False, channels_last=True)


def tiny(name="r3d_18"):
    torch.manual_seed(0)
    return zoo.build(name, num_classes=4, frames=4, size=32, width=0.125)


def run(model, **options):
    """zoo.optimize measuring briefly, without the cache unless asked."""
    options = {"seconds": 0.05, "agreement_clips": 8, "verbose": False, "cache": False, **options}
    return zoo.optimize(model, **options)


@pytest.fixture
def bf16(monkeypatch):
    """Fake the processor's bf16 features: ``bf16(True)`` as on an AMX Xeon, ``bf16(False)``."""
    def fake(native: bool) -> None:
        monkeypatch.setattr(inference, "cpu_bf16_features", lambda: ("amx_bf16",) if native else ())
    return fake


@pytest.mark.parametrize("native", [True, False])
def test_bf16_candidates_only_where_bf16_is_native(bf16, native):
    bf16(native)
    machine = inference.detect_machine("cpu")
    assert machine.native_bf16 is native
    measured = [m.path for m in run(tiny()).choice.measured]
    assert measured[:2] == [EAGER, CHANNELS_LAST]
    assert any(p.bf16 for p in measured) is native
    compiled = inference.candidate_paths(machine, compile=True)
    assert [p for p in compiled if p.compile] == [FastPath(bf16=b, channels_last=True, compile=True)
                                                   for b in ([False, True] if native else [False])]


def test_the_fastest_candidate_is_rejected_when_its_top1_disagrees(bf16, monkeypatch):
    bf16(False)
    real = inference.optimize_for_inference

    def fake(model, path):
        runner = real(model, path)
        if path != CHANNELS_LAST:
            return runner
        wrong = lambda x: -runner(x)  # noqa: E731 - the ranking turned upside down
        wrong.fast = True
        return wrong

    monkeypatch.setattr(inference, "optimize_for_inference", fake)
    monkeypatch.setattr(inference, "clips_per_second",
                        lambda fn, *a, **k: 1000.0 if getattr(fn, "fast", False) else 1.0)
    choice = run(tiny()).choice
    rejected = next(m for m in choice.measured if m.path == CHANNELS_LAST)
    assert rejected.clips_per_s == 1000.0 and rejected.agreement == 0.0 and not rejected.accepted
    assert choice.path == EAGER and choice.speedup == pytest.approx(1.0)
    assert choice.clips_per_s == 1.0  # the chosen path's rate, not the fastest candidate's
    assert "channels_last_3d 1e+03 (rejected: agreement 0%)" in choice.summary("tiny")


def test_the_choice_runs_a_copy_that_agrees_with_the_model(bf16):
    bf16(False)
    model = tiny().eval()
    fast = run(model)
    x = {"rgb": torch.randn(3, 3, 4, 32, 32)}
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-4)
    assert fast.spec == model.spec and fast.config == model.config
    assert all(p.is_contiguous() for p in model.parameters())  # the caller's model is untouched
    fast.train()
    assert not fast.model.training  # inference only


def test_the_choice_is_cached_per_model_inputs_and_machine(bf16, monkeypatch, tmp_path, capsys):
    bf16(False)
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    first = zoo.optimize(tiny(), seconds=0.05, agreement_clips=8).choice
    assert not first.cached and "zoo.optimize: r3d_18 [rgb 1x3x4x32x32]" in capsys.readouterr().err

    def fail(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(inference, "measure", fail)
    second = zoo.optimize(tiny(), seconds=0.05).choice
    assert second.cached and second.path == first.path and second.measured == first.measured
    assert "(cached)" in capsys.readouterr().err
    entries = json.loads((tmp_path / "optimize.json").read_text())
    assert [e["model"] for e in entries.values()] == ["r3d_18 [rgb 1x3x4x32x32]"]
    with pytest.raises(AssertionError, match="measured again"):  # another shape, another key
        zoo.optimize(tiny(), {"rgb": torch.randn(2, 3, 4, 32, 32)}, verbose=False)
    bf16(True)
    with pytest.raises(AssertionError, match="measured again"):  # another machine, another key
        zoo.optimize(tiny(), verbose=False)


@pytest.mark.parametrize("calls, compiled", [(1, False), (10 ** 9, True)])
def test_auto_compiles_only_when_the_calls_would_take_long(bf16, monkeypatch, calls, compiled):
    bf16(False)
    considered = []

    def fake(model, example, paths, seconds, clips, machine):
        considered.append(list(paths))
        measured = tuple(inference.Measured(p, 10.0, 1.0, 0.0) for p in paths)
        return inference.Choice(EAGER, measured, machine, 8), copy.deepcopy(model), None

    monkeypatch.setattr(inference, "measure", fake)
    run(tiny(), calls=calls)
    assert any(p.compile for p in considered[-1]) is compiled
    assert not any(p.compile for p in considered[0])


def test_cli_no_optimize_runs_the_model_as_it_is(tmp_path, monkeypatch, capsys):
    from engine_toys import model_yaml, video_folder

    video_folder(tmp_path, good=1)
    calls = []
    real = inference.optimize
    monkeypatch.setattr(inference, "optimize", lambda *a, **k: calls.append(k) or real(*a, **k))
    argv = ["predict", str(tmp_path), "--model", model_yaml(tmp_path), "--topk", "1"]
    assert main(argv + ["--no-optimize"]) == 0 and calls == []
    assert "zoo.optimize" not in capsys.readouterr().err
    assert main(argv) == 0 and calls == [{"calls": 1}]
    assert "zoo.optimize: engine_test_model [input 1x3x4x32x32]" in capsys.readouterr().err


def test_fast_training_step_follows_the_plain_loss():
    """channels_last_3d weights and batches with the fused AdamW give the loss of plain eager
    fp32 with torch's default AdamW (weights decayed, biases and norms not), step by step, from
    the same seed."""
    plain_model = tiny()
    fast_model = inference.channels_last_model(copy.deepcopy(plain_model))
    plain_opt = torch.optim.AdamW(param_groups_weight_decay(plain_model, 0.05), lr=1e-2)
    fast_opt = build_optimizer(fast_model, TrainConfig(optimizer="adamw", weight_decay=0.05),
                               lr=1e-2)
    assert fast_opt.defaults["fused"]
    plain = TrainStep(plain_model.train(), plain_opt, "cpu")
    fast = TrainStep(fast_model.train(), fast_opt, "cpu", bf16=False, channels_last=True)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = {"rgb": torch.randn(4, 3, 4, 32, 32, generator=generator)}
        y = torch.randint(0, 4, (4,), generator=generator)
        assert fast(x, y).item() == pytest.approx(plain(x, y).item(), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("native", [True, False])
def test_training_step_takes_bf16_only_where_native(bf16, native):
    bf16(native)
    model = tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert TrainStep(model, optimizer, "cpu", bf16=None).bf16 is native
    assert TrainStep(model, optimizer, "cpu", bf16=False).bf16 is False
