"""Composition: streams (modality -> backbone -> temporal head) and a fusion, as one nn.Module."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from .specs import CLIP, FRAME, LATE, MID, ModelSpec

Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def _accepts_lengths(module: Optional[nn.Module]) -> bool:
    return module is not None and "lengths" in inspect.signature(module.forward).parameters


HEAD_FIX = "or use a head that reads lengths (avg_pool, lstm, tsn, fc with per_frame)"


def refuse_padding(lengths: Optional[torch.Tensor], steps: int, what: str,
                   fix: str = HEAD_FIX) -> None:
    """Raise when `lengths` (valid frames per clip) leaves any of a map's `steps` time steps as
    padding: what a head that cannot leave padding out calls instead of scoring it silently
    (`fix`: the way out besides batching clips of equal length)."""
    if lengths is not None and bool((torch.as_tensor(lengths) < steps).any()):
        raise ValueError(
            f"{what} cannot leave out padded frames, but this batch pads (lengths "
            f"{torch.as_tensor(lengths).tolist()} of {steps} time steps): batch clips of equal "
            f"length, {fix}")


def _score(head: nn.Module, takes_lengths: bool, feature_map: torch.Tensor,
           lengths: Optional[torch.Tensor]) -> torch.Tensor:
    if takes_lengths:
        return head(feature_map, lengths=lengths)
    refuse_padding(lengths, feature_map.shape[2], f"temporal head {type(head).__name__}")
    return head(feature_map)


class Stream(nn.Module):
    """One modality: a backbone, and a temporal head when the stream scores on its own.
    `time` is the backbone's (zoo.specs.FRAME or CLIP): a clip backbone's convolutions mix
    frames, so no head can leave a padded frame out of its features."""

    def __init__(self, backbone: nn.Module, temporal_head: Optional[nn.Module] = None,
                 time: str = FRAME):
        super().__init__()
        self.backbone = backbone
        self.temporal_head = temporal_head
        self.time = time
        self._head_takes_lengths = _accepts_lengths(temporal_head)

    def features(self, x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        """The backbone's feature map of `x` ``[B, C, T, H, W]``; refuses a padded batch where
        the backbone mixes frames."""
        if self.time == CLIP:
            refuse_padding(lengths, x.shape[2], f"backbone {type(self.backbone).__name__} (a "
                           f"clip network: its convolutions mix frames)",
                           "or pad short videos with frames of their own (zoo's loaders repeat the "
                           "last one), or use a per-frame backbone")
        return self.backbone(x)

    def score(self, feature_map: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        return _score(self.temporal_head, self._head_takes_lengths, feature_map, lengths)


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
        self._fused_takes_lengths = _accepts_lengths(fused_head)
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
        maps = {n: s.features(inputs[n], lengths) for n, s in self.streams.items()}
        scores = {n: s.score(maps[n], lengths) for n, s in self.streams.items()
                  if s.temporal_head is not None}
        if self.spec.fusion_level == MID:
            fused = _score(self.fused_head, self._fused_takes_lengths, self.fusion(maps), lengths)
            return (self.late_fusion({"fused": fused, **scores}) if scores else fused), scores
        if self.fusion is None:
            return next(iter(scores.values())), {}
        return self.fusion(scores), scores

    def extra_repr(self) -> str:
        return f"name={self.config.get('name', '?')}, num_classes={self.spec.num_classes}"


__all__ = ["VideoClassifier", "Stream", "refuse_padding", "LATE", "MID"]
