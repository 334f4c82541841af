"""Kinetics-400 / 600 / 700 (Kay et al. 2017; Carreira et al. 2018, 2019).

Annotations: CSV ``label,youtube_id,time_start,time_end,split[,is_cc]`` (test files may lack
``label``). Clips: ``{youtube_id}_{start:06d}_{end:06d}.mp4`` or ``{youtube_id}.mp4`` (already
trimmed), in a folder per label (spaces or underscores) or flat.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import class_index, parse_csv, parse_float, resolve_classes
from ..dataset import VideoIndex, VideoRecord
from .common import (counts_annotation_errors, drop_unknown_labels, find_file, find_folder,
                     locate, make_dataset, need_root, split_names)


@dataclass(frozen=True)
class KineticsEntry:
    youtube_id: str
    time_start: float
    time_end: float
    label: Optional[str]  # None in test files
    split: str = ""

    @property
    def clip_name(self) -> str:
        return f"{self.youtube_id}_{int(self.time_start):06d}_{int(self.time_end):06d}"


def _parse_row(row: Dict[str, str]) -> KineticsEntry:
    youtube_id = row["youtube_id"]
    if not youtube_id or any(c.isspace() or c in "/\\" for c in youtube_id):
        raise ValueError(f"bad youtube_id {youtube_id!r}")
    start = parse_float(row["time_start"], "time_start")
    end = parse_float(row["time_end"], "time_end")
    if start < 0 or end <= start:
        raise ValueError(f"time_end ({end}) must come after time_start ({start}) >= 0")
    label = row.get("label")
    if label is not None and not label:
        raise ValueError("empty label")
    return KineticsEntry(youtube_id, start, end, label, row.get("split", ""))


def parse_kinetics_csv(path: Any, strict: bool = False) -> List[KineticsEntry]:
    """The entries of a Kinetics CSV file."""
    return parse_csv(path, _parse_row, ("youtube_id", "time_start", "time_end"), strict)


@counts_annotation_errors
def kinetics(version: int, root: Any = None, split: str = "train",
             inputs: Optional[Dict[str, InputSpec]] = None, *, annotations: Any = None,
             videos: Any = None, classes: Any = None, strict: bool = False, **options: Any):
    """Kinetics-`version` from `root` (``annotations/{split}.csv`` or ``{split}.csv``, videos in
    ``{split}/``, ``videos/`` or `root`); `classes` is a list or label-map file (default: the
    sorted labels of the CSV)."""
    root = need_root(root, f"kinetics{version}")
    names = split_names(split)
    csv_file = find_file(annotations, root, [f"{d}{n}.csv" for n in names
                                             for d in ("annotations/", "")], "annotation")
    entries = parse_kinetics_csv(csv_file, strict)
    classes = resolve_classes(classes, (e.label for e in entries if e.label))
    index_of = class_index(classes)
    entries = drop_unknown_labels(entries, lambda e: e.label, classes, csv_file)
    folder = find_folder(videos, root, names + ("videos",))
    index = VideoIndex(folder)
    found = locate(index, (
        ([f"{e.label}/{e.clip_name}", f"{(e.label or '').replace(' ', '_')}/{e.clip_name}",
          e.clip_name, f"{e.label}/{e.youtube_id}", e.youtube_id],
         VideoRecord("", index_of[e.label] if e.label else -1, e.clip_name))
        for e in entries))
    return make_dataset(found, classes, inputs, split, folder, **options)


_META = dict(needs_root=True, multi_label=False)


@register_dataset("kinetics400", meta=ModelMeta(paper="The Kinetics Human Action Video Dataset",
                                                year=2017, url="https://arxiv.org/abs/1705.06950"),
                  **_META)
def kinetics400(root: Any = None, split: str = "train",
                inputs: Optional[Dict[str, InputSpec]] = None, **kw: Any):
    """Kinetics-400: 400 human action classes, 10 s YouTube clips."""
    return kinetics(400, root, split, inputs, **kw)


@register_dataset("kinetics600", meta=ModelMeta(paper="A Short Note about Kinetics-600",
                                                year=2018, url="https://arxiv.org/abs/1808.01340"),
                  **_META)
def kinetics600(root: Any = None, split: str = "train",
                inputs: Optional[Dict[str, InputSpec]] = None, **kw: Any):
    """Kinetics-600: 600 human action classes."""
    return kinetics(600, root, split, inputs, **kw)


@register_dataset("kinetics700", meta=ModelMeta(
    paper="A Short Note on the Kinetics-700 Human Action Dataset", year=2019,
    url="https://arxiv.org/abs/1907.06987"), **_META)
def kinetics700(root: Any = None, split: str = "train",
                inputs: Optional[Dict[str, InputSpec]] = None, **kw: Any):
    """Kinetics-700: 700 human action classes."""
    return kinetics(700, root, split, inputs, **kw)
