"""What a checkpoint path is before torch reads it: kind of file, format, declared tensor sizes.

``torch.load`` allocates every tensor storage at the size the file *declares* before it reads
the bytes, so a 5 KB file that declares a 40 GB tensor costs 40 GB. It also blocks forever on a
named pipe and answers a text file or a zip of photos with an ``IndexError`` or an internal
assertion. :func:`precheck` looks first, with bounded reads and without running anything:

- the path is a regular file (not a folder, named pipe, device, dangling or looping symlink),
  not empty, readable;
- its format: torch's zip archive (``<name>/data.pkl`` + ``<name>/data/<key>``), torch's legacy
  pickle format, or something else (text, a zip that is not a torch archive, a TorchScript
  archive), each named in the message;
- the storages the file's pickle declares: their total size must fit in the file (an honest file
  holds every byte of every storage), and in the zip format each one in its own record.

The pickle is read by an unpickler whose every global is an inert stand-in, so nothing the file
names is imported or called; ``torch.load(weights_only=True)`` remains the judge of what is safe.
(Python's unpickler reserves a string's declared length before reading it; that reservation is
virtual memory, and under a memory limit it fails as a MemoryError, reported as a corrupt file.)
"""

from __future__ import annotations

import io
import os
import pickle
import stat
import zipfile
from pathlib import Path

