"""The shared contract every strategy passes, and the paper's grid."""

from __future__ import annotations

import itertools
import math

import optuna
import pytest

from harness.config import SEARCHES, ParamRange, SpaceConfig
from harness.config.options import make, settings_of
from harness.search.space import distributions, grid_values
from harness.search.strategies import derive_seed

PAPER5 = {
    "lr": ParamRange(1e-5, 0.1),
    "beta1": ParamRange(0.1, 1.0),
    "beta2": ParamRange(0.8, 1.0),
    "epsilon": ParamRange(1e-9, 1e-7),
    "weight_decay": ParamRange(0.0, 0.1),
}
LOG3 = {
    "lr": ParamRange(1e-5, 0.1, log=True),
    "beta1": ParamRange(0.1, 1.0),
    "beta2": ParamRange(0.8, 1.0),
}

COST_AWARE = {  # conf/space/cost_aware.yaml: whole-number round settings beside Adam's
    **LOG3,
    "epochs": ParamRange(1, 4, integer=True),
    "batch_size": ParamRange(32, 256, log=True, integer=True),
    "linear_layers": ParamRange(1, 4, integer=True),
}


def objective(params: dict[str, float]) -> float:
    """A smooth stand-in for accuracy with its optimum inside the space."""
    return -sum(
        (math.log10(v) + 3 if k == "lr" else v - 0.5) ** 2 for k, v in params.items() if k != "epsilon"
    )


def joules(params: dict[str, float]) -> float:
    """A stand-in round cost that rises tenfold from beta1 = 0.1 to 1 (the objective prefers 0.5)."""
    return 10.0 * 10 ** ((params.get("beta1", 0.5) - 0.1) / 0.9)


def quick(strategy: str):
    """The strategy with fewer random start rounds and candidates, where it has those settings."""
    quicker = {"n_startup_trials": 3, "n_candidates": 500}
    return make(
        "strategy", strategy, **{k: v for k, v in quicker.items() if strategy in settings_of("strategy")[k]}
    )


