"""Which Vensim models of a folder the ensemble engine compiles, and whether they equal PySD.

Usage: ``python benchmarks/engine_corpus.py FOLDER`` (every ``*.mdl`` in it). For each model:
PySD's run at the model's defaults (``pysd.read_vensim(...).run()``), the engine's compile (or
its refusal, with the construct) and run, and the largest difference over every output,
relative to the series' scale (NaN must match NaN). Prints one row per model and the counts.
The corpus used for the figures in the README is not in the repository (third-party files);
``benchmarks/README.md`` lists where its models come from.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from hubsd.core.errors import HubsdError
from hubsd.engine.conformance import differences, load_pysd
from hubsd.engine.ensemble import compile_model

RTOL = 1e-9
CONTROL = ("initial_time", "final_time", "time_step", "saveper")


def pysd_frame(mdl: Path):
    """PySD's run of a copy of the file (its translation is written beside the copy)."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_pysd(mdl, tmp).run()


def largest_difference(model, ds, df) -> float:
    """Largest relative difference of any output (``hubsd.engine.conformance``)."""
    outputs = [o for o in model.outputs_available() if o not in CONTROL]
    return max(differences(model, ds, df, 0, outputs).values(), default=0.0)


def main(folder: str) -> None:
    files = sorted(Path(folder).glob("*.mdl"))
    counts = {"models": len(files), "pysd runs": 0, "compile": 0, "equal": 0}
    print(f"{'model':34s} {'PySD':6s} engine")
    for mdl in files:
        try:
            df = pysd_frame(mdl)
            counts["pysd runs"] += 1
            pysd_ok = "runs"
        except Exception as err:  # noqa: BLE001 - a third-party model PySD cannot run
            df, pysd_ok = None, "fails"
            why = f"{type(err).__name__}: {str(err).splitlines()[0][:60]}"
        try:
            model = compile_model(mdl)
        except HubsdError as err:
            print(f"{mdl.stem:34s} {pysd_ok:6s} refused: {str(err).split(' is not supported')[0]}")
            continue
        counts["compile"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ds = model.run(None, "all")
        if df is None:
            print(f"{mdl.stem:34s} {pysd_ok:6s} compiles and runs; PySD: {why}")
            continue
        diff = largest_difference(model, ds, df)
        if diff <= RTOL:
            counts["equal"] += 1
        print(f"{mdl.stem:34s} {pysd_ok:6s} compiles, largest relative difference {diff:.2g}")
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus")
