"""What a benchmark run does: the presets it selects, the backbone x head (x fusion)
combinations it adds, its shards, and the real datasets it reads besides the built-in one."""
from __future__ import annotations

import fnmatch
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

DATASET = "moving_shapes"  # the built-in dataset every job runs on

def select_presets(names: Sequence[str], include: str = "*", exclude: str = "") -> List[str]:
    """`names` matching any comma-separated shell pattern of `include` and none of `exclude`."""
    def matches(name: str, patterns: str) -> bool:
        return any(fnmatch.fnmatch(name, p.strip()) for p in patterns.split(",") if p.strip())
    return [n for n in names if matches(n, include) and not matches(n, exclude)]


@dataclass(frozen=True)
class Job:
    """One row of the benchmark: a preset, or a combination given by its config."""

    name: str
    config: Optional[Dict[str, Any]] = None  # None: the preset `name`

    @property
    def kind(self) -> str:
        return "preset" if self.config is None else "combo"


COMBO_KEYS = ("backbone", "head", "fusion", "streams")


def parse_combo_filter(text: str) -> Dict[str, List[str]]:
    """``'backbone=resnet18,c3d;head=*;streams=1'`` -> ``{key: [shell patterns]}``; a key left
    out matches everything."""
    out: Dict[str, List[str]] = {k: ["*"] for k in COMBO_KEYS}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = {"temporal_head": "head"}.get(key.strip(), key.strip())
        if not sep or key not in COMBO_KEYS:
            raise ValueError(f"bad --combos part {part!r}: use key=pattern,... with key one of "
                             f"{', '.join(COMBO_KEYS)}")
        out[key] = [v.strip() for v in values.split(",") if v.strip()] or ["*"]
    return out


def _pick(names: Sequence[str], patterns: Sequence[str]) -> List[str]:
    """Names matching a pattern; an exact name (no wildcard) is kept even when it is not listed
    (a family member such as a timm network)."""
    picked = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    exact = [p for p in patterns if not any(c in p for c in "*?[") and p not in picked]
    return picked + exact


def combination_jobs(text: str = "", limit: Optional[int] = None) -> List[Job]:
    """The backbone x temporal head (one RGB stream) and backbone x temporal head x fusion (RGB +
    flow streams, both with that backbone and head) combinations matching the filter `text`, in
    a fixed order, at most `limit` of them. Compatibility is decided when the job is built."""
    from ..registry import current

    wanted = parse_combo_filter(text)
    backbones = _pick(current().names("backbone", families=False), wanted["backbone"])
    heads = _pick(current().names("temporal_head", families=False), wanted["head"])
    fusions = _pick(current().names("fusion", families=False), wanted["fusion"])
    streams = [n for n in ("1", "2") if any(fnmatch.fnmatch(n, p) for p in wanted["streams"])]
    jobs: List[Job] = []
    if "1" in streams:
        jobs += [Job(f"combo:{b}+{h}", {"backbone": b, "temporal_head": h})
                 for b in backbones for h in heads]
    if "2" in streams:
        for f in fusions:
            try:
                spec = current().get("fusion", f).info.spec
            except Exception:
                continue
            mid = getattr(spec, "level", "late") == "mid"
            for b in backbones:
                for h in heads:
                    own_head = {} if mid else {"temporal_head": h}
                    fusion = {"name": f, "temporal_head": {"name": h}} if mid else f
                    jobs.append(Job(f"combo:{b}+{h}+{f}", {
                        "streams": {"rgb": {"backbone": b, **own_head},
                                    "flow": {"input": {"modality": "flow"}, "backbone": b,
                                             **own_head}},
                        "fusion": fusion}))
    return jobs if limit is None else jobs[:limit]


def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> (i, n); None -> (0, 1)."""
    if not text:
        return 0, 1
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard wants i/n, got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 <= i < n")
    return index, count


def shard(jobs: Sequence[Job], index: int, count: int) -> List[Job]:
    """Every `count`-th job of the list sorted by name, starting at `index` (round robin keeps the
    shards' mix of light and heavy models alike); the shards partition the jobs."""
    return [j for i, j in enumerate(sorted(jobs, key=lambda j: j.name)) if i % count == index]


DATA_ENV_PREFIX = "ZOO_DATA_"


def dataset_roots(specs: Sequence[str] = (), environ: Optional[Dict[str, str]] = None
                  ) -> Dict[str, Path]:
    """The real datasets to benchmark and their root folders: ``ZOO_DATA_<NAME>=FOLDER``
    environment variables, then ``NAME=FOLDER`` entries of `specs` (which win)."""
    from ..errors import suggest
    from ..registry import current

    names = current().names("dataset")
    roots: Dict[str, Path] = {}
    for key, value in sorted((os.environ if environ is None else environ).items()):
        if not key.startswith(DATA_ENV_PREFIX) or not value:
            continue
        wanted = key[len(DATA_ENV_PREFIX):].lower()
        name = next((n for n in names if n.replace("-", "_").lower() == wanted), None)
        if name is None:
            warnings.warn(f"{key} names no registered dataset, ignored." + suggest(wanted, names),
                          stacklevel=2)
            continue
        roots[name] = Path(value).expanduser()
    for spec in specs:
        name, sep, root = spec.partition("=")
        if not sep or not root:
            raise ValueError(f"--data wants NAME=FOLDER, got {spec!r}")
        current().get("dataset", name)  # an unknown name fails with close matches
        roots[name] = Path(root).expanduser()
    for name, root in roots.items():
        if not root.is_dir():
            raise ValueError(f"dataset {name!r}: root {root} is not a folder (set it with --data "
                             f"{name}=FOLDER or {DATA_ENV_PREFIX}{name.upper()})")
        if not current().get("dataset", name).info.needs_root:
            raise ValueError(f"dataset {name!r} is built in and takes no root folder")
    return roots
