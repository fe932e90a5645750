"""Replay: a round answered from a table of measured rounds instead of trained.

``study.backend=replay study.table=DIR`` runs any strategy, pruner and stop rule against the table
harness-table wrote into DIR. The strategy's proposal is answered by its nearest candidate in the
space's normalised coordinates (harness/search/candidates.py snaps it, so the candidate's values are
what the trial holds, tells and records). The round then draws ``study.repetitions`` of the table's
repetitions of that candidate, seeded by the study seed and the round, so two seeds that pick one
candidate see its real training noise:

- accuracy: the mean of the drawn repetitions' scores after the last epoch;
- a pruner sees the drawn repetitions' mean after each epoch and stops the round where it would have
  stopped a live one;
- energy: the drawn repetitions' measured joules of the epochs they ran (and of each scoring a live
  round would have done), labelled ``replay:<the table's source>``; the strategy's own ask is still
  metered live (suggest_j).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.config import TABLE_MANIFEST, Config
from harness.energy.base import Measurement
from harness.errors import ConfigError
from harness.rounds import RoundRun
from harness.search.candidates import NearestCandidate
from harness.search.strategies import derive_seed
from harness.train import EpochReport, RoundOutcome, pruned_reason

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.samplers import BaseSampler

TABLE_FILE = "table.parquet"


@dataclass
class ReplayTable:
    """A table's measurements as arrays over (candidate, repetition, epoch)."""

    path: Path
    manifest: dict[str, Any]
    candidates: list[dict[str, float]]
    status: list[str]
    reason: list[str]
    epochs: np.ndarray  # [C] epochs each candidate trained (0: failed before its first)
    score: np.ndarray  # [C, R, E] accuracy on the split the table's study scored on
    test: np.ndarray  # [C, R, E] accuracy on the test split (NaN where the table has none)
    train_j: np.ndarray  # [C, R, E] each repetition's share of the epoch's training joules
    eval_j: np.ndarray  # [C, R, E] ... of the epoch's scoring
    train_s: np.ndarray
    eval_s: np.ndarray
    round_j: np.ndarray  # [C] the whole round's measured joules
    round_s: np.ndarray

    @property
    def digest(self) -> str:
        return str(self.manifest["digest"])

    @property
    def repetitions(self) -> int:
        return int(self.score.shape[1])

    @property
    def source(self) -> str:
        return str(self.manifest.get("energy_source") or "none")

    @classmethod
    def load(cls, folder: str | Path) -> ReplayTable:
        import pandas as pd

        path = Path(folder)
        try:
            manifest = json.loads((path / TABLE_MANIFEST).read_text())
            frame = pd.read_parquet(path / TABLE_FILE)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"study.table={folder} cannot be read ({exc}); give the folder harness-table wrote"
            ) from None
        return cls.from_frame(path, manifest, frame)

    @classmethod
    def from_frame(cls, path: Path, manifest: dict[str, Any], frame: Any) -> ReplayTable:
        params = sorted(c for c in frame.columns if c.startswith("p_"))
        heads = frame.sort_values(["candidate"]).drop_duplicates("candidate")
        n = int(frame["candidate"].max()) + 1
        if len(heads) != n:
            raise ConfigError(f"study.table={path}: candidates are missing from {TABLE_FILE}; rebuild it")
        trained = frame[frame["epoch"] > 0]
        reps = int(trained["repetition"].max()) if len(trained) else 1
        top = int(trained["epoch"].max()) if len(trained) else 1
        shape = (n, reps, top)

        def grid(column: str) -> np.ndarray:
            out = np.full(shape, np.nan)
            if column in trained:
                c = trained["candidate"].to_numpy(int)
                r = trained["repetition"].to_numpy(int) - 1
                e = trained["epoch"].to_numpy(int) - 1
                out[c, r, e] = trained[column].to_numpy(float)
            return out

        epochs = np.zeros(n, dtype=int)
        if len(trained):
            last = trained.groupby("candidate")["epoch"].max()
            epochs[last.index.to_numpy(int)] = last.to_numpy(int)
        return cls(
            path=path,
            manifest=manifest,
            candidates=[{p.removeprefix("p_"): float(row[p]) for p in params} for _, row in heads.iterrows()],
            status=heads["status"].astype(str).tolist(),
            reason=heads["reason"].fillna("").astype(str).tolist(),
            epochs=epochs,
            score=grid("score"),
            test=grid("test"),
            train_j=grid("train_j"),
            eval_j=grid("eval_j"),
            train_s=grid("train_s"),
            eval_s=grid("eval_s"),
            round_j=heads["round_j"].to_numpy(float),
            round_s=heads["round_s"].to_numpy(float),
        )

    def best_mean_accuracy(self) -> float:
        """The best candidate's expected accuracy: the highest mean over all repetitions at the last
        epoch among candidates that completed (the target a replayed study can be judged against)."""
        means = [
            float(np.nanmean(self.score[c, :, self.epochs[c] - 1]))
            for c in range(len(self.candidates))
            if self.status[c] == "complete" and self.epochs[c] > 0
        ]
        return max(means)


def protocol(cfg: Config) -> dict[str, Any]:
    """What a replayed study must share with the table: what a round trains on, how, and what it scores."""
    fp = cfg.fingerprint()
    study = dict(fp.get("study", {}))
    for key in ("repetitions", "seed", "backend", "table"):
        study.pop(key, None)
    return {
        "dataset": fp.get("dataset"),
        "model": fp.get("model"),
        "space": fp.get("space"),
        "study": study,
    }