def propose(
    strategy: str,
    space: dict[str, ParamRange],
    rounds: int,
    seed: int = 0,
    study: optuna.Study | None = None,
) -> list[dict[str, float]]:
    """Drive the sampler through the same ask/tell loop as the study (continuing ``study`` if given)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = study or optuna.create_study(direction="maximize")
    dists = distributions(space)
    out = []
    done = len(study.trials)
    for r in range(done + 1, done + rounds + 1):
        study.sampler = quick(strategy).sampler(
            SpaceConfig("test", space), study_seed=seed, round_seed=derive_seed(seed, 0, r)
        )
        trial = study.ask(dists)
        out.append(dict(trial.params))
        trial.set_user_attr("energy_j", joules(trial.params))  # as the study records each round
        study.tell(trial, objective(trial.params))
    return out


@pytest.mark.parametrize("strategy", SEARCHES)
@pytest.mark.parametrize("space", [PAPER5, LOG3, COST_AWARE], ids=["paper5", "log3", "cost_aware"])
def test_proposals_lie_inside_the_space(strategy, space):
    for params in propose(strategy, space, 8):
        assert set(params) == set(space)
        for name, value in params.items():
            if space[name].integer:  # whole numbers, both bounds included
                assert isinstance(value, int) and space[name].low <= value <= space[name].high, (name, value)
            else:
                assert space[name].low <= value < space[name].high, (name, value)


@pytest.mark.parametrize("strategy", SEARCHES)
@pytest.mark.parametrize("space", [LOG3, COST_AWARE], ids=["log3", "cost_aware"])
def test_same_seed_same_proposals_other_seed_other_proposals(strategy, space):
    a = propose(strategy, space, 6, seed=1)
    b = propose(strategy, space, 6, seed=1)
    c = propose(strategy, space, 6, seed=2)
    assert a == b
    assert a != c


@pytest.mark.parametrize("strategy", SEARCHES)
def test_a_resumed_search_proposes_what_an_uninterrupted_one_would(strategy):
    """A new process finds the rounds so far in storage and nothing else: its next proposals match."""
    straight = propose(strategy, COST_AWARE, 6, seed=3)
    storage = optuna.storages.InMemoryStorage()
    first = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    before = propose(strategy, COST_AWARE, 3, seed=3, study=first)
    resumed = optuna.load_study(study_name="s", storage=storage)  # the sampler and its state are gone
    after = propose(strategy, COST_AWARE, 3, seed=3, study=resumed)
    assert before + after == straight


def test_whole_number_grid_takes_both_bounds_and_never_repeats():
    assert grid_values(ParamRange(1, 4, integer=True), 5) == [1, 2, 3, 4]
    assert grid_values(ParamRange(32, 256, log=True, integer=True), 4) == [32, 64, 128, 256]
    assert grid_values(ParamRange(1, 9, integer=True), 3) == [1, 5, 9]


def test_grid_is_the_papers_five_values_and_never_repeats_a_cell():
    space = {k: PAPER5[k] for k in ("lr", "beta1", "beta2")}
    proposals = propose("grid", space, 64)
    cells = {tuple(p[k] for k in sorted(p)) for p in proposals}
    assert len(cells) == 64
    expected = {k: {r.low + i * (r.high - r.low) / 5 for i in range(5)} for k, r in space.items()}
    for p in proposals:
        for k, v in p.items():
            assert v in expected[k]
    assert max(p["beta1"] for p in proposals) == pytest.approx(0.82)  # 1.0 is never reached


def test_grid_order_is_a_seeded_shuffle_not_the_lexicographic_order():
    space = {k: PAPER5[k] for k in ("lr", "beta1")}
    first = propose("grid", space, 10, seed=0)
    assert first != sorted(first, key=lambda p: (p["beta1"], p["lr"]))
    assert first != propose("grid", space, 10, seed=5)


def test_log_grid_is_geometric():
    values = grid_values(ParamRange(1e-5, 0.1, log=True), 5)
    ratios = [b / a for a, b in itertools.pairwise(values)]
    assert values[0] == pytest.approx(1e-5)
    assert ratios == pytest.approx([10**0.8] * 4)


@pytest.mark.parametrize("strategy", ["bayes_pi", "bayes_ei", "bayes", "tpe"])
def test_model_based_strategies_beat_random_draws_on_a_smooth_objective(strategy):
    # After its start-up rounds a model-based search proposes better points than random search.
    guided = sorted(objective(p) for p in propose(strategy, LOG3, 20, seed=3)[10:])
    random = sorted(objective(p) for p in propose("random", LOG3, 20, seed=3)[10:])
    assert guided[5] > random[5]  # medians of the last ten rounds


@pytest.fixture
def told(monkeypatch) -> list:
    """What scikit-optimize's Optimizer is told, fit by fit: the library boundary."""
    from skopt import Optimizer

    seen: list = []
    real_tell = Optimizer.tell

    def spy(self, x, y, *args, **kwargs):
        seen.append((x, y))
        return real_tell(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Optimizer, "tell", spy)
    return seen


def test_expected_improvement_per_joule_is_told_each_round_s_joules(told):
    proposals = propose("bayes_eipj", LOG3, 4, seed=1)
    _xs, ys = told[-1]  # the last round's fit: every earlier round, as [-accuracy, log(millijoules)]
    assert len(ys) == 3
    for params, (neg_accuracy, log_cost) in zip(proposals[:3], ys, strict=True):
        assert neg_accuracy == pytest.approx(-objective(params))
        assert log_cost == pytest.approx(math.log(1000 * joules(params)))


@pytest.mark.parametrize("strategy", ["bayes_pi", "bayes_eipj"])
def test_a_pruned_round_is_told_to_the_surrogate_at_its_last_reported_accuracy(told, strategy):
    study = optuna.create_study(direction="maximize")
    dists = distributions(LOG3)
    params = [{"lr": 1e-3, "beta1": 0.9, "beta2": 0.99}, {"lr": 0.05, "beta1": 0.2, "beta2": 0.85}]
    study.enqueue_trial(params[0])
    study.enqueue_trial(params[1])
    done = study.ask(dists)
    done.set_user_attr("energy_j", 30.0)
    study.tell(done, 0.9)
    pruned = study.ask(dists)
    pruned.report(0.3, 1)
    pruned.report(0.25, 2)
    pruned.set_user_attr("energy_j", 8.0)  # stopped early: cheaper than a full round
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    propose(strategy, LOG3, 1, seed=0, study=study)
    xs, ys = told[-1]
    assert xs[1] == [params[1][k] for k in sorted(params[1])]
    if strategy == "bayes_eipj":
        assert ys == [[-0.9, pytest.approx(math.log(30_000))], [-0.25, pytest.approx(math.log(8_000))]]
    else:
        assert ys == [-0.9, -0.25]
