"""zoo's inference fast path: inference mode, bf16 autocast, channels_last_3d, torch.compile.

On CPUs with AMX (and on GPUs), bf16 autocast with channels-last memory runs 3D convolutions
several times faster than eager fp32; inductor with freezing folds weights and batch norms into
the compiled graph. `benchmarks/bench_peers.py` measures each step against the peers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Union

import torch
from torch import nn

from .tensors import autocast

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]


@dataclass(frozen=True)
class FastPath:
    """Which speed-ups to apply; `FastPath()` is all of them but compilation."""

    bf16: bool = True
    channels_last: bool = True
    compile: bool = False

    @property
    def label(self) -> str:
        parts = [name for name, on in (("bf16", self.bf16), ("channels_last_3d", self.channels_last),
                                       ("compile+freezing", self.compile)) if on]
        return " + ".join(parts) or "eager fp32"


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 5-D tensor in channels_last_3d memory, a 4-D one in channels_last, others as they are."""
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _map_inputs(x: Inputs, fn: Callable[[torch.Tensor], torch.Tensor]) -> Inputs:
    if isinstance(x, torch.Tensor):
        return fn(x)
    return {k: fn(v) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in x.items()}


def channels_last_inputs(x: Inputs) -> Inputs:
    """A tensor or ``{stream: tensor}`` batch in channels-last memory (see `to_channels_last`)."""
    return _map_inputs(x, to_channels_last)


def channels_last_model(model: nn.Module) -> nn.Module:
    """Convert `model`'s 4-D and 5-D parameters to channels-last memory, in place: 3D
    convolutions then run on oneDNN's faster channels-last kernels, in training too."""
    with torch.no_grad():
        for param in model.parameters():
            param.data = to_channels_last(param.data)
    return model


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def optimize_for_inference(model: nn.Module, path: FastPath = FastPath()) -> Callable[[Inputs], torch.Tensor]:
    """Return ``predict(inputs) -> float32 logits`` running `model` with the chosen speed-ups.

    The model is put in eval mode (and converted to channels-last memory in place when asked).
    """
    model.eval()
    device = _device_of(model)
    if path.channels_last:
        channels_last_model(model)
    runner: Callable[[Any], torch.Tensor] = model
    if path.compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        runner = torch.compile(model)

    def predict(x: Inputs) -> torch.Tensor:
        if path.channels_last:
            x = channels_last_inputs(x)
        with torch.inference_mode(), autocast(device, path.bf16):
            return runner(x).float()

    return predict
