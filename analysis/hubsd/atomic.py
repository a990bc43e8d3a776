"""Write output atomically: a whole folder built beside the target and renamed in, or a JSON file.

Used by ``hubsd run``, ``hubsd validate``, ``hubsd calibrate`` (the fit report) and
``hubsd report``. The folder is built in a temporary folder in the same parent (so on the same
file system) and renamed into place only once every file is complete; if anything fails on the
way, the temporary folder and any parent folder created for it are removed and the target is
untouched. An existing target is first renamed aside, the new folder renamed in, then the old
one deleted, so a reader sees either the complete old or the complete new folder.
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


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON through a temporary file renamed over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, indent=2, default=str) + "\n")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
