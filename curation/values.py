"""Manifest values, checked cell by cell: a bad value is a finding that names its row and column.

CSV cells arrive as strings, Parquet cells with their column's type (floats with NaN, None, lists,
bytes ...). Every known column gets one type:

``image``, path columns   text (paths are checked by :mod:`curation.paths`)
``post_id``, ``decoy_of`` text ids; a missing value (NaN, None, ``""``, or the *strings*
                          ``NaN``/``None``/``null``/``NA``) is an error for ``post_id``
``photo``, ``camid``      whole numbers from 0 to :data:`MAX_INDEX`
``split``                 ``train``, ``query`` or ``gallery``
``polluted``              true/false (``true``/``false``/``1``/``0``/``yes``/``no``, empty = false)
other known text columns  text, missing = ``""``

Ids stored as floats (a Parquet float column, or a CSV column whose every id reads ``10481.0``:
a float column written as text) are read as the whole number (``10481``) with one warning per
column; a fractional or inexact float id is an error, and so is a lone ``10481.0`` among text ids.
Lists, dicts and bytes where one value is expected are errors; so are ids longer than
:data:`MAX_ID_CHARS` characters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from curation.findings import Finding
from curation.paths import is_path_column

MAX_INDEX = 2**31 - 1
MAX_ID_CHARS = 256
MISSING_WORDS = frozenset({"nan", "none", "null", "na", "n/a", "<na>"})
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$", re.I)
_FLOAT_ID = re.compile(r"^[+-]?\d+\.0*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MISSING = object()


class BadValue(ValueError):
    """One cell's value cannot be used; the message says why."""


