"""Write output atomically: a whole folder built beside the target and renamed in, or one file.

The package's only writers of results: :func:`atomic_folder` (``hubsd run``, ``hubsd
validate``, the calibration report, ``hubsd report``, sweep points), :func:`atomic_file`
(NetCDF results, calibrated sets, executed notebooks) and :func:`write_json`. The folder is
built in a temporary folder in the same parent (so on the same file system) and renamed into
place only once every file is complete; if anything fails on the way, the temporary folder and
any parent folder created for it are removed and the target is untouched. An existing target
is first renamed aside, the new folder renamed in, then the old one deleted, so a reader sees
either the complete old or the complete new folder.

**One writer per folder.** :func:`folder_lock` holds ``.<name>.lock`` beside the target (an
advisory ``flock`` on POSIX, released by the kernel when the process ends) with the owner's
process id; another hubsd process asking for the same folder is refused with
:class:`OutputLocked` naming that process. A lock file left by a process that ended (a stale
lock) is taken over, and said so. :func:`atomic_folder` takes the lock itself unless this
process already holds it, so a command that checks, runs, then writes holds it throughout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from hubsd.core.errors import HubsdError

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class OutputLocked(HubsdError):
    """An output folder that another hubsd process is writing."""


#: Lock files this process holds (a second request from the same process is a no-op).
_HELD: set[Path] = set()


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of an output folder: ``.<name>.lock`` beside it."""
    target = Path(target).absolute()
    return target.parent / f".{target.name}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _read_owner(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096).decode("utf-8", "replace")
    try:
        owner = json.loads(raw)
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


@contextmanager
def folder_lock(target: str | os.PathLike, note=None) -> Iterator[Path]:
    """Hold the lock of output folder ``target`` while the block runs (see module doc).

    Parameters
    ----------
    target : path
        The output folder (it need not exist; its parent is created if missing).
    note : callable, optional
        Called with one line when a stale lock (of a process that has ended) is taken over;
        default: printed on stderr.

    Raises
    ------
    OutputLocked
        Another live process holds the lock; the message names its process id, command and
        the lock file.
    """
    path = lock_path(target)
    if fcntl is None or path in _HELD:
        yield path
        return
    created = _make_parents(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            _remove_created(created)
            pid = owner.get("pid", "?")
            raise OutputLocked(
                f"output folder {str(Path(target))!r} is being written by another hubsd process "
                f"(pid {pid}, started {owner.get('started', '?')}: {owner.get('command', '?')}); "
                f"wait for it to finish or give another --out (lock file {path})"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the file was removed by its owner between our open and lock: retry
    try:
        old = _read_owner(fd)
        if old.get("pid") and old.get("pid") != os.getpid():
            line = (
                f"took over a stale lock of {Path(target).name!r} left by pid {old['pid']} "
                f"(started {old.get('started', '?')}), which is no longer running"
                if not _pid_alive(int(old["pid"]))
                else f"took over the lock of {Path(target).name!r} from pid {old['pid']}, "
                "which no longer holds it"
            )
            (note or (lambda m: print(f"hubsd: {m}", file=sys.stderr)))(line)
        owner = {
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(owner).encode("utf-8"))
        _HELD.add(path)
        yield path
    finally:
        _HELD.discard(path)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)
        if not Path(target).exists():
            _remove_created(created)


def replaced_note(target: str | os.PathLike, marker: str) -> str | None:
    """A line saying that writing ``target`` replaces an earlier result, or None.

    Parameters
    ----------
    target : path
        The output folder about to be written.
    marker : str
        The manifest file (JSON with ``created``) of the command that wrote it.
    """
    target = Path(target)
    if not target.is_dir() or not any(target.iterdir()):
        return None
    created = None
    try:
        created = json.loads((target / marker).read_text(encoding="utf-8")).get("created")
    except (OSError, ValueError, AttributeError):
        pass
    when = f" (written {created})" if created else ""
    return f"replacing the earlier results in {target}{when}"


def _make_parents(path: Path) -> list[Path]:
    """Create the missing folders above ``path``; return them, outermost first."""
    created: list[Path] = []
    missing = path.parent
    while not missing.exists():
        created.append(missing)
        missing = missing.parent
    created.reverse()
    path.parent.mkdir(parents=True, exist_ok=True)
    return created


def _remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()  # only if still empty
        except OSError:
            break


def install(tmp: Path, target: Path) -> None:
    """Rename the finished ``tmp`` folder to ``target``, replacing an earlier one."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        target.rename(old)
    try:
        tmp.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it becomes ``target`` (see module doc)."""
    target = Path(target)
    created = _make_parents(target)
    try:
        with folder_lock(target):
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
            try:
                umask = os.umask(0)
                os.umask(umask)
                tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is ordinary
                yield tmp
                install(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except BaseException:
        if not target.exists():
            _remove_created(created)
        raise


@contextmanager
def atomic_file(path: str | os.PathLike, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it becomes ``path``.

    Parameters
    ----------
    path : path
        The target file; its folder is created if missing.
    exclusive : bool
        Never replace an existing ``path``: the finished file is hard-linked into place, and
        :class:`FileExistsError` is raised if ``path`` exists by then.

    Raises
    ------
    FileExistsError
        With ``exclusive=True``, when ``path`` already exists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str, exclusive: bool = False) -> None:
    """Write ``text`` (UTF-8) atomically; see :func:`atomic_file`."""
    with atomic_file(path, exclusive=exclusive) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON through a temporary file renamed over ``path``."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
