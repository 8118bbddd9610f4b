"""File names -> post and photo number, and what the folder loader could not understand.

A :class:`NamePattern` is a regular expression matched against a file's stem (its name without
the extension), with the named groups ``post`` and ``photo`` (digits), optionally ``group``
(the identity is then ``GROUP_POST``) and ``copy`` (set when the file is a saved-again copy,
e.g. ``10040_1 (1)``). The default understands:

``POST_PHOTO``            ``10631_2``           post ``10631``, photo 2
``GROUP_POST_PHOTO``      ``7_10631_2``         post ``7_10631``, photo 2
``POST-PHOTO``            ``123-4``             post ``123``, photo 4
``... (N)``               ``10040_1 (1)``       a copy of photo 1 of post 10040 (reported)

Camera and phone names (``IMG_2034``, ``DSC_0001``, ``PXL_20230101_123456``, ``20230101_123456``)
fit ``POST_PHOTO`` but carry no post: with the default pattern they are refused as
``camera-name`` (never read as post ``IMG``) and the report asks for a pattern or a manifest.
A pattern given by the user is trusted as it is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from curation.findings import DatasetError

MAX_PHOTO = 2_147_483_647
COPY_SUFFIX = r"(?:\s?\((?P<copy>\d{1,4})\)|(?P<copyword>\s?-?\s?[Cc]opy))?"
DEFAULT_PATTERN = (
    r"(?:(?P<post>[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)?)_(?P<photo>\d+)"
    r"|(?P<post2>[A-Za-z0-9]+)-(?P<photo2>\d+))" + COPY_SUFFIX
)
NAME_PATTERN_ENV = "WORKBENCH_NAME_PATTERN"
POST_FROM_ENV = "WORKBENCH_POST_FROM"  # "name" (default) or "folder"
# camera / phone / messenger file names: a device prefix then digits, or a date_time stem
_CAMERA_RE = re.compile(
    r"(?i:img|dsc[nf]?|dcim|pxl|mvimg|vid|pic|photo|image|screenshot|wp|imag|sam|gopr|dji"
    r"|p)[_ -]?\d{3,}.*"
    r"|(?:19|20)\d{6}[_-]\d{6}.*"
)


class NamePatternError(DatasetError):
    """A name pattern that is not a usable regular expression."""


@dataclass(frozen=True)
class ParsedName:
    """``post`` (identity), ``photo`` (0..2**31-1), ``copy`` (the copy number of ``NAME (N)``,
    0 when the file is not a copy; -1 for ``NAME - copy``)."""

    post: str
    photo: int
    copy: int = 0


class NamePattern:
    """A compiled name pattern (see the module docstring); ``None`` means the default."""

    def __init__(self, pattern: str | None = None):
        self.custom = pattern is not None and pattern.strip() != ""
        self.text = pattern.strip() if self.custom else DEFAULT_PATTERN
        try:
            self.regex = re.compile(self.text)
        except re.error as exc:
            raise NamePatternError(
                f"name pattern {self.text!r} is not a regular expression ({exc}); e.g. "
                r"'(?P<post>\d+)-(?P<photo>\d+)' for 123-4.jpg"
            ) from exc
        names = set(self.regex.groupindex)
        if self.custom and not {"post", "photo"} <= names:
            raise NamePatternError(
                f"name pattern {self.text!r} needs the named groups (?P<post>...) and "
                f"(?P<photo>...) (it has {', '.join(sorted(names)) or 'none'}); optional: "
                "(?P<group>...) for GROUP_POST identities, (?P<copy>...) for copies"
            )

    def __repr__(self) -> str:
        return f"NamePattern({self.text!r})" if self.custom else "NamePattern(default)"

    def parse(self, stem: str) -> ParsedName | None:
        """The post and photo of ``stem`` (a name without its extension), None when the pattern
        does not match it whole or the photo number is out of range."""
        m = self.regex.fullmatch(stem)
        if m is None:
            return None
        groups = m.groupdict()
        post = groups.get("post") or groups.get("post2")
        photo = groups.get("photo") or groups.get("photo2")
        if not post or photo is None or not photo.isdigit() or int(photo) > MAX_PHOTO:
            return None
        if groups.get("group"):
            post = f"{groups['group']}_{post}"
        copy = 0
        if groups.get("copy"):
            copy = int(groups["copy"]) if groups["copy"].isdigit() else -1
        elif groups.get("copyword"):
            copy = -1
        return ParsedName(post, int(photo), copy)

    def camera_like(self, stem: str) -> bool:
        """True for a camera or phone file name (``IMG_2034``) under the default pattern; a
        custom pattern is trusted."""
        return not self.custom and _CAMERA_RE.fullmatch(stem) is not None


def examples(items: list[str], n: int = 3) -> str:
    """``a, b, c and 4 more``."""
    head = ", ".join(items[:n])
    return head + (f" and {len(items) - n} more" if len(items) > n else "")


def naming_from_env(env: Mapping[str, str] | None = None) -> dict:
    """``load_dataset`` keyword arguments from :data:`NAME_PATTERN_ENV` and
    :data:`POST_FROM_ENV` (unset: the defaults), so the app and the command line read one
    setting; a bad value raises :class:`NamePatternError` naming the variable."""
    env = os.environ if env is None else env
    out: dict = {}
    pattern = env.get(NAME_PATTERN_ENV, "").strip()
    if pattern:
        out["name_pattern"] = NamePattern(pattern)
    post_from = env.get(POST_FROM_ENV, "").strip().lower()
    if post_from:
        if post_from not in ("name", "folder"):
            raise NamePatternError(
                f"{POST_FROM_ENV}={post_from!r}: use 'name' (post from the file name) or "
                "'folder' (post from the subfolder, SPLIT/POST/photo.jpg)"
            )
        out["post_from"] = post_from
    return out
