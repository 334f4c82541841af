"""Charades (Sigurdsson et al. 2016): 157 action classes, several per video; evaluated by mAP.

CSV columns ``id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,
length``; ``actions`` is ``c092 11.90 21.20;c147 0.00 12.60`` (class, start s, end s), possibly
empty. Classes are listed as ``c008 Opening a door``. Videos ``<id>.mp4``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import parse_csv, parse_float, parse_lines
from ..dataset import VideoIndex, VideoRecord
from .common import (counts_annotation_errors, find_file, find_folder, locate, make_dataset,
                     need_root, split_names)

NUM_CLASSES = 157


@dataclass(frozen=True)
class CharadesAction:
    label: int
    start: float
    end: float


@dataclass(frozen=True)
class CharadesEntry:
    video_id: str
    actions: Tuple[CharadesAction, ...]
    length: Optional[float]


def _class_id(code: str) -> int:
    if len(code) != 4 or code[0] != "c" or not code[1:].isdigit() or int(code[1:]) >= NUM_CLASSES:
        raise ValueError(f"bad class {code!r}, expected c000..c{NUM_CLASSES - 1}")
    return int(code[1:])


def parse_actions(text: str) -> Tuple[CharadesAction, ...]:
    """'c092 11.90 21.20;c147 0.00 12.60' -> actions; an empty string gives none."""
    actions = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        fields = part.split()
        if len(fields) != 3:
            raise ValueError(f"action {part!r} should be 'cNNN start end'")
        start, end = parse_float(fields[1], "start"), parse_float(fields[2], "end")
        if start < 0 or end < start:
            raise ValueError(f"action {part!r} should have 0 <= start <= end (seconds)")
        actions.append(CharadesAction(_class_id(fields[0]), start, end))
    return tuple(actions)


def _parse_row(row: Dict[str, str]) -> CharadesEntry:
    if not row["id"] or any(c.isspace() or c in "/\\" for c in row["id"]):
        raise ValueError(f"bad id {row['id']!r}")
    length = parse_float(row["length"], "length") if row.get("length") else None
    return CharadesEntry(row["id"], parse_actions(row["actions"]), length)


def parse_charades_csv(path: Any, strict: bool = False) -> List[CharadesEntry]:
    return parse_csv(path, _parse_row, ("id", "actions"), strict)


def _parse_class_line(line: str) -> Tuple[int, str]:
    code, _, name = line.strip().partition(" ")
    if not name.strip():
        raise ValueError("expected 'cNNN class name'")
    return _class_id(code), name.strip()


def read_charades_classes(path: Any, strict: bool = True) -> List[str]:
    """Class names by index from ``Charades_v1_classes.txt`` (``c008 Opening a door``)."""
    pairs = dict(parse_lines(path, _parse_class_line, strict))
    return [pairs.get(i, f"c{i:03d}") for i in range(NUM_CLASSES)]


def charades_records(entries: List[CharadesEntry], per_segment: bool) -> List[VideoRecord]:
    """One multi-label record per video, or one per annotated action interval (labelled with
    every action that covers the interval's midpoint)."""
    if not per_segment:
        return [VideoRecord("", tuple(sorted({a.label for a in e.actions})), e.video_id)
                for e in entries]
    records = []
    for e in entries:
        for a in e.actions:
            middle = (a.start + a.end) / 2
            labels = tuple(sorted({b.label for b in e.actions if b.start <= middle <= b.end}))
            records.append(VideoRecord("", labels, e.video_id, a.start, max(a.end, a.start)))
    return records


@register_dataset("charades", needs_root=True, multi_label=True, meta=ModelMeta(
    paper="Hollywood in Homes: Crowdsourcing Data Collection for Activity Understanding",
    year=2016, url="https://arxiv.org/abs/1604.01753"))
@counts_annotation_errors
def charades(root: Any = None, split: str = "train",
             inputs: Optional[Dict[str, InputSpec]] = None, *, annotations: Any = None,
             class_list: Any = None, videos: Any = None, per_segment: bool = False,
             strict: bool = False, **options: Any):
    """Charades from `root` (``Charades_v1_{train,test}.csv``, ``Charades_v1_classes.txt``,
    videos in ``Charades_v1_480/``, ``Charades_v1/``, ``videos/`` or `root`); multi-hot labels
    per video, or per action interval with ``per_segment=True``. The test split is "test"
    (also asked for as "val")."""
    root = need_root(root, "charades")
    names = ("train",) if split == "train" else ("test",) + split_names(split)
    csv_file = find_file(annotations, root, [f"*{n}.csv" for n in names], "annotation")
    classes_file = find_file(class_list, root, ["*classes.txt"], "class list") \
        if class_list or list(root.glob("*classes.txt")) else None
    classes = (read_charades_classes(classes_file) if classes_file
               else [f"c{i:03d}" for i in range(NUM_CLASSES)])
    entries = parse_charades_csv(csv_file, strict)
    folder = find_folder(videos, root, ("Charades_v1_480", "Charades_v1", "videos"))
    index = VideoIndex(folder)
    found = locate(index, (([r.video_id], r) for r in charades_records(entries, per_segment)))
    return make_dataset(found, classes, inputs, split, folder, multi_label=True, **options)
