"""Kinetics-400 / 600 / 700 (Kay et al. 2017; Carreira et al. 2018, 2019).

Annotations: CSV ``label,youtube_id,time_start,time_end,split[,is_cc]`` (test files may lack
``label``). Clips: ``{youtube_id}_{start:06d}_{end:06d}.mp4`` or ``{youtube_id}.mp4`` (already
trimmed), in a folder per label (spaces or underscores) or flat.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from ...errors import ZooError
from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import class_index, parse_csv, parse_float, resolve_classes
from ..dataset import VideoIndex, VideoRecord
from .common import (SPLIT_NAMES, check_label, counts_annotation_errors, find_file, find_folder,
                     locate, make_dataset, need_root, split_names, training_labels,
                     unlabelled_training_split)


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


def parse_kinetics_csv(path: Any, strict: bool = False,
                       known: Optional[Dict[str, int]] = None,
                       source: str = "") -> List[KineticsEntry]:
    """The entries of a Kinetics CSV file; with `known` classes (from `source`), an entry whose
    label is not one of them is a bad entry."""
    def parse(row: Dict[str, str]) -> KineticsEntry:
        entry = _parse_row(row)
        if entry.label is not None:
            check_label(entry.label, known, source)
        return entry
    return parse_csv(path, parse, ("youtube_id", "time_start", "time_end"), strict)


def _csv_file(annotations: Any, root: Any, split: str):
    names = split_names(split)
    return find_file(annotations, root, [f"{d}{n}.csv" for n in names
                                         for d in ("annotations/", "")], "annotation")


@counts_annotation_errors
def kinetics(version: int, root: Any = None, split: str = "train",
             inputs: Optional[Dict[str, InputSpec]] = None, *, annotations: Any = None,
             videos: Any = None, classes: Any = None, strict: bool = False, **options: Any):
    """Kinetics-`version` from `root` (``annotations/{split}.csv`` or ``{split}.csv``, videos in
    ``{split}/``, ``videos/`` or `root`); `classes` is a list or label-map file (default: the
    sorted labels of the root's training CSV, the same for every split; a val/test label not
    among them is a bad entry). A CSV without a ``label`` column (the official test files)
    loads unlabelled (labels -1, ``labelled`` False); for the training split it is an error."""
    root = need_root(root, f"kinetics{version}")
    csv_file = _csv_file(annotations, root, split)
    source = f"the label map {classes}" if isinstance(classes, (str, Path)) else "the classes given"
    if classes is None:
        train_file = None
        with contextlib.suppress(ZooError):
            train_file = _csv_file(None, root, "train")
        classes = training_labels(split, lambda: (
            e.label for e in parse_kinetics_csv(train_file))) if train_file else None
        source = f"the training split ({train_file})"
    else:
        classes = resolve_classes(classes, ())
    entries = parse_kinetics_csv(csv_file, strict, class_index(classes) if classes else None,
                                 source)
    labelled = not entries or entries[0].label is not None
    if not labelled and split in SPLIT_NAMES["train"]:
        raise unlabelled_training_split(csv_file, "no 'label' column")
    if classes is None:
        classes = sorted({e.label for e in entries if e.label})
    index_of = class_index(classes)
    names = split_names(split)
    folder = find_folder(videos, root, names + ("videos",))
    index = VideoIndex(folder)
    found = locate(index, (
        ([f"{e.label}/{e.clip_name}", f"{(e.label or '').replace(' ', '_')}/{e.clip_name}",
          e.clip_name, f"{e.label}/{e.youtube_id}", e.youtube_id],
         VideoRecord("", index_of[e.label] if e.label else -1, e.clip_name))
        for e in entries))
    return make_dataset(found, classes, inputs, split, folder, labelled=labelled, **options)


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
