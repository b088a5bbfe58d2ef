"""A stored run read back for a report: every candidate, the front and how it moved, the lineage.

Reading never takes the run's writer lock (SQLite in WAL mode lets a reader see every
committed candidate), so a report can be written while the search is still going.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evonas.core.objectives import Objective
from evonas.core.pareto import Normalisation
from evonas.engine.results import HypervolumePoint, StoredRun, StoredTrial

CHECKPOINTS = (0.25, 0.5, 0.75)
"""Fractions of the told candidates at which the front is snapshotted to show its progress."""


@dataclass(frozen=True)
class FrontSnapshot:
    """The front right after ``evaluations`` candidates were told: member ids and their metrics."""

    evaluations: int
    members: tuple[tuple[int, dict[str, float]], ...]


@dataclass(frozen=True)
class RunView:
    """What a report shows of one run: the :class:`~evonas.engine.results.StoredRun`, read once,
    and the front's snapshots.

    Attributes:
        run: the stored run (candidates, front, hypervolume, config, versions, measurements, scores).
        snapshots: the front at :data:`CHECKPOINTS` of the told candidates.
    """

    run: StoredRun
    snapshots: tuple[FrontSnapshot, ...]

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.run.objectives

    @property
    def candidates(self) -> tuple[StoredTrial, ...]:
        """Every candidate in id order, running ones included."""
        return self.run.trials

    @property
    def told(self) -> tuple[StoredTrial, ...]:
        """The finished candidates in the order they were told."""
        return self.run.told

    @property
    def front(self) -> tuple[StoredTrial, ...]:
        """The final front (feasible, non-dominated), sorted by the first objective."""
        return self.run.front

    @property
    def hypervolume(self) -> tuple[HypervolumePoint, ...]:
        """(evaluations, seconds, hypervolume) at every change of the front."""
        return self.run.hypervolume

    @property
    def normalisation(self) -> Normalisation | None:
        """How the hypervolume scales the objectives (``relative`` where some have no bounds and are
        scaled by the range seen); ``None`` for a run stored without bounds."""
        return self.run.normalisation

    @property
    def hypervolume_label(self) -> str:
        """'hypervolume', or 'hypervolume (relative to the range seen: NAME)'."""
        return "hypervolume" if self.normalisation is None else self.normalisation.label()

    @property
    def config(self) -> dict[str, Any]:
        return self.run.config

    @property
    def versions(self) -> tuple[dict[str, str], ...]:
        return self.run.versions

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        """The environment the run's hardware measurements were taken in, if any."""
        return self.run.fingerprint

    @property
    def scores(self) -> dict[int, dict[str, float]]:
        """Held-out scores by candidate id (metrics the search never saw, e.g. a test accuracy)."""
        return self.run.scores

    @property
    def score_names(self) -> list[str]:
        """The held-out scores any candidate has, in first-seen order."""
        return list(dict.fromkeys(name for values in self.scores.values() for name in values))

    @property
    def running(self) -> tuple[StoredTrial, ...]:
        return self.run.running

    @property
    def failed(self) -> tuple[StoredTrial, ...]:
        return self.run.failed

    @property
    def budget(self) -> int | None:
        """The evaluation budget of a CLI run (``None`` for runs made through the Python API)."""
        return self.run.spec.get("evaluations")

    @property
    def wall_seconds(self) -> float:
        if not self.told:
            return 0.0
        return max(t.finished_at for t in self.told) - min(t.started_at for t in self.told)

    def lineage(self, candidate_id: int) -> list[StoredTrial]:
        """The candidate and its ancestors, the candidate first, back to a root without a parent."""
        chain, seen = [], set()
        current = self.run.trial(candidate_id)
        while current is not None and current.id not in seen:
            chain.append(current)
            seen.add(current.id)
            current = None if current.parent_id is None else self.run.trial(current.parent_id)
        return chain


def load_run(run_dir: str | Path) -> RunView:
    """Read ``run_dir`` (finished or still running) into a :class:`RunView`: one read of its store.

    Raises:
        UserError: ``run_dir`` holds no run, or a corrupt one.
    """
    run = StoredRun.read(run_dir)
    n = len(run.told)
    checkpoints = {max(1, math.ceil(f * n)) for f in CHECKPOINTS} if n else set()
    snapshots = tuple(FrontSnapshot(k, tuple((t.id, dict(t.metrics)) for t in archive.trials))
                      for k, _, _, archive in run.replay() if k in checkpoints)
    return RunView(run, snapshots)


def finite(metrics: dict[str, float], name: str) -> float | None:
    """``metrics[name]`` if present and finite, else ``None``."""
    value = metrics.get(name)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


_FLAT_LIST = re.compile(r"\[(?:[^\[\]{}]|\[[^\[\]{}\n]*\])*\]")


def pretty_json(value: Any) -> str:
    """Indented JSON with lists of scalars (and lists of such lists) kept on one line."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    for _ in range(2):  # inner lists first, then lists of them
        text = _FLAT_LIST.sub(lambda m: re.sub(r"\s*\n\s*", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]"),
                              text)
    return text