MAX_PICKLE_BYTES = 256 * 1024 * 1024  # a checkpoint's data.pkl is a few hundred KB at most
# bytes per element of torch's storage classes (the legacy names torch.save still writes)
ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8,
    "QUInt8Storage": 1, "QInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1, "UntypedStorage": 1,
}  # fmt: skip
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file, what is wrong and what to do."""


class CheckpointFileError(CheckpointError):
    """The path is not a checkpoint torch can be asked to read; the message names it."""


def _named(path: Path) -> str:
    """``path``, and where it leads when it is a symbolic link."""
    try:
        return f"{path} (a link to {os.path.realpath(path)})" if os.path.islink(path) else str(path)
    except OSError:
        return str(path)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def file_kind(path: Path) -> os.stat_result:
    """``os.stat`` of a regular, non-empty file; CheckpointFileError saying what it is instead."""
    where = _named(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise CheckpointFileError(
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; "
                "fix or remove the link"
            ) from None
        raise CheckpointFileError(f"{where}: no such file; check the path") from None
    except OSError as exc:  # ELOOP, ENAMETOOLONG, EACCES on a parent ...
        raise CheckpointFileError(f"{where}: cannot be opened ({exc.strerror})") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise CheckpointFileError(
            f"{where}: a folder, not a checkpoint file; a checkpoint is one file such as "
            "model.pth.tar-60 (move the folder out of the series, or point at the file in it)"
        )
    if stat.S_ISFIFO(mode):
        raise CheckpointFileError(
            f"{where}: a named pipe (FIFO), not a regular file; refused, since reading it could "
            "wait forever. Copy the checkpoint to a regular file"
        )
    if not stat.S_ISREG(mode):
        kind = "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise CheckpointFileError(f"{where}: {kind}, not a regular checkpoint file; refused")
    if st.st_size == 0:
        raise CheckpointFileError(
            f"{where}: the file is empty (0 bytes), perhaps an interrupted copy or save; copy "
            "the checkpoint again"
        )
    if not os.access(path, os.R_OK):
        raise CheckpointFileError(f"{where}: cannot be read (permission denied)")
    return st


class _Stub:
    """What every global of a scanned pickle becomes: accepts any call and any state."""

    module = ""
    name = ""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass


class _Scanner(pickle.Unpickler):
    """Reads a pickle without importing or calling anything; records its storage ids."""

    def __init__(self, fh):
        super().__init__(fh)
        self.storages: list[tuple] = []

    def find_class(self, module: str, name: str) -> type:
        return type(name, (_Stub,), {"module": module, "name": name})

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage"):
            self.storages.append(pid)
        return _Stub()


def _declared(pid: tuple, path: Path) -> tuple[str, int]:
    """``(key, bytes)`` a storage id declares: new format ``('storage', type, key, location,
    numel)``, legacy ``(... numel, view_metadata)``."""
    where = _named(path)
    storage_type, key, numel = (pid[1], pid[2], pid[4]) if len(pid) >= 5 else (None, None, None)
    if isinstance(numel, bool) or not isinstance(numel, int) or numel < 0:
        raise CheckpointFileError(
            f"{where}: corrupt checkpoint: a tensor storage declares size {numel!r}; copy the file "
            "again"
        )
    size = ELEMENT_SIZE.get(getattr(storage_type, "name", ""), 1)
    return str(key), numel * size


def _scan(data, path: Path, what: str) -> _Scanner:
    where = _named(path)
    scanner = _Scanner(data)
    try:
        scanner.load()
    except Exception as exc:  # any malformed pickle: the file is not what it claims
        raise CheckpointFileError(
            f"{where}: truncated or corrupt checkpoint ({what}: {type(exc).__name__}: "
            f"{str(exc)[:120]}); copy the file again"
        ) from None
    return scanner


def _check_zip(path: Path, file_size: int) -> None:
    where = _named(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
            if any(n.count("/") == 1 and n.endswith("/constants.pkl") for n in names):
                raise CheckpointFileError(
                    f"{where}: a TorchScript archive (torch.jit.save), not a checkpoint; save "
                    "the weights with torch.save({'state_dict': model.state_dict()}, ...)"
                )
            if not pickles:
                shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
                raise CheckpointFileError(
                    f"{where}: a zip archive, but not a PyTorch checkpoint (no data.pkl; it holds "
                    f"{shown or 'nothing'}); point at a model.pth.tar-N / .pth file"
                )
            big = next((i for i in infos if i.file_size > file_size), None)
            if big is not None:
                raise CheckpointFileError(
                    f"{where}: corrupt or crafted archive: record {big.filename} declares "
                    f"{_size(big.file_size)}, more than the whole file ({_size(file_size)})"
                )
            prefix = pickles[0][: -len("data.pkl")]
            if zf.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
                raise CheckpointFileError(
                    f"{where}: the archive's data.pkl is larger than {_size(MAX_PICKLE_BYTES)}; "
                    "not a checkpoint this tool reads"
                )
            scanner = _scan(io.BytesIO(zf.read(pickles[0])), path, "data.pkl")
            records = {i.filename: i.file_size for i in infos}
            declared: dict[str, int] = {}
            for pid in scanner.storages:
                key, nbytes = _declared(pid, path)
                declared[key] = max(nbytes, declared.get(key, 0))
            for key, nbytes in declared.items():
                held = records.get(f"{prefix}data/{key}")
                if held is None or nbytes > held:
                    has = "no record" if held is None else _size(held)
                    raise CheckpointFileError(
                        f"{where}: truncated, corrupt or crafted checkpoint: tensor storage {key} "
                        f"declares {_size(nbytes)} but the archive holds {has} for it; refused "
                        "before allocating anything (copy the file again)"
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise CheckpointFileError(
            f"{where}: truncated or corrupt zip archive ({exc}); copy the file again"
        ) from None


def _check_legacy(path: Path, file_size: int) -> None:
    where = _named(path)
    with open(path, "rb") as fh:
        try:
            number = _Scanner(fh).load()
        except Exception:
            return  # not torch's legacy format: torch.load's own message says what it is
        if number != _LEGACY_MAGIC:
            return  # a raw pickle: torch.load refuses it with its own message
        _scan(fh, path, "header")  # protocol version
        _scan(fh, path, "header")  # system info
        scanner = _scan(fh, path, "pickle")
    declared: dict[str, int] = {}
    for pid in scanner.storages:
        key, nbytes = _declared(pid, path)
        declared[key] = max(nbytes, declared.get(key, 0))
    total = sum(declared.values())
    if total > file_size:
        raise CheckpointFileError(
            f"{where}: truncated, corrupt or crafted checkpoint: its tensors declare "
            f"{_size(total)} but the file holds {_size(file_size)}; refused before allocating "
            "anything (copy the file again)"
        )


def _text(head: bytes) -> str | None:
    """``head`` as text when it is printable UTF-8 (a character cut at the end allowed)."""
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text and all(c.isprintable() or c in "\n\r\t" for c in text):
            return text
        return None
    return None


def precheck(path: str | Path) -> os.stat_result:
    """Refuse, with a message naming ``path``, anything ``torch.load`` should not be asked to
    read (see the module docstring); returns the file's ``os.stat``. Reads at most the archive's
    directory and pickle, never the tensor data."""
    path = Path(path)
    where = _named(path)
    st = file_kind(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise CheckpointFileError(f"{where}: cannot be read ({exc.strerror})") from None
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        _check_zip(path, st.st_size)
    elif head[:1] == b"\x80":
        _check_legacy(path, st.st_size)
    elif (text := _text(head)) is not None:
        begins = (text.strip().splitlines() or [""])[0][:40]
        raise CheckpointFileError(
            f"{where}: a text file, not a PyTorch checkpoint (it begins with {begins!r}); point "
            "at a model.pth.tar-N / .pth file"
        )
    else:
        raise CheckpointFileError(
            f"{where}: not a PyTorch checkpoint (unknown format; it begins with bytes "
            f"{head[:8].hex(' ')}); point at a model.pth.tar-N / .pth file"
        )
    return st
