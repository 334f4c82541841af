"""Helpers shared by the first-party components (torch only; no timm / pytorchvideo here)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError
from zoo.specs import CLIP, FRAME, FeatureSpec, InputSpec


def scaled(channels: int, width: float, divisor: int = 1) -> int:
    """``channels * width`` rounded to a multiple of `divisor` (at least `divisor`); exactly
    `channels` at width 1."""
    if width == 1:
        return channels
    return max(divisor, int(round(channels * width / divisor)) * divisor)


def check_width(width: float, pretrained: Any, what: str) -> float:
    """`width` checked: positive, and 1 when pretrained weights are asked for."""
    if not isinstance(width, (int, float)) or width <= 0:
        raise ConfigError(f"{what}: width must be a positive number, got {width!r}")
    if pretrained and width != 1:
        raise ConfigError(f"{what}: pretrained weights exist only for width=1, not width={width}; "
                          f"train the narrower network from scratch (pretrained=False).")
    return float(width)


def check_batch_norm(batch_norm: bool, pretrained: Any, what: str) -> bool:
    """`batch_norm` checked: the released weights of these networks have no batch norm."""
    if batch_norm and pretrained:
        raise ConfigError(f"{what}: the released weights have no batch normalisation; use "
                          f"batch_norm=False with pretrained weights, or train from scratch.")
    return bool(batch_norm)


def he_init(module: nn.Module) -> None:
    """He (Kaiming) normal initialisation, fan-out, for every convolution of `module`, biases at
    0, as torchvision initialises VGG and AlexNet: without batch normalisation, torch's default
    initialisation shrinks the signal at every layer (by 6 in variance through a ReLU), so a deep
    plain network (VGG-16: 13 layers) trained from scratch starts with an output that hardly
    depends on its input."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _real_shape(module, input_shape, fn):
    p = next(module.parameters(), None)
    dev = p.device if p is not None else "cpu"
    with torch.no_grad():
        return tuple(fn(module, torch.zeros(*input_shape, device=dev)).shape)


def _meta_shape(module, input_shape, fn):
    tensors = {k: torch.empty_like(v, device="meta")
               for k, v in list(module.named_parameters()) + list(module.named_buffers())}

    class _Call(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return fn(self.m, x)

    with torch.no_grad():
        out = torch.func.functional_call(_Call(module), {"m." + k: v for k, v in tensors.items()},
                                         (torch.empty(*input_shape, device="meta"),))
    return tuple(out.shape)


def probe_shape(module: nn.Module, input_shape: Sequence[int],
                fn: Optional[Callable[[nn.Module, torch.Tensor], torch.Tensor]] = None) -> Tuple[int, ...]:
    """The output shape of ``fn(module, x)`` for an input of `input_shape`, in eval mode (the
    module's mode and weights are left as they were), computed on the meta device (no
    arithmetic); a real forward if the meta device fails."""
    fn = fn or (lambda m, x: m(x))
    was_training = module.training
    module.eval()
    try:
        try:
            return _meta_shape(module, input_shape, fn)
        except Exception:
            return _real_shape(module, input_shape, fn)
    finally:
        module.train(was_training)


class MapBackbone(nn.Module):
    """Base of the first-party backbones: `feature_spec` from a shape probe of `forward`.

    Subclasses set `time_kind` (FRAME or CLIP) and `out_channels`."""

    time_kind: str = CLIP
    out_channels: int = 0

    def feature_spec(self, input_spec: InputSpec) -> FeatureSpec:
        key = (input_spec.channels, input_spec.frames, input_spec.size)
        cache = self.__dict__.setdefault("_spec_cache", {})
        if key not in cache:
            shape = probe_shape(self, (1,) + tuple(input_spec.shape))
            if len(shape) != 5:
                raise RuntimeError(f"{type(self).__name__} returned a {len(shape)}-D output, expected 5-D")
            cache[key] = FeatureSpec(channels=shape[1], time=self.time_kind, time_steps=shape[2],
                                     spatial=(shape[3], shape[4]))
        return cache[key]


def same_padding(n: int, k: int, s: int) -> Tuple[int, int]:
    """TensorFlow's 'SAME' padding of a size-`n` axis for kernel `k`, stride `s`: (before, after),
    the odd one at the end."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def safe_max_pool3d(x: torch.Tensor, kernel, stride, padding=(0, 0, 0),
                    ceil_mode: bool = False) -> torch.Tensor:
    """max_pool3d whose kernel shrinks to the input where the input is smaller (tiny test clips);
    identical to F.max_pool3d whenever the input is large enough. ``padding="same"``: TensorFlow's
    SAME padding (with -inf)."""
    k, s = list(kernel), list(stride)
    if padding == "same":
        pads = [same_padding(n, k[i], s[i]) for i, n in enumerate(x.shape[2:])]
        x = F.pad(x, [v for pair in reversed(pads) for v in pair], value=float("-inf"))
        padding = (0, 0, 0)
    p = list(padding)
    for i, n in enumerate(x.shape[2:]):
        if n + 2 * p[i] < k[i]:
            k[i], s[i], p[i] = max(1, n), 1, 0
    return F.max_pool3d(x, k, s, p, ceil_mode=ceil_mode)


class SafeMaxPool3d(nn.Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        t = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)
        self.kernel_size = t(kernel_size)
        self.stride = t(stride if stride is not None else kernel_size)
        self.padding = padding if padding == "same" else t(padding)
        self.ceil_mode = ceil_mode

    def forward(self, x):
        if x.dim() == 4:  # [N, C, H, W]: a 1 x k x k pool
            return safe_max_pool3d(x.unsqueeze(2), self.kernel_size, self.stride, self.padding,
                                   self.ceil_mode).squeeze(2)
        return safe_max_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


def valid_mask(lengths: Optional[torch.Tensor], steps: int, batch: int, device) -> Optional[torch.Tensor]:
    """A [B, steps] bool mask of valid time steps from per-clip frame counts (None: all valid)."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device).long().clamp(1, steps)
    return torch.arange(steps, device=device)[None, :] < lengths[:, None]


def reduce_steps(scores: torch.Tensor, lengths: Optional[torch.Tensor], mode: str) -> torch.Tensor:
    """Per-step scores ``[B, T, K]`` -> ``[B, K]`` by ``mean`` or ``max`` over the valid steps."""
    mask = valid_mask(lengths, scores.shape[1], scores.shape[0], scores.device)
    if mode == "mean":
        if mask is None:
            return scores.mean(1)
        m = mask.to(scores.dtype).unsqueeze(-1)
        return (scores * m).sum(1) / m.sum(1)
    if mask is not None:
        scores = scores.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    return scores.max(1).values


__all__ = ["scaled", "check_width", "check_batch_norm", "probe_shape", "MapBackbone", "same_padding", "safe_max_pool3d", "SafeMaxPool3d", "valid_mask",
           "reduce_steps", "FRAME", "CLIP"]
