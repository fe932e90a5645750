"""The samplers our strategies need beyond Optuna's own, and the round seeds. Each option of
``strategy`` builds its sampler afresh each round from a round seed (harness/config/strategy.py).

Building the sampler per round with a seed derived from (study seed, round) makes a resumed study
propose exactly what an uninterrupted one would: each sampler's choice depends only on its seed and
the trials in storage. Grid and QMC keep the study seed, since their order spans the whole study.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from harness.search.space import Range, distributions

ENERGY_ATTR = "energy_j"  # a trial's joules, as a flat user attribute (harness/study.py)


class SkoptGPSampler(BaseSampler):
    """Bayesian search with scikit-optimize: a Gaussian process, and probability of improvement (the
    paper's, ``PI``), expected improvement (``EI``) or expected improvement per joule (``EIps``).

    An Optuna sampler like any other::

        import optuna
        from harness.search import SkoptGPSampler

        study = optuna.create_study(direction="maximize", sampler=SkoptGPSampler(acq_func="PI", seed=0))
        study.optimize(lambda t: -((t.suggest_float("x", -5, 5) - 1) ** 2), n_trials=20)

    Args:
        params: the ranges to model (the harness passes its space). Without it the space is inferred
            from the study's finished trials, as Optuna's own relative samplers do.
        seed: seeds the first proposal; each later call on the same object draws from a generator
            seeded by it (``reseed_rng`` reseeds it).
        n_initial_points: random rounds before the Gaussian process (the paper: 1).
        n_candidates: uniform random points over which the acquisition is maximised (10,000).
        xi: the improvement margin of PI and EI.
        acq_func: ``PI``, ``EI`` or ``EIps``.

    scikit-optimize's Optimizer (Matern kernel with bounded length scales, Gaussian noise, normalised
    targets: a pinned surrogate, unlike the published notebook's default GaussianProcessRegressor),
    acquisition maximised over ``n_candidates`` uniform random points. Refitted each call from the
    completed trials in storage, and the pruned ones at the last finite value they reported; the
    study's direction is honoured (a maximised value is told to scikit-optimize negated). Stepped
    parameters are modelled over their span and put on their grid, categorical ones as scikit-optimize
    categories; parameters outside the relative space are drawn by a seeded RandomSampler.
    Multi-objective studies are refused with a ValueError.

    ``EIps`` divides expected improvement by the expected cost of a point, from a second GP fitted to
    the log of each round's cost. scikit-optimize made it for seconds; here the cost is the round's
    joules (its ``energy_j`` user attribute), told as log(millijoules): a constant factor changes no
    ranking, and it keeps every logged cost above the negated accuracies that scikit-optimize mixes
    them with when it takes the best value seen. Where no trial carries joules, it falls back to
    ``EI`` (and warns once).
    """

    def __init__(
        self,
        params: Mapping[str, Range] | None = None,
        *,
        seed: int | None = None,
        n_initial_points: int = 1,
        n_candidates: int = 10_000,
        xi: float = 0.01,
        acq_func: str = "PI",
    ) -> None:
        if acq_func not in ("PI", "EI", "EIps"):
            raise ValueError(f"acq_func={acq_func!r}: choose PI, EI or EIps")
        self._acq_func = acq_func
        self._params = dict(sorted(params.items())) if params is not None else None
        self._space = distributions(self._params) if self._params is not None else None
        self._seed = seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        self._calls = 0  # the first call uses the seed itself; later ones draw from it
        self._rng = np.random.default_rng(self._seed)
        self._n_initial_points = n_initial_points
        self._n_candidates = n_candidates
        self._xi = xi
        self._fallback = RandomSampler(seed=seed)
        self._warned_no_joules = False

    def reseed_rng(self) -> None:
        self._seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._rng = np.random.default_rng(self._seed)
        self._calls = 0
        self._fallback.reseed_rng()

    def _call_seed(self) -> int:
        """The seed of this call's scikit-optimize Optimizer: the sampler's seed on its first call (the
        harness builds one sampler per round), a fresh draw from it on each later one."""
        self._calls += 1
        return self._seed if self._calls == 1 else int(self._rng.integers(2**31 - 1))

    def _optimizer(self, space: dict[str, BaseDistribution], acq_func: str, seed: int) -> Any:
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real

        dims: list[Any] = []
        for name, d in space.items():
            if isinstance(d, CategoricalDistribution):
                dims.append(Categorical(list(range(len(d.choices))), name=name))
            elif isinstance(d, IntDistribution):
                prior = "log-uniform" if d.log else "uniform"
                dims.append(Integer(int(d.low), int(d.high), prior=prior, name=name))
            else:
                assert isinstance(d, FloatDistribution)
                prior = "log-uniform" if d.log else "uniform"
                dims.append(Real(float(d.low), float(d.high), prior=prior, name=name))
        return Optimizer(
            dims,
            base_estimator="GP",
            acq_func=acq_func,
            acq_optimizer="sampling",
            acq_func_kwargs={"xi": self._xi},
            acq_optimizer_kwargs={"n_points": self._n_candidates},
            n_initial_points=self._n_initial_points,
            random_state=seed,
        )

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._space is not None:
            return dict(self._space)
        inferred = optuna.search_space.intersection_search_space(study.get_trials(deepcopy=False))
        return {name: d for name, d in sorted(inferred.items()) if _modelled(d)}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        _single_objective(study)
        space = {name: d for name, d in sorted(search_space.items()) if _modelled(d)}
        if not space:
            return {}
        names = list(space)
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        acq_func = self._acq_func
        rows = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            value = _score(t)
            if value is None or not math.isfinite(value) or not all(n in t.params for n in names):
                continue
            x = [t.params[n] for n in names]
            if all(_inside(space[n], v) for n, v in zip(names, x, strict=True)):
                told = [_told(space[n], v) for n, v in zip(names, x, strict=True)]
                rows.append((told, sign * value, t.user_attrs.get(ENERGY_ATTR)))
        if acq_func == "EIps":
            costed = [r for r in rows if isinstance(r[2], (int, float)) and math.isfinite(r[2]) and r[2] > 0]
            if rows and not costed:
                if not self._warned_no_joules:
                    warnings.warn(
                        "SkoptGPSampler(acq_func='EIps'): no trial carries its joules (energy_j); "
                        "using EI until one does",
                        stacklevel=2,
                    )
                    self._warned_no_joules = True
                acq_func = "EI"
            else:
                rows = costed
        optimizer = self._optimizer(space, acq_func, self._call_seed())
        with warnings.catch_warnings():
            # skopt warns when the random candidates repeat a told point; that is harmless here.
            warnings.simplefilter("ignore")
            if rows:
                xs = [x for x, _, _ in rows]
                if acq_func == "EIps":
                    ys: list[Any] = [[y, float(np.log(1000.0 * float(j or 0.0)))] for _, y, j in rows]
                else:
                    ys = [y for _, y, _ in rows]
                optimizer.tell(xs, ys)
            point = optimizer.ask()
        return {n: _on_grid(space[n], v) for n, v in zip(names, point, strict=True)}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        _single_objective(study)
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)


def _single_objective(study: Study) -> None:
    if len(study.directions) > 1:
        raise ValueError(
            "SkoptGPSampler optimises one objective; this study has "
            f"{len(study.directions)} (use a multi-objective sampler such as NSGAIISampler)"
        )


def _modelled(d: BaseDistribution) -> bool:
    """What the Gaussian process models: numeric ranges with room to search (a stepped one over its
    span, its proposal then put on the step's grid) and categorical choices (two or more)."""
    if isinstance(d, CategoricalDistribution):
        return len(d.choices) > 1
    return isinstance(d, (FloatDistribution, IntDistribution)) and d.low < d.high


def _on_grid(d: BaseDistribution, value: Any) -> Any:
    """A proposal as the distribution holds it: on its step's grid, within its bounds, a Python number;
    a categorical choice itself (scikit-optimize proposes its index)."""
    if isinstance(d, CategoricalDistribution):
        return d.choices[int(value)]
    assert isinstance(d, (FloatDistribution, IntDistribution))
    if isinstance(d, IntDistribution):
        whole = d.low + round((float(value) - d.low) / d.step) * d.step if d.step > 1 else round(float(value))
        return int(min(max(whole, d.low), d.high))
    x = float(value)
    if d.step is not None:
        x = d.low + round((x - d.low) / d.step) * d.step
    return float(min(max(x, d.low), d.high))


def _inside(d: BaseDistribution, value: Any) -> bool:
    if isinstance(d, CategoricalDistribution):
        return value in d.choices
    return isinstance(d, (FloatDistribution, IntDistribution)) and d.low <= value <= d.high


def _told(d: BaseDistribution, value: Any) -> Any:
    """A trial's value as scikit-optimize's dimension holds it (a category by its index)."""
    return d.choices.index(value) if isinstance(d, CategoricalDistribution) else value


def _score(trial: FrozenTrial) -> float | None:
    """A round's accuracy for the surrogate: its final one, or for a pruned round the last accuracy it
    reported (lower than it would have reached, which is why it was stopped). Without either: None."""
    if trial.state == TrialState.COMPLETE:
        return None if trial.value is None else float(trial.value)
    finite = {step: v for step, v in trial.intermediate_values.items() if math.isfinite(v)}
    if finite:  # a diverging round reports NaN: its last finite value counts
        return float(finite[max(finite)])
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
