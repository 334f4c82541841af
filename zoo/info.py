"""What zoo knows about a component without building it: one typed record per kind.

The ``register_<kind>`` decorators take these fields as keywords (``temporal=``, ``spec=``,
``needs_root=`` ...) and keep them as ``Component.info``; the builder, the benchmark and the
conformance kit read them as attributes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional, Tuple, Union

from .specs import CLIP, FRAME, FusionSpec, HeadSpec, InputSpec
from .weights import Peer, Pretrained, WeightFile, weight_files


@dataclass(frozen=True)
class BackboneInfo:
    """``temporal``: FRAME for a 2D network run on every frame, CLIP for a 3D one;
    ``default_input``: the input of its paper; ``weights``: what ``pretrained=True`` loads (the
    registry's component loads it after the builder; None: the builder handles ``pretrained``)."""

    temporal: str
    default_input: Optional[InputSpec] = None
    weights: Optional[Pretrained] = None

    def __post_init__(self):
        if self.temporal not in (FRAME, CLIP):
            raise ValueError(f"temporal={self.temporal!r}: a backbone is temporal='{FRAME}' (a 2D "
                             f"network run on every frame) or '{CLIP}' (a 3D network)")


@dataclass(frozen=True)
class HeadInfo:
    """``spec``: the features the head reads."""

    spec: HeadSpec = field(default_factory=HeadSpec)


@dataclass(frozen=True)
class FusionInfo:
    """``spec``: late (class scores) or mid-level (feature maps), and how many streams."""

    spec: FusionSpec = field(default_factory=FusionSpec)


@dataclass(frozen=True)
class PresetInfo:
    """``weights``: whole-model files ``zoo.build(name, weights=True)`` loads (the first);
    ``peer``: the same network in torchvision / pytorchvideo, whose checkpoints it reads."""

    weights: Tuple[WeightFile, ...] = ()
    peer: Optional[Peer] = None

    def __post_init__(self):
        object.__setattr__(self, "weights", weight_files(self.weights))


@dataclass(frozen=True)
class DatasetInfo:
    """``needs_root``: False for a dataset zoo generates (no folder to point at);
    ``multi_label``: several labels per clip (mAP rather than top-1)."""

    needs_root: bool = True
    multi_label: bool = False


INFO = {"backbone": BackboneInfo, "temporal_head": HeadInfo, "fusion": FusionInfo,
        "preset": PresetInfo, "dataset": DatasetInfo}
Info = Union[BackboneInfo, HeadInfo, FusionInfo, PresetInfo, DatasetInfo]


def items(info: Info) -> Tuple[Tuple[str, Any], ...]:
    """(field, value) of `info`, for `zoo describe`."""
    return tuple((f.name, getattr(info, f.name)) for f in fields(info))
