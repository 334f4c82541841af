"""Inflation of 2D networks (and their weights) into 3D ones (Carreira & Zisserman 2017).

`inflate(model2d)` turns a timm (or torchvision) 2D CNN into a network reading
``[B, C, T, H, W]``: every ``k x k`` convolution becomes ``kt x k x k`` with the 2D kernel repeated
``kt`` times over time and divided by ``kt``; ``BatchNorm2d`` becomes ``BatchNorm3d`` (same
statistics); max / average pools become ``1 x k x k`` pools; adaptive pools also pool time;
functional 2D pools inside blocks (``F.avg_pool2d`` ...) are run as their 3D counterparts on 5D
inputs. With ``time_padding="replicate"`` (default) a "boring" clip -- one image repeated T times --
gives exactly the 2D network's output on that image, which is how inflated ImageNet weights
bootstrap a 3D network. Tested on timm's ResNet and Inception (v3, v4) families.

The ``inflated`` backbone wraps it: ``model`` names the timm network; ``pretrained`` loads its 2D
weights into the inflated network (zoo.weights inflates each 2D kernel as `inflate` does).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from zoo.registry import register_backbone
from zoo.specs import CLIP, InputSpec, ModelMeta
from zoo.weights import inflate_kernel

from .._util import MapBackbone, check_width
from ..papers import PAPERS
from .timm2d import create_timm_model, timm_weights

INFLATE_META = ModelMeta(
    **PAPERS["i3d"],
    summary="A timm 2D CNN (ResNet, Inception, ...) and its ImageNet weights inflated to 3D: "
            "kernels repeated over time and divided by their temporal size.",
    tags=("3d", "inflated", "timm"))


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class InflatedConv3d(nn.Conv3d):
    """A Conv3d made from a Conv2d; time is padded by replicating the edge frames (or zeros)."""

    def __init__(self, conv: nn.Conv2d, time_kernel: int, time_stride: int = 1,
                 time_padding: str = "replicate"):
        kh, kw = conv.kernel_size
        pad = conv.padding if isinstance(conv.padding, tuple) else _pair(conv.padding)
        if isinstance(conv.padding, str):
            raise ValueError("string padding is not supported by inflate()")
        super().__init__(conv.in_channels, conv.out_channels, (time_kernel, kh, kw),
                         stride=(time_stride,) + tuple(conv.stride), padding=(0,) + tuple(pad),
                         dilation=(1,) + tuple(conv.dilation), groups=conv.groups,
                         bias=conv.bias is not None, device=conv.weight.device,
                         dtype=conv.weight.dtype)
        self.time_pad = (time_kernel - 1) // 2, time_kernel // 2
        self.time_padding = time_padding
        with torch.no_grad():
            self.weight.copy_(inflate_kernel(conv.weight, time_kernel))
            if conv.bias is not None:
                self.bias.copy_(conv.bias)

    def forward(self, x):
        if any(self.time_pad):
            mode = "replicate" if self.time_padding == "replicate" else "constant"
            x = F.pad(x, (0, 0, 0, 0) + self.time_pad, mode=mode)
        return super().forward(x)


class FoldTime(nn.Module):
    """Run a 2D module on ``[B, C, T, H, W]`` as ``[B, C, T*H, W]`` (BatchNorm-with-activation
    layers: statistics per channel over B, T, H, W, as BatchNorm3d's)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        if x.dim() != 5:
            return self.module(x)
        b, c, t, h, w = x.shape
        y = self.module(x.reshape(b, c, t * h, w))
        return y.reshape(b, y.shape[1], t, h, w)


def _bn3d(bn: nn.BatchNorm2d) -> nn.BatchNorm3d:
    ref = next(iter(bn.parameters()), bn.running_mean)
    kw = {} if ref is None else {"device": ref.device, "dtype": ref.dtype}
    new = nn.BatchNorm3d(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, **kw)
    new.load_state_dict(bn.state_dict())
    return new


class _Pool3dMode(TorchFunctionMode):
    """Runs 2D functional pools on 5D tensors as their 1 x k x k 3D versions."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        x = args[0] if args else kwargs.get("input")
        if isinstance(x, torch.Tensor) and x.dim() == 5 and name in _POOLS:
            return _POOLS[name](*args, **kwargs)
        return func(*args, **kwargs)


def _t3(v, time_value):
    if v is None:
        return None
    return (time_value,) + _pair(v)


def _avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    ph, pw = _pair(padding)
    k, s = _t3(kernel_size, 1), _t3(stride if stride else kernel_size, 1)
    if (ph or pw) and divisor_override is None:  # explicit padding: 3D pools reject maps < kernel
        xp = F.pad(x, (pw, pw, ph, ph))
        out = F.avg_pool3d(xp, k, s, 0, ceil_mode)
        if not count_include_pad:  # divide by the number of real (unpadded) positions
            ones = F.pad(torch.ones_like(x[:1, :1]), (pw, pw, ph, ph))
            out = out / F.avg_pool3d(ones, k, s, 0, ceil_mode)
        return out
    return F.avg_pool3d(x, k, s, (0, ph, pw), ceil_mode, count_include_pad, divisor_override)


def _max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    ph, pw = _pair(padding)
    if (ph or pw) and not return_indices:
        x, ph, pw = F.pad(x, (pw, pw, ph, ph), value=float("-inf")), 0, 0
    return F.max_pool3d(x, _t3(kernel_size, 1), _t3(stride if stride else kernel_size, 1),
                        (0, ph, pw), _t3(dilation, 1), ceil_mode=ceil_mode,
                        return_indices=return_indices)


def _adaptive(fn):
    def pool(x, output_size, *a, **k):
        o = _pair(output_size)
        return fn(x, (1 if o == (1, 1) else None,) + o, *a, **k)
    return pool


_POOLS = {"avg_pool2d": _avg_pool, "max_pool2d": _max_pool, "_max_pool2d": _max_pool,
          "max_pool2d_with_indices": lambda *a, **k: _max_pool(*a, return_indices=True, **k),
          "adaptive_avg_pool2d": _adaptive(F.adaptive_avg_pool3d),
          "adaptive_max_pool2d": _adaptive(F.adaptive_max_pool3d)}


def folded_keys(model: nn.Module) -> Dict[str, str]:
    """Key prefixes of the 2D checkpoint -> the inflated `model`'s, for the layers `FoldTime` wraps."""
    return {f"{n}.": f"{n}.module." for n, m in model.named_modules() if isinstance(m, FoldTime)}


class Pool3d(nn.Module):
    """A 2D max / average pool inflated to 1 x k x k (kernel, stride and padding in space)."""

    def __init__(self, kind: str, kernel_size, stride=None, padding=0, **kw):
        super().__init__()
        self.kind, self.kernel_size, self.stride, self.padding, self.kw = kind, kernel_size, stride, padding, kw

    def forward(self, x):
        fn = _max_pool if self.kind == "max" else _avg_pool
        return fn(x, self.kernel_size, self.stride, self.padding, **self.kw)

    def extra_repr(self):
        return f"{self.kind}, kernel_size=(1, {self.kernel_size}), stride=(1, {self.stride}), padding={self.padding}"


def _time_kernel(spec, conv: nn.Conv2d) -> int:
    if callable(spec):
        return int(spec(conv))
    if spec == "same":  # N x N -> N x N x N (I3D); 1 x N / N x 1 stay 1 in time
        return conv.kernel_size[0] if conv.kernel_size[0] == conv.kernel_size[1] else 1
    return int(spec)


def inflate_(module: nn.Module, time_kernel: Union[str, int, Callable] = "same",
             time_padding: str = "replicate") -> nn.Module:
    """Replace, in place, the 2D layers of `module` by inflated 3D ones (see module docstring)."""
    for name, child in list(module.named_children()):
        new = None
        if isinstance(child, nn.Conv2d) and type(child).forward is nn.Conv2d.forward:
            new = InflatedConv3d(child, _time_kernel(time_kernel, child), 1, time_padding)
        elif type(child) is nn.BatchNorm2d:
            new = _bn3d(child)
        elif isinstance(child, nn.BatchNorm2d) or type(child).__name__ in ("BatchNormAct2d", "FrozenBatchNorm2d"):
            new = FoldTime(child)
        elif isinstance(child, nn.MaxPool2d):
            new = Pool3d("max", child.kernel_size, child.stride, child.padding, dilation=child.dilation,
                         ceil_mode=child.ceil_mode)
        elif isinstance(child, nn.AvgPool2d):
            new = Pool3d("avg", child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode,
                         count_include_pad=child.count_include_pad,
                         divisor_override=child.divisor_override)
        elif isinstance(child, nn.AdaptiveAvgPool2d):
            o = _pair(child.output_size)
            new = nn.AdaptiveAvgPool3d((1 if o == (1, 1) else None,) + o)
        elif isinstance(child, nn.AdaptiveMaxPool2d):
            o = _pair(child.output_size)
            new = nn.AdaptiveMaxPool3d((1 if o == (1, 1) else None,) + o)
        elif isinstance(child, nn.Conv2d):
            raise ValueError(f"inflate(): cannot inflate {type(child).__name__} at {name!r} "
                             f"(a Conv2d with its own forward, e.g. TF 'same' padding)")
        if new is not None:
            setattr(module, name, new)
        else:
            inflate_(child, time_kernel, time_padding)
    return module


class Inflated(nn.Module):
    """A 2D network inflated to 3D; calls `method` (default forward) under the 3D pooling mode."""

    def __init__(self, model2d: nn.Module, time_kernel="same", time_padding="replicate",
                 copy_model: bool = True):
        super().__init__()
        self.net = inflate_(copy.deepcopy(model2d) if copy_model else model2d, time_kernel, time_padding)

    def forward(self, x: torch.Tensor, method: str = "forward") -> torch.Tensor:
        with _Pool3dMode():
            return getattr(self.net, method)(x)


def inflate(model2d: nn.Module, time_kernel: Union[str, int, Callable] = "same",
            time_padding: str = "replicate") -> Inflated:
    """A 3D copy of `model2d` (weights inflated); the 2D model is left unchanged."""
    return Inflated(model2d, time_kernel, time_padding)


class InflatedBackbone(MapBackbone):
    time_kind = CLIP

    def __init__(self, model: str = "resnet50", in_channels: int = 3,
                 time_kernel: Union[str, int] = "same", time_padding: str = "replicate",
                 time_stride: int = 1, width: float = 1.0, **timm_kwargs):
        super().__init__()
        net = create_timm_model(model, in_channels, width, **timm_kwargs)
        self.inflated = Inflated(net, time_kernel, time_padding, copy_model=False)
        if time_stride != 1:  # temporal stride in the first convolution (I3D uses 2)
            first = next(m for m in self.inflated.modules() if isinstance(m, InflatedConv3d))
            first.stride = (time_stride,) + tuple(first.stride[1:])
        self.out_channels = int(net.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inflated(x, method="forward_features")


@register_backbone("inflated", temporal="clip", default_input=InputSpec(frames=16, size=224),
                   meta=INFLATE_META,
                   weights=timm_weights("{model}", into="inflated.net", rename=folded_keys))
def inflated(in_channels: int = 3, pretrained: Any = False, model: str = "resnet50",
             time_kernel: Union[str, int] = "same", time_padding: str = "replicate",
             time_stride: int = 1, width: float = 1.0, **kw) -> InflatedBackbone:
    """A timm 2D network (`model`) inflated to 3D (`time_kernel`: "same" = N x N -> N x N x N, or
    an int); `pretrained` loads its 2D weights first, then inflates them; `width` narrows it
    (timm ResNets)."""
    width = check_width(width, pretrained, f"inflated {model!r}")
    return InflatedBackbone(model, in_channels, time_kernel, time_padding, time_stride, width, **kw)
