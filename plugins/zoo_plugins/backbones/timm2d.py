"""2D image networks from timm, run on every frame (time folded into the batch).

The `TIMM` family (entry point group ``zoo.families``) offers every name of ``timm.list_models()``
as a backbone; ``tsm`` is a timm ResNet with the temporal shift module (Lin et al. 2019) in its
residual blocks. Options of every timm backbone:

* ``in_channels``: input channels (``2 * L`` for a stack of L flow fields); with pretrained RGB
  weights the first convolution is cross-modality initialised (averaged over RGB, replicated).
* ``pretrained``: False, True (a state dict at ``$ZOO_CACHE/timm/<name>.safetensors|.pth|.bin``),
  or a path / URL (see `zoo.weights`; zoo loads it into the timm network after building).
* ``out_stage``: output the map of one stage instead of the last one (an index into timm's
  ``feature_info``: 0 = stem, ..., -1 = last), e.g. to fuse two streams at a chosen layer.
* ``temporal_shift`` / ``shift_div``: insert TSM (shift 1/shift_div of the channels each way in
  time) at the start of every residual branch; the map's time axis then mixes frames (CLIP).
* ``width``: a channel multiplier for timm's ResNet family (stem and every stage scaled, depth
  and strides kept); other timm networks accept only width 1.
* any other keyword goes to ``timm.create_model`` (``drop_path_rate`` ...).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional
from unittest import mock

import torch
from torch import nn

from zoo.errors import IncompatibleError
from zoo.info import BackboneInfo
from zoo.registry import Component, Family, register_backbone
from zoo.specs import CLIP, FRAME, NORMALISATION, InputSpec, ModelMeta
from zoo.weights import Pretrained

from .._util import check_width, scaled
from ..papers import PAPERS

TIMM_META = ModelMeta(
    **PAPERS["timm"],
    summary="Any timm 2D network run on every frame; time folded into the batch.",
    tags=("2d", "timm"))

TSM_META = ModelMeta(
    **PAPERS["tsm"],
    summary="A 2D ResNet whose residual branches shift 1/8 of the channels forward and 1/8 "
            "backward in time: temporal modelling at zero extra parameters.",
    tags=("2d", "tsm", "timm"))


def timm_weights(model: str, into: str, rename=None) -> Pretrained:
    """A timm network's weights (`model` may be a template of the builder's arguments) under the
    cache, ``timm/<model>.safetensors``, ``.pth`` or ``.bin``, loaded into the submodule `into`
    (`rename`: see `Pretrained`; by default, the convolutions a temporal shift wraps)."""
    return Pretrained(cache=[f"timm/{model}{ext}" for ext in (".safetensors", ".pth", ".bin")],
                      into=into, rename=rename or shifted_keys)


def _timm_default_input(name: str) -> InputSpec:
    imagenet = NORMALISATION["imagenet"]
    try:
        import timm

        cfg = timm.models.get_pretrained_cfg(name.split(".")[0]) or {}
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        size = int(cfg.get("input_size", (3, 224, 224))[-1])
        return InputSpec(frames=8, size=size, mean=tuple(cfg.get("mean", imagenet.mean)),
                         std=tuple(cfg.get("std", imagenet.std)))
    except Exception:
        return InputSpec(frames=8, size=224)


def _narrow_resnet(name: str, in_channels: int, width: float, **kw) -> nn.Module:
    """timm ResNet `name` with its stem and stage channels scaled by `width` (timm's ``channels``
    and ``stem_width``; the single 7x7 stem, fixed at 64 in timm, is rebuilt at the scaled width)."""
    import timm
    from timm.models import resnet

    with torch.device("meta"):
        ref = timm.create_model(name, pretrained=False, num_classes=0, **kw)
    deep = isinstance(getattr(ref, "conv1", None), nn.Sequential)
    if not isinstance(ref, resnet.ResNet) or (not deep and isinstance(ref.maxpool, nn.Sequential)):
        raise IncompatibleError(
            f"width={width}: timm network {name!r} ({type(ref).__name__}) cannot be narrowed; "
            f"width != 1 applies to timm's ResNet family (resnet18, resnet50, resnext, ...) and "
            f"zoo's own backbones.")
    stages = ref.feature_info[1:]
    channels = tuple(scaled(f["num_chs"] // type(getattr(ref, f["module"])[0]).expansion, width)
                     for f in stages)
    stem_convs = [m for m in ref.conv1.modules() if isinstance(m, nn.Conv2d)]
    stem = scaled(stem_convs[1 if deep else 0].out_channels, width)
    kw.update(channels=channels, stem_width=stem)
    if deep:
        return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **kw)
    blocks = resnet.make_blocks
    with mock.patch.object(resnet, "make_blocks", lambda f, c, r, _, **k: blocks(f, c, r, stem, **k)):
        net = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **kw)
    net.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.bn1 = type(net.bn1)(stem)
    net.feature_info[0]["num_chs"] = stem
    return net


def create_timm_model(name: str, in_channels: int = 3, width: float = 1.0, **kw) -> nn.Module:
    """``timm.create_model(name)`` without classifier, for `in_channels`, `width` times as wide."""
    import timm

    if width != 1:
        return _narrow_resnet(name, in_channels, width, **kw)
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **kw)


class TemporalShift(nn.Module):
    """Shift 1/div of the channels one step back in time, 1/div one step forward, then `net`.

    Reads ``[B*T, C, H, W]``; `n_segment` (T) is set by the backbone before each forward."""

    def __init__(self, net: nn.Module, div: int = 8):
        super().__init__()
        self.net, self.div, self.n_segment = net, div, 1

    @staticmethod
    def shift(x: torch.Tensor, n_segment: int, div: int) -> torch.Tensor:
        nt, c, h, w = x.shape
        x = x.view(nt // n_segment, n_segment, c, h, w)
        fold = c // div
        out = torch.zeros_like(x)
        out[:, :-1, :fold] = x[:, 1:, :fold]  # frame t sees t+1
        out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]  # frame t sees t-1
        out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
        return out.view(nt, c, h, w)

    def forward(self, x):
        return self.net(self.shift(x, self.n_segment, self.div))


_RESIDUAL_BLOCKS = ("BasicBlock", "Bottleneck", "BottleneckBlock", "ResBottleneck")


def shifted_keys(model: nn.Module) -> Dict[str, str]:
    """Key prefixes of a 2D checkpoint -> `model`'s, for the convolutions a `TemporalShift` wraps."""
    return {f"{n}.": f"{n}.net." for n, m in model.named_modules() if isinstance(m, TemporalShift)}


