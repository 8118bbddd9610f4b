"""What a visitor of the app may name: folders, tag-store URLs and uploaded photos.

The app runs on a server and anyone who can open it can type in its sidebar or upload a file, so
every path, store URL and upload that comes from the browser is untrusted. The operator decides
what is reachable when starting the app, through environment variables; this module turns those
into a :class:`Policy` and checks each value against it. Pure Python, no streamlit: the pages
call it, and so can scripts and tests.

- **Folders.** A path is resolved (``~``, symlinks, ``..``: ``os.path.realpath``) and must lie
  inside one of the allowed roots: the workspace (``WORKBENCH_WORKSPACE``), the cache
  (``WORKBENCH_CACHE``), the folders given at start (``WORKBENCH_DATA``,
  ``WORKBENCH_CHECKPOINTS``; the store file ``WORKBENCH_STORE`` itself; or the same settings
  in the workspace's ``workbench.toml``, see :mod:`workbench.settings`), and
  ``WORKBENCH_ALLOWED_ROOTS`` (``os.pathsep``-separated; default: the project's
  ``sample_data``). A refused path gets the same message whether it exists or not, so the
  sidebar cannot be used to probe the server's file system.
- **Tag stores.** A SQLite file inside the roots; any other database URL only when the operator
  configured it (``WORKBENCH_STORE`` or ``WORKBENCH_ALLOWED_STORES``, whitespace-separated). A
  refused URL is never connected to, so its message is the same whatever listens there.
- **Uploads.** Size and pixel count are checked from the bytes and the image header before
  anything is decoded or written (a 446 KB PNG can declare 12000×12000 pixels, 1.1 GB decoded);
  then the whole image is decoded once within those bounds, which catches truncated files.
"""

from __future__ import annotations

import io
import ipaddress
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError
from sqlalchemy.engine import URL, make_url

from workbench import settings

PROJECT = Path(__file__).resolve().parents[1]
ENV_ROOTS = "WORKBENCH_ALLOWED_ROOTS"
ENV_STORES = "WORKBENCH_ALLOWED_STORES"
ENV_UNAUTHENTICATED = "WORKBENCH_ALLOW_UNAUTHENTICATED"
ENV_UPLOAD_MB = "WORKBENCH_UPLOAD_MAX_MB"
ENV_UPLOAD_PIXELS = "WORKBENCH_UPLOAD_MAX_PIXELS"
UPLOAD_MAX_MB = 20
UPLOAD_MAX_PIXELS = 25_000_000
# Pillow format -> the suffix the temporary file gets (what the app's file uploader offers)
UPLOAD_FORMATS = {
    "JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
    "MPO": ".jpg",
}  # fmt: skip
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")


class AccessError(ValueError):
    """A value from the browser was refused; the message says what and how to fix it."""


def workspace_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the app writes jobs, exports, uploads and reports (:mod:`workbench.settings`:
    WORKBENCH_WORKSPACE, else ``<project>/workspace``)."""
    return settings.load(env).workspace


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The disk cache of embeddings and heatmaps (:mod:`workbench.settings`: WORKBENCH_CACHE or
    the workspace's workbench.toml, else ``<project>/.workbench/cache``)."""
    return settings.load(env).cache


