"""The conformance models the fused kernel (and so the vector backend) runs in full.

Shared by ``tests/test_fused.py`` and ``tests/test_vector.py``: every variable of each model is
compared with the numpy backend (and PySD) there.
"""

from pathlib import Path

MODELS = Path(__file__).parent / "models"
ENGINE = MODELS / "engine"
#: Conformance models whose every variable the fused backend runs.
FUSED_RUNS = [MODELS / f"{s}.mdl" for s in ("delay", "initial", "integ", "minmax_ite", "smooth")]
FUSED_RUNS += [MODELS / f"{s}.mdl" for s in ("step_ramp_pulse", "table", "xidz")]
FUSED_RUNS += [
    ENGINE / f"{s}.mdl"
    for s in (
        "active_initial",
        "control_expressions",
        "delay_fixed",
        "delay_n",
        "delay_n_varying",
        "forecast",
        "macros",
        "na",
        "sample_if_true",
        "saveper_not_multiple",
        "smooth_n",
        "trend",
        "variable_order",
    )
]
