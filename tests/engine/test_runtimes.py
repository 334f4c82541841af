"""The exported model under ONNX Runtime and OpenVINO (zoo.engine.runtimes), `zoo export --format
openvino`, `zoo predict --runtime`, and the int8 export and its agreement rule
(zoo.engine.quantize), on tiny models."""
import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.cli import main
from zoo.data import write_video
from zoo.engine import quantize
from zoo.engine.checkpoint import save_weights
from zoo.engine.export import export_onnx
from zoo.engine.runtimes import (ExportedModel, MissingRuntimeError, cached_onnx, export_openvino,
                                 load_exported, model_digest, require)
from zoo.errors import ZooError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",  # the TorchScript exporter
                                        "ignore::FutureWarning")


class TwoStreams(nn.Module):
    """Reads ``{"rgb", "flow"}`` like zoo's two-stream models."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.rgb = nn.Sequential(nn.Conv3d(3, 6, 3, padding=1), nn.BatchNorm3d(6), nn.ReLU(),
                                 nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(6, num_classes))
        self.flow = nn.Sequential(nn.Conv3d(4, 6, 1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
                                  nn.Flatten(), nn.Linear(6, num_classes))

    def forward(self, inputs):
        return self.rgb(inputs["rgb"]) + self.flow(inputs["flow"])


def two_streams(batch):
    return {"rgb": torch.randn(batch, 3, 4, 8, 8), "flow": torch.randn(batch, 4, 4, 8, 8)}


def tiny_r3d():
    torch.manual_seed(0)
    return zoo.build("r3d_18", num_classes=4, frames=4, size=32, width=0.125).eval()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def expected(model, inputs):
    with torch.no_grad():
        return model.eval()(inputs)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_onnx_file_under_each_runtime_matches_pytorch(tmp_path, runtime):
    pytest.importorskip(runtime)
    torch.manual_seed(0)
    model = TwoStreams().eval()
    path = export_onnx(model, tmp_path / "m.onnx", two_streams(2))
    exported = load_exported(path, runtime, threads=1, fp32=True)
    assert sorted(exported.input_names) == ["flow", "rgb"]
    inputs = two_streams(3)  # another batch size than the exported one
    torch.testing.assert_close(exported(inputs), expected(model, inputs), rtol=1e-4, atol=1e-5)


def test_openvino_ir_round_trip_single_and_two_streams(tmp_path):
    pytest.importorskip("openvino")
    model = tiny_r3d()
    clip = torch.randn(2, 3, 4, 32, 32)
    path = export_openvino(model, tmp_path / "r3d.xml", {"rgb": clip})
    assert path.with_suffix(".bin").exists()
    exported = load_exported(path, "openvino", threads=1, fp32=True)
    assert exported.input_names == ["rgb"] and exported.precision == "f32"
    other = torch.randn(3, 3, 4, 32, 32)
    torch.testing.assert_close(exported(other), expected(model, other), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(exported({"rgb": other}), exported(other))

    two = TwoStreams().eval()
    ir = load_exported(export_openvino(two, tmp_path / "two.xml", two_streams(2)), "openvino",
                       fp32=True)
    inputs = two_streams(1)
    torch.testing.assert_close(ir(inputs), expected(two, inputs), rtol=1e-4, atol=1e-5)
    # by default OpenVINO picks its precision: bf16 where the processor has it, within rounding
    picked = load_exported(path, "openvino")
    assert picked.precision in ("f32", "bf16")
    torch.testing.assert_close(picked(other), expected(model, other), rtol=5e-2, atol=5e-2)


def test_openvino_falls_back_to_f32_when_its_own_precision_cannot_compile(monkeypatch, tmp_path):
    from zoo.engine import runtimes

    class Compiled:
        inputs = []

        def __init__(self, precision):
            self.precision = precision

        def get_property(self, name):
            return type("Type", (), {"get_type_name": lambda _: self.precision})()

        def create_infer_request(self):
            return None

    class Core:  # as OpenVINO 2026.4 on an AVX512-BF16 CPU with X3D-XS's int8 export
        def compile_model(self, path, device, config):
            if config.get("INFERENCE_PRECISION_HINT") != "f32":
                raise RuntimeError("No suitable implementations.")
            return Compiled("f32")

    monkeypatch.setattr(runtimes, "_openvino_core", lambda: Core())
    assert ExportedModel(tmp_path / "m.onnx", "openvino").precision == "f32"


def test_wrong_inputs_and_runtime_are_named(tmp_path):
    pytest.importorskip("onnxruntime")
    path = export_onnx(TwoStreams(), tmp_path / "m.onnx", two_streams(1))
    exported = load_exported(path, "onnxruntime")
    with pytest.raises(ZooError, match="reads 2 inputs"):
        exported(torch.randn(1, 3, 4, 8, 8))
    with pytest.raises(ZooError, match="flow not given"):
        exported({"rgb": torch.randn(1, 3, 4, 8, 8)})
    with pytest.raises(ZooError, match="an OpenVINO IR runs under openvino"):
        load_exported(tmp_path / "m.xml", "onnxruntime")
    with pytest.raises(ZooError, match="choose onnxruntime or openvino"):
        load_exported(path, "tensorrt")


def test_a_missing_runtime_names_the_pip_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    with pytest.raises(MissingRuntimeError, match=r"pip install openvino \(or pip install "
                                                  r"'zoo-video\[runtimes\]'\)"):
        require("openvino")
    code = main(["export", "--model", "r3d_18", "--set", "frames=4", "--set", "size=32",
                 "--set", "width=0.125", "--format", "openvino", "--out", str(tmp_path / "m.xml")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("zoo: error: openvino is not installed")
    assert "pip install openvino" in err


def test_export_openvino_command_with_check(tmp_path, capsys):
    pytest.importorskip("openvino")
    out = tmp_path / "m.xml"
    assert main(["export", "--model", "r3d_18", "--set", "frames=4", "--set", "size=32",
                 "--set", "width=0.125", "--format", "openvino", "--out", str(out), "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out}" and lines[1].startswith("OpenVINO vs PyTorch: max abs")
    assert float(lines[1].split()[-1]) < 1e-4


def test_cached_export_is_keyed_by_the_weights(cache):
    pytest.importorskip("onnxruntime")
    model, logged = tiny_r3d(), []
    example = {"rgb": torch.randn(1, 3, 4, 32, 32)}
    first = cached_onnx(model, example, log=logged.append)
    assert cached_onnx(model, example, log=logged.append) == first and len(logged) == 1
    assert first.parent == cache / "exported" and not list(first.parent.glob("*partial*"))
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert model_digest(model) != first.stem
    assert cached_onnx(model, example, log=logged.append) != first and len(logged) == 2


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_predict_runtime_switch_gives_pytorchs_top_k(tmp_path, cache, capsys, runtime):
    pytest.importorskip(runtime)
    pytest.importorskip("onnxruntime")  # the export is checked by ONNX Runtime's loader
    video = tmp_path / "clip.mp4"
    rng = np.random.default_rng(0)
    write_video(video, rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8))
    weights = save_weights(tmp_path / "w.safetensors", tiny_r3d())  # with its config
    argv = ["predict", str(video), "--checkpoint", str(weights), "--topk", "4", "--format",
            "jsonl", "--no-progress"]

    def top(*extra):
        assert main(argv + list(extra)) == 0
        captured = capsys.readouterr()
        return json.loads(captured.out)["predictions"], captured.err

    reference, _ = top("--no-optimize")  # eager fp32
    exported, err = top("--runtime", runtime)
    assert "exporting the model to" in err
    # OpenVINO says when it picks bf16 on this processor: then within bf16's rounding
    half = f"{runtime} runs the model in bf16" in err
    assert not half or runtime == "openvino"
    if not half:
        assert [p["label"] for p in exported] == [p["label"] for p in reference]
    np.testing.assert_allclose([p["probability"] for p in exported],
                               [p["probability"] for p in reference], atol=1e-2 if half else 1e-5)
    assert top("--runtime", runtime)[1].count("exporting") == 0  # read from the cache


# -- int8 -------------------------------------------------------------------------------------
def test_agreement_counts_top1_and_the_largest_logit_difference():
    ref = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    other = ref.clone()
    other[3] = torch.tensor([3.5, 0.0])  # one of four flips, by up to 3.5
    measured = quantize.agreement(lambda b: ref[b], lambda b: other[b], [slice(0, 2), slice(2, 4)])
    assert measured == quantize.Agreement(top1=0.75, max_logit_diff=3.5, clips=4)


def test_low_agreement_is_refused():
    fine = quantize.Agreement(top1=0.995, max_logit_diff=0.1, clips=200)
    assert quantize.check_agreement(fine) is fine
    with pytest.raises(quantize.AgreementError, match=r"int8 is not offered.*top-1 agreement "
                                                      r"98\.5% on 200 clips.*below the 99%"):
        quantize.check_agreement(quantize.Agreement(0.985, 0.1, 200))


@pytest.mark.parametrize("top1, offered", [(0.5, False), (1.0, True)])
def test_int8_export_is_written_only_when_it_agrees(tmp_path, capsys, monkeypatch, top1, offered):
    pytest.importorskip("onnxruntime")
    seen = {}

    def fake_agreement(reference, candidate, batches):
        seen["clips"] = sum(len(b["rgb"]) for b in batches)
        seen["int8 ops"] = candidate.runtime
        assert isinstance(reference, nn.Module) and not reference.training  # the fp32 model
        return quantize.Agreement(top1, 0.25, seen["clips"])

    monkeypatch.setattr(quantize, "agreement", fake_agreement)
    out = tmp_path / "int8.onnx"
    code = main(["export", "--model", "r3d_18", "--set", "frames=4", "--set", "size=32",
                 "--set", "width=0.125", "--out", str(out), "--int8"])
    captured = capsys.readouterr()
    assert seen == {"clips": 192, "int8 ops": "onnxruntime"}  # the whole built-in test split
    if offered:
        assert code == 0 and out.exists()
        assert "int8: top-1 agreement 100.0% on 192 clips" in captured.out
        onnx = pytest.importorskip("onnx")
        ops = {node.op_type for node in onnx.load(str(out)).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        logits = load_exported(out, "onnxruntime")(torch.randn(2, 3, 4, 32, 32))
        assert logits.shape == (2, 400)
    else:
        assert code == 2 and not out.exists()
        assert captured.err.startswith("zoo: error: int8 is not offered for this model: top-1 "
                                       "agreement 50.0% on 192 clips")


def test_int8_goes_with_onnx_or_openvino(tmp_path, capsys):
    code = main(["export", "--model", "r3d_18", "--set", "frames=4", "--set", "size=32",
                 "--set", "width=0.125", "--format", "torchscript", "--out", str(tmp_path / "m"),
                 "--int8"])
    assert code == 2
    assert "--int8 goes with --format onnx or openvino" in capsys.readouterr().err


def test_quantised_model_runs_under_both_runtimes(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    model = tiny_r3d()
    fp32 = export_onnx(model, tmp_path / "fp32.onnx", {"rgb": torch.randn(1, 3, 4, 32, 32)})
    calibration = [{"rgb": np.random.default_rng(i).standard_normal((2, 3, 4, 32, 32), np.float32)}
                   for i in range(2)]
    int8 = quantize.quantize_onnx(fp32, tmp_path / "int8.onnx", calibration)
    clip = torch.from_numpy(calibration[0]["rgb"])
    reference = expected(model, clip)
    for runtime in ("onnxruntime", "openvino"):
        logits = ExportedModel(int8, runtime)(clip)
        assert logits.shape == reference.shape
        # int8 moves the logits, but stays close to fp32 on the clips it was calibrated on
        assert (logits - reference).abs().max() < 0.5 * reference.abs().max() + 1e-3


def test_outer_layers_are_each_streams_stem_and_the_classifiers(tmp_path):
    onnx = pytest.importorskip("onnx")
    r3d = export_onnx(tiny_r3d(), tmp_path / "r3d.onnx", {"rgb": torch.randn(1, 3, 4, 32, 32)})
    graph = onnx.load(str(r3d)).graph
    assert sum(n.op_type in quantize.WEIGHTED_OPS for n in graph.node) == 21
    assert [name.split("/")[-2] for name in quantize.outer_layers(graph)] == ["stem.0", "fc"]
    two = onnx.load(str(export_onnx(TwoStreams(), tmp_path / "two.onnx", two_streams(1)))).graph
    assert len(quantize.outer_layers(two)) == 4  # one conv and one linear a stream: all outer


def _alternate_signal_stack():
    """The calling thread's alternate signal stack: (address, size), or None if it has none."""
    import ctypes

    class Stack(ctypes.Structure):
        _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

    stack = Stack()
    if ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) != 0:
        pytest.skip("sigaltstack is not available here")
    return None if stack.flags & 2 else (stack.sp, stack.size)  # 2: SS_DISABLE


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's sigaltstack")
def test_openvino_models_freed_out_of_order_leave_a_live_signal_stack(tmp_path):
    """A Core per model left the thread's alternate signal stack on a freed buffer, and the
    interpreter crashed at the next signal (a DataLoader worker's SIGCHLD)."""
    pytest.importorskip("openvino")
    path = export_openvino(tiny_r3d(), tmp_path / "r3d.xml", torch.randn(1, 3, 4, 32, 32))
    first = load_exported(path, "openvino", threads=1)
    stack = _alternate_signal_stack()
    second = load_exported(path, "openvino", threads=1)
    del first
    third = load_exported(path, "openvino", threads=1)
    del second, third
    assert _alternate_signal_stack() in (stack, None)
