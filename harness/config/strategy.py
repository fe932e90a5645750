"""The options of ``strategy``: each builds its Optuna sampler for one round, and its pruner."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.base import Option, at_least, choice
from harness.errors import ConfigError

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

    from harness.config import SpaceConfig, StudySettings

PRUNERS = ("none", "median", "successive_halving", "hyperband")
# scikit-optimize's acquisition of each of its strategies (one surrogate for all three).
SKOPT_ACQUISITION = {"bayes_pi": "PI", "bayes_ei": "EI", "bayes_eipj": "EIps"}


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Optuna calls GPSampler and QMCSampler experimental: a warning per round, of no use here."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


@dataclasses.dataclass
class StrategyConfig(Option):
    """grid and random: nothing to set but the pruner, which every strategy takes."""

    # Stop hopeless rounds early on their validation accuracy after each epoch (Optuna's pruners):
    # none, median, successive_halving or hyperband. Needs dataset.validation.
    pruner: str = "none"

    OPTIONS: ClassVar[tuple[str, ...]] = ("grid", "random")
    # Whether each round records its learning curve and per-epoch joules (strategy=table does).
    traces_epochs: ClassVar[bool] = False
    # The options of a class that search two objectives (accuracy up, joules down), and those whose
    # acquisition divides by each round's joules: what the study, its checks and the report ask.
    TWO_OBJECTIVES: ClassVar[tuple[str, ...]] = ()
    COST_AWARE: ClassVar[tuple[str, ...]] = ()
    # Each option's look in the report's figures, recorded with its studies (Config.facts): its place
    # in legends and bars, and its colour (a Matplotlib colour). An option without one is drawn in a
    # colour of its own after these.
    LOOKS: ClassVar[dict[str, tuple[int, str]]] = {"grid": (0, "tab:blue"), "random": (1, "tab:orange")}
    RECORDED: ClassVar[dict[str, Any]] = {
        "n_startup_trials": 10,
        "n_initial_points": 1,
        "n_candidates": 10_000,
        "xi": 0.01,
        "qmc_type": "sobol",
        "population_size": 10,
    }

    @property
    def objectives(self) -> int:
        """How many objectives the study has: 1 (accuracy), or 2 (accuracy and the round's joules)."""
        return 2 if self.name in self.TWO_OBJECTIVES else 1

    @property
    def look(self) -> dict[str, int | str]:
        """The option's place and colour in the report's figures ({}: the report picks them)."""
        if self.name not in self.LOOKS:
            return {}
        order, colour = self.LOOKS[self.name]
        return {"order": order, "colour": colour}

    @property
    def joules_use(self) -> str:
        """How the search uses each round's joules, in a few words ("": it does not)."""
        if self.objectives == 2:
            return "minimises each round's joules"
        return "divides by each round's joules" if self.name in self.COST_AWARE else ""

    def sampler(self, space: SpaceConfig, *, study_seed: int, round_seed: int) -> BaseSampler:
        """The sampler for one round. Grid (and QMC) keep the study seed: their order spans the study."""
        import optuna

        from harness.search.space import grid
        from harness.search.strategies import PaperGridSampler

        if self.name == "grid":
            return PaperGridSampler(grid(space.params, space.grid_points), seed=study_seed)
        return optuna.samplers.RandomSampler(seed=round_seed)

    def make_pruner(self, max_epochs: int) -> BasePruner:
        """Optuna's pruner for ``pruner``; the steps are epochs, judged on validation accuracy."""
        import optuna

        if self.pruner == "median":  # below the median of earlier rounds at the same epoch, after 5
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
        if self.pruner == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
        if self.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=2
            )
        return optuna.pruners.NopPruner()

    def check(self) -> None:
        choice(self.pruner, PRUNERS, "strategy.pruner")

    def check_with(self, space: SpaceConfig, study: StudySettings) -> None:
        """Checks that need the space and the study's settings: grid search visits each cell at most
        once, so a study cannot ask for more rounds than the grid has cells."""
        if self.name == "grid" and study.rounds > (cells := _cells(space)):
            raise ConfigError(
                f"study.rounds={study.rounds} exceeds the {cells} cells of the grid over "
                f"space={space.name}; lower study.rounds or raise space.grid_points"
            )


def _cells(space: SpaceConfig) -> int:
    """How many cells the space's grid has."""
    from harness.search.space import grid_values

    return math.prod(len(grid_values(r, space.grid_points)) for r in space.params.values())


@dataclasses.dataclass
class OptunaModelConfig(StrategyConfig):
    """Optuna's model-based samplers, which start with random rounds: bayes and mo_gp (GPSampler,
    mo_gp on a two-objective study) and tpe (TPESampler)."""

    n_startup_trials: int = 10  # random rounds before the model takes over

    OPTIONS: ClassVar[tuple[str, ...]] = ("bayes", "mo_gp", "tpe")
    TWO_OBJECTIVES: ClassVar[tuple[str, ...]] = ("mo_gp",)
    LOOKS: ClassVar[dict[str, tuple[int, str]]] = {
        "bayes": (2, "tab:green"),
        "tpe": (4, "tab:purple"),
        "mo_gp": (8, "tab:olive"),
    }

    def sampler(self, space: SpaceConfig, *, study_seed: int, round_seed: int) -> BaseSampler:
        import optuna

        if self.name == "tpe":
            return optuna.samplers.TPESampler(seed=round_seed, n_startup_trials=self.n_startup_trials)
        with _quiet_experimental():
            return optuna.samplers.GPSampler(seed=round_seed, n_startup_trials=self.n_startup_trials)

    def check(self) -> None:
        super().check()
        at_least(self.n_startup_trials, 1, "strategy.n_startup_trials")


