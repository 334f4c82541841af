"""fit/evaluate on a tiny model: learning, logs, resume after a real kill, freezing, stages."""
import csv
import math
import signal
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from tiny_run import SCRIPT, TinyTwoStream, TinyVideos, collate, run
from zoo.engine import TrainConfig, evaluate, fit, load_checkpoint
from zoo.engine import train as train_module
from zoo.engine.checkpoint import CheckpointError
from zoo.engine.step import TrainStep
from zoo.engine.train import PrecisionChoice, build_optimizer, lr_factor
from zoo.errors import ConfigError, ZooError


def assert_same_weights(a, b, atol=0.0):
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=name)


def test_fit_learns_and_writes_log_and_checkpoints(tmp_path):
    history, model = run(tmp_path, epochs=5)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["val_top1"] >= 0.8  # the classes are separable
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [float(r["val_top1"]) for r in rows] == [r["val_top1"] for r in history]
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 5 and last["classes"] == ["a", "b", "c", "d"]
    assert last["config"] == model.config and last["optimizer"] is not None
    assert (tmp_path / "best.pt").is_file()
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    """Dropout, momentum and the warm-up/cosine schedule make every saved state matter."""
    epochs, size = 4, 32
    killed = subprocess.Popen(
        [sys.executable, SCRIPT, "--out", str(tmp_path / "killed"), "--epochs", str(epochs),
         "--dropout", "0.3", "--kill-at-sample", str(2 * size + size // 2)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    straight, straight_model = run(tmp_path / "straight", epochs, dropout=0.3)  # meanwhile
    _, stderr = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, stderr
    checkpoint = tmp_path / "killed" / "last.pt"
    assert load_checkpoint(checkpoint)["epoch"] == 2  # killed in the middle of epoch 3

    resumed, resumed_model = run(tmp_path / "killed", epochs, resume=str(checkpoint), dropout=0.3)
    assert len(resumed) == epochs
    for a, b in zip(resumed, straight):
        for key in ("train_loss", "val_loss", "val_top1", "lr"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), (a, b)
    assert_same_weights(resumed_model, straight_model, atol=1e-6)


def test_a_truncated_checkpoint_cannot_be_resumed(tmp_path):
    bad = tmp_path / "last.pt"
    run(tmp_path, epochs=1)
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="last.pt"):
        run(tmp_path, epochs=2, resume=str(bad))


def test_frozen_backbone_is_not_trained(tmp_path):
    model = TinyTwoStream()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = DataLoader(TinyVideos(16), batch_size=8, collate_fn=collate)
    fit(model, loader, None, TrainConfig(epochs=1, lr=0.1, freeze_backbone=True, progress=False,
                                              device="cpu"))
    for name, value in model.state_dict().items():
        changed = not torch.equal(value, before[name])
        assert changed == ("backbone" not in name), name


def test_two_stage_fusion_training(tmp_path, monkeypatch):
    """Stage 1 trains the streams with the fusion fixed; stage 2 only the fusion."""
    snapshots = []
    original = train_module.evaluate

    def snapshot_then_evaluate(model, *args):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return original(model, *args)

    monkeypatch.setattr(train_module, "evaluate", snapshot_then_evaluate)
    history, model = run(tmp_path, epochs=1, fusion_epochs=1)
    assert [r["stage"] for r in history] == ["streams", "fusion"]
    initial, after_streams, after_fusion = TinyTwoStream().state_dict(), *snapshots
    for name in initial:
        if name.startswith("fusion."):
            assert torch.equal(after_streams[name], initial[name])
            assert not torch.equal(after_fusion[name], after_streams[name])
        else:
            assert not torch.equal(after_streams[name], initial[name]), name
            assert torch.equal(after_fusion[name], after_streams[name]), name


class RgbOnly(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.classifier = torch.nn.Linear(3, 4)

    def forward(self, inputs):
        return self.classifier(inputs["rgb"].mean((2, 3, 4)))


def test_two_stage_training_needs_a_fusion_parameter():
    loader = DataLoader(TinyVideos(8), batch_size=8, collate_fn=collate)
    with pytest.raises(ConfigError, match="fusion"):
        fit(RgbOnly(), loader, None, TrainConfig(epochs=0, fusion_epochs=1, progress=False,
                                            device="cpu"))


def test_multi_label_trains_with_bce_and_reports_map(tmp_path):
    model = TinyTwoStream()
    train = DataLoader(TinyVideos(16, multi_label=True), batch_size=8, collate_fn=collate)
    val = DataLoader(TinyVideos(12, seed=3, multi_label=True), batch_size=8, collate_fn=collate)
    history = fit(model, train, val, TrainConfig(epochs=2, lr=0.1, progress=False, device="cpu",
                                                 out_dir=str(tmp_path), bf16=False))
    assert set(history[-1]) >= {"val_map", "val_GAP@20", "val_loss"}
    assert 0 < history[-1]["val_map"] <= 1
    # metrics are python floats: the checkpoint loads with weights_only (a numpy scalar did not)
    assert all(type(v) is float for k, v in history[-1].items()
               if k.startswith("val_") and k != "val_skipped_clips")
    assert history[-1]["val_skipped_clips"] == 0
    assert load_checkpoint(tmp_path / "last.pt")["history"] == history
    with torch.no_grad():
        expected_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.cat([model(b["inputs"]) for b in val]), torch.cat([b["label"] for b in val]))
    assert history[-1]["val_loss"] == pytest.approx(float(expected_loss), rel=1e-5)


def test_bf16_autocast_grad_clip_and_unreadable_samples():
    model = TinyTwoStream()
    data = TinyVideos(16, unreadable={0, 5})
    loader = DataLoader(data, batch_size=8, collate_fn=collate)
    history = fit(model, loader, loader, TrainConfig(epochs=1, bf16=True, grad_clip=0.5,
                                                     optimizer="adamw", lr=1e-2, progress=False,
                                                     device="cpu"))
    assert math.isfinite(history[0]["train_loss"]) and math.isfinite(history[0]["val_loss"])
    metrics = evaluate(model, loader, bf16=True)
    assert 0 <= metrics["top1"] <= 1 and metrics["top5"] == 1.0


def test_training_precision_is_fp32_without_native_bf16_and_measured_with_it(monkeypatch):
    import zoo.inference

    model = TinyTwoStream()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    monkeypatch.setattr(train_module, "native_bf16", lambda device: False)
    assert train_module.choose_bf16(model, TrainConfig(), "cpu", 4) == PrecisionChoice(False)
    monkeypatch.setattr(train_module, "native_bf16", lambda device: True)
    choice = train_module.choose_bf16(model, TrainConfig(), "cpu", 4, rounds=1, steps=1)
    assert set(choice.rates) == {False, True} and all(r > 0 for r in choice.rates.values())
    assert choice.bf16 == (choice.rates[True] > choice.rates[False]) and choice.bf16_finite
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # timed copies
    for measured, expected in (({False: 2.0, True: 1.0}, False), ({False: 1.0, True: 2.0}, True)):
        monkeypatch.setattr(zoo.inference, "interleaved_rates",
                            lambda timers, rounds, r=measured: r)
        assert train_module.choose_bf16(model, TrainConfig(), "cpu", 4).bf16 is expected


@pytest.mark.filterwarnings("ignore:bf16 autocast gave non-finite gradients")
def test_a_faster_bf16_that_breaks_the_weights_is_not_chosen(monkeypatch):
    """A bf16 kernel that returns NaN gradients (torch 2.14's conv3d weight gradient over 2
    frames on an AVX512-BF16 CPU) loses to fp32 however fast it is."""
    import zoo.inference

    monkeypatch.setattr(train_module, "native_bf16", lambda device: True)
    monkeypatch.setattr(zoo.inference, "interleaved_rates",
                        lambda timers, rounds: {k: (t(), 1.0 + k)[1] for k, t in timers.items()})
    real_step = train_module.TrainStep.__call__

    def nan_in_bf16(self, inputs, labels, share=1.0):
        loss = real_step(self, inputs, labels, share)
        if self.bf16:
            for p in self.params:
                p.data.fill_(float("nan"))
        return loss

    monkeypatch.setattr(train_module.TrainStep, "__call__", nan_in_bf16)
    choice = train_module.choose_bf16(TinyTwoStream(), TrainConfig(), "cpu", 4, rounds=1, steps=1)
    assert choice == PrecisionChoice(False, {False: 1.0, True: 2.0}, bf16_finite=False)
    assert "non-finite gradients" in choice.summary() and choice.summary().endswith("-> fp32")


class NaNGradientsUnderAutocast(torch.nn.Module):
    """A linear classifier whose weight gradient is NaN under autocast, as a faulty bf16
    kernel's."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, inputs):
        out = self.fc(inputs["x"])
        if torch.is_autocast_enabled("cpu"):
            out.register_hook(lambda grad: torch.full_like(grad, float("nan")))
        return out


def test_a_bf16_step_with_non_finite_gradients_is_taken_again_in_fp32():
    model = NaNGradientsUnderAutocast()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "cpu", bf16=True)
    batch = ({"x": torch.randn(6, 4)}, torch.tensor([0, 1, 2, 0, 1, 2]))
    with pytest.warns(RuntimeWarning, match="taken again in fp32"):
        step(*batch)
    assert not step.bf16 and all(torch.isfinite(p).all() for p in model.parameters())
    step(*batch)  # fp32 from then on: no warning, finite
    assert all(torch.isfinite(p).all() for p in model.parameters())


class UnsafeBf16Convs(torch.nn.Module):
    """3-frame kernels of 24 output channels over 2, 4 and 1 frame(s), the last called by
    keyword, and one of 16 output channels over 4 frames of 65x65 and of 5x5."""

    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ModuleList(torch.nn.Conv3d(2, channels, 3, padding=1)
                                         for channels in (24, 24, 24, 16))
        self.dtypes = []

    def forward(self, inputs):
        x = inputs["x"]
        outs = [self.convs[0](x[:, :, :2]), self.convs[1](x)]
        conv = self.convs[2]
        outs.append(torch.nn.functional.conv3d(input=x[:, :, :1], weight=conv.weight,
                                               bias=conv.bias, padding=1))
        outs += [self.convs[3](torch.nn.functional.pad(x, (0, 60, 0, 60))), self.convs[3](x)]
        self.dtypes = [out.dtype for out in outs]
        return torch.stack([out.float().mean((1, 2, 3, 4)) for out in outs], 1)


def test_a_bf16_step_runs_the_convolutions_whose_bf16_gradient_fails_in_fp32():
    """The guard against the bf16 kernels that fail: convolutions over fewer frames than their
    kernel (NaN gradients, or outputs over 1 frame), thin ones over large frames (crashes)."""
    model = UnsafeBf16Convs()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "cpu", bf16=True)
    step({"x": torch.randn(2, 2, 4, 5, 5)}, torch.tensor([0, 1]))
    assert model.dtypes == [torch.float32, torch.bfloat16, torch.float32, torch.float32,
                            torch.bfloat16]
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "cpu", bf16=False)(
        {"x": torch.randn(2, 2, 4, 5, 5)}, torch.tensor([0, 1]))
    assert model.dtypes == [torch.float32] * 5


def test_fit_trains_in_the_precision_it_measured_faster(monkeypatch, capsys):
    chosen = []
    monkeypatch.setattr(train_module, "choose_bf16", lambda model, config, device, batch:
                        PrecisionChoice(True, {False: 1.0, True: 3.0}))
    monkeypatch.setattr(train_module, "evaluate",
                        lambda model, loader, bf16, progress: chosen.append(bf16) or {})
    loader = DataLoader(TinyVideos(8), batch_size=4, collate_fn=collate)
    fit(TinyTwoStream(), loader, loader, TrainConfig(epochs=1, device="cpu", progress=True))
    assert chosen == [True]
    assert ("zoo train: bf16 autocast trains at 3.00x fp32 here (3.0 / 1.0 clips/s) -> bf16"
            in capsys.readouterr().out)


def test_weight_decay_spares_biases_norms_and_what_the_model_names():
    """Decayed towards 0, a batch-norm scale darkens its channel: weights decay, 1-D
    parameters and the model's own ``no_weight_decay()`` names do not, frozen ones are left
    out, and Adam, AdamW and SGD all take the groups."""
    class WithEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 4, 3)
            self.norm = torch.nn.BatchNorm3d(4)
            self.pos_embed = torch.nn.Parameter(torch.zeros(1, 4, 2))
            self.frozen = torch.nn.Linear(4, 4)
            self.frozen.requires_grad_(False)

        def no_weight_decay(self):
            return {"pos_embed"}

    model = WithEmbedding()
    for name in ("adamw", "adam", "sgd"):
        optimizer = build_optimizer(model, TrainConfig(optimizer=name, weight_decay=0.05), lr=0.1)
        decay = {id(p): group["weight_decay"] for group in optimizer.param_groups
                 for p in group["params"]}
        assert decay == {id(model.conv.weight): 0.05, id(model.conv.bias): 0.0,
                         id(model.norm.weight): 0.0, id(model.norm.bias): 0.0,
                         id(model.pos_embed): 0.0}, name


def test_lr_schedules():
    steps = 10
    cosine = TrainConfig(epochs=4, schedule="cosine", warmup_epochs=1)
    assert [lr_factor(s, cosine, 4, steps) for s in (0, 9)] == pytest.approx([1 / 11, 10 / 11])
    assert lr_factor(10, cosine, 4, steps) == pytest.approx(1.0)
    assert lr_factor(25, cosine, 4, steps) == pytest.approx(0.5)
    step = TrainConfig(schedule="step", step_epochs=2, gamma=0.5)
    assert [lr_factor(s, step, 6, steps) for s in (0, 19, 20, 45)] == [1, 1, 0.5, 0.25]
    assert lr_factor(99, TrainConfig(schedule="constant"), 10, steps) == 1.0


def test_train_config_from_yaml_and_flags(tmp_path):
    import argparse

    path = tmp_path / "run.yaml"
    path.write_text("model: r3d_18\ntrain:\n  epochs: 3\n  lr: 1e-3\n  optimizer: adamw\n")
    config = TrainConfig.from_yaml(path)
    assert (config.epochs, config.lr, config.optimizer) == (3, 1e-3, "adamw")
    parser = argparse.ArgumentParser()
    TrainConfig.add_arguments(parser)
    args = parser.parse_args(["--batch-size", "4", "--bf16", "--out", "runs/x", "--grad-clip", "1"])
    updated = config.updated(args)
    assert (updated.batch_size, updated.bf16, updated.out_dir, updated.grad_clip,
            updated.epochs) == (4, True, "runs/x", 1.0, 3)
    with pytest.raises(ConfigError, match="Did you mean .*'adamw'"):
        TrainConfig(optimizer="adamv")
    with pytest.raises(ConfigError, match="unknown training setting 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})


def test_unreadable_clips_are_counted_and_reported_once_per_epoch(caplog):
    torch.manual_seed(0)
    loader = DataLoader(TinyVideos(size=16, unreadable={1, 5, 6}), batch_size=4, collate_fn=collate)
    with caplog.at_level("WARNING", logger="zoo.engine"):
        history = fit(TinyTwoStream(), loader, config=TrainConfig(epochs=2, lr=0.01, progress=False))
    assert [r["skipped_clips"] for r in history] == [3, 3]
    summaries = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(summaries) == 2 and "13 clips loaded" in summaries[0] and "3 skipped" in summaries[0]


@pytest.mark.parametrize("batch_size", [1, 4])
def test_batches_of_only_unreadable_clips_are_counted(tmp_path, caplog, batch_size):
    """A batch whose every clip is unreadable still counts them, in training and validation,
    in the record, log.csv and the epoch's warning."""
    train = DataLoader(TinyVideos(size=8, unreadable=range(5)), batch_size=batch_size,
                       collate_fn=collate)
    val = DataLoader(TinyVideos(size=8, seed=2, unreadable={0, 1, 2, 3, 7}), batch_size=4,
                     collate_fn=collate)
    with caplog.at_level("WARNING", logger="zoo.engine"):
        history = fit(TinyTwoStream(), train, val,
                      TrainConfig(epochs=1, lr=0.01, progress=False, out_dir=str(tmp_path)))
    assert (history[0]["skipped_clips"], history[0]["val_skipped_clips"]) == (5, 5)
    with open(tmp_path / "log.csv") as f:
        row = next(csv.DictReader(f))
    assert (row["skipped_clips"], row["val_skipped_clips"]) == ("5", "5")
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("epoch 1: data: 3 clips loaded, 0 padded, 5 skipped") for m in messages)
    assert any(m.startswith("eval: data: 3 clips loaded, 0 padded, 5 skipped") for m in messages)


def test_evaluating_only_unreadable_clips_names_the_counts():
    loader = DataLoader(TinyVideos(size=3, unreadable=range(3)), batch_size=2,
                        collate_fn=collate)
    with pytest.raises(ZooError, match=r"no clip to evaluate: .* 0 readable clips and skipped 3"):
        evaluate(TinyTwoStream(), loader)


def test_bf16_passes_keep_in_fp32_the_3d_convolutions_bf16_kernels_get_wrong():
    from torch import nn
    from zoo.engine.step import bf16_autocast
    from zoo.engine.train import collect_scores

    class Clips(nn.Module):
        def __init__(self):
            super().__init__()
            self.longer_than_input = nn.Conv3d(3, 4, (3, 1, 1), padding=(1, 0, 0))  # over 2 frames
            self.pointwise = nn.Conv3d(4, 4, 1)
            self.head = nn.Linear(4, 5)

        def forward(self, inputs):
            return self.head(self.pointwise(self.longer_than_input(inputs["rgb"])).mean((2, 3, 4)))

    model = Clips()
    dtypes = {}
    for name in ("longer_than_input", "pointwise"):
        getattr(model, name).register_forward_hook(
            lambda module, args, out, name=name: dtypes.__setitem__(name, out.dtype))
    batch = {"inputs": {"rgb": torch.randn(2, 3, 2, 4, 4)}, "label": torch.tensor([0, 1])}
    with bf16_autocast("cpu", True):
        model(batch["inputs"])
    assert dtypes == {"longer_than_input": torch.float32, "pointwise": torch.bfloat16}
    dtypes.clear()
    scores, labels = collect_scores(model, [batch], bf16=True)  # what `zoo eval --bf16` runs
    assert dtypes == {"longer_than_input": torch.float32, "pointwise": torch.bfloat16}
    assert scores.shape == (2, 5) and torch.isfinite(scores).all()
    with bf16_autocast("cpu", False):
        model(batch["inputs"])
    assert set(dtypes.values()) == {torch.float32}
