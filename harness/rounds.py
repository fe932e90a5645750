"""The round seam: hyperparameters and a round number in; accuracies, joules and their source out.

Two backends run a round. ``LiveRounds`` trains it under an energy window (with a learning-curve
trace when a table is being built). ``ReplayRounds`` (harness/replay.py) looks it up in a table of
measured rounds. The round loop (harness/study.py), pruners, stop rules, records, storage and report
never know which ran.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from harness.config import OPTIMISER_PARAMS, Config
from harness.config.options import ModelConfig
from harness.energy import Meter
from harness.energy.base import Measurement, Window
from harness.search.strategies import derive_seed
from harness.train import EpochReport, Hyperparameters, RoundOutcome, StackPlan, TensorData, train_round

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.samplers import BaseSampler

PUBLISHED_BETA2 = 0.999  # what the published code's Adam always received (PROTOCOL.md)
CANDIDATE_ATTR = "candidate"  # trial attribute of a replayed round: the table candidate it was answered by
TRACE_ATTR = "trace"  # trial attribute of a table build's round: its learning curves and per-epoch cost


@dataclass(frozen=True)
class RoundRun:
    """What one round gave, live or replayed."""

    outcome: RoundOutcome
    measurement: Measurement
    table: str = ""  # the replay table's digest; empty for a live round
    candidate: int | None = None  # the replayed candidate's index in its table
    trace: list[dict[str, Any]] | None = None  # a table build's per-epoch entries


class RoundBackend(Protocol):
    """What the round loop asks of whatever runs its rounds."""

    def run(self, params: dict[str, float], round_no: int, report: EpochReport | None) -> RoundRun: ...

    def spent(self) -> Measurement | None:
        """The energy the round running now has spent so far (what a signal or a kill would lose)."""
        ...

    def final(self, params: dict[str, float], round_no: int) -> RoundRun | None:
        """The picked configuration trained once more and scored on the test set (None: no test set)."""
        ...

    def sampler(self, strategy: BaseSampler, space: dict[str, BaseDistribution]) -> BaseSampler:
        """The sampler a round asks: the strategy's own, or one whose proposals a table answers."""
        ...


def applied_params(params: dict[str, float], *, beta2_defect: bool) -> dict[str, float]:
    """The hyperparameters Adam receives: all sampled ones, or, reproducing the published code's
    defect, beta2 replaced by 0.999 (it is still sampled, recorded and told to the strategy)."""
    if beta2_defect and "beta2" in params:
        return {**params, "beta2": PUBLISHED_BETA2}
    return params


def round_settings(cfg: Config, spec: ModelConfig, params: dict[str, float]) -> tuple[ModelConfig, int, int]:
    """The network, epochs and batch size of a round: the study's, or the values the space searches
    (space=cost_aware) for this round."""
    layers: dict[str, Any] = {k: int(params[k]) for k in ("linear_layers", "conv_layers") if k in params}
    spec = dataclasses.replace(spec, **layers)  # conv_layers: searched for SimpleCNN only
    return (
        spec,
        int(params.get("epochs", cfg.study.epochs)),
        int(params.get("batch_size", cfg.study.batch_size)),
    )


class LiveRounds:
    """Train each round for real, under one energy window for all its repetitions."""

    def __init__(
        self,
        cfg: Config,
        spec: ModelConfig,
        data: TensorData,
        meter: Meter,
        stacking: StackPlan,
        *,
        test_data: Callable[[], TensorData | None] = lambda: None,
    ) -> None:
        self.cfg, self.spec, self.data, self.meter, self.stacking = cfg, spec, data, meter, stacking
        self._test_data = test_data  # the final split, prepared only when first needed
        self._test: TensorData | None = None
        self.window: Window | None = None  # the energy window of the round training now

    def test_data(self) -> TensorData | None:
        if self._test is None:
            self._test = self._test_data()
        return self._test

    def train(
        self,
        data: TensorData,
        params: dict[str, float],
        round_no: int,
        report: EpochReport | None = None,
        trace: Callable[[int, int, Callable[[TensorData], list[float]]], None] | None = None,
    ) -> RoundOutcome:
        """Train ``params`` as round ``round_no`` does: its repetitions' seeds, the study's stacking
        and, where asked for, the published beta2 defect; ``report`` lets the study's pruner stop it."""
        st = self.cfg.study
        spec, epochs, batch_size = round_settings(self.cfg, self.spec, params)
        adam = {k: v for k, v in params.items() if k in OPTIMISER_PARAMS}
        return train_round(
            spec,
            data,
            Hyperparameters.from_params(applied_params(adam, beta2_defect=st.beta2_defect)),
            epochs=epochs,
            batch_size=batch_size,
            seeds=[derive_seed(st.seed, 1, round_no, rep) for rep in range(st.repetitions)],
            stack=self.stacking.stack,
            report=report,
            trace=trace,
        )

    def run(self, params: dict[str, float], round_no: int, report: EpochReport | None) -> RoundRun:
        entries: list[dict[str, Any]] | None = [] if self.cfg.strategy.traces_epochs else None
        start = time.perf_counter()
        # The window stays this round's until the next round starts: a signal while the round's
        # record is written still finds what it spent.
        self.window = None
        with self.meter.window() as window:
            self.window = window
            tracer = self._tracer(window, start, entries) if entries is not None else None
            try:
                outcome = self.train(self.data, params, round_no, report, tracer)
            except Exception as exc:  # out of memory, or any error inside training: this round fails
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
                outcome = RoundOutcome([], reason, time.perf_counter() - start, 0.0, 0, self.stacking.stack)
        assert window.measurement is not None
        return RoundRun(outcome, window.measurement, trace=entries)

    def _tracer(
        self, window: Window, start: float, entries: list[dict[str, Any]]
    ) -> Callable[[int, int, Callable[[TensorData], list[float]]], None]:
        """Each epoch's marks: the window's joules and seconds when training stopped, after scoring
        the split the study scores on, and after scoring the test split (tables keep both)."""

        def mark() -> tuple[float | None, float]:
            so_far = window.so_far()
            return (None if so_far is None else so_far.energy_j), time.perf_counter() - start

        test = self.test_data()

        def trace(first_repetition: int, epoch: int, score: Callable[[TensorData], list[float]]) -> None:
            trained_j, trained_s = mark()
            scores = score(self.data)
            scored_j, scored_s = mark()
            tests = score(test) if test is not None else None
            done_j, done_s = mark()
            entries.append(
                {
                    "repetition": first_repetition,
                    "epoch": epoch,
                    "score": scores,
                    "test": tests,
                    "marks_j": [trained_j, scored_j, done_j],
                    "marks_s": [trained_s, scored_s, done_s],
                }
            )

        return trace

    def spent(self) -> Measurement | None:
        return self.window.so_far() if self.window is not None else None

    def sampler(self, strategy: BaseSampler, space: dict[str, BaseDistribution]) -> BaseSampler:
        return strategy

    def final(self, params: dict[str, float], round_no: int) -> RoundRun | None:
        test = self.test_data()
        if test is None:
            return None
        with self.meter.window() as window:
            outcome = self.train(test, params, round_no)
        assert window.measurement is not None
        return RoundRun(outcome, window.measurement)
