"""Joint draws of a hub's calibrated parameters consistent with its data (adaptive SIR).

Monte Carlo used to vary every calibrated parameter independently over its 95 % profile interval;
most such members missed the very figures the parameters were fitted to (of 2,000 Kraków members
only ~10 % came within +/-10 % of the observed 2022 jobs), because the data pin down
*combinations* (a larger start and a slower maturation give the same path), not single values.
:func:`sample_posterior` draws instead from the posterior of the calibration's own likelihood.

Method (recorded in the result's ``method`` attribute):

* Target. In the unit cube of the spec's free quantities (its bounds, on its log scale where it
  has one; shares of a series included), a uniform prior times the Gaussian likelihood
  ``exp(-0.5 * SSR)`` of the spec's weighted residuals (:class:`hubsd.calibration.fit.Objective`:
  relative error over the figure's stated relative error; a bound counts only when broken).
  Every other parameter stays at the calibrated hub's value, as in the fit.
* Proposal. In logit coordinates ``z`` (``u = expit(z)``, so no draw leaves the cube and the
  uniform prior is the logistic density ``prod u (1 - u)``), a defensive mixture: with weight
  :data:`DEFENSIVE` the prior, otherwise a multivariate t (:data:`DF` degrees of freedom) at
  the calibrated set with the Laplace covariance ``(J_z' J_z + diag(2 u (1 - u)))^-1``
  (``J_z``: forward-difference Jacobian of the residuals, one vectorised run; the second term
  is the prior's curvature and caps the directions the data leave flat), widened by :data:`WIDEN`.
* Adaptation. While the effective sample size (Kish) of all draws so far is below ``min_ess``,
  another round is drawn from a t refitted to the weighted draws (population Monte
  Carlo); every draw is weighted against the mixture of all rounds' proposals (deterministic
  mixture weights), so no round's draws are thrown away.
* Resampling and moves. ``members`` draws by systematic resampling with the seed, then
  ``moves`` random-walk Metropolis steps of every member at once (resample-move, Gilks and
  Berzuini 2001; scale ``2.38^2 / d`` times the members' covariance in logit coordinates,
  re-estimated every :data:`RETUNE` moves once the members have spread): the
  steps leave the posterior invariant and spread the duplicates a large weight leaves along
  the curved ridges (start x maturation x potential) that no Gaussian proposal follows.

Why only the calibrated quantities: Sobol and Morris indices need independent inputs, so they
keep :func:`hubsd.studies.uncertain_ranges`; the Monte Carlo ensembles combine these draws with
a Latin hypercube of the uncalibrated priors (:func:`hubsd.studies.draw_ensemble`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit, gammaln, logit, logsumexp
from scipy.stats import chi2

from hubsd.calibration.fit import FD_STEP, Objective, run_backend
from hubsd.calibration.spec import CalibrationError, load_spec
from hubsd.core.paths import CALIBRATION_DIR, DEFAULT_MODEL
from hubsd.engine.pysd_runner import resolve_parameters
from hubsd.inputs.calibrated import load_calibrated
from hubsd.inputs.hubs import load_hub
from hubsd.model.parameters import table as parameter_table

#: Weight of the uniform component of every proposal (assumption: enough to cover modes the
#: Gaussian misses, little enough not to waste draws; Hesterberg's defensive mixture).
DEFENSIVE = 0.1
#: Factor on the standard deviations of the Gaussian proposal (assumption: a proposal somewhat
#: wider than the posterior keeps the importance weights bounded).
WIDEN = 1.2
#: Degrees of freedom of the proposal's multivariate t (assumption: heavy tails cover the
#: exponential tails a parameter at its bound has in logit coordinates).
DF = 4.0
#: The Metropolis moves re-estimate their step from the members' spread every this many moves.
RETUNE = 5
#: Largest logit coordinate drawn (u within 2e-9 of a bound).
ZMAX = 20.0
#: A centre on a bound is moved this far into the unit cube (logit coordinates need an inside).
EDGE = 0.02


def _resolve(hub: str) -> tuple[str, str, dict]:
    """(base hub, version, calibrated document); the newest set unless ``hub`` names one."""
    base, _, version = str(hub).partition("@")
    base = load_hub(base)["hub"]
    if not (CALIBRATION_DIR / f"{base}.yaml").is_file():
        raise CalibrationError(
            f"hub {base!r} has no calibration spec (data/calibration/{base}.yaml), so there is "
            "no likelihood to draw its parameters from"
        )
    doc = load_calibrated(base, (version.strip().lower() or "calibrated"))
    return base, str(doc.get("version", version)), doc


class _Problem:
    """The quantities drawn, their centre, and the weighted residuals of unit-cube points."""

    def __init__(self, base: str, version: str, doc: dict, mdl):
        self.spec = load_spec(base, mdl=mdl)
        self.objective = Objective(self.spec, mdl=mdl)
        self.hub = f"{base}@{version}"
        tab = parameter_table(mdl)
        self.free = list(self.spec.free)
        for f in self.free:
            if not f.units and not f.share and f.name in tab.index:
                f.units = str(tab.loc[f.name, "units"])
        values = resolve_parameters(self.hub, None, mdl)
        # the calibrated hub's own values, passed with every run (the engine would read its
        # files each time)
        self.hub_values = {k: float(v) for k, v in load_hub(self.hub)["parameters"].items()}
        shares = {k: float(v["value"]) for k, v in (doc.get("shares") or {}).items()}
        centre = []
        for f in self.free:
            v = shares.get(f.name) if f.share else values.get(f.name)
            centre.append(float(np.clip(f.to_unit(v), 0.0, 1.0)) if v is not None else 0.5)
        self.centre = np.array(centre)
        self.evaluations = 0

    def natural(self, u: np.ndarray) -> np.ndarray:
        """Natural values ``(k, P)`` of unit-cube points ``(k, P)``."""
        return np.column_stack([f.from_unit(u[:, j]) for j, f in enumerate(self.free)])

    def residuals(self, u: np.ndarray) -> np.ndarray:
        """Weighted residuals ``(k, m)`` of the spec's figures at unit-cube points."""
        x = self.natural(np.atleast_2d(u))
        return self.residuals_at(
            x, {f.name: x[:, j] for j, f in enumerate(self.free) if not f.share}
        )

    def residuals_at(self, x: np.ndarray, columns: dict) -> np.ndarray:
        """Weighted residuals ``(k, m)`` of :meth:`predictions_at`."""
        return self.objective.residuals_from(self.predictions_at(x, columns))

    def predictions_at(self, x: np.ndarray, columns: dict) -> np.ndarray:
        """Model values ``(k, m)`` at the figures for members ``columns`` (name -> values).

        ``x`` holds the members' drawn quantities (the shares divide a larger region's series).
        """
        self.evaluations += len(x)
        ds = self.objective.engine.run(
            params={**self.hub_values, **columns},
            outputs=self.objective.outputs,
            hub=None,
            final_time=self.spec.final_time,
            saveper=1.0,
            workers=1,
            # the fused kernel whenever it runs the model, as the fit's runs (bit-identical to
            # the numpy backend, which pays about 0.6 s of Python per run whatever its size:
            # a 20-member draw of krakow@v5 took 23 s on numpy, most of it in the moves)
            backend=run_backend(self.objective.engine),
        )
        share_col = {f.name: j for j, f in enumerate(self.free) if f.share}
        pred = np.empty((len(x), len(self.objective.points)))
        for i, p in enumerate(self.objective.points):
            val = ds[p.output].sel(time=p.year, method="nearest").to_numpy()
            pred[:, i] = val / x[:, share_col[p.share]] if p.share is not None else val
        return pred


