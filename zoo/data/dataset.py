"""The video clip dataset every adapter builds on: records in, normalised multi-stream clips out."""
from __future__ import annotations

import dataclasses
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..specs import InputSpec
from .flow import FlowComputer, FlowOptions, rgb_difference
from .health import ON_ERROR, DataHealth
from .sampling import PAD_MODES, clip_length, multiview_indices, sample_indices
from .transforms import default_short_side, resize_short_side, short_side_shape, spatial_views
from .video import Decoder, VideoDecodeError, get_decoder

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")
Label = Union[int, Tuple[int, ...]]


@dataclass(frozen=True)
class VideoRecord:
    """One sample: a video file, its label (a class index, -1 when unknown, or a tuple of class
    indices for multi-label data) and optionally the part of the video to read, in seconds."""

    path: str
    label: Label
    video_id: str = ""
    start: Optional[float] = None
    end: Optional[float] = None


def video_files(root: Any) -> List[str]:
    """The video files (by extension) in and below folder `root`, sorted, following symlinked
    folders (each real folder read once, so a link to a folder above ends no loop)."""
    found, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        found += [os.path.join(folder, name) for name in files
                  if name.lower().endswith(VIDEO_EXTENSIONS)]
    return sorted(found)


class VideoIndex:
    """Every video file under a folder (`video_files`), found by file name without extension or by relative
    path, so that adapters can try the naming schemes a dataset is distributed in."""

    def __init__(self, root: Any):
        self.root = Path(root)
        self.by_stem: Dict[str, str] = {}
        self.by_relative: Dict[str, str] = {}
        for path in video_files(self.root):
            relative = os.path.relpath(path, self.root).replace(os.sep, "/")
            self.by_relative[relative] = path
            self.by_relative[os.path.splitext(relative)[0]] = path
            self.by_stem.setdefault(os.path.splitext(os.path.basename(path))[0], path)

    def find(self, *names: str) -> Optional[str]:
        """The first of `names` (relative paths, with or without extension, or bare stems)."""
        for name in names:
            hit = self.by_relative.get(name) or self.by_stem.get(name)
            if hit:
                return hit
        return None


def keep_found(records: Iterable[Tuple[Optional[str], VideoRecord]], health: DataHealth,
               where: Any) -> List[VideoRecord]:
    """Records whose video was found (path not None); the others are counted as missing and
    reported in one warning."""
    kept, missing = [], []
    for path, record in records:
        if path:
            kept.append(dataclasses.replace(record, path=path))
        else:
            missing.append(record)
    if missing:
        health.missing += len(missing)
        examples = ", ".join(r.video_id for r in missing[:3])
        warnings.warn(f"{len(missing)} annotated videos were not found under {where} "
                      f"(e.g. {examples}); they are left out", RuntimeWarning, stacklevel=3)
    return kept


class FrameCache:
    """Decoded frames ``[3, H, W]`` in memory, by ``(video, short side, frame index)``, the
    least recently used dropped past `megabytes`. Each process (each DataLoader worker) fills
    its own; a pickled cache (a worker started by spawn) travels empty."""

    def __init__(self, megabytes: float = 256.0):
        self.limit = int(megabytes * 2 ** 20)
        self.size = 0
        self.hits = self.misses = 0
        self._frames: "OrderedDict[Tuple[str, int, int], np.ndarray]" = OrderedDict()

    def __getstate__(self) -> Dict[str, Any]:
        return {**self.__dict__, "_frames": OrderedDict(), "size": 0}

    def get(self, video: str, short_side: int, indices: Sequence[int]
            ) -> Dict[int, np.ndarray]:
        """The cached frames among `indices`."""
        found = {}
        for i in indices:
            frame = self._frames.get((video, short_side, i))
            if frame is not None:
                self._frames.move_to_end((video, short_side, i))
                found[i] = frame
        self.hits += len(found)
        self.misses += len(indices) - len(found)
        return found

    def missing(self, video: str, short_side: int, indices: Iterable[int]) -> List[int]:
        """The indices among `indices` not cached (not counted as hits or misses)."""
        return [i for i in indices if (video, short_side, i) not in self._frames]

    def put(self, video: str, short_side: int, frames: Dict[int, np.ndarray]) -> None:
        for i, frame in frames.items():
            if frame.nbytes > self.limit:
                continue
            old = self._frames.pop((video, short_side, i), None)
            self.size += frame.nbytes - (old.nbytes if old is not None else 0)
            self._frames[(video, short_side, i)] = frame
        while self.size > self.limit:
            self.size -= self._frames.popitem(last=False)[1].nbytes


