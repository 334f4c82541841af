"""Small torch helpers every part of zoo shares (training, benchmark, inference, export, the
conformance kit): batches moved to a device, bf16 autocast, example inputs shaped by a model's
spec, parameter counts."""
from __future__ import annotations

import contextlib
from typing import Callable, Dict, Mapping, Union

import torch
from torch import nn

from .specs import InputSpec

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def to_device(inputs: Inputs, device) -> Inputs:
    """A tensor or a ``{stream: tensor}`` batch on `device`."""
    if isinstance(inputs, Mapping):
        return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}
    return inputs.to(device, non_blocking=True)


def autocast(device, bf16: bool):
    """bf16 autocast on `device` when asked, otherwise nothing."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def example_inputs(inputs: Mapping[str, InputSpec], batch: int = 1,
                   fill: Callable[..., torch.Tensor] = torch.randn) -> Dict[str, torch.Tensor]:
    """A batch ``{stream: [batch, C, T, H, W]}`` shaped as a model's ``spec.inputs`` asks, filled
    by `fill` (random by default)."""
    return {name: fill(batch, *spec.shape) for name, spec in inputs.items()}


def count_parameters(module: nn.Module) -> int:
    """The number of parameters of `module`."""
    return sum(p.numel() for p in module.parameters())
