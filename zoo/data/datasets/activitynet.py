"""ActivityNet v1.3 (Caba Heilbron et al. 2015): 200 activity classes in untrimmed videos,
used here as trimmed clips (one per annotated segment).

Official JSON: ``{"version", "taxonomy", "database": {"<ytid>": {"duration", "subset",
"resolution", "url", "annotations": [{"segment": [start, end], "label"}]}}}``; the bare database
dict with ``v_``-prefixed keys is accepted too. Videos ``v_<ytid>.mp4`` or ``<ytid>.mp4``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import AnnotationError, class_index, expect, parse_entries, read_json, \
    resolve_classes
from ..dataset import VideoIndex, VideoRecord
from .common import (counts_annotation_errors, drop_unknown_labels, find_file, find_folder,
                     locate, make_dataset, need_root, split_names)


@dataclass(frozen=True)
class ActivityNetSegment:
    video_id: str  # YouTube id, without the "v_" prefix
    subset: str
    duration: float
    start: float
    end: float
    label: str


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} should be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _Video:
    key: str
    video_id: str
    subset: str
    duration: float
    annotations: List[Any]


def _parse_video(item: Tuple[str, Any]) -> _Video:
    key, entry = item
    video_id = key[2:] if key.startswith("v_") else key
    if not video_id.strip():
        raise ValueError("empty video id")
    entry = expect(entry, dict, "video entry")
    duration = _number(entry.get("duration", 0.0), "duration")
    annotations = expect(entry.get("annotations", []), list, "annotations")
    return _Video(key, video_id, str(entry.get("subset", "")), duration, annotations)


def _parse_segment(item: Tuple[_Video, Any]) -> ActivityNetSegment:
    video, annotation = item
    annotation = expect(annotation, dict, "annotation")
    segment = expect(annotation["segment"], list, "segment")
    if len(segment) != 2:
        raise ValueError(f"segment should be [start, end], got {segment!r}")
    start, end = (_number(v, "segment bound") for v in segment)
    if end < start or start < 0:
        raise ValueError(f"segment {segment!r} should have 0 <= start <= end (seconds)")
    label = expect(annotation["label"], str, "label")
    return ActivityNetSegment(video.video_id, video.subset, video.duration, start, end, label)


def parse_activitynet(path: Any, strict: bool = False) -> List[ActivityNetSegment]:
    """Every annotated segment of an ActivityNet JSON file (official or bare database). A bad
    video entry is reported at ``[key]``, a bad segment at ``[key]["annotations"][i]`` (the
    video's other segments are kept)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, 1, "expected a JSON object")
    database = data.get("database", data) if "version" in data or "database" in data else data
    if not isinstance(database, dict):
        raise AnnotationError(path, 1, '"database" should be an object')
    videos = parse_entries(path, ((f"[{k!r}]", (k, v)) for k, v in database.items()),
                           _parse_video, strict)
    return parse_entries(path, ((f'[{v.key!r}]["annotations"][{i}]', (v, a))
                                for v in videos for i, a in enumerate(v.annotations)),
                         _parse_segment, strict)


@register_dataset("activitynet", needs_root=True, multi_label=False, meta=ModelMeta(
    paper="ActivityNet: A Large-Scale Video Benchmark for Human Activity Understanding",
    year=2015, url="http://activity-net.org/"))
@counts_annotation_errors
def activitynet(root: Any = None, split: str = "train",
                inputs: Optional[Dict[str, InputSpec]] = None, *, annotations: Any = None,
                videos: Any = None, classes: Any = None, strict: bool = False, **options: Any):
    """ActivityNet trimmed clips of one subset from `root` (``activity_net.v1-3.min.json`` or
    any ``*.json``; videos in ``videos/`` or `root`); `classes` is a list or label-map file
    (default: the sorted labels of the whole file)."""
    root = need_root(root, "activitynet")
    json_file = find_file(annotations, root, ["activity_net.v1-3*.json", "*.json"], "annotation")
    segments = parse_activitynet(json_file, strict)
    classes = resolve_classes(classes, (s.label for s in segments))
    index_of = class_index(classes)
    segments = drop_unknown_labels(segments, lambda s: s.label, classes, json_file)
    subsets = split_names(split)
    folder = find_folder(videos, root, ("videos",))
    found = locate(VideoIndex(folder), (
        ([f"v_{s.video_id}", s.video_id],
         VideoRecord("", index_of[s.label], s.video_id, s.start, s.end))
        for s in segments if s.subset in subsets))
    return make_dataset(found, classes, inputs, split, folder, **options)
