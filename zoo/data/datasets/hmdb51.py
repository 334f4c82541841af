"""HMDB51 (Kuehne et al. 2011): 51 action classes, three splits.

Split files ``<class>_test_split{1,2,3}.txt`` hold lines ``<video>.avi <tag> `` (1 train,
2 test, 0 unused; note the trailing space). Videos ``<class>/<video>.avi``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from ...errors import ZooError
from ...registry import register_dataset
from ...specs import InputSpec, ModelMeta
from ..annotations import parse_lines
from ..dataset import VideoIndex
from .common import counts_annotation_errors, find_folder, locate, make_dataset, need_root
from .ucf101 import ListEntry, list_records

TAGS = {"unused": 0, "train": 1, "test": 2}
CLASSES = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs", "dive",
    "draw_sword", "dribble", "drink", "eat", "fall_floor", "fencing", "flic_flac", "golf",
    "handstand", "hit", "hug", "jump", "kick", "kick_ball", "kiss", "laugh", "pick", "pour",
    "pullup", "punch", "push", "pushup", "ride_bike", "ride_horse", "run", "shake_hands",
    "shoot_ball", "shoot_bow", "shoot_gun", "sit", "situp", "smile", "smoke", "somersault",
    "stand", "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk", "wave")


@dataclass(frozen=True)
class HMDBEntry:
    video: str
    tag: int


def _parse_line(line: str) -> HMDBEntry:
    fields = line.split()
    if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
        raise ValueError(f"expected '<video>.avi <0|1|2>' (0 unused, 1 train, 2 test), got "
                         f"{line.strip()!r}")
    return HMDBEntry(fields[0], int(fields[1]))


def _some(names: List[str]) -> str:
    """Up to five names, and how many more."""
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more if names else "none"


def parse_hmdb_split(path: Any, strict: bool = False) -> List[HMDBEntry]:
    return parse_lines(path, _parse_line, strict)


@register_dataset("hmdb51", needs_root=True, multi_label=False, meta=ModelMeta(
    paper="HMDB: A Large Video Database for Human Motion Recognition", year=2011,
    url="https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/"))
@counts_annotation_errors
def hmdb51(root: Any = None, split: str = "train", inputs: Optional[Dict[str, InputSpec]] = None,
           *, fold: int = 1, split_dir: Any = None, videos: Any = None, strict: bool = False,
           **options: Any):
    """HMDB51 split `fold` (1-3) from `root` (split files in ``testTrainMulti_7030_splits/``
    or `split_dir`, videos in ``hmdb51/<class>/`` or `root`); "val" reads the test videos."""
    root = need_root(root, "hmdb51")
    lists = find_folder(split_dir, root, ("testTrainMulti_7030_splits", "splits"))
    pattern = re.compile(rf"(.+)_test_split{fold}\.txt$")
    files = sorted((m.group(1), p) for p in Path(lists).iterdir()
                   if (m := pattern.match(p.name)))
    if not files:
        raise ZooError(f"no HMDB51 split files *_test_split{fold}.txt in {lists}")
    classes = [name for name, _ in files]
    if classes != list(CLASSES):
        missing = [f"{c}_test_split{fold}.txt" for c in CLASSES if c not in classes]
        extra = [p.name for c, p in files if c not in CLASSES]
        raise ZooError(f"{lists}: HMDB51 split {fold} needs the 51 class files "
                       f"<class>_test_split{fold}.txt, found {len(files)}; missing: "
                       f"{_some(missing)}; not an HMDB51 class: {_some(extra)}. Restore the "
                       f"official split files (testTrainMulti_7030_splits)")
    tag = TAGS["train" if split == "train" else "test"]
    entries = [ListEntry(f"{name}/{e.video}", label)
               for label, (name, file) in enumerate(files)
               for e in parse_hmdb_split(file, strict) if e.tag == tag]
    folder = find_folder(videos, root, ("hmdb51", "videos"))
    found = locate(VideoIndex(folder), list_records(entries))
    return make_dataset(found, classes, inputs, split, folder, **options)
