"""Image reading that every part of the workbench shares.

Photos from social networks arrive in every mode Pillow knows: RGBA cut-outs, palette GIFs,
greyscale, CMYK JPEGs, 16-bit PNGs. Everything downstream wants plain 8-bit RGB, so this module
is the one place where files become pixels. Pillow's decompression-bomb guard stays on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file and the cause."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparent pixels become black (segmented look)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr8 = np.clip(np.round(arr / hi * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Read an image file as 8-bit RGB, honouring EXIF orientation.

    Raises ImageReadError for missing, non-image, truncated or oversized (decompression bomb) files.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
            return _to_rgb(img)
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: file not found; check the path or the dataset root") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            f"{path}: not an image Pillow can read; remove it or replace it with a JPEG/PNG"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"{path}: refused, the image is too large to decode safely ({exc}); "
            "downscale it before adding it to the dataset"
        ) from exc
    except OSError as exc:
        raise ImageReadError(
            f"{path}: unreadable or truncated image ({exc}); re-export or remove the file"
        ) from exc


def check_image(path: str | Path, *, full: bool = False) -> str | None:
    """Return None when ``path`` opens as an image, else a one-line reason.

    ``full=False`` reads only the header (fast: a few hundred microseconds per file);
    ``full=True`` decodes every pixel, which also catches truncated files.
    """
    try:
        if full:
            load_rgb(path)
        else:
            with Image.open(path) as img:
                img.size  # noqa: B018 - reading the header is the check
    except ImageReadError as exc:
        return str(exc).split(": ", 1)[-1]
    except FileNotFoundError:
        return "file not found"
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except Image.DecompressionBombError as exc:
        return f"too large to decode safely ({exc})"
    except OSError as exc:
        return f"unreadable ({exc})"
    return None


def file_sha1(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-1 of a file's bytes (content key for caches)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
