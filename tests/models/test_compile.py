"""torch.compile traces pytorchvideo's ResNets (Slow, SlowFast, CSN) whole: their layer sizes are
Python ints (numpy ints broke the graph, and the per-block frames left recompiled until dynamo
fell back to eager)."""
from __future__ import annotations

import pytest
import torch

import zoo

PYTORCHVIDEO_RESNETS = ["slowfast_r50", "slow_r50", "csn_r101"]
LAYOUT = ("kernel_size", "stride", "padding", "dilation")


def layer_sizes(model):
    """Every convolution's and pooling's kernel size, stride, padding and dilation entry."""
    for module in model.modules():
        for field in LAYOUT:
            value = getattr(module, field, None)
            if isinstance(value, (tuple, list)):
                yield from value
            elif value is not None and not isinstance(value, str):  # padding="same"
                yield value


@pytest.mark.parametrize("name", PYTORCHVIDEO_RESNETS)
def test_layer_sizes_are_python_ints(name):
    model = zoo.build(name, num_classes=3, frames=8, size=32, width=0.125)
    sizes = list(layer_sizes(model))
    assert sizes and [v for v in sizes if type(v) is not int] == []


@pytest.mark.slow
def test_slowfast_compiles_as_one_graph_without_recompiling():
    torch._dynamo.reset()
    model = zoo.build("slowfast_r50", num_classes=3, frames=8, size=32, width=0.125).eval()
    x = {"rgb": torch.randn(1, 3, 8, 32, 32)}
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # raises on a graph break
    with torch.no_grad(), torch._dynamo.config.patch(error_on_recompile=True):
        expected = model(x)
        for _ in range(2):
            assert torch.allclose(compiled(x), expected, atol=1e-5)


def test_each_compiled_model_gets_room_in_the_shared_forwards_cache(monkeypatch):
    """Every zoo model runs VideoClassifier.forward: models compiled one after another in a
    process must not exhaust its recompile limit and run eager (the fourth one of a benchmark
    run did)."""
    from zoo.inference import FastPath, optimize_for_inference

    torch._dynamo.reset()
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    monkeypatch.setattr(torch._dynamo.config, "fail_on_recompile_limit_hit", True)
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: compile_(model, backend="eager"))
    for name, x in [("c3d", torch.randn(1, 3, 8, 32, 32)),  # a tensor, then a dict
                    ("two_stream", {"rgb": torch.randn(1, 3, 1, 32, 32),
                                    "flow": torch.randn(1, 20, 1, 32, 32)}),
                    ("c3d", torch.randn(2, 3, 8, 32, 32))]:
        model = zoo.build(name, num_classes=3, frames=8, size=32, width=0.125)
        run = optimize_for_inference(model, FastPath(compile=True))
        assert run(x).shape[-1] == 3  # raises past the limit
    torch._dynamo.reset()