def _span(spec: InputSpec) -> int:
    """Consecutive frames one time step of a stream reads."""
    return {"rgb": 1, "flow": spec.flow_stack + 1, "rgb_diff": 2}[spec.modality]


class VideoClipDataset(Dataset):
    """Clips of `records` for the streams `inputs` (``{name: InputSpec}``).

    Training samples one temporal clip per video (`InputSpec.sampling`: uniform, dense at
    `frame_stride`, or TSN segments) with a random start, crop and flip shared by all streams. Testing
    samples `clips` temporal views x `crops` (1 or 3) spatial ones; with more than one view each
    stream is ``[views, C, T, H, W]`` (see `average_view_scores`).
    Flow is computed on frames resized to the stream's short side, through `flow` options (and
    cache; `FlowOptions` or a dict of its fields). Unreadable videos follow `on_error` ("skip": None, counted; "raise"); short videos
    are padded (`pad`: "repeat" the last frame or "loop").
    Frames are decoded already shrunk toward the largest short side the streams resize to
    (`Decoder.read_resized`) and kept in a `FrameCache` of `frame_cache_mb` (0: none), so that a
    video read again (the next epoch, another clip of it) is not decoded again.
    `labelled` is False for annotations without labels (an official test file): training or
    evaluating on it should refuse.
    """

    def __init__(self, records: Sequence[VideoRecord], classes: Sequence[str],
                 inputs: Optional[Dict[str, InputSpec]] = None, *, train: bool = True,
                 multi_label: bool = False, on_error: str = "skip", pad: str = "repeat",
                 decoder: Union[str, Decoder] = "pyav",
                 flow: Union[FlowOptions, Dict[str, Any], None] = None,
                 clips: int = 1, crops: int = 1, short_side: Optional[int] = None,
                 class_groups: Optional[Dict[str, List[int]]] = None,
                 health: Optional[DataHealth] = None, frame_cache_mb: float = 256.0,
                 labelled: bool = True):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error {on_error!r} is not one of {ON_ERROR}")
        if pad not in PAD_MODES:
            raise ValueError(f"pad {pad!r} is not one of {PAD_MODES}")
        self.records = list(records)
        self.classes = list(classes)
        self.labelled = labelled  # False: no labels in the annotations (every label is -1)
        self.inputs = {k: v if isinstance(v, InputSpec) else InputSpec(**v)
                       for k, v in (inputs or {"rgb": InputSpec()}).items()}
        self.train, self.multi_label, self.on_error, self.pad = train, multi_label, on_error, pad
        self.decoder = get_decoder(decoder)
        # A dict (e.g. the `flow:` key of a run config's dataset section) is FlowOptions' fields.
        self.flow = FlowComputer(FlowOptions(**flow) if isinstance(flow, dict)
                                 else flow or FlowOptions())
        self.clips, self.crops = (1, 1) if train else (clips, crops)
        self.short_side = short_side
        self.class_groups = class_groups
        self.group_descriptions: Dict[str, str] = {}
        self.health = health or DataHealth()
        self.frame_cache = FrameCache(frame_cache_mb) if frame_cache_mb > 0 else None

    def __len__(self) -> int:
        return len(self.records)

    def label(self, index: int) -> Label:
        """The label of clip `index` as its record gives it (read without decoding)."""
        return self.records[index].label

    def __getitem__(self, index: int) -> Optional[Dict[str, Any]]:
        record = self.records[index]
        try:
            sample = self.load(record)
        except Exception as exc:  # one bad sample must not end a run: counted and logged
            if self.on_error == "raise":
                raise
            reason = str(exc) if isinstance(exc, VideoDecodeError) else (
                f"error: {type(exc).__name__}: {exc}")
            self.health.record_skipped(record.path, reason)
            return None
        self.health.record_loaded(sample["padded"])
        return sample

    def target(self, label: Label) -> Union[int, torch.Tensor]:
        if not self.multi_label:
            return int(label)
        target = torch.zeros(len(self.classes))
        target[list(label)] = 1.0
        return target

    def load(self, record: VideoRecord) -> Dict[str, Any]:
        """The sample of `record`; raises VideoDecodeError when the video gives no frames."""
        info = self.decoder.probe(record.path)
        first, count = self._frame_range(record, info)
        if record.start is not None and record.start * info.fps >= info.num_frames:
            self.health.note_once(record.path, (
                f"segment from {record.start:g} s starts after the end of the video "
                f"({info.num_frames / info.fps:.1f} s), so its clip repeats the video's last "
                f"frame: the annotation is for a longer video than this file; replace the "
                f"file with the full video, or drop the segment"))
        if self.train:  # one draw: the clip's start (shared by all dense streams), crop, flip
            start, top, left, coin = torch.rand(4).tolist()
            position, flip = (top, left), coin < 0.5
        else:
            start, position, flip = 0.5, None, False
        plans = {name: [[first + i for i in view] for view in self._plan(spec, count, start)]
                 for name, spec in self.inputs.items()}
        cached = {name: self.flow.from_cache(
                      record.path, short_side_shape(info.height, info.width, self._short(spec)),
                      {a: b for view in plans[name] for a, b in _flow_pairs(spec, view).items()})
                  for name, spec in self.inputs.items() if spec.modality == "flow"}
        decoding = [name for name in self.inputs if cached.get(name) is None]
        needed = sorted({i for name in decoding for view in plans[name] for i in view})
        short_side = max((self._short(self.inputs[name]) for name in decoding), default=0)
        frames, decode_padded = self._read(record.path, needed, short_side)
        padded = decode_padded or any(
            count < clip_length(s.sampling, s.frames, s.frame_stride, _span(s))
            for s in self.inputs.values())
        inputs = {}
        for name, spec in self.inputs.items():
            views = []
            for indices in plans[name]:
                if spec.modality == "flow":
                    clip = self._flow(record.path, spec, indices, frames, cached[name])
                else:
                    clip = self._frames(spec, indices, frames)
                views += spatial_views(clip, spec, self.train, self.crops, position, flip)
            inputs[name] = views[0] if len(views) == 1 else torch.stack(views)
        return {"inputs": inputs, "label": self.target(record.label),
                "video": record.video_id or record.path, "padded": padded}

    def prepare(self, time_orders: Sequence[str] = ("forward",),
                indices: Optional[Sequence[int]] = None) -> None:
        """Decode every frame a training clip of each record (of `indices`, default all) can
        read into the frame cache, before anything is timed, while the cache has room: random
        training clips then never wait for the decoder. A test split reads a few fixed frames
        of each video once, and `time_orders` are the built-in dataset's, so neither is
        decoded ahead; nor is an unreadable video (its first read reports it)."""
        cache = self.frame_cache
        if not self.train or cache is None:
            return
        short_side = max(self._short(spec) for spec in self.inputs.values())
        for index in range(len(self.records)) if indices is None else indices:
            record = self.records[index]
            try:
                first, count = self._frame_range(record, self.decoder.probe(record.path))
                wanted = cache.missing(record.path, short_side, range(first, first + count))
                if not wanted:
                    continue
                decoded = self.decoder.read_resized(record.path, wanted, short_side)
            except Exception:  # noqa: BLE001 - reported by __getitem__ when the clip is read
                continue
            if decoded.padded:  # fewer frames than the container says: read as they come
                continue
            frames = dict(zip(wanted, _channels_first(decoded)))
            if cache.size + sum(f.nbytes for f in frames.values()) > cache.limit:
                return  # full: the clips left are decoded as they come
            cache.put(record.path, short_side, frames)

    @staticmethod
    def _frame_range(record: VideoRecord, info: Any) -> Tuple[int, int]:
        """(first frame, frame count) of `record`'s segment of its video (probed: `info`), at
        least one."""
        first = 0 if record.start is None else min(int(record.start * info.fps), info.num_frames - 1)
        last = info.num_frames if record.end is None else int(np.ceil(record.end * info.fps))
        return first, max(min(last, info.num_frames) - first, 1)

    def _read(self, video: str, indices: List[int], short_side: int
              ) -> Tuple[Dict[int, np.ndarray], bool]:
        """``{index: frame [3, H, W]}`` shrunk toward `short_side`, from the cache or decoded,
        and whether decoding padded (frames past the end of the video repeat the last one; not
        cached)."""
        cache = self.frame_cache
        frames = cache.get(video, short_side, indices) if cache is not None else {}
        missing = [i for i in indices if i not in frames]
        if not missing:
            return frames, False
        decoded = self.decoder.read_resized(video, missing, short_side)
        fresh = dict(zip(missing, _channels_first(decoded)))
        if cache is not None and not decoded.padded:
            cache.put(video, short_side, fresh)
        return {**frames, **fresh}, decoded.padded

    def _plan(self, spec: InputSpec, count: int, start: float) -> List[List[int]]:
        """Frame indices (relative to the clip's first frame) of each temporal view; dense
        training clips start at fraction `start` of the room left, the same for every stream
        (so that RGB and flow, or SlowFast's slow and fast rates, see one moment)."""
        span = _span(spec)
        if self.train:
            return [sample_indices(spec.sampling, count, spec.frames, spec.frame_stride, True,
                                   span, pad=self.pad, start=start)]
        return multiview_indices(spec.sampling, count, spec.frames, spec.frame_stride,
                                 self.clips, span, pad=self.pad)

    def _short(self, spec: InputSpec) -> int:
        return self.short_side or default_short_side(spec, self.crops)

    def _resized(self, spec: InputSpec, indices: List[int], frames: Dict[int, np.ndarray]
                 ) -> Tuple[torch.Tensor, Dict[int, int]]:
        """The distinct frames of `indices` resized, uint8: ``[3, N, H', W']``, and the position
        of each frame index along N. Frames decoded at the stream's size are not copied."""
        unique = list(dict.fromkeys(indices))
        stack = torch.from_numpy(np.stack([frames[i] for i in unique], axis=1))
        resized = resize_short_side(stack, self._short(spec))
        if resized is not stack:
            resized = resized.round_().clamp_(0, 255).to(torch.uint8)
        return resized, {i: k for k, i in enumerate(unique)}

    def _frames(self, spec: InputSpec, indices: List[int],
                frames: Dict[int, np.ndarray]) -> torch.Tensor:
        """An RGB view ``[3, T, H', W']`` uint8, or an RGB-difference view in [0, 1]."""
        resized, position = self._resized(spec, indices, frames)
        span = _span(spec)
        steps = [indices[t * span:(t + 1) * span] for t in range(spec.frames)]
        order = [position[s[0]] for s in steps]
        current = resized if order == list(range(resized.shape[1])) else resized[:, order]
        if spec.modality == "rgb":
            return current
        return rgb_difference(current / 255.0, resized[:, [position[s[1]] for s in steps]] / 255.0)

    def _flow(self, video: str, spec: InputSpec, indices: List[int],
              frames: Dict[int, np.ndarray], cached: Optional[Dict[int, np.ndarray]]
              ) -> torch.Tensor:
        """A flow view ``[2L, T, H', W']`` uint8 (quantised), from the cache or computed on the
        frames resized to the stream's short side."""
        pairs = _flow_pairs(spec, indices)
        fields = cached
        if fields is None:
            resized, position = self._resized(spec, indices, frames)
            fields = self.flow.pairs(video, {i: resized[:, k].permute(1, 2, 0).numpy()
                                             for i, k in position.items()}, pairs)
        span = _span(spec)
        steps = [indices[t * span:(t + 1) * span] for t in range(spec.frames)]
        stacked = np.stack([np.concatenate([fields[s[k]] for k in range(span - 1)], axis=-1)
                            for s in steps])  # [T, H, W, 2L]
        return torch.from_numpy(np.ascontiguousarray(stacked.transpose(3, 0, 1, 2)))