def _kind(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(value, dict):
        return "a dict (a Parquet struct or map column)"
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return "a list (a Parquet list column)"
    return f"a {type(value).__name__}"


def _is_nan(value: object) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def text_cell(value: object) -> object:
    """A cell as text, :data:`_MISSING` for an empty cell (None, NaN, pandas NA)."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or _is_nan(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    raise BadValue(f"{_kind(value)} where one value is expected")


def whole_cell(value: object) -> int:
    """A cell as a whole number in 0..MAX_INDEX, or :class:`BadValue`."""
    if isinstance(value, str):
        if value.isdigit() and len(value) < 10:
            return int(value)  # the common case, in range by its length
        text = value.strip()
        if not text:
            raise BadValue("is empty")
        if _INT.match(text):
            if len(text.lstrip("+-0")) > 19:  # beyond int64; int() would also refuse 4301 digits
                raise BadValue(f"{_show(value)} is out of range")
            number = int(text)
        elif _FLOAT.match(text):
            number = _whole_float(float(text), value)
        else:
            raise BadValue(f"{value[:40]!r} is not a number")
    elif isinstance(value, (bool, np.bool_)):
        raise BadValue(f"{value!r} is true/false, not a number")
    elif isinstance(value, (int, np.integer)):
        number = int(value)
    elif isinstance(value, (float, np.floating)):
        if math.isnan(value):
            raise BadValue("is empty (NaN)")
        number = _whole_float(float(value), value)
    elif value is None or value is pd.NA:
        raise BadValue("is empty")
    else:
        raise BadValue(f"{_kind(value)} where one number is expected")
    if not 0 <= number <= MAX_INDEX:
        raise BadValue(f"{_show(value)} is out of range")
    return number


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + ("..." if len(text) > 40 else "")) if isinstance(value, str) else text


def _whole_float(number: float, raw: object) -> int:
    if not math.isfinite(number):
        raise BadValue(f"{_show(raw)} is not a finite number")
    if number != math.floor(number):
        raise BadValue(f"{_show(raw)} is not a whole number")
    if abs(number) > MAX_INDEX:
        raise BadValue(f"{_show(raw)} is out of range")
    return int(number)


def truthy_cell(value: object) -> bool:
    """A ``polluted``-style flag, or :class:`BadValue`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None or value is pd.NA or _is_nan(value):
        return False
    if isinstance(value, (int, np.integer, float, np.floating)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no", ""):
            return False
    raise BadValue(f"{_show(value)} is not true or false (use true/false)")


class Checker:
    """Collects findings for one manifest: ``bad(idx, column, message)`` names row and column.

    ``table`` has a RangeIndex: ``idx`` is the row's position (row ``idx + 1`` in messages)."""

    def __init__(self, table: pd.DataFrame):
        self.table = table
        self.findings: list[Finding] = []
        self._images = table["image"].tolist() if "image" in table.columns else []

    def _image(self, idx: int) -> object:
        return self._images[idx] if 0 <= idx < len(self._images) else None

    def where(self, idx: int, column: str) -> str:
        image = self._image(idx) if column != "image" else None
        label = f" ({image})" if isinstance(image, str) and image and len(image) <= 200 else ""
        return f"row {idx + 1}{label}, column {column}"

    def image_of(self, idx: int) -> str:
        image = self._image(idx)
        return image if isinstance(image, str) else f"row {idx + 1}"

    def bad(self, idx: int, column: str, message: str, code: str | None = None) -> None:
        self.findings.append(
            Finding(
                "error",
                code
                or ("bad-path" if is_path_column(column) else f"bad-{column.replace('_', '-')}"),
                f"{self.where(idx, column)}: {message}",
                (self.image_of(idx),),
                (idx,),
            )
        )

    def warn(self, code: str, message: str) -> None:
        self.findings.append(Finding("warning", code, message))

    def column(self, column: str, convert: Callable[[object], object], prefix: str) -> list:
        """``convert`` applied to every cell; failures become findings (``prefix`` + reason),
        their cells None."""
        cells = self.table[column].tolist()
        if convert is text_cell and all(type(v) is str for v in cells):
            return cells  # every CSV column, and text columns of Parquet: nothing to convert
        if convert is whole_cell and all(type(v) is str and v.isdigit() and len(v) < 10
                                         for v in cells):  # fmt: skip
            return [int(v) for v in cells]  # whole numbers in range, by their length
        out = []
        for idx, value in enumerate(cells):
            try:
                out.append(convert(value))
            except BadValue as exc:
                self.bad(idx, column, f"{prefix}{exc}")
                out.append(None)
        return out


def text_column(
    check: Checker, column: str, *, required: bool, missing_code: str = "no-post-id"
) -> list[str]:
    """Text of every cell ("" when missing); a missing or blank required value is an error
    (``missing_code``)."""
    table = check.table
    float_storage = pd.api.types.is_float_dtype(table[column].dtype)
    raw = table[column].tolist() if float_storage else None
    values = check.column(column, text_cell, f"{column} holds ")
    if not float_storage and all(type(v) is str and (not required or v.strip()) for v in values):
        return values  # nothing missing, nothing converted
    out = []
    floats = 0
    for idx, value in enumerate(values):
        if value is None:
            out.append("")
            continue
        if value is _MISSING or (required and not value.strip()):
            if required:
                check.bad(idx, column, "is empty; every row needs one", code=missing_code)
            out.append("")
            continue
        if float_storage:
            value, converted = _float_id(check, idx, column, raw[idx])
            floats += converted
        out.append(value)
    if floats:
        check.warn(
            "float-ids",
            f"column {column} is stored as floats: {floats} value(s) like 10481.0 read as the "
            "whole number 10481; store the ids as text or integers",
        )
    return out


def _float_id(check: Checker, idx: int, column: str, number: float) -> tuple[str, int]:
    number = float(number)
    if not math.isfinite(number) or number != math.floor(number) or abs(number) > 2**53:
        check.bad(idx, column, f"{number!r} is not a whole number an id can be", "bad-post-id")
        return "", 0
    return str(int(number)), 1


def id_column(check: Checker, column: str, *, required: bool) -> list[str]:
    """``post_id``-like text ids: stripped, bounded, no missing-value words, float ids resolved
    (see the module docstring)."""
    values = [v.strip() for v in text_column(check, column, required=required)]
    nonempty = [v for v in values if v]
    all_float = bool(nonempty) and all(_FLOAT_ID.match(v) for v in nonempty)
    converted = 0
    for idx, value in enumerate(values):
        if not value:
            continue
        if value.lower() in MISSING_WORDS:
            check.bad(idx, column, f"{value!r} looks like a missing value, not an id; "
                      "fill in the id or drop the row", "no-post-id")  # fmt: skip
            values[idx] = ""
        elif len(value) > MAX_ID_CHARS:
            check.bad(idx, column, f"an id of {len(value)} characters (more than "
                      f"{MAX_ID_CHARS}); ids are short", "bad-post-id")  # fmt: skip
            values[idx] = ""
        elif _CONTROL.search(value):
            check.bad(idx, column, f"{value[:40]!r} holds a control character", "bad-post-id")
            values[idx] = ""
        elif _FLOAT_ID.match(value):
            if all_float:
                values[idx] = str(int(value.split(".")[0]))
                converted += 1
            else:
                check.bad(idx, column, f"{value!r} looks like a number written as a float; "
                          f"write {value.split('.')[0]}", "bad-post-id")  # fmt: skip
                values[idx] = ""
    if converted:
        check.warn(
            "float-ids",
            f"column {column} holds ids written as floats: {converted} value(s) like 10481.0 "
            "read as the whole number 10481; write the ids without '.0'",
        )
    return values
