"""Our samplers are Optuna samplers: Optuna's published test cases for third-party samplers, run
against every sampler the project defines (imported from optuna.testing, never copied)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import optuna
import pytest
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    RelativeSamplerTestCase,
    SingleOnlySamplerTestCase,
)

from harness.search import SkoptGPSampler
from harness.search.strategies import PaperGridSampler
from harness.workers import ClaimingSampler

# Few candidates keep the acquisition cheap; the contract does not depend on their number.
SMALL = {"n_candidates": 200}


@pytest.fixture(params=["PI", "EI", "EIps"])
def acq_func(request):
    return request.param


class TestSkoptBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self, acq_func):
        return lambda: SkoptGPSampler(acq_func=acq_func, seed=0, **SMALL)


class TestSkoptRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self, acq_func):
        return lambda: SkoptGPSampler(acq_func=acq_func, seed=0, **SMALL)


class TestSkoptSingleOnly(SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self, acq_func):
        return lambda: SkoptGPSampler(acq_func=acq_func, seed=0, **SMALL)


def claiming(acq_func: str) -> ClaimingSampler:
    """How the harness asks every strategy: wrapped to write the round's claim at trial creation."""
    return ClaimingSampler(SkoptGPSampler(acq_func=acq_func, seed=0, **SMALL), lambda trial: None)


class TestClaimingBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: claiming("PI")


class TestClaimingRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: claiming("PI")


class TestClaimingSingleOnly(SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: claiming("PI")


def test_a_multi_objective_study_is_refused_with_a_clear_error():
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=SkoptGPSampler(seed=0))
    with pytest.raises(ValueError, match="one objective"):  # at the first ask, not after a trial
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_the_direction_is_honoured():
    def proposals(direction: str) -> list[float]:
        study = optuna.create_study(direction=direction, sampler=SkoptGPSampler(seed=3, **SMALL))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=8)
        return [t.params["x"] for t in study.trials]

    up, down = proposals("maximize"), proposals("minimize")
    assert up[:2] == down[:2]  # the random start is the seed's
    assert up[2:] != down[2:]
    assert max(up[-3:]) > min(down[-3:])  # maximising heads up, minimising down


def test_a_pruned_trial_that_reported_nan_is_left_out_of_the_fit():
    study = optuna.create_study(direction="maximize", sampler=SkoptGPSampler(seed=0, **SMALL))
    for value in (0.2, 0.5):
        study.enqueue_trial({"x": value})
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.report(float("nan"), 1)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # no "Input y contains NaN"
    assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE


def test_proposals_vary_when_nothing_can_be_learnt_and_eips_falls_back_to_ei():
    sampler = SkoptGPSampler(acq_func="EIps", seed=0, **SMALL)
    study = optuna.create_study(sampler=sampler)
    with pytest.warns(UserWarning, match="no trial carries its joules"):  # none does here
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    failing = optuna.create_study(sampler=SkoptGPSampler(seed=0, **SMALL))

    def fails(t: optuna.Trial) -> float:
        t.suggest_float("x", 0, 1)
        raise RuntimeError("diverged")

    failing.optimize(fails, n_trials=4, catch=(RuntimeError,))
    xs = [t.params["x"] for t in failing.trials]
    assert len(set(xs)) == len(xs)  # seeded draws, not one point over and over


def test_parallel_trials_get_different_proposals_after_reseeding():
    sampler = SkoptGPSampler(seed=0, **SMALL)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", -1, 1), n_trials=4)
    first = study.ask({"x": optuna.distributions.FloatDistribution(-1, 1)})
    second = study.ask({"x": optuna.distributions.FloatDistribution(-1, 1)})
    assert first.params["x"] != second.params["x"]


def test_the_paper_grid_sampler_proposes_every_cell_once():
    grid = {"a": [0.0, 0.5], "b": [1.0, 2.0]}
    study = optuna.create_study(sampler=PaperGridSampler(grid, seed=0))
    for _ in range(4):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("a", 0, 0.5) + trial.suggest_float("b", 1, 2))
    assert sorted((t.params["a"], t.params["b"]) for t in study.trials) == [
        (0.0, 1.0),
        (0.0, 2.0),
        (0.5, 1.0),
        (0.5, 2.0),
    ]


def test_a_plain_optuna_script_uses_the_sampler(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(
        textwrap.dedent(
            """
            import optuna
            from harness.search import SkoptGPSampler

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            sampler = SkoptGPSampler(acq_func="PI", seed=0, n_candidates=500)
            study = optuna.create_study(direction="maximize", sampler=sampler)
            study.optimize(lambda t: -((t.suggest_float("x", -5, 5) - 1) ** 2), n_trials=15)
            print(round(study.best_params["x"], 1))
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert abs(float(done.stdout.strip()) - 1.0) < 1.0