def add_temporal_shift(model: nn.Module, div: int = 8) -> List[TemporalShift]:
    """Wrap the first convolution of every residual block of `model` in a `TemporalShift`."""
    shifts = []
    for module in list(model.modules()):
        if type(module).__name__ in _RESIDUAL_BLOCKS and hasattr(module, "conv1"):
            wrapped = TemporalShift(module.conv1, div)
            module.conv1 = wrapped
            shifts.append(wrapped)
    if not shifts:
        raise IncompatibleError(
            f"temporal_shift needs a residual network whose blocks have a `conv1` (timm ResNet, "
            f"ResNeXt, SE-ResNet, RegNet families); {type(model).__name__} has none.")
    return shifts


class TimmFrameBackbone(nn.Module):
    """A timm 2D network applied to every frame: ``[B, C, T, H, W] -> [B, D, T, h, w]``."""

    def __init__(self, name: str, in_channels: int = 3, pretrained: Any = False,
                 out_stage: Optional[int] = None, temporal_shift: bool = False, shift_div: int = 8,
                 width: float = 1.0, **timm_kwargs):
        super().__init__()
        self.name = name
        width = check_width(width, pretrained, f"timm model {name!r}")
        self.model = create_timm_model(name, in_channels, width, **timm_kwargs)
        self.out_stage = out_stage
        if out_stage is not None:
            info = self.model.feature_info
            idx = out_stage % len(info)
            self.out_stage = idx
            if idx != len(info) - 1 and hasattr(self.model, "prune_intermediate_layers"):
                self.model.prune_intermediate_layers([idx], prune_head=True)
            self.out_channels = int(info[idx]["num_chs"])
        else:
            self.out_channels = int(self.model.num_features)
        self.shifts = add_temporal_shift(self.model, shift_div) if temporal_shift else []
        self.time_kind = CLIP if self.shifts else FRAME

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.out_stage is not None:
            return m.forward_intermediates(x, indices=[self.out_stage], intermediates_only=True)[0]
        y = m.forward_features(x)
        if getattr(m, "output_fmt", "NCHW") == "NHWC" and y.dim() == 4:
            y = y.permute(0, 3, 1, 2)
        if y.dim() == 3:  # tokens (ViT-like): the pooled pre-logits vector as a 1x1 map
            y = m.forward_head(y, pre_logits=True)
        if y.dim() == 2:
            y = y[:, :, None, None]
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        for s in self.shifts:
            s.n_segment = t
        y = self._features(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)

    def feature_spec(self, input_spec: InputSpec):
        from zoo.specs import FeatureSpec

        from .._util import probe_shape

        key = (input_spec.channels, input_spec.size)
        cache = self.__dict__.setdefault("_spec_cache", {})
        if key not in cache:  # one frame is enough: a 2D network keeps T
            for s in self.shifts:
                s.n_segment = 1
            cache[key] = probe_shape(self.model, (1, input_spec.channels, input_spec.size, input_spec.size),
                                     fn=lambda m, x: self._features(x))
        _, d, hh, ww = cache[key]
        return FeatureSpec(channels=d, time=self.time_kind, time_steps=input_spec.frames, spatial=(hh, ww))


