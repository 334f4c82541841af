"""The results store: one JSON row per (preset, dataset, profile) in a JSONL file.

Rows are appended as each preset finishes, so a killed run keeps what it measured and resumes
where it stopped. Putting a row whose key is already stored replaces the old one: the file never
holds two rows for one key.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

Row = Dict[str, Any]
KEY_FIELDS = ("preset", "dataset", "profile")


def row_key(row: Row) -> Tuple[str, str, str]:
    return tuple(str(row[field]) for field in KEY_FIELDS)


def _line(row: Row) -> str:
    return json.dumps(row, sort_keys=True) + "\n"


class ResultStore:
    """Benchmark rows kept in the JSONL file `path`."""

    def __init__(self, path: Any):
        self.path = Path(path)

    def rows(self) -> List[Row]:
        """Every stored row, in file order; a line cut short by a killed run is skipped."""
        if not self.path.is_file():
            return []
        rows: Dict[Tuple[str, str, str], Row] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows[row_key(row)] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                warnings.warn(f"{self.path}:{number}: skipping an unreadable result row",
                              RuntimeWarning, stacklevel=2)
        return list(rows.values())

    def get(self, preset: str, dataset: str, profile: str) -> Row | None:
        return next((r for r in self.rows() if row_key(r) == (preset, dataset, profile)), None)

    def put(self, row: Row) -> None:
        """Store `row`, replacing the stored row with the same key."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stored = self.rows()
        others = [r for r in stored if row_key(r) != row_key(row)]
        if len(others) == len(stored) and self._ends_cleanly():
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(_line(row))
            return
        self._rewrite(others + [row])

    def _ends_cleanly(self) -> bool:
        """Whether appending starts a new line (the file is absent, empty or ends in a
        complete row)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return True
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def _rewrite(self, rows: List[Row]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(_line(r) for r in rows)
        os.replace(tmp, self.path)
