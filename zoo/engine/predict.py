"""Prediction: the top-k classes of videos, averaged over test views (`predict_video` for one
file, `predict_videos` for many, decoded in DataLoader worker processes)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..specs import InputSpec
from ..tensors import to_device

Views = Union[int, Tuple[int, int]]
Ranked = List[Tuple[str, float]]


def _views(views: Views) -> Tuple[int, int]:
    clips, crops = (views, 1) if isinstance(views, int) else views
    if clips < 1 or crops not in (1, 3):
        raise ValueError(f"views must be clips >= 1 or (clips, crops) with crops 1 or 3, "
                         f"got {views!r}")
    return clips, crops


def _inputs(model: nn.Module, inputs: Optional[Dict[str, InputSpec]]) -> Dict[str, InputSpec]:
    spec = getattr(model, "spec", None)
    inputs = inputs or (spec.inputs if spec is not None else None)
    if not inputs:
        raise ValueError("prediction needs the model's input streams: pass inputs= "
                         "or use a model built by zoo.build (it has .spec)")
    return inputs


class VideoViews(Dataset):
    """The test views of each video of `paths`: ``{"video", "inputs": {stream: [V, C, T, H, W]}}``,
    or ``{"video", "error"}`` for one that cannot be read when `errors_as_items` (else it raises
    `zoo.data.VideoDecodeError` naming it)."""

    def __init__(self, paths: Sequence[Union[str, Path]], inputs: Dict[str, InputSpec],
                 views: Views = 1, errors_as_items: bool = True):
        from ..data import VideoClipDataset, VideoRecord

        clips, crops = _views(views)
        self.reader = VideoClipDataset([VideoRecord(str(p), -1) for p in paths], classes=[],
                                       inputs=inputs, train=False, on_error="raise", clips=clips,
                                       crops=crops)
        self.errors_as_items = errors_as_items

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        video = self.reader.records[index].path
        try:
            sample = self.reader[index]
        except Exception as exc:  # one unreadable video is one line of the output
            if not self.errors_as_items:
                raise
            return {"video": video, "error": " ".join(str(exc).split()) or type(exc).__name__}
        inputs = {name: clip if clip.dim() == 5 else clip.unsqueeze(0)
                  for name, clip in sample["inputs"].items()}
        return {"video": video, "inputs": inputs}


def _only(items: List[Any]) -> Any:
    return items[0]


@torch.no_grad()
def _rank(model: nn.Module, inputs: Dict[str, torch.Tensor], topk: int,
          classes: Optional[Sequence[str]]) -> Ranked:
    """The `topk` (label, probability) pairs of one video's views ``{stream: [V, C, T, H, W]}``."""
    from ..data import average_view_scores

    param = next(model.parameters(), None)  # an exported model (zoo.engine.runtimes) has none
    device = param.device if param is not None else torch.device("cpu")
    batch = to_device({name: clip.unsqueeze(0) for name, clip in inputs.items()}, device)
    multi_label = bool(getattr(getattr(model, "spec", None), "multi_label", False))
    scores = average_view_scores(model, batch, multi_label=multi_label)[0].float()
    classes = classes or getattr(model, "classes", None)
    top = scores.topk(min(topk, scores.numel()))
    return [(classes[i] if classes else str(i), float(p))
            for p, i in zip(top.values.tolist(), top.indices.tolist())]


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """`model` in eval mode inside the block, in its former mode after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def predict_video(model: nn.Module, video_path: Union[str, Path], topk: int = 5,
                  views: Views = 1, classes: Optional[Sequence[str]] = None,
                  inputs: Optional[Dict[str, InputSpec]] = None) -> Ranked:
    """Decode `video_path`, sample the test views of every stream of the model, average the
    class probabilities over views and return the `topk` ``(label, probability)`` pairs.

    `views` is a number of temporal clips spread over the video, or ``(clips, crops)`` with 1
    (centre) or 3 spatial crops. The streams are `inputs`, by default ``model.spec.inputs``;
    labels are `classes`, by default ``model.classes``, else class indices. Probabilities are
    softmax scores, or sigmoid ones for a multi-label model (``model.spec.multi_label``).
    An unreadable file (missing, empty, corrupt) raises `zoo.data.VideoDecodeError` naming it.
    """
    sample = VideoViews([video_path], _inputs(model, inputs), views, errors_as_items=False)[0]
    with _eval_mode(model):
        return _rank(model, sample["inputs"], topk, classes)


def predict_videos(model: nn.Module, paths: Sequence[Union[str, Path]], topk: int = 5,
                   views: Views = 1, num_workers: int = 0, progress: bool = False,
                   classes: Optional[Sequence[str]] = None,
                   inputs: Optional[Dict[str, InputSpec]] = None) -> Iterator[Dict[str, Any]]:
    """`predict_video` over many files, in order, decoding in `num_workers` worker processes:
    yields ``{"video", "top": [(label, probability)]}``, or ``{"video", "error"}`` for a video
    that cannot be read (the others go on)."""
    from tqdm.auto import tqdm

    dataset = VideoViews(paths, _inputs(model, inputs), views)
    loader = DataLoader(dataset, batch_size=1, collate_fn=_only, num_workers=num_workers)
    with _eval_mode(model):
        for sample in tqdm(loader, desc="predict", unit="video", disable=not progress):
            if "error" in sample:
                yield sample
            else:
                yield {"video": sample["video"],
                       "top": _rank(model, sample["inputs"], topk, classes)}