def create_timm_backbone(name: str, in_channels: int = 3, pretrained: Any = False, **kw) -> TimmFrameBackbone:
    return TimmFrameBackbone(name, in_channels=in_channels, pretrained=pretrained, **kw)


# -- the family: every timm name ---------------------------------------------------------------
def _list_names() -> List[str]:
    import timm

    return timm.list_models()


def _has(name: str) -> bool:
    import timm

    return timm.is_model(name.split(".")[0])


def _create(name: str) -> Component:
    def builder(in_channels: int = 3, pretrained: Any = False, out_stage: Optional[int] = None,
                temporal_shift: bool = False, shift_div: int = 8, width: float = 1.0, **kw):
        return create_timm_backbone(name, in_channels=in_channels, pretrained=pretrained,
                                    out_stage=out_stage, temporal_shift=temporal_shift,
                                    shift_div=shift_div, width=width, **kw)

    builder.__doc__ = f"timm {name!r} applied per frame. " + (__doc__ or "").split("\n\n", 1)[-1]
    builder.__name__ = name
    comp = Component("backbone", name, builder, "timm", TIMM_META,
                     BackboneInfo(FRAME, _timm_default_input(name),
                                  timm_weights(name.split(".")[0], into="model")))
    builder.__zoo_component__ = comp
    return comp


TIMM = Family(kind="backbone", source="timm", list_names=_list_names, create=_create, has=_has)


@register_backbone("tsm", temporal="clip", default_input=InputSpec(frames=8, size=224), meta=TSM_META,
                   weights=timm_weights("{model}", into="model"))
def tsm(in_channels: int = 3, pretrained: Any = False, model: str = "resnet50", shift_div: int = 8,
        width: float = 1.0, **kw) -> TimmFrameBackbone:
    """TSM: a timm residual network (`model`, default resnet50) with temporal shift in every block."""
    return TimmFrameBackbone(model, in_channels=in_channels, pretrained=pretrained,
                             temporal_shift=True, shift_div=shift_div, width=width, **kw)
