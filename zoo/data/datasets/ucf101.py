"""UCF101 (Soomro et al. 2012): 101 action classes, three train/test splits.

``classInd.txt``: ``1 ApplyEyeMakeup`` (1-based); ``trainlist0N.txt``:
``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``; ``testlist0N.txt``: the path only (the class
is the folder). Videos ``UCF-101/<Class>/<name>.avi``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import AnnotationError, class_index, parse_entries, parse_lines, text_lines
from ..dataset import VideoIndex, VideoRecord
from .common import (counts_annotation_errors, find_file, find_folder, locate, make_dataset,
                     need_root)


@dataclass(frozen=True)
class ListEntry:
    """A line of a split list: the video's path relative to the dataset folder, its class."""

    path: str
    label: int


def _parse_class_line(line: str) -> Tuple[int, str]:
    number, name = line.split()
    if int(number) < 1:
        raise ValueError(f"class numbers start at 1, got {number}")
    return int(number), name


def read_class_ind(path: Any) -> List[str]:
    """Class names by 0-based index from ``classInd.txt`` (numbered 1..N, each once)."""
    lines = list(text_lines(path))
    pairs = parse_entries(path, lines, _parse_class_line, strict=True)
    count, first_line = len(pairs), {}
    for (line, _), (number, name) in zip(lines, pairs):
        if number in first_line:
            raise AnnotationError(path, line, f"class number {number} ({name}) is already used "
                                              f"at line {first_line[number]}; number the "
                                              f"{count} classes 1..{count}, each once")
        if number > count:
            raise AnnotationError(path, line, f"class number {number} ({name}) is outside "
                                              f"1..{count}; number the {count} classes "
                                              f"1..{count}, each once")
        first_line[number] = line
    return [name for _, name in sorted(pairs)]


def parse_ucf_list(path: Any, classes: Sequence[str], strict: bool = False) -> List[ListEntry]:
    """A train list (``path label``, 1-based) or test list (``path``, class from the folder)."""
    index_of = class_index(classes)

    def parse(line: str) -> ListEntry:
        fields = line.split()
        if len(fields) not in (1, 2):
            raise ValueError(f"expected 'Class/video.avi [label]', got {len(fields)} fields")
        folder = fields[0].split("/")[0] if "/" in fields[0] else None
        if folder is not None and folder not in index_of:
            raise ValueError(f"class folder {folder!r} of {fields[0]!r} is not in the class list")
        if len(fields) == 1:
            if folder is None:
                raise ValueError(f"{fields[0]!r} has neither a class folder nor a label")
            return ListEntry(fields[0], index_of[folder])
        label = int(fields[1]) - 1
        if not 0 <= label < len(classes):
            raise ValueError(f"label {fields[1]} is outside 1..{len(classes)}")
        if folder is not None and label != index_of[folder]:
            raise ValueError(f"label {fields[1]} ({classes[label]}) disagrees with the class "
                             f"folder {folder!r} (label {index_of[folder] + 1}); fix one of them")
        return ListEntry(fields[0], label)
    return parse_lines(path, parse, strict)


def list_records(entries: List[ListEntry]):
    """Candidate names (relative path, with or without extension, or bare stem) per entry."""
    for e in entries:
        stem = e.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        yield [e.path, e.path.rsplit(".", 1)[0], stem], VideoRecord("", e.label, stem)


@register_dataset("ucf101", needs_root=True, multi_label=False, meta=ModelMeta(
    paper="UCF101: A Dataset of 101 Human Actions Classes From Videos in The Wild", year=2012,
    url="https://arxiv.org/abs/1212.0402"))
@counts_annotation_errors
def ucf101(root: Any = None, split: str = "train", inputs: Optional[Dict[str, InputSpec]] = None,
           *, fold: int = 1, split_dir: Any = None, videos: Any = None, strict: bool = False,
           **options: Any):
    """UCF101 split `fold` (1-3) from `root` (split files in ``ucfTrainTestlist/`` or
    `split_dir`, videos in ``UCF-101/`` or `root`); "val" reads the test list."""
    root = need_root(root, "ucf101")
    lists = find_folder(split_dir, root, ("ucfTrainTestlist", "splits"))
    classes = read_class_ind(find_file(None, lists, ["classInd.txt"], "classInd"))
    kind = "train" if split == "train" else "test"
    entries = parse_ucf_list(find_file(None, lists, [f"{kind}list0{fold}.txt"], f"{kind}list"),
                             classes, strict)
    folder = find_folder(videos, root, ("UCF-101", "UCF101", "videos"))
    found = locate(VideoIndex(folder), list_records(entries))
    return make_dataset(found, classes, inputs, split, folder, **options)