@dataclasses.dataclass
class SkoptConfig(StrategyConfig):
    """bayes_pi (the paper's), bayes_ei and bayes_eipj: scikit-optimize's Gaussian process."""

    n_initial_points: int = 1  # random rounds before the GP (the paper: 1)
    n_candidates: int = 10_000  # random candidates the acquisition is maximised over
    xi: float = 0.01  # the improvement margin of PI and EI

    OPTIONS: ClassVar[tuple[str, ...]] = tuple(SKOPT_ACQUISITION)
    COST_AWARE: ClassVar[tuple[str, ...]] = ("bayes_eipj",)  # EIps: expected improvement per joule
    LOOKS: ClassVar[dict[str, tuple[int, str]]] = {
        "bayes_pi": (3, "tab:red"),
        "bayes_ei": (6, "tab:pink"),
        "bayes_eipj": (7, "tab:gray"),
    }

    def sampler(self, space: SpaceConfig, *, study_seed: int, round_seed: int) -> BaseSampler:
        from harness.search.strategies import SkoptGPSampler

        return SkoptGPSampler(
            space.params,
            seed=round_seed,
            n_initial_points=self.n_initial_points,
            n_candidates=self.n_candidates,
            xi=self.xi,
            acq_func=SKOPT_ACQUISITION[self.name],
        )

    def check(self) -> None:
        super().check()
        at_least(self.n_initial_points, 1, "strategy.n_initial_points")
        at_least(self.n_candidates, 1, "strategy.n_candidates")


@dataclasses.dataclass
class QMCConfig(StrategyConfig):
    """qmc: scrambled Sobol or Halton points (Optuna's QMCSampler)."""

    qmc_type: str = "sobol"  # the low-discrepancy sequence: sobol or halton

    OPTIONS: ClassVar[tuple[str, ...]] = ("qmc",)
    LOOKS: ClassVar[dict[str, tuple[int, str]]] = {"qmc": (5, "tab:brown")}

    def sampler(self, space: SpaceConfig, *, study_seed: int, round_seed: int) -> BaseSampler:
        import optuna

        with _quiet_experimental():
            return optuna.samplers.QMCSampler(qmc_type=self.qmc_type, scramble=True, seed=study_seed)

    def check(self) -> None:
        super().check()
        choice(self.qmc_type, ("sobol", "halton"), "strategy.qmc_type")


@dataclasses.dataclass
class NSGA2Config(StrategyConfig):
    """mo_nsga2: Optuna's NSGA-II, population_size rounds per generation."""

    population_size: int = 10  # rounds per generation

    OPTIONS: ClassVar[tuple[str, ...]] = ("mo_nsga2",)
    TWO_OBJECTIVES: ClassVar[tuple[str, ...]] = ("mo_nsga2",)
    LOOKS: ClassVar[dict[str, tuple[int, str]]] = {"mo_nsga2": (9, "tab:cyan")}

    def sampler(self, space: SpaceConfig, *, study_seed: int, round_seed: int) -> BaseSampler:
        import optuna

        return optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=round_seed)

    def check(self) -> None:
        super().check()
        at_least(self.population_size, 2, "strategy.population_size")


@dataclasses.dataclass
class TableConfig(StrategyConfig):
    """table: not a search. Round r trains candidate r of the space's fixed candidate set (the grid's
    cells, then scrambled Sobol points up to ``candidates``), recording every epoch; harness-table runs
    it and writes the replay table."""

    candidates: int = 512  # configurations the table trains: the grid, then Sobol points

    OPTIONS: ClassVar[tuple[str, ...]] = ("table",)
    LOOKS: ClassVar[dict[str, tuple[int, str]]] = {}  # a table build is not drawn as a search

    # A table's rounds record learning curves and per-epoch joules (what replay needs).
    traces_epochs: ClassVar[bool] = True

    def candidate_set(self, space: SpaceConfig, seed: int) -> list[dict[str, float]]:
        from harness.search.candidates import candidate_set

        return candidate_set(space.params, space.grid_points, self.candidates, seed)

    def sampler(self, space: SpaceConfig, *, study_seed: int, round_seed: int) -> BaseSampler:
        from harness.search.candidates import CandidateSampler

        return CandidateSampler(self.candidate_set(space, study_seed))

    def check(self) -> None:
        super().check()
        at_least(self.candidates, 1, "strategy.candidates")

    def check_with(self, space: SpaceConfig, study: StudySettings) -> None:
        if study.backend == "replay":
            raise ConfigError(
                "strategy=table builds a table by training; it cannot replay one (study.backend=live)"
            )
        if self.candidates < (cells := _cells(space)):
            raise ConfigError(
                f"strategy.candidates={self.candidates} cannot hold the {cells} grid cells of "
                f"space={space.name}; raise strategy.candidates (grid search replays only on its cells)"
            )


SCHEMAS: tuple[type[StrategyConfig], ...] = (
    StrategyConfig,
    OptunaModelConfig,
    SkoptConfig,
    QMCConfig,
    NSGA2Config,
    TableConfig,
)
