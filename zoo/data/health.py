"""Bad-input accounting: what was skipped or padded, logged once and summed per epoch.

Policy. A video that is missing, empty, truncated before any frame or corrupt cannot give a
clip (nor can one whose loading fails in any other way): under ``on_error="skip"`` (the
default) the dataset logs it once and returns None, and `collate` drops it; under
``on_error="raise"`` the error propagates. Annotated videos absent from disk when a dataset is
built are left out with one warning and counted as ``missing``. A video shorter than the
clip (or one whose decoding stops early) is padded by repeating its last frame (or by looping,
``pad="loop"``) and the sample is marked ``"padded": True``.

Counting survives DataLoader workers because `collate` (which runs in the worker) puts the
counts of each batch into the batch itself (``batch["health"]``, a `DataHealth`); the training
loop adds them up with `DataHealth.update`. Each dataset also keeps its own `health` for the
process it runs in (the main process when ``num_workers=0``), which knows the reasons.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

logger = logging.getLogger("zoo.data")
ON_ERROR = ("skip", "raise")


@dataclass
class DataHealth:
    """Counters of one epoch (or one batch, or one dataset): loaded, padded, skipped samples."""

    loaded: int = 0
    padded: int = 0
    skipped: int = 0
    missing: int = 0  # annotated videos not found on disk when the dataset was built
    annotation_errors: int = 0
    reasons: Counter = field(default_factory=Counter)
    _logged: set = field(default_factory=set, repr=False, compare=False)

    def record_loaded(self, padded: bool = False) -> None:
        self.loaded += 1
        self.padded += int(padded)

    def record_skipped(self, video: str, reason: str) -> None:
        """Count a sample that could not be read; log it the first time this video fails."""
        self.skipped += 1
        self.reasons[reason.split(":")[0]] += 1
        if video not in self._logged:
            self._logged.add(video)
            logger.warning("zoo.data: skipping %s: %s", video, reason)

    def note_once(self, video: str, problem: str) -> None:
        """Log a problem of `video` that loses no sample, the first time it is seen."""
        key = (video, problem)
        if key not in self._logged:
            self._logged.add(key)
            logger.warning("zoo.data: %s: %s", video, problem)

    def update(self, other: Optional["DataHealth"]) -> "DataHealth":
        """Add `other`'s counts (e.g. a batch's ``batch["health"]``) to these."""
        if other is not None:
            self.loaded += other.loaded
            self.padded += other.padded
            self.skipped += other.skipped
            self.missing += other.missing
            self.annotation_errors += other.annotation_errors
            self.reasons.update(other.reasons)
        return self

    @property
    def ok(self) -> bool:
        return self.skipped == 0 and self.missing == 0 and self.annotation_errors == 0

    def summary(self) -> str:
        """One line for the end of an epoch."""
        text = f"data: {self.loaded} clips loaded, {self.padded} padded, {self.skipped} skipped"
        if self.missing:
            text += f", {self.missing} videos missing"
        if self.annotation_errors:
            text += f", {self.annotation_errors} bad annotation entries"
        if self.reasons:
            text += " (" + ", ".join(f"{r}: {n}" for r, n in self.reasons.most_common()) + ")"
        return text

    def to_dict(self) -> Dict[str, Any]:
        return {"loaded": self.loaded, "padded": self.padded, "skipped": self.skipped,
                "missing": self.missing, "annotation_errors": self.annotation_errors,
                "reasons": dict(self.reasons)}


def collate(samples: Sequence[Optional[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    """Batch samples, dropping the None ones (unreadable videos) and counting them.

    Returns ``{"inputs": {stream: [B, ...]}, "label": [B] or [B, K], "video": [str],
    "health": DataHealth}``, or None when every sample of the batch was unreadable.
    """
    kept: List[Dict[str, Any]] = [s for s in samples if s is not None]
    health = DataHealth(skipped=len(samples) - len(kept))
    if health.skipped:
        health.reasons["unreadable"] += health.skipped
    for s in kept:
        health.record_loaded(bool(s.get("padded", False)))
    if not kept:
        return None
    labels = [s["label"] for s in kept]
    label = (torch.stack(labels) if isinstance(labels[0], torch.Tensor)
             else torch.as_tensor(labels, dtype=torch.long))
    return {
        "inputs": {k: torch.stack([s["inputs"][k] for s in kept]) for k in kept[0]["inputs"]},
        "label": label,
        "video": [s["video"] for s in kept],
        "health": health,
    }
