"""Standard multi-objective test problems (ZDT, DTLZ) discretised on an integer grid.

Each of ``variables`` decision variables takes one of ``levels`` evenly spaced values of its
range, so a genome is an integer vector, as in a NAS space, and every strategy and peer can
search it. The functions are pymoo's; the front a search finds is scored against the
function's continuous Pareto front (pymoo's), so ``hv_gap`` never reaches 0 on a coarse grid.
Objectives are named ``f1``, ``f2``, ... and all minimised.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Annotated, Sequence

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Objective
from evonas.core.options import Range, checked
from evonas.core.pareto import hypervolume
from evonas.core.problem import Evaluation, Problem, Proposal

FUNCTIONS = {"zdt1": 2, "zdt2": 2, "zdt3": 2, "dtlz1": 3, "dtlz2": 3, "dtlz4": 3}
"""The functions offered and their number of objectives (their Pareto fronts need no download)."""


@dataclass(frozen=True)
class IntegerGenome:
    """A genome of :class:`IntegerSpace`: one choice index per position; ``str`` is e.g. ``0-1-3-2-2-0``."""

    choices: tuple[int, ...]

    def __str__(self) -> str:
        return "-".join(str(c) for c in self.choices)

    def code(self, n_choices: int = 4) -> int:
        """The genome's index in base-``n_choices`` order: stable across processes (unlike ``hash``)."""
        code = 0
        for c in self.choices:
            code = code * n_choices + c
        return code


class IntegerSpace:
    """``positions`` integer positions with ``choices`` values each.

    Args:
        positions: number of positions of a genome.
        choices: number of values of each position.
    """

    def __init__(self, positions: int = 6, choices: int = 4):
        if positions < 1 or choices < 2:
            raise UserError(f"an integer space needs positions >= 1 and choices >= 2, got {positions}, {choices}")
        self.positions = positions
        self.choices = choices

    def sample(self, rng: np.random.Generator) -> IntegerGenome:
        return IntegerGenome(tuple(int(x) for x in rng.integers(self.choices, size=self.positions)))

    def mutate(self, genome: IntegerGenome, rng: np.random.Generator) -> tuple[IntegerGenome, str]:
        """Change one random position to a different value."""
        position = int(rng.integers(self.positions))
        value = (genome.choices[position] + 1 + int(rng.integers(self.choices - 1))) % self.choices
        return self._with(genome, position, value), "mutate_position"

    def neighbours(self, genome: IntegerGenome) -> list[IntegerGenome]:
        """Every genome one position change away, in a fixed order."""
        return [self._with(genome, p, v) for p in range(self.positions) for v in range(self.choices)
                if v != genome.choices[p]]

    def parse(self, text: str) -> IntegerGenome:
        """The genome printed as ``text`` (e.g. ``0-1-3-2-2-0``); raises :class:`UserError` if malformed."""
        parts = text.strip().split("-")
        if len(parts) != self.positions or not all(re.fullmatch(r"\d+", p) for p in parts):
            raise UserError(f"malformed genome {text!r}: expected {self.positions} choices joined by '-'")
        return self.decode([int(p) for p in parts])

    def cardinalities(self) -> tuple[int, ...]:
        return (self.choices,) * self.positions

    def encode(self, genome: IntegerGenome) -> np.ndarray:
        return np.asarray(genome.choices, dtype=np.int64)

    def decode(self, vector: Sequence[int]) -> IntegerGenome:
        """The genome of an integer vector; raises :class:`UserError` if it lies outside the space."""
        choices = tuple(int(v) for v in vector)
        if len(choices) != self.positions or not all(0 <= c < self.choices for c in choices):
            raise UserError(f"{list(vector)} is no genome of a {self.positions} x {self.choices} integer space")
        return IntegerGenome(choices)

    def genomes(self) -> list[IntegerGenome]:
        """Every genome of the space, in :meth:`IntegerGenome.code` order."""
        return [IntegerGenome(c) for c in itertools.product(range(self.choices), repeat=self.positions)]

    def _with(self, genome: IntegerGenome, position: int, value: int) -> IntegerGenome:
        return IntegerGenome(genome.choices[:position] + (value,) + genome.choices[position + 1:])


class GridProblem(Problem):
    """A pymoo test function over ``variables`` variables of ``levels`` values each.

    The hypervolume is scaled by the continuous front's ideal point and its nadir point pushed
    out by 10% of the front's range (the usual reference point just beyond the nadir).

    Args:
        function: the pymoo function, one of :data:`FUNCTIONS`.
        variables: decision variables (genome positions).
        levels: values per variable, evenly spaced over its range (odd counts hold the midpoint,
            where the DTLZ fronts lie).
    """

    def __init__(self, function: str = "zdt1", variables: int = 10, levels: int = 11):
        from pymoo.problems import get_problem

        if function not in FUNCTIONS:
            raise UserError(f"unknown function {function!r}; choose one of: {', '.join(FUNCTIONS)}")
        k = FUNCTIONS[function]
        if variables < max(2, k) or levels < 2:
            raise UserError(f"{function} on a grid needs --variables >= {max(2, k)} and --levels >= 2, "
                            f"got {variables}, {levels}")
        self.function, self.variables, self.levels = function, variables, levels
        self.pymoo_ = get_problem(function, n_var=variables, **({"n_obj": k} if k > 2 else {}))
        self.space = IntegerSpace(variables, levels)
        self.objectives = tuple(Objective.minimize(f"f{i + 1}") for i in range(k))
        front = self.continuous_front()
        span = front.max(axis=0) - front.min(axis=0)
        self.lower_, self.upper_ = front.min(axis=0), front.max(axis=0) + 0.1 * span

    @classmethod
    @checked
    def from_options(cls, function: str = "zdt1", variables: Annotated[int, Range(2, 1000)] = 10,
                     levels: Annotated[int, Range(2, 1000)] = 11) -> "GridProblem":
        """A ZDT or DTLZ function on an integer grid.

        Args:
            function: zdt1, zdt2, zdt3 (two objectives), dtlz1, dtlz2 or dtlz4 (three).
            variables: decision variables.
            levels: values per variable.
        """
        return cls(function, variables, levels)

    def continuous_front(self) -> np.ndarray:
        """pymoo's Pareto front of the continuous function (minimisation form)."""
        if FUNCTIONS[self.function] == 2:
            return self.pymoo_.pareto_front(500)
        from pymoo.util.ref_dirs import get_reference_directions

        return self.pymoo_.pareto_front(get_reference_directions("das-dennis", 3, n_partitions=30))

    def decision(self, genome: IntegerGenome) -> np.ndarray:
        """The decision vector of ``genome``."""
        xl, xu = self.pymoo_.xl, self.pymoo_.xu
        return xl + (xu - xl) * np.asarray(genome.choices, dtype=float) / (self.levels - 1)

    def evaluate(self, proposal: Proposal) -> Evaluation:
        values = self.pymoo_.evaluate(self.decision(proposal.genome)[None, :], return_values_of=["F"])[0]
        return Evaluation({o.name: float(v) for o, v in zip(self.objectives, values)})

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lower_, self.upper_

    def reference_hypervolume(self) -> float:
        """Hypervolume of the continuous front: what no grid search quite reaches."""
        return hypervolume(self.continuous_front(), self.lower_, self.upper_)

    def describe(self) -> dict:
        return {"problem": "grid", "function": self.function, "variables": self.variables, "levels": self.levels}
