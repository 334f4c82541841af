"""Composition: streams (modality -> backbone -> temporal head) and a fusion, as one nn.Module."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from .specs import LATE, MID, ModelSpec

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def _accepts_lengths(module: nn.Module) -> bool:
    return "lengths" in inspect.signature(module.forward).parameters


class Stream(nn.Module):
    """One modality: a backbone, and a temporal head when the stream scores on its own."""

    def __init__(self, backbone: nn.Module, temporal_head: Optional[nn.Module] = None):
        super().__init__()
        self.backbone = backbone
        self.temporal_head = temporal_head
        self._head_takes_lengths = temporal_head is not None and _accepts_lengths(temporal_head)

    def score(self, feature_map: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        if self._head_takes_lengths:
            return self.temporal_head(feature_map, lengths=lengths)
        return self.temporal_head(feature_map)


class VideoClassifier(nn.Module):
    """Streams, a fusion, and for mid-level fusion the head that reads the fused map.

    ``forward`` takes ``[B, C, T, H, W]`` for a single stream or ``{stream: tensor}`` (plus an
    optional ``"lengths"`` tensor of valid frames per clip) and returns logits ``[B, classes]``.
    """

    def __init__(self, streams: Dict[str, Stream], fusion: Optional[nn.Module], spec: ModelSpec,
                 config: Dict[str, Any], fused_head: Optional[nn.Module] = None,
                 late_fusion: Optional[nn.Module] = None):
        super().__init__()
        self.streams = nn.ModuleDict(streams)
        self.fusion = fusion
        self.fused_head = fused_head
        self.late_fusion = late_fusion  # mid-level models: fused scores + streams kept late
        self.spec = spec
        self.config = config

    def _split(self, x: Inputs):
        names = list(self.streams)
        if isinstance(x, torch.Tensor):
            if len(names) != 1:
                raise ValueError(f"this model reads {len(names)} streams {names}: pass a dict "
                                 f"{{{', '.join(repr(n) + ': tensor' for n in names)}}}")
            return {names[0]: x}, None
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"input lacks stream(s) {missing}; this model reads {names} "
                             f"(model.spec.inputs gives each stream's shape)")
        return {n: x[n] for n in names}, x.get("lengths")

    def forward(self, x: Inputs) -> torch.Tensor:
        return self.forward_with_streams(x)[0]

    def forward_with_streams(self, x: Inputs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The model's logits, and the logits of each stream that scores on its own (its
        temporal head's, before fusion; empty for a single stream)."""
        inputs, lengths = self._split(x)
        maps = {n: s.backbone(inputs[n]) for n, s in self.streams.items()}
        scores = {n: s.score(maps[n], lengths) for n, s in self.streams.items()
                  if s.temporal_head is not None}
        if self.spec.fusion_level == MID:
            fused = self.fused_head(self.fusion(maps))
            return (self.late_fusion({"fused": fused, **scores}) if scores else fused), scores
        if self.fusion is None:
            return next(iter(scores.values())), {}
        return self.fusion(scores), scores

    def extra_repr(self) -> str:
        return f"name={self.config.get('name', '?')}, num_classes={self.spec.num_classes}"


__all__ = ["VideoClassifier", "Stream", "LATE", "MID"]
