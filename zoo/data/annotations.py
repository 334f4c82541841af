"""Shared annotation parsing: line-numbered errors, lenient or strict collection, label maps.

Every dataset adapter reads its files through these helpers, so that a line that does not parse
is always reported the same way, as ``file:line: reason`` in an `AnnotationError`.
"""
from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

from ..errors import ZooError

T = TypeVar("T")
# Mistakes a per-line parser may make on malformed input; anything else is a bug and propagates.
PARSE_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError)
# The list that `collect_errors` is filling, if any: skipped entries are appended to it.
_COLLECTOR: contextvars.ContextVar = contextvars.ContextVar("zoo_annotation_errors", default=None)


class AnnotationError(ZooError, ValueError):
    """An annotation entry that cannot be read; the message is ``file:line: reason``."""

    def __init__(self, file: Any, line: Any, reason: str):
        self.file, self.line, self.reason = str(file), line, reason
        super().__init__(f"{self.file}:{line}: {reason}")


class AnnotationReport:
    """Collects bad entries of one file: strict mode raises the first, lenient mode warns once."""

    def __init__(self, file: Any, strict: bool = False):
        self.file, self.strict = str(file), strict
        self.errors: List[AnnotationError] = []

    def add(self, line: Any, reason: str) -> None:
        error = AnnotationError(self.file, line, reason)
        if self.strict:
            raise error
        self.errors.append(error)

    def finish(self) -> None:
        """Warn once about the entries skipped in lenient mode (and hand them to the
        enclosing `collect_errors`, if any)."""
        collector = _COLLECTOR.get()
        if collector is not None:
            collector.extend(self.errors)
        if self.errors:
            shown = "; ".join(str(e) for e in self.errors[:3])
            more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            warnings.warn(f"skipped {len(self.errors)} unreadable annotation entries: "
                          f"{shown}{more}", RuntimeWarning, stacklevel=3)


@contextlib.contextmanager
def collect_errors() -> Iterator[List[AnnotationError]]:
    """The entries that parses inside the block skip in lenient mode, as a list (filled as
    they finish); dataset factories count them in ``health.annotation_errors``."""
    errors: List[AnnotationError] = []
    token = _COLLECTOR.set(errors)
    try:
        yield errors
    finally:
        _COLLECTOR.reset(token)


def read_text(path: Any) -> str:
    """The file's text, as UTF-8 (a byte-order mark is dropped); unreadable bytes are an error
    at their line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AnnotationError(path, 0, f"cannot read the file ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # offsets count from after it
        offset = exc.start + bom
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise AnnotationError(path, line, f"not UTF-8 text (byte {data[offset]:#04x} at column "
                                          f"{column}: {exc.reason}); re-save the file as "
                                          f"UTF-8") from None


def parse_entries(path: Any, entries: Iterable[Tuple[Any, T]], parse: Callable[[T], Any],
                  strict: bool = False) -> List[Any]:
    """Apply `parse` to each ``(location, entry)``; a parse that returns None drops the entry.

    A `PARSE_ERRORS` exception becomes an `AnnotationError` at that location (raised when
    `strict`, otherwise collected and warned about once).
    """
    report = AnnotationReport(path, strict)
    out = []
    for location, entry in entries:
        try:
            record = parse(entry)
        except AnnotationError:
            raise
        except KeyError as exc:
            report.add(location, f"missing {exc.args[0]!r}" if exc.args else "missing a key")
            continue
        except PARSE_ERRORS as exc:
            report.add(location, str(exc) or type(exc).__name__)
            continue
        if record is not None:
            out.append(record)
    report.finish()
    return out


def text_lines(path: Any) -> Iterator[Tuple[int, str]]:
    """``(line number, line)`` for the non-blank lines, trailing whitespace removed."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            yield number, line.rstrip()


def parse_lines(path: Any, parse: Callable[[str], Any], strict: bool = False) -> List[Any]:
    """Parse a line-based file, one record (or None) per non-blank line."""
    return parse_entries(path, text_lines(path), parse, strict)


def csv_rows(path: Any, required: Sequence[str]) -> Iterator[Tuple[int, Dict[str, str]]]:
    """``(line number, row)`` for a CSV file with a header naming at least `required`.

    A record is one line: a quoted field may hold commas but not line breaks, so a quote left
    open is reported at its own line instead of swallowing the lines after it into one field.
    """
    lines = enumerate(io.StringIO(read_text(path), newline=""), start=1)
    try:
        _, first = next(lines)
    except StopIteration:
        raise AnnotationError(path, 1, "empty file, expected a CSV header") from None
    header = _csv_line(first)
    if isinstance(header, str):
        raise AnnotationError(path, 1, f"bad CSV header: {header}")
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise AnnotationError(path, 1, f"CSV header {header} lacks the column(s) {missing}")
    for number, line in lines:
        row = _csv_line(line)
        if isinstance(row, str):  # reported by the parser so that lenient mode can skip the line
            yield number, {"__error__": row}
        elif not any(cell.strip() for cell in row):
            continue
        elif len(row) != len(header):
            yield number, {"__error__": f"{len(row)} fields, the header has {len(header)}"}
        else:
            yield number, {h: cell.strip() for h, cell in zip(header, row)}


def _csv_line(line: str) -> Any:
    """The fields of one CSV line, or the reason it cannot be read."""
    try:
        return next(csv.reader([line.rstrip("\r\n")], strict=True), [])
    except csv.Error as exc:
        if '"' in line and line.count('"') % 2:
            return "a quote is opened and not closed on this line; close it or remove it"
        return f"bad CSV ({exc}); quote a field that holds a comma or a quote, doubling its quotes"


def parse_csv(path: Any, parse: Callable[[Dict[str, str]], Any], required: Sequence[str],
              strict: bool = False) -> List[Any]:
    """Parse a CSV file with a header, one record (or None) per row."""
    def checked(row: Dict[str, str]) -> Any:
        if "__error__" in row:
            raise ValueError(row["__error__"])
        return parse(row)
    return parse_entries(path, csv_rows(path, required), checked, strict)


def read_json(path: Any) -> Any:
    """The parsed JSON document; a syntax error is reported at its line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None


def expect(value: Any, kind: type, what: str) -> Any:
    """`value` if it is a `kind`, else a ValueError naming `what`."""
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{what} should be a {kind.__name__}, got {type(value).__name__}")
    return value


def parse_float(text: str, what: str) -> float:
    """A finite float, or a ValueError naming `what`."""
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} is not a finite number: {text!r}")
    return value


def read_label_map(path: Any, strict: bool = True) -> List[str]:
    """Class names, one per line (line i = class i)."""
    return parse_lines(path, lambda line: line.strip(), strict)


def class_index(classes: Sequence[str]) -> Dict[str, int]:
    return {name: i for i, name in enumerate(classes)}


def resolve_classes(classes: Optional[Any], labels: Iterable[str]) -> List[str]:
    """Class names from a list, a label-map file, or else the sorted labels seen."""
    if classes is None:
        return sorted(set(labels))
    if isinstance(classes, (str, Path)):
        return read_label_map(classes)
    return list(classes)