def _jacobian(prob: _Problem) -> tuple[np.ndarray, np.ndarray]:
    """Residuals at the centre ``(m,)`` and their forward-difference Jacobian ``(m, P)``."""
    u0 = prob.centre
    steps = np.where(u0 + FD_STEP <= 1.0, FD_STEP, -FD_STEP)
    pts = np.vstack([u0, u0 + np.diag(steps)])
    res = prob.residuals(pts)
    return res[0], ((res[1:] - res[0]) / steps[:, None]).T


def _log_t(z: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Log density of the multivariate t (:data:`DF` degrees of freedom, scale L L') at ``z``."""
    d = len(mean)
    q = np.sum(np.linalg.solve(chol, (z - mean).T) ** 2, axis=0)
    logdet = 2.0 * np.sum(np.log(np.diag(chol)))
    return (
        gammaln((DF + d) / 2)
        - gammaln(DF / 2)
        - 0.5 * d * math.log(DF * math.pi)
        - 0.5 * logdet
        - 0.5 * (DF + d) * np.log1p(q / DF)
    )


def _log_prior(z: np.ndarray) -> np.ndarray:
    """Log density in logit coordinates of the uniform prior on the unit cube."""
    return -np.sum(np.logaddexp(0.0, z) + np.logaddexp(0.0, -z), axis=1)


def _chol(cov: np.ndarray) -> np.ndarray:
    """Cholesky factor of a covariance, with a small ridge if it is near singular."""
    cov = 0.5 * (cov + cov.T)
    ridge = 1e-9
    for _ in range(12):
        try:
            return np.linalg.cholesky(cov + ridge * np.eye(len(cov)))
        except np.linalg.LinAlgError:
            ridge *= 10.0
    raise CalibrationError("the proposal covariance is not positive definite")


def _ess(logw: np.ndarray) -> float:
    """Kish's effective sample size of log weights (-inf: weight 0)."""
    if not np.any(np.isfinite(logw)):
        return 0.0
    w = np.exp(logw - np.max(logw))
    return float(w.sum() ** 2 / np.sum(w**2))


def _systematic(logw: np.ndarray, members: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``members`` draws by systematic resampling of the weights."""
    w = np.exp(logw - np.max(logw))
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return np.searchsorted(cum, (rng.random() + np.arange(members)) / members)


def sample_posterior(
    hub: str,
    members: int,
    seed: int = 0,
    *,
    proposals: int | None = None,
    min_ess: float | None = None,
    rounds: int = 2,
    moves: int = 20,
    mdl=DEFAULT_MODEL,
) -> xr.Dataset:
    """Joint draws of a hub's calibrated parameters from the posterior given its data.

    Adaptive sampling-importance-resampling on the ensemble engine (method in the module
    docstring): the free quantities of the hub's calibration spec, drawn around the newest
    calibrated set (or the one ``hub`` names) from the posterior of the spec's likelihood.

    Parameters
    ----------
    hub : str
        ``"krakow"``, ``"krakow@calibrated"`` (the newest set) or ``"krakow@v1"``; the hub
        needs a calibration spec and a calibrated set.
    members : int
        Number of draws returned (at least 2).
    seed : int
        Seed of every random choice; the same seed gives the same draws.
    proposals : int, optional
        Draws per round (default ``max(members, 1000)``).
    min_ess : float, optional
        Effective sample size to reach before resampling (default ``min(members, 1000) / 2``);
        rounds stop at ``rounds`` regardless, the ESS reached is in the attrs.
    rounds : int
        Largest number of proposal rounds.
    moves : int
        Metropolis steps of every member after resampling (resample-move; each step is one
        ensemble run of ``members``).
    mdl : path
        The Vensim model.

    Returns
    -------
    xarray.Dataset
        One variable per drawn quantity along dim ``sample`` (``units``; ``kind``:
        ``calibrated`` or ``share`` (a series' share, not a model parameter)), plus ``cost``
        (0.5 x the sum of squared weighted residuals, units 1) and ``within_error`` (share of
        the spec's figures each member meets within their stated relative error, units 1).
        Attrs: ``hub`` (the calibrated set), ``method``, ``ess`` (before the moves),
        ``proposals`` (members simulated in all), ``rounds``, ``distinct`` (different draws
        among the members), ``acceptance`` (of the moves), ``fit_cost``, ``seed``.

    Raises
    ------
    CalibrationError
        The hub has no calibration spec or no calibrated set (the message names the command
        that makes one), or too few members.
    HubError
        An unknown hub.

    Examples
    --------
    >>> post = sample_posterior("krakow", 500, seed=1)
    >>> post.attrs["ess"], post["hub_maturation_time"].quantile([0.05, 0.95])
    """
    if not isinstance(members, (int, np.integer)) or members < 2:
        raise CalibrationError(f"members must be a whole number of at least 2, got {members!r}")
    base, version, doc = _resolve(hub)
    prob = _Problem(base, version, doc, mdl)
    n_round = int(proposals or max(members, 1000))
    target = float(min_ess if min_ess is not None else min(members, 1000) / 2)
    rng = np.random.default_rng(seed)

    r0, jac = _jacobian(prob)
    fit_cost = 0.5 * float(np.sum(r0**2))
    idx = np.arange(len(prob.free))
    # logit coordinates z (u = expit(z)): the uniform prior on the cube
    # is the logistic density prod u (1 - u) in z, and no draw falls outside the cube
    c_u = np.clip(prob.centre[idx], EDGE, 1 - EDGE)
    slope = c_u * (1 - c_u)  # du/dz at the centre
    j_z = jac[:, idx] * slope
    cov = np.linalg.inv(j_z.T @ j_z + np.diag(2 * slope))
    comps = [(logit(c_u), _chol(WIDEN**2 * cov), n_round)]

    zs, costs = [], []
    logw = np.empty(0)
    for k in range(rounds):
        mean, chol, n = comps[-1]
        u = np.empty((n, len(prob.free)))
        gauss = rng.random(n) >= DEFENSIVE
        z = logit(np.clip(rng.random((n, len(idx))), EDGE / 100, 1 - EDGE / 100))
        g = int(gauss.sum())
        scale = np.sqrt(DF / rng.chisquare(DF, g))[:, None]
        z[gauss] = mean + scale * (rng.standard_normal((g, len(idx))) @ chol.T)
        z = np.clip(z, -ZMAX, ZMAX)
        u[:, idx] = expit(z)
        res = prob.residuals(u)
        zs.append(z)
        costs.append(0.5 * np.sum(res**2, axis=1))
        c_all = np.concatenate(costs)
        z_all = np.vstack(zs)
        log_prior = _log_prior(z_all)
        total = sum(c[2] for c in comps)
        logq = logsumexp(
            [
                math.log(c[2] / total)
                + np.logaddexp(
                    math.log(DEFENSIVE) + log_prior,
                    math.log(1 - DEFENSIVE) + _log_t(z_all, *c[:2]),
                )
                for c in comps
            ],
            axis=0,
        )
        logw = -c_all + log_prior - logq
        logw = np.where(np.isfinite(logw), logw, -np.inf)
        ess = _ess(logw)
        if ess >= target or k == rounds - 1:
            break
        w = np.exp(logw - np.max(logw))
        w /= w.sum()
        m_new = w @ z_all
        d = z_all - m_new
        cov_w = (d * w[:, None]).T @ d
        if ess < len(idx) + 2:  # too few effective draws to estimate a covariance: shrink
            a = ess / (len(idx) + 2)
            cov_w = a * cov_w + (1 - a) * cov
        comps.append((m_new, _chol(WIDEN**2 * cov_w), n_round))

    pick = _systematic(logw, members, rng)
    z = z_all[pick]
    cost = c_all[pick]
    res = np.full((members, len(r0)), np.nan)
    # resample-move: Metropolis steps that leave the posterior invariant, all members at once
    step_cov = cov_w if len(comps) > 1 else cov
    accepted = 0
    for step in range(moves):
        if step % RETUNE == 0:  # the moving cloud's own spread, once it has spread out
            distinct = np.unique(z, axis=0).shape[0]
            spread = np.cov(z.T) if distinct > 2 * len(idx) else step_cov
            chol = _chol((2.38**2 / len(idx)) * np.atleast_2d(spread))
        prop = np.clip(z + rng.standard_normal(z.shape) @ chol.T, -ZMAX, ZMAX)
        u = expit(prop)
        r_new = prob.residuals(u)
        c_new = 0.5 * np.sum(r_new**2, axis=1)
        log_ratio = (-c_new + _log_prior(prop)) - (-cost + _log_prior(z))
        take = np.log(rng.random(members)) < log_ratio
        z[take], cost[take], res[take] = prop[take], c_new[take], r_new[take]
        accepted += int(take.sum())
    stale = np.isnan(res[:, 0])
    if stale.any():
        res[stale] = prob.residuals(expit(z[stale]))
    x = prob.natural(expit(z))
    coords = {"sample": np.arange(members)}
    data = {}
    for j, f in enumerate(prob.free):
        data[f.name] = xr.DataArray(
            x[:, j],
            dims="sample",
            attrs={"units": f.units or "Dmnl", "kind": "share" if f.share else "calibrated"},
        )
    data["cost"] = xr.DataArray(
        cost, dims="sample", attrs={"units": "1", "long_name": "0.5 x sum of squares"}
    )
    data["within_error"] = xr.DataArray(
        np.mean(np.abs(res) <= 1.0, axis=1),
        dims="sample",
        attrs={"units": "1", "long_name": "share of the figures met within their stated error"},
    )
    method = (
        f"adaptive sampling-importance-resampling: uniform prior on the calibration spec's "
        f"bounds (log scale where the spec has one), likelihood exp(-0.5 SSR) of "
        f"{prob.spec.path.name}'s weighted residuals, the other parameters at the calibrated "
        f"hub's values; proposal in logit coordinates, {DEFENSIVE:g} prior + "
        f"{1 - DEFENSIVE:g} multivariate t (df {DF:g}, Laplace at the calibrated set, then "
        f"refitted to the weighted draws, sd x {WIDEN:g}); deterministic-mixture weights; "
        f"systematic resampling; "
        f"{moves} random-walk Metropolis moves per member (scale 2.38^2/d x the members' "
        f"covariance in logit coordinates, re-estimated every {RETUNE} moves)"
    )
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "hub": prob.hub,
            "method": method,
            "ess": float(ess),
            "min_ess": target,
            "proposals": int(prob.evaluations),
            "rounds": len(comps),
            "distinct_resampled": int(np.unique(pick).size),
            "distinct": int(np.unique(z, axis=0).shape[0]),
            "moves": int(moves),
            "acceptance": accepted / max(moves * members, 1),
            "fit_cost": fit_cost,
            "figures": len(r0),
            "seed": int(seed),
        },
    )


def model_parameters(post: xr.Dataset) -> pd.DataFrame:
    """The model parameters of :func:`sample_posterior`'s draws as a DataFrame (no shares).

    One column per parameter, one row per member: what :func:`hubsd.run_ensemble` takes.
    """
    names = [n for n, v in post.data_vars.items() if v.attrs.get("kind") == "calibrated"]
    return pd.DataFrame({n: post[n].to_numpy() for n in names})


def data_consistency(
    hub: str, params: pd.DataFrame, shares: pd.DataFrame | None = None, mdl=DEFAULT_MODEL
) -> xr.Dataset:
    """How well each member of an ensemble meets the figures of the hub's calibration spec.

    Parameters
    ----------
    hub : str
        The calibrated hub the members start from (``"krakow"``: the newest set).
    params : pandas.DataFrame
        One row per member, one column per parameter (e.g. :func:`hubsd.studies.draw_ensemble`).
    shares : pandas.DataFrame, optional
        Each member's value of the spec's shares (a series of a larger region is divided by
        it); missing shares are the calibrated set's.
    mdl : path
        The Vensim model.

    Returns
    -------
    xarray.Dataset
        Along ``sample``: ``within_error`` (share of the figures met within their stated relative
        error, a bound only when broken), ``cost`` (0.5 x the sum of squared weighted
        residuals), ``in_region`` (1 when ``2 (cost - fit cost) <= chi2_95(p)``, the joint 95 %
        likelihood-ratio region of the spec's ``p`` free quantities), all units 1; along
        ``sample`` x ``figure``: ``residual`` (weighted) and ``relative_error`` (model /
        figure - 1). Attrs: ``hub``, ``fit_cost``, ``region_threshold``.
    """
    base, version, doc = _resolve(hub)
    prob = _Problem(base, version, doc, mdl)
    shares = pd.DataFrame(index=params.index) if shares is None else shares
    u = np.tile(prob.centre, (len(params), 1))
    extra = {}
    for j, f in enumerate(prob.free):
        col = shares if f.share else params
        if f.name in col:
            u[:, j] = f.to_unit(col[f.name].to_numpy(float))
    for name in params.columns:
        if name not in {f.name for f in prob.free}:
            extra[name] = params[name].to_numpy(float)
    x = prob.natural(u)
    columns = {f.name: x[:, j] for j, f in enumerate(prob.free) if not f.share}
    pred = prob.predictions_at(x, {**columns, **extra})
    res = prob.objective.residuals_from(pred)
    fit_cost = 0.5 * float(np.sum(prob.residuals(prob.centre[None, :]) ** 2))
    cost = 0.5 * np.sum(res**2, axis=1)
    threshold = float(chi2.ppf(0.95, len(prob.free)))
    labels = [f"{p.label} {p.year:g}" for p in prob.objective.points]
    return xr.Dataset(
        {
            "within_error": ("sample", np.mean(np.abs(res) <= 1.0, axis=1), {"units": "1"}),
            "cost": ("sample", cost, {"units": "1"}),
            "in_region": (
                "sample",
                (2 * (cost - fit_cost) <= threshold).astype(float),
                {"units": "1"},
            ),
            "residual": (("sample", "figure"), res, {"units": "1"}),
            "relative_error": (("sample", "figure"), pred / prob.objective.obs - 1, {"units": "1"}),
        },
        coords={"sample": np.arange(len(params)), "figure": labels},
        attrs={"hub": prob.hub, "fit_cost": fit_cost, "region_threshold": threshold},
    )


#: A prior whose range moves some calibration figure by more than this many of the figure's
#: stated errors (weighted residual) is held at the value the fit assumed (see
#: :func:`history_shifts`).
HISTORY_SHIFT = 0.5


def history_shifts(hub: str, ranges: dict, mdl=DEFAULT_MODEL) -> dict[str, float]:
    """How far each uncalibrated prior, moved across its range, moves the hub's fitted history.

    At the calibrated estimate, each parameter of ``ranges`` is set to its low and to its high
    end (one batched engine run of two members per parameter) and the calibration figures'
    weighted residuals are compared with those at the estimate.

    Parameters
    ----------
    hub : str
        A calibrated hub (``"krakow@calibrated"``, ``"krakow@v3"``).
    ranges : dict
        Parameter -> (low, high), e.g. :func:`hubsd.studies.uncertain_ranges` without the
        calibrated parameters.
    mdl : path
        The Vensim model.

    Returns
    -------
    dict
        Parameter -> the largest absolute change of any figure's weighted residual (in units of
        the figure's stated error). The calibration held these parameters at the hub's values,
        so a prior that moves the history by more than :data:`HISTORY_SHIFT` cannot vary freely
        without leaving the data: the data speak to it and the spec does not free it.
    """
    base, version, doc = _resolve(hub)
    prob = _Problem(base, version, doc, mdl)
    names = [n for n in ranges if n not in {f.name for f in prob.free}]
    if not names:
        return {}
    k = 1 + 2 * len(names)
    x = prob.natural(np.tile(prob.centre, (k, 1)))
    columns = {f.name: x[:, j] for j, f in enumerate(prob.free) if not f.share}
    for i, name in enumerate(names):
        default = float(prob.hub_values.get(name, parameter_table(mdl).loc[name, "default"]))
        col = np.full(k, default)
        col[1 + 2 * i] = float(ranges[name][0])
        col[2 + 2 * i] = float(ranges[name][1])
        columns[name] = col
    res = prob.objective.residuals_from(prob.predictions_at(x, columns))
    shift = np.max(np.abs(res[1:] - res[0]), axis=1)
    return {n: float(max(shift[2 * i], shift[2 * i + 1])) for i, n in enumerate(names)}
