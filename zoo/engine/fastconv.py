"""3D convolutions that a CPU trains faster computed another way, under `FastConv3d`.

* Depthwise (one filter per channel): torch's backward kernels of these are many times slower
  than its forward kernel on a CPU. Measured on a 2-core AVX2 EPYC, fp32, batch 16, a 3x3x3
  convolution over 36 channels of 8x2x2: forward 0.13 ms, input gradient 1.15 ms, weight
  gradient 4.3-6.1 ms; X3D, CSN and MViT then spend most of a training step there. Both
  gradients become forward convolutions (the weight gradient in 0.38 ms there):

  - input gradient: the output gradient, zero-filled between its samples (and after the last
    one) when the convolution is strided, convolved with the flipped filters;
  - weight gradient: the padded input as one clip whose channels are every (clip, channel)
    pair, convolved with the output gradient as their filters (dilated by the stride), summed
    over the clips; where the output map is no larger than the kernel, each output's input
    window times its gradient, summed.

* Temporal only (a ``k x 1 x 1`` kernel, k > 1: R(2+1)D, the temporal convolutions of SlowFast
  and the R50 networks): the same convolution as a 2D one over ``[B, C, T, H*W]`` (a view of the
  clip), whose forward and backward kernels are faster. Same machine, one thread,
  channels-last, forward and backward: 18 -> 8 channels of 8x16x16 7.6 -> 3.2 ms; 72 -> 32 of
  2x4x4 1.13 -> 0.95 ms.
"""
from __future__ import annotations

import math
import time
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _triple
from torch.overrides import TorchFunctionMode

Triple = Tuple[int, int, int]


def input_grad(grad: torch.Tensor, weight: torch.Tensor, size: Sequence[int], stride: Triple,
               padding: Triple) -> torch.Tensor:
    """The gradient of a depthwise convolution's input of spatial `size` ``(T, H, W)``."""
    kernel = weight.shape[2:]
    if any(s > 1 for s in stride):  # zeros between the samples and after the last one
        spread = grad.new_zeros(*grad.shape[:2], *(n + 2 * p - k + 1
                                                    for n, p, k in zip(size, padding, kernel)))
        spread[:, :, ::stride[0], ::stride[1], ::stride[2]] = grad
        grad = spread
    return F.conv3d(grad, weight.flip(2, 3, 4),
                    padding=[k - 1 - p for k, p in zip(kernel, padding)], groups=weight.shape[0])


def weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel: Sequence[int], stride: Triple,
                padding: Triple) -> torch.Tensor:
    """The gradient of a depthwise convolution's filters ``[C, 1, *kernel]``."""
    batch, channels = x.shape[:2]
    padded = F.pad(x, (padding[2], padding[2], padding[1], padding[1], padding[0], padding[0]))
    if grad[0, 0].numel() <= math.prod(kernel):
        # an output map no larger than the kernel (MViT's pooled keys and values): gather every
        # output's window (a view) and contract, cheaper than a convolution call here
        steps = padded.stride()
        windows = padded.as_strided((batch, channels, *kernel, *grad.shape[2:]),
                                    (*steps, *(s * n for s, n in zip(steps[2:], stride))))
        return torch.einsum("bcijkthw,bcthw->cijk", windows, grad).unsqueeze(1)
    out = F.conv3d(padded.reshape(1, batch * channels, *padded.shape[2:]),
                   grad.reshape(batch * channels, 1, *grad.shape[2:]), dilation=stride,
                   groups=batch * channels)
    out = out[:, :, :kernel[0], :kernel[1], :kernel[2]]
    return out.reshape(batch, channels, *kernel).sum(0).unsqueeze(1)


class DepthwiseConv3dFunction(torch.autograd.Function):
    """``F.conv3d(x, weight, bias, stride, padding, groups=C)`` for ``weight`` ``[C, 1, ...]``,
    with `input_grad` and `weight_grad` as its backward pass."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv3d(x, weight, bias, stride, padding, 1, weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad[:3]
        return (input_grad(grad, weight, x.shape[2:], ctx.stride, ctx.padding) if needs_x else None,
                weight_grad(x, grad, weight.shape[2:], ctx.stride, ctx.padding)
                if needs_weight else None,
                grad.sum((0, 2, 3, 4)) if needs_bias else None, None, None)


_CONV3D_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def conv3d_arguments(args, kwargs) -> dict:
    """An `F.conv3d` call's arguments by name, defaults included."""
    return {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1,
            **dict(zip(_CONV3D_ARGS, args)), **kwargs}


def temporal_as_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                       stride: int, padding: int, dilation: int, groups: int) -> torch.Tensor:
    """A 3D convolution with a ``k x 1 x 1`` kernel and spatial stride 1, unpadded in space, as
    a 2D convolution over ``[B, C, T, H*W]``."""
    batch, _, frames, height, width = x.shape
    out = F.conv2d(x.reshape(batch, x.shape[1], frames, height * width), weight.flatten(3), bias,
                   (stride, 1), (padding, 0), (dilation, 1), groups)
    return out.view(batch, out.shape[1], out.shape[2], height, width)


