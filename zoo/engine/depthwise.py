"""Depthwise 3D convolutions (one filter per channel) whose gradients a CPU computes with forward
convolutions.

On a CPU, torch's backward kernels of a depthwise 3D convolution are many times slower than its
forward kernel. Measured on a 2-core AVX2 EPYC, fp32, batch 16, a 3x3x3 convolution over 36
channels of 8x2x2: forward 0.13 ms, input gradient 1.15 ms, weight gradient 4.3-6.1 ms. X3D,
CSN and MViT then spend most of a training step there. Under `FastDepthwiseConv3d` both
gradients are forward convolutions instead (the weight gradient in 0.38 ms there):

* input gradient: the output gradient, zero-filled between its samples (and after the last one)
  when the convolution is strided, convolved with the flipped filters;
* weight gradient: the padded input as one clip whose channels are every (clip, channel) pair,
  convolved with the output gradient as their filters (dilated by the stride), summed over the
  clips; where the output map is no larger than the kernel, each output's input window times
  its gradient, summed.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

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
    return F.conv3d(grad, weight.flip(2, 3, 4), padding=[k - 1 - p for k, p in zip(kernel, padding)],
                    groups=weight.shape[0])


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


def _depthwise_args(args, kwargs) -> Optional[tuple]:
    """``(x, weight, bias, stride, padding)`` of an `F.conv3d` call this module computes faster
    (depthwise, undilated, zero padding no wider than the kernel less one, gradients wanted,
    on a CPU outside autocast); None for any other call."""
    named = conv3d_arguments(args, kwargs)
    x, weight = named["input"], named["weight"]
    if (not torch.is_grad_enabled() or x.dim() != 5 or x.device.type != "cpu"
            or torch.is_autocast_enabled("cpu") or isinstance(named["padding"], str)
            or not (x.requires_grad or weight.requires_grad)):
        return None
    channels = weight.shape[0]
    padding, dilation = _triple(named["padding"]), _triple(named["dilation"])
    if (weight.shape[1] != 1 or named["groups"] != channels or x.shape[1] != channels
            or dilation != (1, 1, 1)
            or any(p > k - 1 for p, k in zip(padding, weight.shape[2:]))):
        return None
    return x, weight, named["bias"], _triple(named["stride"]), padding


def has_depthwise_conv3d(model: nn.Module) -> bool:
    """Whether `model` has a depthwise `nn.Conv3d` (one filter per channel)."""
    return any(isinstance(m, nn.Conv3d) and m.groups > 1 and m.groups == m.in_channels
               == m.out_channels for m in model.modules())


class FastDepthwiseConv3d(TorchFunctionMode):
    """Runs the depthwise 3D convolutions called inside it through `DepthwiseConv3dFunction`
    (on a CPU, in training, outside autocast); every other call as it is."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv3d:
            call = _depthwise_args(args, kwargs)
            if call is not None:
                return DepthwiseConv3dFunction.apply(*call)
        return func(*args, **kwargs)