def resolve(raw: str | Path) -> Path:
    """``raw`` as the absolute path it names: ``~`` expanded, symlinks and ``..`` resolved
    (relative paths are taken from the current folder). Raises AccessError for an empty path."""
    text = str(raw).strip()
    if not text:
        raise AccessError("No path given: enter a folder or file.")
    if "\x00" in text:
        raise AccessError("A path cannot contain a NUL character.")
    return Path(os.path.realpath(os.path.expanduser(text)))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class Policy:
    """What may be named: ``roots`` (resolved folders), ``files`` (single resolved files
    allowed besides them: a store file given at start) and ``store_urls`` (database URLs the
    operator configured)."""

    roots: tuple[Path, ...]
    files: tuple[Path, ...] = ()
    store_urls: tuple[URL, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Policy:
        """The policy the environment configures (see the module docstring)."""
        env = os.environ if env is None else env
        given = settings.load(env)
        configured = [p for p in env.get(ENV_ROOTS, "").split(os.pathsep) if p.strip()]
        roots = [resolve(p) for p in configured] or [resolve(PROJECT / "sample_data")]
        roots += [resolve(given.workspace), resolve(given.cache)]
        for name in ("data", "checkpoints"):
            if given.configured(name):
                path = resolve(given.configured(name))
                roots.append(path.parent if path.is_file() else path)  # a manifest: its folder
        files: list[Path] = []
        urls: list[URL] = []
        for raw in [given.configured("store") or "", *env.get(ENV_STORES, "").split()]:
            raw = raw.strip()
            if not raw:
                continue
            if "://" not in raw:
                files.append(resolve(raw))
                continue
            try:
                url = make_url(raw)
            except Exception as exc:  # ArgumentError, ValueError... for a malformed URL
                raise AccessError(
                    f"WORKBENCH_STORE / {ENV_STORES}: cannot read the database URL ({exc}); "
                    "fix the setting and restart the app"
                ) from None
            if url.drivername in _SQLITE_DRIVERS and url.database:
                files.append(resolve(url.database))
            else:
                urls.append(url)
        return cls(tuple(dict.fromkeys(roots)), tuple(files), tuple(urls))

    def allows(self, path: Path) -> bool:
        """Whether the resolved ``path`` lies inside a root (or is an allowed file)."""
        return path in self.files or any(_inside(path, r) for r in self.roots)

    def describe(self) -> str:
        """The allowed folders, for messages."""
        return ", ".join(f"`{r}`" for r in self.roots)


def check_path(
    policy: Policy,
    raw: str | Path,
    *,
    what: str,
    expect: Literal["dir", "file", "any"] = "any",
    exists: bool = True,
    fix: str = "",
) -> Path:
    """The resolved path of ``raw`` when the policy allows it, else AccessError.

    ``what`` names the value in messages ("The dataset", "The export folder"); ``expect``: what
    an existing path must be; ``exists``: whether it must exist already; ``fix``: a hint added
    to the messages about a missing path or one of the wrong kind. Containment is checked
    first, so a path outside the roots is refused the same way whether it exists or not.
    """
    text = str(raw).strip()
    if not text:
        raise AccessError(f"{what}: no path given; enter one in the field. {fix}".strip())
    path = resolve(text)
    if not policy.allows(path):
        shown = f"`{text}`" + (f" (resolves to `{path}`)" if str(path) != text else "")
        raise AccessError(
            f"{what} {shown} is outside the folders this app may use: {policy.describe()}. "
            f"Choose a path inside one of them, or ask whoever runs the app to add the folder "
            f"to {ENV_ROOTS}."
        )
    if exists and not path.exists():
        raise AccessError(f"{what} `{text}` does not exist. {fix}".strip())
    if expect == "dir" and path.exists() and not path.is_dir():
        raise AccessError(f"{what} `{text}` is a file, not a folder. {fix}".strip())
    if expect == "file" and path.is_dir():
        raise AccessError(f"{what} `{text}` is a folder, not a file. {fix}".strip())
    return path


def check_store(policy: Policy, raw: str) -> Path | str:
    """The tag store ``raw`` names, when allowed: a resolved SQLite file path (created on first
    use), or a database URL the operator configured (returned as given). Else AccessError.

    A URL that is neither is refused without connecting to it."""
    text = raw.strip()
    if not text:
        raise AccessError(
            "No tag store given: enter a SQLite file (e.g. "
            f"`{workspace_dir() / 'tags.sqlite'}`) in the sidebar."
        )
    fix = f"Give a SQLite file such as `{workspace_dir() / 'tags.sqlite'}`."
    if "://" not in text:
        return check_path(policy, text, what="The tag store", expect="file", exists=False, fix=fix)
    try:
        url = make_url(text)
    except Exception:  # SQLAlchemy raises ArgumentError, ValueError... for a malformed URL
        url = None
    if url is not None and url.drivername in _SQLITE_DRIVERS:
        if not url.database or url.database == ":memory:" or url.query:
            raise AccessError(
                f"The tag store URL `{url.render_as_string(hide_password=True)}` is not a plain "
                f"SQLite file (in-memory stores and URL options are refused). {fix}"
            )
        return check_path(
            policy, url.database, what="The tag store", expect="file", exists=False, fix=fix
        )
    if url is not None:
        for known in policy.store_urls:
            # the sidebar shows a configured URL with its password hidden: accept that form too
            if url == known or (
                url.password == "***" and url.set(password=known.password) == known
            ):
                return known.render_as_string(hide_password=False)
    shown = f"`{url.render_as_string(hide_password=True)}`" if url is not None else "this URL"
    raise AccessError(
        f"The tag store {shown} is not one this app is configured for: database servers are "
        f"reached only through the URLs set when the app is started (WORKBENCH_STORE or "
        f"{ENV_STORES}). {fix}"
    )


def public_store(raw: str) -> str:
    """A tag store as the browser may see it: a database URL with its password hidden."""
    text = raw.strip()
    if "://" not in text:
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: show none of it (it may hold a password)
        return "(a database URL that cannot be read)"


def without_tracebacks(text: str) -> str:
    """``text`` (e.g. a job's log) with each Python traceback's frames replaced by one line;
    the exception line that ends it (what went wrong) is kept. For showing logs in a browser:
    the full text stays in the file on the server. A text cut inside a frame (between its
    ``File`` line and its source line) keeps that one source line."""
    out: list[str] = []
    frames = False
    for line in text.split("\n"):
        if line.startswith("Traceback (most recent call last):"):
            out.append("(traceback omitted here; it is in the job's log file on the server)")
            frames = True
            continue
        if line.startswith('  File "') or (frames and line.startswith((" ", "\t"))):
            frames = True  # a frame (also one whose header was cut off by a tail)
            continue
        frames = False
        out.append(line)
    return "\n".join(out)


# -- uploads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadLimits:
    """``max_bytes`` of an uploaded file and ``max_pixels`` (width × height) of its image."""

    max_bytes: int = UPLOAD_MAX_MB * 1_000_000
    max_pixels: int = UPLOAD_MAX_PIXELS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UploadLimits:
        """WORKBENCH_UPLOAD_MAX_MB and WORKBENCH_UPLOAD_MAX_PIXELS, else the defaults."""
        env = os.environ if env is None else env
        try:
            mb = float(env.get(ENV_UPLOAD_MB) or UPLOAD_MAX_MB)
            pixels = int(env.get(ENV_UPLOAD_PIXELS) or UPLOAD_MAX_PIXELS)
        except ValueError as exc:
            raise AccessError(
                f"{ENV_UPLOAD_MB} must be a number of megabytes and {ENV_UPLOAD_PIXELS} a whole "
                f"number of pixels ({exc})"
            ) from None
        if mb <= 0 or pixels <= 0:
            raise AccessError(f"{ENV_UPLOAD_MB} and {ENV_UPLOAD_PIXELS} must be positive")
        return cls(int(mb * 1_000_000), pixels)


@dataclass(frozen=True)
class CheckedUpload:
    """An uploaded image that passed :func:`check_upload`: its bytes, Pillow ``format``,
    ``size`` (width, height) in pixels and the file ``suffix`` it is written with."""

    data: bytes
    name: str
    format: str
    size: tuple[int, int]
    suffix: str


def check_upload(data: bytes, name: str, limits: UploadLimits | None = None) -> CheckedUpload:
    """Validate an uploaded photo in memory, cheapest checks first: byte size, then the header
    (format, width × height) without decoding, then one full decode (truncated or damaged
    files). Raises AccessError with what was wrong and how to fix it."""
    limits = limits or UploadLimits()
    mb = limits.max_bytes / 1e6
    if not data:
        raise AccessError(f"`{name}` is empty: upload a JPEG or PNG photo.")
    if len(data) > limits.max_bytes:
        raise AccessError(
            f"`{name}` is {len(data) / 1e6:.1f} MB; uploads are limited to {mb:g} MB. "
            "Upload a smaller photo (re-save it as JPEG or scale it down)."
        )
    formats = ", ".join(sorted({f for f in UPLOAD_FORMATS if f != "MPO"}))
    with warnings.catch_warnings():
        # the pixel cap below is stricter than Pillow's own warning threshold
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise AccessError(
                f"`{name}` is not an image (no format Pillow reads matches its content); "
                f"upload a photo in one of: {formats}."
            ) from None
        except Image.DecompressionBombError:
            raise AccessError(_too_many_pixels(name, None, limits)) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise AccessError(f"`{name}` has a damaged image header ({exc}).") from None
        with img:
            if img.format not in UPLOAD_FORMATS:
                raise AccessError(
                    f"`{name}` is a {img.format} image; upload a photo in one of: {formats}."
                )
            width, height = img.size
            if width * height > limits.max_pixels:
                raise AccessError(_too_many_pixels(name, (width, height), limits))
            try:
                img.load()
            except Image.DecompressionBombError:
                raise AccessError(_too_many_pixels(name, (width, height), limits)) from None
            except (OSError, ValueError, SyntaxError) as exc:
                raise AccessError(
                    f"`{name}` is truncated or damaged ({exc}); upload the complete file."
                ) from None
            fmt = img.format
    return CheckedUpload(data, name, fmt, (width, height), UPLOAD_FORMATS[fmt])


def _too_many_pixels(name: str, size: tuple[int, int] | None, limits: UploadLimits) -> str:
    what = f" is {size[0]}×{size[1]} pixels ({size[0] * size[1] / 1e6:.1f} MP);" if size else ""
    return (
        f"`{name}`{what or ' has too many pixels;'} photos are limited to "
        f"{limits.max_pixels / 1e6:g} megapixels. Scale it down (e.g. to 2000 pixels on the "
        "long side) and upload it again."
    )


@contextmanager
def temporary_upload(upload: CheckedUpload, folder: Path) -> Iterator[Path]:
    """Write a checked upload to a new private file in ``folder`` and remove it afterwards,
    also when the body fails."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=upload.suffix, dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(upload.data)
        yield path
    finally:
        path.unlink(missing_ok=True)


# -- who can reach the server ----------------------------------------------------------------


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only: a loopback
    IP, ``localhost`` or a unix socket. Unset (Streamlit then binds every interface), a
    wildcard or any other address or host name is not."""
    if not address:
        return False
    address = address.strip()
    if address.startswith("unix://") or address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure(
    address: str | None, *, auth: bool, env: Mapping[str, str] | None = None
) -> Literal["local", "authenticated", "open", "refused"]:
    """How the app is exposed: ``local`` (loopback only, no login needed), ``authenticated``
    (login configured: every visitor signs in), ``open`` (reachable from the network without
    login because the operator set WORKBENCH_ALLOW_UNAUTHENTICATED=1, e.g. behind an
    authenticating proxy: the app warns) or ``refused`` (reachable without login: the app
    shows only how to fix that)."""
    env = os.environ if env is None else env
    if auth:
        return "authenticated"
    if is_loopback(address):
        return "local"
    if env.get(ENV_UNAUTHENTICATED, "").strip().lower() in ("1", "true", "yes"):
        return "open"
    return "refused"
