"""Late fusions: ``{stream: logits [B, K]} -> logits [B, K]``.

* ``average``: the mean of the streams' softmax probabilities, returned as log-probabilities, so
  that ``softmax(output)`` is exactly that average (Simonyan & Zisserman's fusion by averaging).
* ``weighted``: a learned weight per stream (softmax-normalised) on the streams' log-probabilities.
* ``linear``: the paper's linear SVM fusion, as a learned linear layer on the stacked
  L2-normalised softmax scores; initialised to averaging. Train it as a separate stage: its
  parameters are ``model.fusion.*``, the only ones the engine's two-stage training leaves free.
* ``concat``: concatenated class scores, then a linear layer.
* ``logit_sum`` / ``logit_average``: the streams' logits added (two-stream I3D: DeepMind's
  kinetics-i3d ``evaluate_sample.py`` adds the RGB and flow logits, then takes the softmax) or
  averaged; any number of streams.
"""
from __future__ import annotations

import math
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from zoo.registry import register_fusion
from zoo.specs import FusionSpec, ModelMeta

from ..papers import PAPERS


class _Late(nn.Module):
    def __init__(self, streams: List[str], num_classes: int):
        super().__init__()
        self.streams = list(streams)
        self.num_classes = num_classes

    def stack(self, scores: Dict[str, torch.Tensor]) -> torch.Tensor:
        missing = [s for s in self.streams if s not in scores]
        if missing:
            raise KeyError(f"fusion expects streams {self.streams}, got {sorted(scores)}")
        return torch.stack([scores[s] for s in self.streams], dim=1)  # [B, S, K]


class AverageFusion(_Late):
    def forward(self, scores: Dict[str, torch.Tensor]) -> torch.Tensor:
        logp = F.log_softmax(self.stack(scores), dim=-1)
        return torch.logsumexp(logp, dim=1) - math.log(len(self.streams))


class WeightedFusion(_Late):
    def __init__(self, streams, num_classes):
        super().__init__(streams, num_classes)
        self.weight = nn.Parameter(torch.zeros(len(self.streams)))

    def forward(self, scores):
        w = torch.softmax(self.weight, 0)
        return (F.log_softmax(self.stack(scores), dim=-1) * w[None, :, None]).sum(1)


class LinearFusion(_Late):
    """A linear classifier (SVM in the paper) on the stacked L2-normalised softmax scores."""

    def __init__(self, streams, num_classes, scale: float = 10.0):
        super().__init__(streams, num_classes)
        s = len(self.streams)
        self.linear = nn.Linear(s * num_classes, num_classes)
        with torch.no_grad():  # start as averaging of the normalised scores
            self.linear.weight.copy_(torch.eye(num_classes).repeat(1, s) * (scale / s))
            self.linear.bias.zero_()

    def forward(self, scores):
        p = F.normalize(torch.softmax(self.stack(scores), dim=-1), p=2, dim=-1)
        return self.linear(p.flatten(1))


class LogitFusion(_Late):
    """The streams' logits summed, divided by `divisor` (1: sum; the stream count: average)."""

    def __init__(self, streams, num_classes, average: bool = False):
        super().__init__(streams, num_classes)
        self.divisor = len(self.streams) if average else 1

    def forward(self, scores):
        return self.stack(scores).sum(1) / self.divisor


class ConcatFusion(_Late):
    def __init__(self, streams, num_classes):
        super().__init__(streams, num_classes)
        self.linear = nn.Linear(len(self.streams) * num_classes, num_classes)

    def forward(self, scores):
        return self.linear(self.stack(scores).flatten(1))


@register_fusion("average", spec=FusionSpec(level="late"),
                 meta=ModelMeta(**PAPERS["two_stream"], summary="Mean of the streams' softmax scores "
                                "(returned as log-probabilities).", tags=("late",)))
def average(streams: List[str], num_classes: int) -> AverageFusion:
    """Average of the streams' softmax probabilities; the output is their log (no parameters)."""
    return AverageFusion(streams, num_classes)


@register_fusion("weighted", spec=FusionSpec(level="late"),
                 meta=ModelMeta(**PAPERS["two_stream"], summary="Learned per-stream weights on the streams' log-probabilities.",
                                tags=("late", "learned")))
def weighted(streams: List[str], num_classes: int) -> WeightedFusion:
    """A learned weight per stream (softmax-normalised) on the streams' log-softmax scores."""
    return WeightedFusion(streams, num_classes)


@register_fusion("linear", spec=FusionSpec(level="late"),
                 meta=ModelMeta(**PAPERS["two_stream"], summary="Linear (SVM) fusion of the stacked "
                                "L2-normalised softmax scores; trained as a second stage.",
                                tags=("late", "learned", "svm")))
def linear(streams: List[str], num_classes: int, scale: float = 10.0) -> LinearFusion:
    """Learned linear layer on stacked L2-normalised softmax scores (the paper's SVM fusion)."""
    return LinearFusion(streams, num_classes, scale)


@register_fusion("concat", spec=FusionSpec(level="late"),
                 meta=ModelMeta(**PAPERS["fusion_2016"], summary="Concatenated class scores, then a linear layer.",
                                tags=("late", "learned")))
def concat(streams: List[str], num_classes: int) -> ConcatFusion:
    """Concatenate the streams' class scores and map them to the classes with a linear layer."""
    return ConcatFusion(streams, num_classes)


@register_fusion("logit_sum", spec=FusionSpec(level="late"),
                 meta=ModelMeta(**PAPERS["i3d"], summary="Sum of the streams' logits (two-stream I3D's "
                                "fusion in the reference kinetics-i3d code).", tags=("late",)))
def logit_sum(streams: List[str], num_classes: int) -> LogitFusion:
    """The streams' logits added (softmax of the sum = product of the streams' softmaxes, renormalised)."""
    return LogitFusion(streams, num_classes)


@register_fusion("logit_average", spec=FusionSpec(level="late"),
                 meta=ModelMeta(**PAPERS["i3d"], summary="Mean of the streams' logits.", tags=("late",)))
def logit_average(streams: List[str], num_classes: int) -> LogitFusion:
    """The mean of the streams' logits (no parameters)."""
    return LogitFusion(streams, num_classes, average=True)
