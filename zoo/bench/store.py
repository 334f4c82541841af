"""The results store: one JSON row per key in a JSONL file (benchmark rows: one per preset,
dataset and profile; cost rows: one per preset and machine).

Rows are appended as each job finishes, so a killed run keeps what it measured and resumes
where it stopped. Putting a row whose key is already stored replaces the old one: the file never
holds two rows for one key.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Generic, List, Optional, Sequence, Type, TypeVar

from .rows import BenchRow

R = TypeVar("R")


def _line(row: Any) -> str:
    return json.dumps(row.to_dict(), sort_keys=True) + "\n"


class ResultStore(Generic[R]):
    """Rows of `row_type` (with ``key``, ``to_dict`` and ``from_dict``) kept in the JSONL file
    `path`."""

    def __init__(self, path: Any, row_type: Type[R] = BenchRow):
        self.path = Path(path)
        self.row_type = row_type

    def rows(self) -> List[R]:
        """Every stored row, in file order; a line cut short by a killed run is skipped."""
        if not self.path.is_file():
            return []
        rows: Dict[Any, R] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = self.row_type.from_dict(json.loads(line))
                rows[row.key] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                warnings.warn(f"{self.path}:{number}: skipping an unreadable result row",
                              RuntimeWarning, stacklevel=2)
        return list(rows.values())

    def get(self, *key: str) -> Optional[R]:
        return next((r for r in self.rows() if r.key == tuple(key)), None)

    def put(self, row: R) -> None:
        """Store `row`, replacing the stored row with the same key."""
        self.replace([row])

    def replace_job(self, rows: Sequence[BenchRow]) -> None:
        """Store a job's rows (its row first, then its streams' rows), dropping every row the
        job stored before, stream rows included."""
        main = rows[0]
        self.replace(rows, drop=lambda r: r.kind == "stream" and r.of == main.preset
                     and (r.dataset, r.profile) == (main.dataset, main.profile))

    def replace(self, rows: Sequence[R], drop=lambda row: False) -> None:
        """Store `rows`, replacing stored rows with the same keys and those `drop` picks."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = {r.key for r in rows}
        stored = self.rows()
        others = [r for r in stored if r.key not in keys and not drop(r)]
        if len(others) == len(stored) and self._ends_cleanly():
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.writelines(_line(r) for r in rows)
            return
        self._rewrite(others + list(rows))

    def _ends_cleanly(self) -> bool:
        """Whether appending starts a new line (the file is absent, empty or ends in a
        complete row)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return True
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def _rewrite(self, rows: List[R]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(_line(r) for r in rows)
        os.replace(tmp, self.path)
