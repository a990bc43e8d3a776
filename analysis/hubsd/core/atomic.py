"""Write output atomically: a whole folder built beside the target and renamed in, or one file.

The package's only writers of results: :func:`atomic_folder` (``hubsd run``, ``hubsd
validate``, the calibration report, ``hubsd report``, sweep points), :func:`atomic_file`
(NetCDF results, calibrated sets, executed notebooks) and :func:`write_json`. The folder is
built in a temporary folder in the same parent (so on the same file system) and renamed into
place only once every file is complete; if anything fails on the way, the temporary folder and
any parent folder created for it are removed and the target is untouched. An existing target
is first renamed aside, the new folder renamed in, then the old one deleted, so a reader sees
either the complete old or the complete new folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    created: list[Path] = []
    missing = target.parent
    while not missing.exists():
        created.append(missing)
        missing = missing.parent
    created.reverse()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
        yield tmp
        install(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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
