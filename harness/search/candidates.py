"""A table's fixed candidate set, and the two samplers that use it.

The candidates of a space are its grid points (so grid search replays exactly), then scrambled Sobol
points (scipy) up to the number asked for, drawn in the space's own scaling: uniform in log(x) where
the range is log, whole numbers where it is integer, the upper bound excluded where it is.

``CandidateSampler`` proposes candidate ``round - 1`` for each round: building a table is a study
whose rounds are the candidates, so it resumes, shares work between workers and stops on signals as
any study does. ``SnapSampler`` wraps a strategy's sampler in a replayed study: the strategy proposes
as it would in a live study, and the proposal is answered by its nearest candidate in the space's
normalised coordinates; the candidate's values are what the trial holds, records and tells.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.search.space import Range, grid_values, upper

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

from optuna.samplers import BaseSampler

ROUND_ATTR = "round"  # the trial's round (harness/workers.py writes it before the sampler runs)


def grid_points(params: Mapping[str, Range], points: int) -> list[dict[str, float]]:
    """Every cell of the paper's grid, in a fixed order (the product of each range's grid values)."""
    names = list(params)
    values = [grid_values(params[n], points) for n in names]
    return [dict(zip(names, cell, strict=True)) for cell in itertools.product(*values)]


def _from_unit(r: Range, u: float) -> float:
    """A point of [0, 1) mapped into the range on its own scale."""
    top = upper(r)
    if r.integer:
        lo, hi = (math.log(r.low), math.log(r.high + 1)) if r.log else (r.low, r.high + 1)
        x = math.exp(lo + u * (hi - lo)) if r.log else lo + u * (hi - lo)
        return float(min(max(math.floor(x), r.low), r.high))
    if r.log:
        x = math.exp(math.log(r.low) + u * (math.log(r.high) - math.log(r.low)))
    else:
        x = r.low + u * (r.high - r.low)
    return float(min(max(x, r.low), top))


def candidate_set(params: Mapping[str, Range], points: int, total: int, seed: int) -> list[dict[str, float]]:
    """The grid's cells, then seeded scrambled Sobol points until there are ``total`` candidates."""
    from scipy.stats import qmc

    cells = grid_points(params, points)
    if total < len(cells):
        raise ValueError(f"{total} candidates cannot hold the space's {len(cells)} grid points")
    extra = total - len(cells)
    if extra == 0:
        return cells
    names = list(params)
    sobol = qmc.Sobol(d=len(names), scramble=True, seed=seed)
    # Sobol points keep their balance in powers of two: draw the next power and take the first ones.
    units = sobol.random(2 ** math.ceil(math.log2(extra)))[:extra]
    drawn = [{n: _from_unit(params[n], float(u)) for n, u in zip(names, row, strict=True)} for row in units]
    return cells + drawn


def normalised(params: Mapping[str, Range], values: Mapping[str, float]) -> np.ndarray:
    """A point's coordinates in [0, 1] per hyperparameter, on the range's own (log or linear) scale."""
    out = []
    for name, r in params.items():
        x = float(values[name])
        if r.log:
            lo, hi, x = math.log(r.low), math.log(r.high), math.log(max(x, r.low))
        else:
            lo, hi = float(r.low), float(r.high)
        out.append((x - lo) / (hi - lo) if hi > lo else 0.0)
    return np.asarray(out)


def _fresh(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    """The trial as storage holds it now (Optuna hands a relative sampler the copy taken before
    before_trial wrote to it)."""
    return next((t for t in study.get_trials(deepcopy=False) if t.number == trial.number), trial)


class NearestCandidate:
    """The candidates of a table, and which of them is nearest to a proposal."""

    def __init__(self, params: Mapping[str, Range], candidates: Sequence[Mapping[str, float]]) -> None:
        self.params = dict(params)
        self.candidates = [dict(c) for c in candidates]
        self.points = np.stack([normalised(self.params, c) for c in self.candidates])

    def index(self, values: Mapping[str, float]) -> int:
        """The nearest candidate (Euclidean in normalised coordinates; the lower index on a tie)."""
        distances = ((self.points - normalised(self.params, values)) ** 2).sum(axis=1)
        return int(np.argmin(distances))


class CandidateSampler(BaseSampler):
    """Round r proposes candidate r - 1: a table build trains its candidates as a study's rounds."""

    def __init__(self, candidates: Sequence[Mapping[str, float]]) -> None:
        self.candidates = [dict(c) for c in candidates]
        self.rounds: dict[int, int] = {}  # trial number -> its round, read once the claim is written

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # The claim was written to storage just before (harness/workers.py): read the trial afresh.
        round_no = _fresh(study, trial).user_attrs.get(ROUND_ATTR)
        if round_no is not None:
            self.rounds[trial.number] = int(round_no)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        round_no = self.rounds.get(trial.number, trial.user_attrs.get(ROUND_ATTR))
        if round_no is None or not 1 <= int(round_no) <= len(self.candidates):
            raise RuntimeError(f"a table build proposes candidates by round; round {round_no} has none")
        value = self.candidates[int(round_no) - 1][param_name]
        return int(value) if type(param_distribution).__name__ == "IntDistribution" else float(value)


class SnapSampler(BaseSampler):
    """A strategy's sampler whose whole proposal is replaced by the nearest table candidate.

    The inner sampler proposes every hyperparameter (its relative proposal, then its independent
    draws for the rest, as Optuna would ask it), and this sampler returns the nearest candidate's
    values as one relative proposal over the whole space.
    """

    def __init__(
        self, inner: BaseSampler, nearest: NearestCandidate, space: dict[str, BaseDistribution]
    ) -> None:
        self.inner = inner
        self.nearest = nearest
        self.space = space
        self.last_index: int | None = None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        # Samplers write their own attributes in before_trial (the grid its cell): read them afresh.
        trial = _fresh(study, trial)
        inner_space = self.inner.infer_relative_search_space(study, trial)
        proposal = dict(self.inner.sample_relative(study, trial, inner_space)) if inner_space else {}
        for name, dist in self.space.items():
            if name not in proposal:
                proposal[name] = self.inner.sample_independent(study, trial, name, dist)
        self.last_index = self.nearest.index(proposal)
        chosen = self.nearest.candidates[self.last_index]
        return {
            name: int(chosen[name]) if type(dist).__name__ == "IntDistribution" else float(chosen[name])
            for name, dist in self.space.items()
        }

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
