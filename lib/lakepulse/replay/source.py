"""Reading the replayed CSV files: rows with their line numbers and raw text, ids, error records.

Shared by the dataset adapters (:mod:`lakepulse.replay.rees46`, :mod:`lakepulse.replay.online_retail`).
Files are read as a stream with the :mod:`csv` module, one row at a time; ``.csv.gz`` files are read
through gzip. Each row keeps its 1-based line number in the file and its exact source text, so a row
that cannot be mapped onto the contract is still sent, as a :func:`replay_error` record that silver
quarantines.

Example::

    files = csv_files("../shared/data/online-retail")      # one file, or every *.csv in a folder
    for row in read_rows(files[0], ("InvoiceNo", "Quantity")):
        row.line, row.values, row.raw                         # 2, ("536365", "6"), "536365,85123A,..."
"""

from __future__ import annotations

import csv
import gzip
import operator
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

# Type of the record sent for a source row that cannot be mapped. It is not one of
# contract.CALL_TYPES, so silver quarantines it (rule ``known_type``) with the raw line inside.
REPLAY_ERROR_TYPE = "replay_error"

# Namespace of every id the replay derives (uuid5), so ids are stable across runs and machines.
REPLAY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lakepulse.dev/replay")

_SUFFIXES = (".csv", ".csv.gz")


class ReplayError(Exception):
    """The replay cannot start: a missing path, no CSV files, a header without a needed column."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One CSV row of a replayed file.

    ``values`` holds the requested columns in the requested order, or is ``None`` when the row
    cannot be read, with the reason in ``problem`` (e.g. ``"8 of 9 fields"`` for a truncated last
    line). ``line`` is the 1-based number of the row's first line in the file (the header is
    line 1); ``raw`` is the row's exact text without its line terminator.
    """

    file_name: str
    line: int
    values: tuple[str, ...] | None
    raw: str
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """One record to send: a contract event, or a :func:`replay_error` record.

    ``event_time`` is the source time in UTC (used to pace a replay), ``None`` for error records.
    """

    event: dict[str, Any]
    event_time: datetime | None


def csv_files(path: str | Path) -> list[Path]:
    """The CSV files to replay: ``path`` itself, or the ``*.csv``/``*.csv.gz`` files directly in the
    folder ``path``, sorted by name (daily files replay in date order).

    Raises :class:`ReplayError` when the path does not exist or the folder holds no CSV file.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ReplayError(f"{path} does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_SUFFIXES))
    if not files:
        raise ReplayError(f"{path} holds no *.csv or *.csv.gz file")
    return files


def message_id(source: str, file_name: str, line: int) -> str:
    """The messageId of the record made from the row starting at ``line`` of ``file_name``:
    a uuid5 of ``"<source>:<file name>:<line>"``.

    Replaying the same file again gives the same ids (silver drops the repeats); two rows with the
    same content on different lines get different ids.
    """
    return str(uuid.uuid5(REPLAY_NAMESPACE, f"{source}:{file_name}:{line}"))


def replay_error(source: str, row: SourceRow, reason: str) -> ReplayRecord:
    """The record sent for a source row that cannot be mapped onto the contract.

    A JSON object with a messageId and ``type`` :data:`REPLAY_ERROR_TYPE` (fails ``known_type``),
    plus ``source``, ``file``, ``line``, ``raw`` (the row's source text) and ``error`` (why).
    """
    return ReplayRecord(
        event={
            "type": REPLAY_ERROR_TYPE,
            "messageId": message_id(source, row.file_name, row.line),
            "source": source,
            "file": row.file_name,
            "line": row.line,
            "raw": row.raw,
            "error": reason,
        },
        event_time=None,
    )


def parse_source_time(text: str) -> datetime:
    """A source timestamp as an aware UTC datetime.

    Accepts ``2019-10-01 00:00:00 UTC`` (REES46), ``2010-12-01 08:26:00`` and ``12/1/2010 8:26``
    (Online Retail; times without a zone are taken as UTC). Raises ``ValueError`` otherwise.
    """
    if text.endswith(" UTC"):
        text = text[:-4]
    if "/" in text:
        moment = datetime.strptime(text, "%m/%d/%Y %H:%M")
    else:
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def finite_float(text: str) -> float:
    """``float(text)``, refusing NaN and infinities (they are not JSON numbers)."""
    number = float(text)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {text!r}")
    return number


def _open_text(path: Path) -> TextIO:
    # utf-8-sig drops a byte-order mark; undecodable bytes become U+FFFD and the row is then
    # reported as broken instead of stopping the replay.
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _column_picker(path: Path, header: list[str], columns: Sequence[str]) -> Callable[[list[str]], tuple]:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ReplayError(
            f"{path}: header {','.join(header)!r} lacks column(s) {', '.join(missing)} "
            f"(expected {','.join(columns)})"
        )
    picker = operator.itemgetter(*(header.index(c) for c in columns))
    if len(columns) == 1:
        return lambda fields: (picker(fields),)
    return picker


def check_header(path: Path, columns: Sequence[str]) -> None:
    """Raise :class:`ReplayError` unless ``path`` starts with a header holding ``columns``."""
    with _open_text(path) as handle:
        header = next(csv.reader(handle), [])
    _column_picker(path, header, columns)


def read_rows(path: Path, columns: Sequence[str]) -> Iterator[SourceRow]:
    """Stream the rows of one CSV file with a header line, one :class:`SourceRow` per record.

    ``values`` are the ``columns`` in that order (any column order in the file works). Blank lines
    carry no data and are skipped. Raises :class:`ReplayError` when the header lacks a column.
    """
    consumed: list[str] = []

    def tapped(lines: TextIO) -> Iterator[str]:
        # The csv reader pulls exactly the physical lines of one record per row; keeping them gives
        # the row's raw text (quoted fields may span lines).
        for text in lines:
            consumed.append(text)
            yield text

    with _open_text(path) as handle:
        reader = csv.reader(tapped(handle))
        header = next(reader, [])
        consumed.clear()
        pick = _column_picker(path, header, columns)
        width = len(header)
        file_name = path.name
        previous_line = reader.line_num
        while True:
            try:
                fields = next(reader)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over csv.field_size_limit(); the reader goes on
                fields, problem = [], f"CSV error: {exc}"
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            line = previous_line + 1
            previous_line = reader.line_num
            if problem is not None:
                yield SourceRow(file_name, line, None, raw, problem)
            elif not fields:
                continue
            elif len(fields) != width:
                yield SourceRow(file_name, line, None, raw, f"{len(fields)} of {width} fields")
            elif "\ufffd" in raw:
                yield SourceRow(file_name, line, None, raw, "not valid UTF-8")
            else:
                yield SourceRow(file_name, line, pick(fields), raw)
