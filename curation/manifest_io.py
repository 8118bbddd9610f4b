"""Reading a manifest file with bounds: file size, rows, columns and cell length.

A manifest is untrusted input: a CSV with a 1 GB cell, a Parquet file whose 1 KB of compressed
bytes expand to gigabytes, or ten million rows must be refused with a message before they fill
memory. The caps are :class:`Limits`, read from the environment by :meth:`Limits.from_env`:

``WORKBENCH_MAX_MANIFEST_BYTES``   file size (default 1 GiB; for Parquet also the uncompressed size)
``WORKBENCH_MAX_MANIFEST_ROWS``    rows (default 5,000,000)
``WORKBENCH_MAX_MANIFEST_COLUMNS`` columns (default 256)

Cells are at most :data:`MAX_CELL_CHARS` characters (paths and ids are short).
CSV files are read as UTF-8 text, every cell a string; Parquet keeps its column types (the loader
checks them cell by cell).
"""

from __future__ import annotations

import csv
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from curation.findings import DatasetError

MAX_CELL_CHARS = 4096
MAX_LINE_CHARS = 1 << 20
_CSV_LOCK = threading.Lock()


@dataclass(frozen=True)
class Limits:
    """Caps on a manifest (see the module docstring)."""

    max_bytes: int = 1 << 30
    max_rows: int = 5_000_000
    max_columns: int = 256

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden by the ``WORKBENCH_MAX_MANIFEST_*`` environment variables."""
        values = {}
        for field, var in (
            ("max_bytes", "WORKBENCH_MAX_MANIFEST_BYTES"),
            ("max_rows", "WORKBENCH_MAX_MANIFEST_ROWS"),
            ("max_columns", "WORKBENCH_MAX_MANIFEST_COLUMNS"),
        ):
            raw = os.environ.get(var)
            if raw is None or not raw.strip():
                continue
            try:
                values[field] = int(raw)
            except ValueError:
                raise DatasetError(
                    f"{var}={raw!r} is not a whole number; unset it or fix it"
                ) from None
            if values[field] < 1:
                raise DatasetError(f"{var}={raw!r} must be at least 1")
        return cls(**values)


def _too_big(path: Path, what: str, size: int, limits: Limits) -> DatasetError:
    return DatasetError(
        f"{path}: {what} {size:,} bytes, above the cap of {limits.max_bytes:,}; split the "
        "manifest or raise WORKBENCH_MAX_MANIFEST_BYTES"
    )


def read_table(path: Path, limits: Limits) -> pd.DataFrame:
    """The manifest at ``path`` (.csv, .parquet, .pq) as a table, within ``limits``.

    Raises DatasetError naming the file and the fix for an unknown format, an unreadable file,
    or a file beyond the caps.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DatasetError(
            f"{path}: unknown manifest format {suffix or '(no extension)'}; use .csv or .parquet"
        )
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _too_big(path, "the file has", size, limits)
    if suffix == ".csv":
        return _read_csv(path, limits)
    return _read_parquet(path, limits)


def _read_csv(path: Path, limits: Limits) -> pd.DataFrame:
    with _CSV_LOCK:  # csv's field limit is process-wide: set it, read, put it back
        old = csv.field_size_limit(MAX_CELL_CHARS)
        try:
            header, rows = _csv_rows(path, limits)
        finally:
            csv.field_size_limit(old)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    return pd.DataFrame(
        {name: pd.Series(cells, dtype=object) for name, cells in zip(header, columns, strict=True)}
    )


def _csv_rows(path: Path, limits: Limits) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(_lines(path, fh), strict=True)
            header = [c.strip() for c in next(reader, [])]
            if not header:
                raise DatasetError(f"{path}: the file is empty; a table needs a header row")
            _check_header(path, header, limits)
            width = len(header)
            rows = []
            for cells in reader:
                if not cells:
                    continue  # a blank line
                if len(rows) >= limits.max_rows:
                    raise _too_many_rows(path, limits)
                if len(cells) > width:
                    raise DatasetError(
                        f"{path}: line {reader.line_num} has {len(cells)} values but the header "
                        f"has {width} columns; quote values that contain commas"
                    )
                rows.append(cells + [""] * (width - len(cells)))
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); is it a CSV file? "
            "save it as UTF-8"
        ) from exc
    except csv.Error as exc:
        line = reader.line_num
        if "field larger than field limit" in str(exc):
            raise DatasetError(
                f"{path}: line {line} holds a value longer than {MAX_CELL_CHARS} characters; "
                "cells hold paths and ids: check the quoting of that line"
            ) from exc
        raise DatasetError(f"{path}: line {line} is not valid CSV ({exc})") from exc
    return header, rows


def _lines(path: Path, fh):
    """The file's lines, each read with a bound (a 1 GB line never reaches memory)."""
    number = 0
    while line := fh.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise DatasetError(
                f"{path}: line {number} is longer than {MAX_LINE_CHARS:,} characters; cells "
                "hold paths and ids: check the quoting of that line"
            )
        yield line


def _too_many_rows(path: Path, limits: Limits) -> DatasetError:
    return DatasetError(
        f"{path}: more than {limits.max_rows:,} rows, the cap; split the manifest or raise "
        "WORKBENCH_MAX_MANIFEST_ROWS"
    )


def _check_header(path: Path, header: list[str], limits: Limits) -> None:
    if len(header) > limits.max_columns:
        raise DatasetError(
            f"{path}: {len(header):,} columns, above the cap of {limits.max_columns}; drop the "
            "extra columns or raise WORKBENCH_MAX_MANIFEST_COLUMNS"
        )
    seen: set[str] = set()
    for name in header:
        if not name:
            raise DatasetError(f"{path}: a column has no name; name every column of the header")
        if name in seen:
            raise DatasetError(f"{path}: column {name!r} appears twice; keep one")
        seen.add(name)


def _read_parquet(path: Path, limits: Limits) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetError(
            f"{path}: not a readable Parquet file ({exc}); is it a .parquet?"
        ) from exc
    if meta.num_rows > limits.max_rows:
        raise _too_many_rows(path, limits)
    names = [meta.schema.column(i).path.split(".")[0] for i in range(meta.num_columns)]
    _check_header(path, list(dict.fromkeys(names)), limits)
    expanded = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )
    if expanded > limits.max_bytes:
        raise _too_big(path, "the columns expand to", expanded, limits)
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: cannot read the Parquet file ({exc})") from exc
