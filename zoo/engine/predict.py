"""`predict_video`: the top-k classes of one video file, averaged over test views."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..specs import InputSpec

Views = Union[int, Tuple[int, int]]


def _views(views: Views) -> Tuple[int, int]:
    clips, crops = (views, 1) if isinstance(views, int) else views
    if clips < 1 or crops not in (1, 3):
        raise ValueError(f"views must be clips >= 1 or (clips, crops) with crops 1 or 3, "
                         f"got {views!r}")
    return clips, crops


@torch.no_grad()
def predict_video(model: nn.Module, video_path: Union[str, Path], topk: int = 5,
                  views: Views = 1, classes: Optional[Sequence[str]] = None,
                  inputs: Optional[Dict[str, InputSpec]] = None) -> List[Tuple[str, float]]:
    """Decode `video_path`, sample the test views of every stream of the model, average the
    class probabilities over views and return the `topk` ``(label, probability)`` pairs.

    `views` is a number of temporal clips spread over the video, or ``(clips, crops)`` with 1
    (centre) or 3 spatial crops. The streams are `inputs`, by default ``model.spec.inputs``;
    labels are `classes`, by default ``model.classes``, else class indices. Probabilities are
    softmax scores, or sigmoid ones for a multi-label model (``model.spec.multi_label``).
    An unreadable file (missing, empty, corrupt) raises `zoo.data.VideoDecodeError` naming it.
    """
    from ..data import VideoClipDataset, VideoRecord, average_view_scores

    spec = getattr(model, "spec", None)
    inputs = inputs or (spec.inputs if spec is not None else None)
    if not inputs:
        raise ValueError("predict_video needs the model's input streams: pass inputs= "
                         "or use a model built by zoo.build (it has .spec)")
    clips, crops = _views(views)
    reader = VideoClipDataset([VideoRecord(str(video_path), -1)], classes=[], inputs=inputs,
                              train=False, on_error="raise", clips=clips, crops=crops)
    sample = reader[0]
    device = next(model.parameters()).device
    batch = {name: (clip if clip.dim() == 5 else clip.unsqueeze(0)).unsqueeze(0).to(device)
             for name, clip in sample["inputs"].items()}  # [1, views, C, T, H, W]
    multi_label = bool(getattr(spec, "multi_label", False))
    was_training = model.training
    model.eval()
    try:
        scores = average_view_scores(model, batch, multi_label=multi_label)[0]
    finally:
        model.train(was_training)
    classes = classes or getattr(model, "classes", None)
    top = scores.float().topk(min(topk, scores.numel()))
    return [(classes[i] if classes else str(i), float(p))
            for p, i in zip(top.values.tolist(), top.indices.tolist())]
