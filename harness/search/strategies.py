"""The samplers our strategies need beyond Optuna's own, and the round seeds. Each option of
``strategy`` builds its sampler afresh each round from a round seed (harness/config/strategy.py).

Building the sampler per round with a seed derived from (study seed, round) makes a resumed study
propose exactly what an uninterrupted one would: each sampler's choice depends only on its seed and
the trials in storage. Grid and QMC keep the study seed, since their order spans the whole study.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from harness.search.space import Range, distributions, upper

ENERGY_ATTR = "energy_j"  # a trial's joules, as a flat user attribute (harness/study.py)


class SkoptGPSampler(BaseSampler):
    """Bayesian search with scikit-optimize: a Gaussian process, and probability of improvement (the
    paper's, ``PI``), expected improvement (``EI``) or expected improvement per joule (``EIps``).

    scikit-optimize's Optimizer (Matern kernel with bounded length scales, Gaussian noise, normalised
    targets: a pinned surrogate, unlike the published notebook's default GaussianProcessRegressor),
    acquisition maximised over ``n_candidates`` uniform random points. Refitted each round from the
    completed trials in storage, and the pruned ones at the last accuracy they reported; accuracy is
    maximised, so the GP is told its negative.

    ``EIps`` divides expected improvement by the expected cost of a point, from a second GP fitted to
    the log of each round's cost. scikit-optimize made it for seconds; here the cost is the round's
    joules (its ``energy_j``), told as log(millijoules): a constant factor changes no ranking, and it
    keeps every logged cost above the negated accuracies that scikit-optimize mixes them with when it
    takes the best value seen. Rounds without a reading are left out of the fit.
    """

    def __init__(
        self,
        params: Mapping[str, Range],
        *,
        seed: int,
        n_initial_points: int = 1,
        n_candidates: int = 10_000,
        xi: float = 0.01,
        acq_func: str = "PI",
    ) -> None:
        self._acq_func = acq_func
        self._params = dict(sorted(params.items()))
        self._space = distributions(self._params)
        self._seed = seed
        self._n_initial_points = n_initial_points
        self._n_candidates = n_candidates
        self._xi = xi
        self._fallback = RandomSampler(seed=seed)

    def _optimizer(self) -> Any:
        from skopt import Optimizer
        from skopt.space import Integer, Real

        dims = [
            (
                Integer(int(r.low), int(r.high), prior=prior, name=name)
                if r.integer
                else Real(r.low, upper(r), prior=prior, name=name)
            )
            for name, r in self._params.items()
            for prior in ["log-uniform" if r.log else "uniform"]
        ]
        return Optimizer(
            dims,
            base_estimator="GP",
            acq_func=self._acq_func,
            acq_optimizer="sampling",
            acq_func_kwargs={"xi": self._xi},
            acq_optimizer_kwargs={"n_points": self._n_candidates},
            n_initial_points=self._n_initial_points,
            random_state=self._seed,
        )

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._space)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        names = list(self._params)
        per_joule = self._acq_func.endswith("ps")
        xs: list[list[float]] = []
        ys: list[Any] = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            value = _score(t)
            if value is None or not all(n in t.params for n in names):
                continue
            joules = t.user_attrs.get(ENERGY_ATTR)
            if per_joule and not (isinstance(joules, (int, float)) and joules > 0):
                continue
            x = [float(t.params[n]) for n in names]
            if all(r.low <= v <= upper(r) for r, v in zip(self._params.values(), x, strict=True)):
                xs.append(x)
                cost = float(np.log(1000.0 * joules)) if isinstance(joules, (int, float)) else None
                ys.append([-value, cost] if per_joule else -value)
        optimizer = self._optimizer()
        with warnings.catch_warnings():
            # skopt warns when the random candidates repeat a told point; that is harmless here.
            warnings.simplefilter("ignore")
            if xs:
                optimizer.tell(xs, ys)
            point = optimizer.ask()
        kinds = [int if r.integer else float for r in self._params.values()]
        return {n: kind(v) for n, kind, v in zip(names, kinds, point, strict=True)}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)


def _score(trial: FrozenTrial) -> float | None:
    """A round's accuracy for the surrogate: its final one, or for a pruned round the last accuracy it
    reported (lower than it would have reached, which is why it was stopped). Without either: None."""
    if trial.state == TrialState.COMPLETE:
        return None if trial.value is None else float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


class PaperGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler without its end-of-grid ``Study.stop()``.

    That call only works inside ``Study.optimize``; our loop asks and tells and stops itself at
    ``study.rounds``, which validation keeps within the number of cells.
    """

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        return None


def derive_seed(*entropy: int) -> int:
    """A 32-bit seed from a tuple of non-negative integers (numpy's SeedSequence)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])
