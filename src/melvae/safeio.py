"""Files that are never torn, folders with one writer, and disk faults in one line: the code
every melvae writer goes through. It imports no torch and no numpy (the CLI reads it cheaply).

- **Atomic files**: :func:`atomic_write` (and :func:`write_bytes`, :func:`write_text`,
  :func:`copy_file`) writes to a hidden temporary name in the final file's folder
  (``.NAME.PID-N.tmp``), flushes and fsyncs it, renames it over the final name and fsyncs the
  folder. A crash, a full disk or Ctrl-C leaves the old file or the new one, never a mix; the
  temporary is removed on any failure (one left by a killed process is removed by the next
  :func:`folder_lock` of its folder). :class:`AtomicGroup` writes several files and renames
  them only once all are written (a dataset: its mels, manifest and config).
- **One writer per folder**: :func:`folder_lock` holds ``.melvae.lock`` (an ``flock``, which
  the kernel frees when its process ends, however it ends) with the owner's PID and command
  written in it, removed on release; a second writer is refused in one line that names the
  owner. A lock file left by a killed process holds no ``flock``: the next writer takes it.
- **Faults in one line**: :func:`os_error_message` turns an ``OSError`` (a full disk, a
  read-only file system, a permission) into one sentence naming the file and what to do;
  :func:`check_output` checks an output path before the work starts.
- **Checksums**: :func:`file_digest`, the SHA-256 of a file's bytes from an offset on, read
  in chunks (a 1 GB memory-mapped array is never read whole into memory).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from melvae.errors import MelvaeError

LOCK = ".melvae.lock"
CHUNK = 16 << 20  # bytes read or copied at a time
# .NAME.PID-N.tmp: hidden (audio finders skip dot files), and naming the process that wrote it
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-\d+\.tmp$")
_counter = itertools.count()


def temporary_name(path: Path) -> Path:
    """A new hidden name beside ``path`` for writing it: unique within this process."""
    return path.with_name(f".{path.name}.{os.getpid()}-{next(_counter)}.tmp")


@contextlib.contextmanager
def named(path: Path | str, temporary: Path | None = None) -> Iterator[None]:
    """Give an ``OSError`` raised inside the name ``path`` where it names no file (a failed
    write) or the ``temporary`` written in its place: the user knows the final name."""
    try:
        yield
    except OSError as exc:
        if exc.errno is not None and exc.filename in (None, str(temporary)):
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise


class AtomicGroup:
    """Files written under temporary names and renamed into place together at the end of a
    ``with`` block; on any failure no final name is touched and every temporary goes.

    The renames run in the order the files were written: write the file that says the
    others are complete (a dataset's audio_config.json) last."""

    def __init__(self) -> None:
        self._done: list[tuple[Path, Path]] = []  # (temporary, final), written and synced

    @contextlib.contextmanager
    def open(self, path: Path | str, mode: str = "wb") -> Iterator[IO]:
        """A file object writing ``path``'s temporary (binary unless ``mode`` is "w")."""
        path = Path(path)
        tmp = temporary_name(path)
        try:
            with named(path, tmp):
                text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
                with open(tmp, mode, **text) as fh:
                    yield fh
                    fh.flush()
                    os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._done.append((tmp, path))

    def write_bytes(self, path: Path | str, data: bytes | memoryview) -> None:
        with self.open(path) as fh:
            fh.write(data)

    def write_text(self, path: Path | str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def commit(self) -> None:
        folders = []
        for tmp, path in self._done:
            with named(path, tmp):
                os.replace(tmp, path)
            if path.parent not in folders:
                folders.append(path.parent)
        self._done = []
        for folder in folders:
            _fsync_folder(folder)

    def discard(self) -> None:
        for tmp, _ in self._done:
            tmp.unlink(missing_ok=True)
        self._done = []

    def __enter__(self) -> AtomicGroup:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            try:
                self.commit()
            finally:
                self.discard()  # what a failed rename left
        else:
            self.discard()


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Write ``path`` through a temporary file, renamed over it once flushed and synced."""
    with AtomicGroup() as group, group.open(path, mode) as fh:
        yield fh


def write_bytes(path: Path | str, data: bytes | memoryview) -> Path:
    with atomic_write(path) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def copy_file(source: Path | str, path: Path | str) -> Path:
    with open(source, "rb") as src, atomic_write(path) as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return Path(path)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform lets a folder be synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and Windows) cannot sync a folder; the rename still holds
    finally:
        os.close(fd)


class GuardedFile:
    """A binary file for a C library that writes through Python callbacks (soundfile's
    virtual I/O): a failed write is kept in ``error`` and reported to the library as a short
    write, not raised through the callback (which would print a traceback and lose the
    errno). :meth:`reraise` then raises the kept error in place of the library's own."""

    def __init__(self, fh: IO[bytes]):
        self.fh, self.error = fh, None

    def write(self, data) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            return 0

    def read(self, n: int = -1) -> bytes:
        return self.fh.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def flush(self) -> None:
        self.fh.flush()

    @contextlib.contextmanager
    def reraise(self) -> Iterator[None]:
        try:
            yield
        except Exception:
            if self.error is not None:
                raise self.error from None
            raise


# -- one writer per folder ----------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process (or a number no process can have)
    return True


def clean_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries that processes no longer running left in ``folder``."""
    removed = []
    for path in folder.iterdir() if folder.is_dir() else ():
        match = _TEMPORARY.match(path.name)
        if match and not _alive(int(match["pid"])) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def lock_owner(folder: Path | str) -> dict[str, Any]:
    """What the lock file of ``folder`` says of its owner ({} where it says nothing)."""
    try:
        owner = json.loads((Path(folder) / LOCK).read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _owner_line(owner: dict[str, Any]) -> str:
    if not owner.get("pid"):
        return "another melvae process"
    where = f" on {owner['host']}" if owner.get("host") not in (None, socket.gethostname()) else ""
    since = owner.get("since", "?")
    return f"melvae {owner.get('command', '')} (process {owner['pid']}{where}, since {since})"


@contextlib.contextmanager
def folder_lock(folder: Path | str, command: str) -> Iterator[Path]:
    """Hold ``folder``'s lock while the block runs (the folder is made if need be), or raise
    MelvaeError at once, naming the owner, where another process holds it.

    The lock is an ``flock`` on ``.melvae.lock`` (through filelock), freed by the kernel when
    the process ends even under SIGKILL, so a file left by a dead process is taken over; the
    owner's PID, host, command and start time are written in it for the message above, and
    the file is removed on release. On a file system without ``flock`` it falls back to an
    existence lock whose owner's PID filelock checks, taking over a dead process's."""
    from filelock import FileLock, SoftFileLock, Timeout

    folder = Path(folder)
    with named(folder):
        folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }

    def write_owner(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)

    lock = FileLock(path, timeout=0, on_acquired=write_owner, preserve_lock_file=True)
    try:
        with named(path):
            try:
                lock.acquire()
            except OSError as exc:
                if exc.errno != errno.ENOSYS:
                    raise
                lock = SoftFileLock(path, timeout=0)  # no flock here (some network mounts)
                lock.acquire()
    except Timeout:
        raise MelvaeError(
            f"{folder} is in use by {_owner_line(lock_owner(folder))}: wait for it to end, "
            "or write to another folder"
        ) from None
    try:
        clean_temporaries(folder)
        yield path
    finally:
        if isinstance(lock, FileLock):
            # Removed while still held: a process that opened it a moment ago finds it
            # unlinked once it gets the flock, and filelock makes it start over on a new file.
            with contextlib.suppress(OSError):
                path.unlink()
        lock.release()


def is_helper_rank() -> bool:
    """Whether this process is one a distributed launcher started beside the first (rank > 0):
    the first process holds the folder's lock for all of them."""
    return any(os.environ.get(k, "0") not in ("", "0") for k in ("RANK", "LOCAL_RANK"))


# -- faults in one line ---------------------------------------------------------------------
def os_error_message(exc: OSError) -> str:
    """One sentence for an OSError: the file, what went wrong and what to do."""
    name = exc.filename if exc.filename is not None else "a file"
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return (
            f"no space left on the disk writing {name}: free some space, or write to another disk"
        )
    if code == errno.EROFS:
        return f"{name} is on a read-only file system: write to another folder"
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied: {name}: choose a folder you may write to, or change its "
            "permissions"
        )
    if code == errno.ENOENT:
        return f"no such file or folder: {name}"
    if code == errno.ENOTDIR:
        return f"{name}: a part of this path is a file, not a folder"
    if code == errno.EISDIR:
        return f"{name} is a folder, not a file"
    if code == errno.EIO:
        return f"input/output error on {name}: the disk or its connection may be failing"
    return f"{name}: {exc.strerror or exc}"


def check_output(path: Path | str, kind: str = "folder", suffixes: tuple[str, ...] = ()) -> Path:
    """Check before the work starts that ``path`` can be written as a ``kind`` ("folder" or
    "file", of one of ``suffixes`` where given), without making anything: it is not of the
    other kind, and its nearest existing folder is writable. Raises MelvaeError or OSError."""
    path = Path(path)
    if kind == "file":
        if path.is_dir():
            raise MelvaeError(f"{path} is a folder: give a file name to write")
        if suffixes and path.suffix.lower() not in suffixes:
            raise MelvaeError(f"{path}: the file name must end in {' or '.join(suffixes)}")
        folder = path.parent
    else:
        if path.exists() and not path.is_dir():
            raise MelvaeError(f"{path} is a file: give a folder to write into")
        folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MelvaeError(f"cannot make {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = (
            bool(os.statvfs(folder).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else False
        )
        code = errno.EROFS if read_only else errno.EACCES
        raise OSError(code, os.strerror(code), str(folder))
    return path


# -- checksums --------------------------------------------------------------------------------
def file_digest(path: Path | str, offset: int = 0) -> str:
    """SHA-256 (hex) of a file's bytes from ``offset`` to its end, read CHUNK at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(offset)
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
