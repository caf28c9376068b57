"""Crash-safe file writes: temp file in the same folder, fsync, ``os.replace``."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator, List, Sequence, Union

PathLike = Union[str, Path]
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")


class FileWriteError(OSError):
    """A write failed (disk full, permissions, ...); the message names the file. The old file is intact."""


def fsync_dir(folder: PathLike) -> None:
    """Persist a rename in ``folder`` (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it is fsynced and renamed onto ``path``.

    Readers see the old file or the complete new one, never a partial write.
    On error the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=str(path.parent))
    except OSError as e:
        raise FileWriteError(_write_failure(path, e)) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except Exception as e:  # noqa: BLE001 - only I/O failures are re-raised as FileWriteError
        if isinstance(e, OSError) or type(e).__name__ == "MXNetError":  # MXNet: "FileStream.Write incomplete"
            raise FileWriteError(_write_failure(path, e)) from e
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _write_failure(path: Path, err: BaseException) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2 ** 20:.0f} MiB free there"
    except OSError:
        free = "free space unknown"
    return f"{path}: could not write the file ({first}; {free}); nothing was replaced"


def remove_stale_temp_files(folder: PathLike) -> List[Path]:
    """Remove the temp files of atomic writes that a killed process left in ``folder`` (only names that
    :func:`atomic_path` makes: ``.<name>.<random>.tmp``); returns them. Call it where no other process is
    writing into ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if p.is_file() and _TEMP_NAME.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def atomic_write(path: PathLike, writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp_filename)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        writer(str(tmp))
    return Path(path)


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def unique_stems(paths: Sequence[PathLike]) -> List[str]:
    """An output name stem per input, distinct even when inputs share a stem: ``one.png``, ``one.jpg`` ->
    ``one_png``, ``one_jpg`` (and ``_2``, ``_3`` ... for the same name in several folders); else the stem."""
    stems = [Path(p).stem for p in paths]
    out: List[str] = []
    for p, stem in zip(paths, stems):
        name = stem if stems.count(stem) == 1 else f"{stem}_{Path(p).suffix.lstrip('.') or 'noext'}"
        base, n = name, 2
        while name in out:
            name, n = f"{base}_{n}", n + 1
        out.append(name)
    return out
