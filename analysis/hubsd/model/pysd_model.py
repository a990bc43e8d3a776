"""Load the Vensim hub model through PySD, translated once into a cache keyed by its hash.

Two things happen here and nowhere else:

* **Translation cache.** ``pysd.read_vensim`` writes Python beside the ``.mdl``. We copy the
  ``.mdl`` into ``<cache>/<name>-<sha256[:16]>-pysd<version>/`` and translate it there, so
  generated code never lands in the repository and a changed model (or PySD) is retranslated.
  The cache root is ``$HUBSD_CACHE_DIR`` or ``~/.cache/hubsd``. Translation goes to a temporary
  folder that is renamed into place, so parallel workers never see half a translation.
* **Fast table functions.** PySD evaluates a Vensim table (lookup) with xarray interpolation,
  several milliseconds per call, and warns whenever an input leaves the table's x range.
  :class:`FastLookups` keeps PySD's object (its data, ``set_values`` and ``initialize``) and
  only replaces the call of a scalar table by :func:`numpy.interp`, which holds the end values
  outside the x range exactly as Vensim does. The model file stays a plain Vensim model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from hubsd.core.paths import DEFAULT_MODEL


def _pysd():
    # PySD's own imports trip deprecation warnings of its dependencies (chardet, pandas);
    # they are not ours to fix, so they are silenced for the import only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pysd

    return pysd


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cache_root() -> Path:
    """Folder that holds translated models (``$HUBSD_CACHE_DIR`` or ``~/.cache/hubsd``)."""
    root = os.environ.get("HUBSD_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "hubsd"


def translate(mdl: str | os.PathLike = DEFAULT_MODEL) -> Path:
    """Translate a Vensim model with PySD into the cache and return the generated ``.py``.

    Parameters
    ----------
    mdl : path
        The Vensim ``.mdl`` file.

    Returns
    -------
    Path
        The translated Python file; its sector modules sit beside it (``split_views``).
    """
    pysd = _pysd()
    mdl = Path(mdl)
    if not mdl.is_file():
        raise FileNotFoundError(f"model file not found: {mdl}")
    key = f"{mdl.stem}-{file_hash(mdl)[:16]}-pysd{pysd.__version__}"
    target = cache_root() / key
    py_file = target / f"{mdl.stem}.py"
    if py_file.is_file():
        return py_file
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        shutil.copy2(mdl, tmp / mdl.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pysd.read_vensim(str(tmp / mdl.name), split_views=True, initialize=False)
        try:
            tmp.rename(target)
        except OSError:
            if not py_file.is_file():  # another process won the race with a broken result
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return py_file


def _fast_lookups_class():
    from pysd.py_backend.lookups import HardcodedLookups

    class FastLookups(HardcodedLookups):
        """A PySD table function whose scalar call is :func:`numpy.interp`.

        Inputs outside the x range get the end values (Vensim's rule), without PySD's warning.
        Tables with subscripts keep PySD's own evaluation.
        """

        def initialize(self):
            super().initialize()
            self._arrays()

        def set_values(self, values):
            super().set_values(values)
            self._arrays()

        def _arrays(self):
            data = self.data
            if self.is_float and hasattr(data, "dims") and data.dims == ("lookup_dim",):
                self._xs = np.asarray(data["lookup_dim"].values, dtype=float)
                self._ys = np.asarray(data.values, dtype=float)
                self._interp_fast = self.interp in (None, "interpolate")
            else:
                self._interp_fast = False

        def __call__(self, x, final_subs=None):
            if self._interp_fast and not hasattr(x, "dims"):
                return float(np.interp(x, self._xs, self._ys))
            return super().__call__(x, final_subs)

    return FastLookups


def use_fast_lookups(model) -> int:
    """Switch every table function of a loaded PySD model to :class:`FastLookups`.

    Returns the number of tables switched.
    """
    cls = _fast_lookups_class()
    for element in model._lookup_elements:
        element.__class__ = cls
        if hasattr(element, "data"):
            element._arrays()
        else:
            element._interp_fast = False
    return len(model._lookup_elements)


@lru_cache(maxsize=4)
def _loaded(py_file: str):
    pysd = _pysd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = pysd.load(py_file, initialize=False)
    use_fast_lookups(model)
    model.initialize()
    return model


def load(mdl: str | os.PathLike = DEFAULT_MODEL, fresh: bool = False):
    """The PySD model for a ``.mdl`` file, translated through the cache, with fast lookups.

    The same object is returned on every call in a process (``fresh=False``): :func:`hubsd.run`
    sets every exposed parameter before each run, so runs never leak into one another. Use
    ``fresh=True`` for an object of your own (for example to call ``select_submodel``).
    """
    py_file = str(translate(mdl))
    if not fresh:
        return _loaded(py_file)
    pysd = _pysd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = pysd.load(py_file, initialize=False)
    use_fast_lookups(model)
    model.initialize()
    return model
