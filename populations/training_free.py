"""What the training-free screen and LEMONADE's prior share: checking that an objective can score
untrained networks, and ordering such scores best first."""

from __future__ import annotations

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Objective
from evonas.core.problem import Problem


def require_training_free(objective: Objective, role: str, problem: Problem | None = None) -> None:
    """Refuse, in one line naming ``role``, an ``objective`` without a training-free source; given
    a ``problem`` that cannot score untrained networks, the problem's own one-line refusal."""
    if objective.source is None or not objective.training_free:
        raise UserError(f"{role} needs a training-free objective with a source, not {objective.name}")
    if problem is not None and type(problem).training_free is Problem.training_free:
        problem.training_free([], objective)


def worst_last(scores, objective: Objective) -> np.ndarray:
    """``scores`` of ``objective`` as values to minimise, a NaN (no score) last."""
    return np.nan_to_num(objective.to_min(np.asarray(scores, float)), nan=np.inf)


def best_index(scores, objective: Objective) -> int:
    """The index of the best of ``scores`` in ``objective``'s direction (the first of equals)."""
    return int(np.argmin(worst_last(scores, objective)))