def check_protocol(cfg: Config, table: ReplayTable) -> None:
    """A replayed study must train what the table trained: same data, model, space and settings."""
    ours, theirs = protocol(cfg), table.manifest.get("protocol", {})
    for part in ("dataset", "model", "space", "study"):
        if ours.get(part) != theirs.get(part):
            mine, its = ours.get(part) or {}, theirs.get(part) or {}
            keys = sorted({*mine, *its})
            diff = [
                f"{part}.{k}={mine.get(k)!r} (table: {its.get(k)!r})"
                for k in keys
                if mine.get(k) != its.get(k)
            ]
            raise ConfigError(
                f"study.table={table.path} was built with other settings: {'; '.join(diff[:3])}; "
                f"compose the replay with the table's dataset, model, space and study settings"
            )
    if cfg.study.repetitions > table.repetitions:
        raise ConfigError(
            f"study.repetitions={cfg.study.repetitions} exceeds the table's {table.repetitions} repetitions; "
            f"replay at most {table.repetitions} (fewer than the table keeps, so seeds see its noise)"
        )


class ReplayRounds:
    """The replay backend of the round seam."""

    def __init__(self, cfg: Config, table: ReplayTable) -> None:
        self.cfg = cfg
        self.data = table
        self.table = table.digest
        self.nearest = NearestCandidate(cfg.space.params, table.candidates)
        self.pruning = cfg.strategy.pruner != "none"
        # The picked configuration's test accuracy comes from the table's test split.
        self.final_accuracies = cfg.dataset.validation > 0 and not bool(np.isnan(table.test).all())

    @classmethod
    def open(cls, cfg: Config) -> ReplayRounds:
        assert cfg.study.table is not None
        table = ReplayTable.load(cfg.study.table)
        check_protocol(cfg, table)
        return cls(cfg, table)

    def _draw(self, round_no: int) -> np.ndarray:
        rng = np.random.default_rng(derive_seed(self.cfg.study.seed, 3, round_no))
        return np.sort(rng.choice(self.data.repetitions, size=self.cfg.study.repetitions, replace=False))

    def run(self, params: dict[str, float], round_no: int, report: EpochReport | None) -> RoundRun:
        t = self.data
        c = self.nearest.index(params)
        reps = self._draw(round_no)
        last = int(t.epochs[c])
        share = len(reps) / t.repetitions
        if t.status[c] != "complete" or last == 0:
            j = t.round_j[c] * share if np.isfinite(t.round_j[c]) else None
            outcome = RoundOutcome(
                [], t.reason[c] or "failed in the table", float(t.round_s[c] * share), 0.0, 0, 1
            )
            return self._ran(outcome, j, c)
        stopped = last
        reason = ""
        for epoch in range(1, last):
            if report is not None:
                accuracy = float(np.mean(t.score[c, reps, epoch - 1]))
                if report(epoch, accuracy):
                    stopped, reason = epoch, pruned_reason(epoch, accuracy)
                    break
        # Training of the epochs run; scoring after each of them where a pruner judged them, else once.
        train_j = t.train_j[c, reps, :stopped].sum()
        scored = slice(0, stopped) if self.pruning else slice(stopped - 1, stopped)
        eval_j = t.eval_j[c, reps, scored].sum()
        train_s = float(t.train_s[c, reps, :stopped].sum())
        eval_s = float(t.eval_s[c, reps, scored].sum())
        joules = float(train_j + eval_j) if np.isfinite(train_j + eval_j) else None
        if reason:
            outcome = RoundOutcome([], reason, train_s, eval_s, 0, 1, pruned=True)
        else:
            accuracies = [float(a) for a in t.score[c, reps, last - 1]]
            outcome = RoundOutcome(accuracies, "", train_s, eval_s, 0, 1)
        return self._ran(outcome, joules, c)

    def _ran(self, outcome: RoundOutcome, joules: float | None, candidate: int) -> RoundRun:
        m = Measurement(
            joules,
            f"replay:{self.data.source}",
            outcome.train_s + outcome.eval_s,
            note="" if joules is not None else "the table has no joules for this candidate",
        )
        return RoundRun(outcome, m, table=self.table, candidate=candidate)

    def sampler(self, strategy: BaseSampler, space: dict[str, BaseDistribution]) -> BaseSampler:
        from harness.search.candidates import SnapSampler

        return SnapSampler(strategy, self.nearest, space)

    def spent(self) -> Measurement | None:
        return None  # a replayed round spends nothing that a signal could lose

    def final(self, params: dict[str, float], round_no: int) -> RoundRun | None:
        """The picked candidate's test accuracy over the same drawn repetitions, and the joules of
        training it once more (what a live study's final evaluation spends)."""
        if not self.final_accuracies:
            return None
        t = self.data
        c = self.nearest.index(params)
        reps = self._draw(round_no)
        last = int(t.epochs[c])
        accuracies = [float(a) for a in t.test[c, reps, last - 1]]
        train_j = t.train_j[c, reps, :last].sum()
        joules = float(train_j) if np.isfinite(train_j) else None
        outcome = RoundOutcome(accuracies, "", float(t.train_s[c, reps, :last].sum()), 0.0, 0, 1)
        return self._ran(outcome, joules, c)
