"""What the app-input tests share: hostile files (a decompression-bomb PNG, damaged uploads),
the allowed-roots world the pages run in, and AppTest helpers. Fixtures built from these are in
``conftest.py``."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from workbench.access import Policy

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
ROOTS_VAR = "WORKBENCH_ALLOWED_ROOTS"
FORMATS = "BMP, GIF, JPEG, PNG, TIFF, WEBP"

# -- corpus builders -------------------------------------------------------------------------


def _chunk(tag: bytes, data: bytes) -> bytes:
    body = tag + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


@functools.cache
def bomb_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of ``width``×``height`` black pixels, compressed row by row (a
    12000×12000 one is 420 KB on disk and 432 MB decoded), built without holding its pixels."""
    comp = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0 and a black row
    idat = b"".join([comp.compress(row) for _ in range(height)] + [comp.flush()])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def photo_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 128)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buf, fmt)
    return buf.getvalue()


def policy_of(roots_tree) -> Policy:
    return Policy(roots=(roots_tree["allowed"],))


def outside_message_for(
    what: str, raw: str, roots: list[Path], resolved: Path | None = None
) -> str:
    shown = f"`{raw}`" + (f" (resolves to `{resolved}`)" if resolved is not None else "")
    listed = ", ".join(f"`{r}`" for r in roots)
    return (
        f"{what} {shown} is outside the folders this app may use: {listed}. Choose a path "
        f"inside one of them, or ask whoever runs the app to add the folder to {ROOTS_VAR}."
    )


def bad_uploads(bomb: bytes) -> list:
    jpeg = photo_bytes("JPEG", (256, 256))
    png = photo_bytes("PNG", (256, 256))
    return [
        pytest.param(
            bomb,
            "bomb.png",
            "`bomb.png` is 12000×12000 pixels (144.0 MP); photos are limited to 25 megapixels. "
            "Scale it down (e.g. to 2000 pixels on the long side) and upload it again.",
            id="bomb-png-12000x12000",
        ),
        pytest.param(
            b"\xff\xd8\xff" + bytes(21_000_000),
            "huge.jpg",
            "`huge.jpg` is 21.0 MB; uploads are limited to 20 MB. Upload a smaller photo "
            "(re-save it as JPEG or scale it down).",
            id="huge-file",
        ),
        pytest.param(
            b"#!/bin/sh\nrm -rf /\n" * 20,
            "photo.png",
            "`photo.png` is not an image (no format Pillow reads matches its content); upload a "
            f"photo in one of: {FORMATS}.",
            id="not-an-image",
        ),
        pytest.param(
            b"", "empty.jpg", "`empty.jpg` is empty: upload a JPEG or PNG photo.", id="empty"
        ),
        pytest.param(
            jpeg[: len(jpeg) // 2],
            "cut.jpg",
            "`cut.jpg` is truncated or damaged (image file is truncated (26 bytes not "
            "processed)); upload the complete file.",
            id="truncated-jpeg",
        ),
        pytest.param(
            png[: len(png) // 2],
            "cut.png",
            "`cut.png` is truncated or damaged (image file is truncated); upload the complete "
            "file.",
            id="truncated-png",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + b"garbage" * 20,
            "broken.png",
            "`broken.png` has a damaged image header (Truncated File Read).",
            id="damaged-header",
        ),
        pytest.param(
            b"P6\n4 4\n255\n" + bytes(48),
            "x.jpg",
            f"`x.jpg` is a PPM image; upload a photo in one of: {FORMATS}.",
            id="unlisted-format",
        ),
    ]


@dataclass
class World:
    tmp: Path
    allowed: Path
    ws: Path
    outside: Path
    evil: Path
    data: Path
    series: Path
    cache: Path

    @property
    def roots(self) -> list[Path]:
        return [self.allowed, self.ws, self.cache, self.data, self.series]

    def outside_message(self, what: str, raw: str, resolved: Path | None = None) -> str:
        return outside_message_for(what, raw, self.roots, resolved)


def start(page: str = "home", **widgets: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for key, value in widgets.items():
        at.text_input(key=key).input(value).run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def shown(at: AppTest) -> list[str]:
    return [e.value for e in at.error] + [i.value for i in at.info] + [w.value for w in at.warning]


def assert_no_failure(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not any("Unexpected error" in e.value for e in at.error), shown(at)


OUTSIDE = "is outside the folders"


def store_refused_message(shown: str, ws: Path) -> str:
    return (
        f"The tag store {shown} is not one this app is configured for: database servers are "
        "reached only through the URLs set when the app is started (WORKBENCH_STORE or "
        f"WORKBENCH_ALLOWED_STORES). Give a SQLite file such as `{ws / 'tags.sqlite'}`."
    )