def _channels_first(decoded: Any) -> np.ndarray:
    """Decoded `Frames` as ``[N, 3, H, W]``: a clip's frames then stack into ``[3, T, H, W]``
    without a transposing copy per clip."""
    return np.ascontiguousarray(decoded.data.numpy().transpose(0, 3, 1, 2))


def _flow_pairs(spec: InputSpec, indices: List[int]) -> Dict[int, int]:
    """``{frame: next frame}`` of each flow field a view of a flow stream stacks."""
    span = _span(spec)
    return {indices[t * span + k]: indices[t * span + k + 1]
            for t in range(spec.frames) for k in range(span - 1)}


def average_view_scores(model: torch.nn.Module, inputs: Dict[str, torch.Tensor],
                        multi_label: bool = False) -> torch.Tensor:
    """Test-time multi-view scores: run `model` on every view of ``{stream: [B, V, C, T, H, W]}``
    and average the per-view probabilities (softmax, or sigmoid when `multi_label`): ``[B, K]``."""
    batch, views = next(iter(inputs.values())).shape[:2]
    flat = {k: v.flatten(0, 1) for k, v in inputs.items()}
    logits = model(flat if len(flat) > 1 else next(iter(flat.values())))
    scores = logits.sigmoid() if multi_label else logits.softmax(-1)
    return scores.view(batch, views, -1).mean(1)
