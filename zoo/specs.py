"""Typed specs: what a component consumes and produces.

`zoo.build` checks them when it puts a model together, so that a wrong combination fails with a
sentence naming both components instead of a shape error deep inside `forward`.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .errors import ConfigError


MODALITIES = ("rgb", "flow", "rgb_diff")
SAMPLINGS = ("uniform", "dense", "segments")


@dataclass(frozen=True)
class Normalisation:
    """Per-channel mean and std of an input convention (on 0-1 pixels), and where they come from."""

    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    source: str

    def as_config(self) -> Dict[str, Any]:
        """``{"mean": [...], "std": [...]}``, for an ``input`` entry of a config."""
        return {"mean": list(self.mean), "std": list(self.std)}


# Every normalisation zoo and its first-party components use, each once. Two conventions both
# called "Kinetics" are different numbers: torchvision's and PyTorchVideo's.
NORMALISATION = {
    "imagenet": Normalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                              "ImageNet training-set statistics (torchvision, timm)"),
    "flow": Normalisation((0.5,), (0.226,),
                          "zoo: optical flow quantised to [0, 1] around 0.5 (no motion)"),
    "kinetics_torchvision": Normalisation(
        (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989),
        "torchvision's video ResNets (r3d_18, mc3_18, r2plus1d_18): Kinetics-400 statistics"),
    "kinetics_pytorchvideo": Normalisation(
        (0.45, 0.45, 0.45), (0.225, 0.225, 0.225),
        "PyTorchVideo's model zoo (X3D, Slow, SlowFast, CSN, MViT): rounded Kinetics statistics"),
    "c3d_sports1m": Normalisation(
        (101.4083 / 255, 97.6570 / 255, 90.2516 / 255), (1 / 255,) * 3,
        "the C3D release: per-channel means of its Sports-1M mean clip (sport1m_train16_128_mean, "
        "BGR 90.25, 97.66, 101.41 on 0-255 pixels) subtracted, no scaling"),
}
IMAGENET_MEAN, IMAGENET_STD = NORMALISATION["imagenet"].mean, NORMALISATION["imagenet"].std
FLOW_MEAN, FLOW_STD = NORMALISATION["flow"].mean, NORMALISATION["flow"].std


@dataclass(frozen=True)
class InputSpec:
    """What one stream of a model reads: a tensor ``[B, channels, frames, size, size]``.

    For ``modality="flow"`` one time step is a stack of ``flow_stack`` (L) flow fields, so the
    stream sees ``2 * L`` channels per step (Simonyan & Zisserman); ``flow_stack=1`` gives the
    plain 2-channel flow video that 3D networks (I3D) read.
    """

    modality: str = "rgb"
    frames: int = 8
    size: int = 112
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD
    flow_stack: int = 1
    sampling: str = "uniform"
    frame_stride: int = 1

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ConfigError(f"modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"sampling {self.sampling!r} is not one of {', '.join(SAMPLINGS)}")
        for name in ("frames", "size", "flow_stack", "frame_stride"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        for name in ("mean", "std"):
            object.__setattr__(self, name, _numbers(name, getattr(self, name)))
        if self.modality == "flow":  # the RGB defaults stand for the flow ones
            if self.mean == IMAGENET_MEAN:
                object.__setattr__(self, "mean", FLOW_MEAN)
            if self.std == IMAGENET_STD:
                object.__setattr__(self, "std", FLOW_STD)
        for name in ("mean", "std"):
            if len(getattr(self, name)) not in (1, self.channels):
                raise ConfigError(
                    f"{name} {list(getattr(self, name))} has {len(getattr(self, name))} values, "
                    f"but this {self.modality} input has {self.channels} channels: give 1 value or "
                    f"{self.channels}")
        if min(self.std) <= 0:
            raise ConfigError(f"std {list(self.std)} must be positive (it divides the input)")

    @property
    def channels(self) -> int:
        return 2 * self.flow_stack if self.modality == "flow" else 3

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """``(C, T, H, W)`` of one clip."""
        return (self.channels, self.frames, self.size, self.size)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _numbers(name: str, values: Any) -> Tuple[float, ...]:
    """`values` as a tuple of finite floats (one number stands for a 1-tuple)."""
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = (values,)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            for v in values) or not len(tuple(values)):
        raise ConfigError(f"{name} must be a list of finite numbers (one per channel), "
                          f"got {values!r}")
    return tuple(float(v) for v in values)


# How a backbone treats time, and so what its feature map's time axis means.
FRAME = "frame"  # a 2D network applied to each frame: one feature step per input frame
CLIP = "clip"  # a 3D network: time is mixed by the convolutions, and usually downsampled


@dataclass(frozen=True)
class FeatureSpec:
    """A backbone's output: a map ``[B, channels, t, h, w]``.

    ``time`` is FRAME when step i of the map comes from input frame i alone, CLIP when the
    backbone mixes frames. ``time_steps`` and ``spatial`` are the sizes at the model's input spec.
    """

    channels: int
    time: str = FRAME
    time_steps: int = 1
    spatial: Tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class HeadSpec:
    """What a temporal head consumes."""

    consumes: Tuple[str, ...] = (FRAME, CLIP)
    min_time_steps: int = 1
    needs_spatial: bool = False

    def why_not(self, feature: FeatureSpec) -> Optional[str]:
        """The reason this head cannot read `feature`, or None when it can."""
        if feature.time not in self.consumes:
            wanted = " or ".join("per-frame" if c == FRAME else "clip" for c in self.consumes)
            got = "per-frame features (a 2D network)" if feature.time == FRAME else (
                "clip features whose time axis mixes frames (a 3D network)")
            return f"it consumes {wanted} features, but the backbone produces {got}"
        if feature.time_steps < self.min_time_steps:
            return (f"it needs at least {self.min_time_steps} time steps, but the backbone leaves "
                    f"{feature.time_steps} at this input")
        if self.needs_spatial and min(feature.spatial) < 1:
            return "it needs a spatial feature map, but the backbone outputs pooled vectors"
        return None


LATE = "late"  # fuses class scores
MID = "mid"  # fuses feature maps


@dataclass(frozen=True)
class FusionSpec:
    """Whether a fusion combines class scores (late) or backbone feature maps (mid-level)."""

    level: str = LATE
    min_streams: int = 1
    max_streams: Optional[int] = None
    same_spatial: bool = False  # mid-level fusions that stack maps need equal h, w

    def why_not(self, streams: Dict[str, FeatureSpec]) -> Optional[str]:
        n = len(streams)
        if n < self.min_streams:
            return f"it needs at least {self.min_streams} streams, but the model has {n}"
        if self.max_streams is not None and n > self.max_streams:
            return f"it takes at most {self.max_streams} streams, but the model has {n}"
        if self.same_spatial and len({f.spatial for f in streams.values()}) > 1:
            sizes = ", ".join(f"{k}: {f.spatial}" for k, f in streams.items())
            return f"it stacks feature maps, which must have the same spatial size ({sizes})"
        if self.same_spatial and len({f.time_steps for f in streams.values()}) > 1:
            steps = ", ".join(f"{k}: {f.time_steps}" for k, f in streams.items())
            return f"it stacks feature maps, which must have the same number of time steps ({steps})"
        return None


@dataclass(frozen=True)
class ModelSpec:
    """What a built model reads and predicts; data pipelines and the harness configure from it."""

    inputs: Dict[str, InputSpec]
    num_classes: int
    fusion_level: str = LATE
    multi_label: bool = False


@dataclass
class ModelMeta:
    """Metadata beside a component or preset; MODEL_CARDS.md is generated from it."""

    paper: str = ""
    year: Optional[int] = None
    url: str = ""
    summary: str = ""
    tags: Tuple[str, ...] = ()
    extra: Dict[str, Any] = field(default_factory=dict)
