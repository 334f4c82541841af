"""ONNX (checked with ONNX Runtime), TorchScript and torch.export on small modules (an LSTM over
time reading one tensor, a two-branch module reading a {stream: tensor} dict) and on the
first-party presets single_frame, cnn_lstm, c3d and two_stream built small."""
import os

import pytest
import torch
from torch import nn

from zoo.engine.export import (export_onnx, export_program, export_torchscript,
                               onnx_max_abs_diff)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::FutureWarning",  # torch.jit is deprecated
                                        "ignore:.*LSTM:UserWarning",
                                        "ignore:Converting a tensor:torch.jit.TracerWarning")


class LSTMOverTime(nn.Module):
    """[B, C, T, H, W] -> spatial mean -> LSTM over T -> logits."""

    def __init__(self, channels=3, hidden=8, num_classes=5):
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        steps = x.mean((3, 4)).transpose(1, 2)  # [B, T, C]
        out, _ = self.lstm(steps)
        return self.fc(out[:, -1])


class TwoBranch(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.rgb = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                                 nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, num_classes))
        self.flow = nn.Sequential(nn.Conv3d(4, 4, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                                  nn.Linear(4, num_classes))

    def forward(self, inputs):
        return (self.rgb(inputs["rgb"]) + self.flow(inputs["flow"])) / 2


def lstm_case(batch):
    return LSTMOverTime(), torch.randn(batch, 3, 6, 8, 8)


def two_branch_case(batch):
    return TwoBranch(), {"rgb": torch.randn(batch, 3, 4, 8, 8),
                         "flow": torch.randn(batch, 4, 2, 8, 8)}


CASES = {"lstm": lstm_case, "two_branch": two_branch_case}


def inputs_for(case, batch):
    return CASES[case](batch)[1]


SLOW = pytest.mark.skipif(not os.environ.get("ZOO_SLOW_TESTS"),
                          reason="the dynamo ONNX exporter takes ~10 s; set ZOO_SLOW_TESTS=1")


@pytest.mark.parametrize("case, dynamo", [("lstm", False), ("two_branch", False),
                                          pytest.param("lstm", True, marks=SLOW),
                                          pytest.param("two_branch", True, marks=SLOW)])
def test_onnx_matches_pytorch_at_another_batch_size(tmp_path, case, dynamo):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model, example = CASES[case](2)
    path = export_onnx(model, tmp_path / f"{case}.onnx", example, dynamo=dynamo)
    assert model.training  # restored
    diff = onnx_max_abs_diff(model, path, inputs_for(case, 3))
    assert diff < 1e-4


class PoolSizedFromInput(nn.Module):
    """Average pooling whose kernel is the input's size (like i3d's logits head): the
    TorchScript-based ONNX exporter cannot export it, the dynamo one can."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.conv = nn.Conv3d(3, num_classes, 1)

    def forward(self, x):
        return nn.functional.avg_pool3d(self.conv(x), x.shape[2:]).flatten(1)


def test_onnx_falls_back_to_the_dynamo_exporter(tmp_path):
    pytest.importorskip("onnxruntime")
    model = PoolSizedFromInput()
    with pytest.raises(Exception):
        export_onnx(model, tmp_path / "m.onnx", torch.randn(2, 3, 2, 4, 4), dynamo=False)
    with pytest.warns(RuntimeWarning, match="dynamo"):
        path = export_onnx(model, tmp_path / "m.onnx", torch.randn(2, 3, 2, 4, 4))
    assert onnx_max_abs_diff(model, path, torch.randn(3, 3, 2, 4, 4)) < 1e-5


@pytest.mark.parametrize("case", CASES)
def test_torchscript_and_exported_program_match_pytorch(tmp_path, case):
    torch.manual_seed(0)
    model, example = CASES[case](2)
    model.eval()
    other = inputs_for(case, 3)
    with torch.no_grad():
        expected = model(other)
        scripted = torch.jit.load(str(export_torchscript(model, tmp_path / "m.ts", example)))
        torch.testing.assert_close(scripted(other), expected, rtol=1e-5, atol=1e-5)
        program = torch.export.load(str(export_program(model, tmp_path / "m.pt2", example)))
        torch.testing.assert_close(program.module()(other), expected, rtol=1e-5, atol=1e-5)


# -- the real presets, built small ------------------------------------------------------------
SMALL = dict(num_classes=5, frames=4, size=32)


def preset_case(name, batch):
    """A first-party preset at a small input, and random inputs for it: one tensor for a
    single-stream model, a {stream: tensor} dict for two streams."""
    import zoo

    torch.manual_seed(0)
    model = zoo.build(name, **SMALL)
    inputs = {s: torch.randn(batch, *spec.shape) for s, spec in model.spec.inputs.items()}
    return model, (next(iter(inputs.values())) if len(inputs) == 1 else inputs)


PRESETS = ["single_frame", "cnn_lstm", "c3d", "two_stream"]


@pytest.mark.parametrize("name", PRESETS)
def test_presets_export_to_onnx(tmp_path, name):
    """ONNX Runtime's logits match PyTorch's, at another batch size than the exported one."""
    pytest.importorskip("onnxruntime")
    model, example = preset_case(name, 2)
    _, other = preset_case(name, 3)
    path = export_onnx(model, tmp_path / f"{name}.onnx", example)
    with torch.no_grad():
        scale = model.eval()(other).abs().max().item()
    diff = onnx_max_abs_diff(model, path, other)
    assert diff <= 1e-4 * scale + 1e-6, (diff, scale)


def matches_pytorch(model, exported, example):
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(exported(example), model(example), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_export_to_torchscript(tmp_path, name):
    model, example = preset_case(name, 2)
    scripted = torch.jit.load(str(export_torchscript(model, tmp_path / "m.ts", example)))
    matches_pytorch(model, scripted, preset_case(name, 3)[1])


SLOW_EXPORT = pytest.mark.skipif(not os.environ.get("ZOO_SLOW_TESTS"),
                                 reason="torch.export takes 5-11 s a preset; set ZOO_SLOW_TESTS=1")


@pytest.mark.parametrize("name", [pytest.param("single_frame", marks=SLOW_EXPORT),
                                  pytest.param("cnn_lstm", marks=SLOW_EXPORT), "c3d",
                                  pytest.param("two_stream", marks=SLOW_EXPORT)])
def test_presets_export_with_torch_export(tmp_path, name):
    """torch.export takes 3-8 s a preset: c3d always, the others with ZOO_SLOW_TESTS=1."""
    model, example = preset_case(name, 2)
    program = torch.export.load(str(export_program(model, tmp_path / "m.pt2", example)))
    matches_pytorch(model, program.module(), preset_case(name, 3)[1])