def _kind(in_channels: int, weight_shape: Sequence[int], groups: int, stride: Triple,
          padding: Triple, dilation: Triple) -> Optional[str]:
    """Which convolution this module computes another way: "depthwise" (undilated, padded no
    wider than the kernel less one), "temporal" (a ``k x 1 x 1`` kernel with spatial stride 1
    and no spatial padding; pointwise ones are not faster in 2D), or None."""
    channels, kernel = weight_shape[0], tuple(weight_shape[2:])
    if (weight_shape[1] == 1 and groups == channels == in_channels and dilation == (1, 1, 1)
            and all(p <= k - 1 for p, k in zip(padding, kernel))):
        return "depthwise"
    if kernel[0] > 1 and kernel[1:] == (1, 1) and stride[1:] == (1, 1) and padding[1:] == (0, 0):
        return "temporal"
    return None


def _fast_call(named: dict):
    """The faster function and its arguments for an `F.conv3d` call (its arguments by name) of
    a `_kind` this module computes another way (gradients wanted, on a CPU outside autocast,
    zero padding given in numbers); None for any other call."""
    x, weight = named["input"], named["weight"]
    if (not torch.is_grad_enabled() or x.dim() != 5 or x.device.type != "cpu"
            or torch.is_autocast_enabled("cpu") or isinstance(named["padding"], str)
            or not (x.requires_grad or weight.requires_grad)):
        return None
    stride, padding = _triple(named["stride"]), _triple(named["padding"])
    dilation = _triple(named["dilation"])
    kind = _kind(x.shape[1], weight.shape, named["groups"], stride, padding, dilation)
    if kind == "depthwise":
        return DepthwiseConv3dFunction.apply, (x, weight, named["bias"], stride, padding)
    if kind == "temporal":
        return temporal_as_conv2d, (x, weight, named["bias"], stride[0], padding[0], dilation[0],
                                    named["groups"])
    return None


def _signature(named: dict) -> tuple:
    """What the speed of an `F.conv3d` call depends on: shapes, layouts, dtypes, settings."""
    return tuple((v.shape, v.stride(), v.dtype, v.requires_grad) if isinstance(v, torch.Tensor)
                 else v for v in (named[k] for k in _CONV3D_ARGS))


def _another_way_is_faster(named: dict, rounds: int = 3) -> bool:
    """Whether `_fast_call`'s way of this call runs its forward and backward passes faster than
    torch's (the fastest of `rounds` interleaved runs each, after one untimed), on copies of
    its tensors."""
    leaves = {k: v.detach().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) else v
              for k, v in named.items()}
    wanted = [v for v in leaves.values() if isinstance(v, torch.Tensor) and v.requires_grad]
    function, arguments = _fast_call(leaves)
    ways = {False: lambda: F.conv3d(**leaves), True: lambda: function(*arguments)}
    grad = torch.ones_like(ways[False]())
    seconds: Dict[bool, float] = {False: math.inf, True: math.inf}
    for round_ in range(rounds + 1):
        for faster, way in ways.items():
            start = time.perf_counter()
            torch.autograd.grad(way(), wanted, grad)
            if round_:
                seconds[faster] = min(seconds[faster], time.perf_counter() - start)
    return seconds[True] < seconds[False]


def _computed_another_way(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv3d) and not isinstance(conv.padding, str)
            and _kind(conv.in_channels, conv.weight.shape, conv.groups, conv.stride,
                      conv.padding, conv.dilation) is not None)


def has_fast_conv3d(model: nn.Module) -> bool:
    """Whether `model` has an `nn.Conv3d` that `FastConv3d` computes another way (depthwise,
    or temporal only)."""
    return any(map(_computed_another_way, model.modules()))


class FastConv3d(TorchFunctionMode):
    """Runs the depthwise 3D convolutions called inside it through `DepthwiseConv3dFunction`
    and the temporal-only ones through `temporal_as_conv2d` (on a CPU, in training, outside
    autocast), each where that way is faster: with `measure`, as timed against torch's the
    first time a call of its shapes comes (kept in `faster`, per call signature); otherwise
    always. Every other call runs as it is."""

    def __init__(self, measure: bool = False):
        super().__init__()
        self.measure = measure
        self.faster: Dict[tuple, bool] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv3d:
            named = conv3d_arguments(args, kwargs)
            call = _fast_call(named)
            if call is not None and self._faster(named):
                function, arguments = call
                return function(*arguments)
        return func(*args, **kwargs)

    def _faster(self, named: dict) -> bool:
        if not self.measure:
            return True
        key = _signature(named)
        if key not in self.faster:
            self.faster[key] = _another_way_is_faster(named)
        return self.faster[key]
