"""NAS-Bench-201: the 6-edge, 5-operation cell space (15,625 cells) backed by a table.

A cell is six operation indices, one per edge, in NB201's edge order
(0->1, 0->2, 1->2, 0->3, 1->3, 2->3); its string is NB201's arch string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. A table is a CSV with an ``arch_str`` column and
one row per cell (``../shared/data/nb201/nb201_table.csv``, or HELP's
``nb201_latency_ms__help.csv``); rows are matched to cells by their arch string, so any
table holding all 15,625 cells works, in any row order.

:class:`NB201Problem` maximises one accuracy column and minimises one or more cost columns,
each chosen by name; cost columns may come from a second table (``cost_table``). Metrics are
reported under the column names.

With ``fidelity_columns`` (e.g. ``12=c10_test_acc_12ep_1run,200=c10valid_valid_acc_200ep_mean``)
the problem is a tabular multi-fidelity one: its :attr:`~NB201Problem.fidelities` are the levels,
a proposal's :class:`~evonas.core.problem.Budget` picks the column that is reported as the
searched accuracy, and an evaluation without a budget reads the top level.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Mapping, Sequence

import numpy as np

from evonas.core.errors import DataError, UserError
from evonas.core.objectives import Constraint, Objective, check_against_table, interval_names
from evonas.core.options import Range, checked
from evonas.core.problem import Evaluation, Problem, Proposal
from evonas.problems.noise import MeasurementNoise
from evonas.core.pareto import hypervolume
from pymoo.util.nds.non_dominated_sorting import find_non_dominated

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
N_EDGES = 6
N_CELLS = len(OPS) ** N_EDGES
# edge e joins node EDGE_SOURCE[e] to node EDGE_TARGET[e]
EDGE_SOURCE = (0, 0, 1, 0, 1, 2)
EDGE_TARGET = (1, 2, 2, 3, 3, 3)


@dataclass(frozen=True)
class Cell:
    """An NB201 cell: the operation index (into :data:`OPS`) of each of the 6 edges."""

    ops: tuple[int, ...]

    def __str__(self) -> str:
        names = [f"{OPS[op]}~{EDGE_SOURCE[e]}" for e, op in enumerate(self.ops)]
        return f"|{names[0]}|+|{names[1]}|{names[2]}|+|{names[3]}|{names[4]}|{names[5]}|"

    @property
    def code(self) -> int:
        """The cell's index in base-5 order (``ops`` as digits), 0 .. 15,624."""
        code = 0
        for op in self.ops:
            code = code * len(OPS) + op
        return code


def parse_cell(text: str) -> Cell:
    """Parse an NB201 arch string; raises :class:`UserError` naming what is wrong."""
    known = _cells_by_string().get(text.strip())
    if known is not None:
        return known
    nodes = text.strip().strip("+").split("+")
    edges = [e for node in nodes for e in node.strip("|").split("|") if e]
    if len(nodes) != 3 or len(edges) != N_EDGES:
        raise UserError(f"malformed NB201 cell {text!r}: expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|")
    ops = []
    for e, edge in enumerate(edges):
        name, _, source = edge.partition("~")
        if name not in OPS or source != str(EDGE_SOURCE[e]):
            raise UserError(f"malformed NB201 cell {text!r}: edge {edge!r} (ops: {', '.join(OPS)})")
        ops.append(OPS.index(name))
    return Cell(tuple(ops))


@functools.lru_cache(maxsize=1)
def _cells_by_string() -> dict[str, Cell]:
    cells = (Cell(ops) for ops in itertools.product(range(len(OPS)), repeat=N_EDGES))  # in code order
    return {str(cell): cell for cell in cells}


class NB201Space:
    """The NB201 cell space: uniform sampling, one-edge mutation, arch-string parsing."""

    def sample(self, rng: np.random.Generator) -> Cell:
        return Cell(tuple(int(x) for x in rng.integers(len(OPS), size=N_EDGES)))

    def mutate(self, genome: Cell, rng: np.random.Generator) -> tuple[Cell, str]:
        """Change the operation of one random edge to a different one."""
        edge = int(rng.integers(N_EDGES))
        op = (genome.ops[edge] + 1 + int(rng.integers(len(OPS) - 1))) % len(OPS)
        return Cell(genome.ops[:edge] + (op,) + genome.ops[edge + 1:]), "mutate_edge"

    def neighbours(self, genome: Cell) -> list[Cell]:
        """Every cell one edge change away (24 of them), in a fixed order."""
        return [Cell(genome.ops[:e] + (op,) + genome.ops[e + 1:])
                for e in range(N_EDGES) for op in range(len(OPS)) if op != genome.ops[e]]

    def parse(self, text: str) -> Cell:
        return parse_cell(text)

    def cardinalities(self) -> tuple[int, ...]:
        return (len(OPS),) * N_EDGES

    def encode(self, genome: Cell) -> np.ndarray:
        return np.asarray(genome.ops, dtype=np.int64)

    def decode(self, vector: Sequence[int]) -> Cell:
        return Cell(tuple(int(v) for v in vector))


@dataclass(frozen=True)
class Table:
    """A benchmark CSV read once: its columns as strings, converted to numbers on demand."""

    path: Path
    columns: dict[str, tuple[str, ...]]

    def numeric(self, name: str) -> np.ndarray:
        """Column ``name`` as floats; raises :class:`UserError` listing the numeric columns."""
        if name not in self.columns or name == "arch_str":
            choices = ", ".join(c for c in self.columns if c not in ("arch_index", "arch_str") and not c.startswith("op_"))
            raise UserError(f"table '{self.path}' has no column {name!r}; it has: {choices}")
        try:
            return np.array(self.columns[name], dtype=float)
        except ValueError:
            raise UserError(f"column {name!r} of '{self.path}' is not numeric") from None

    def cell_order(self) -> np.ndarray:
        """Row index of each cell, indexed by :attr:`Cell.code`."""
        if "arch_str" not in self.columns:
            raise DataError(f"table '{self.path}' has no arch_str column: not an NB201 table")
        codes = np.array([parse_cell(s).code for s in self.columns["arch_str"]])
        if len(codes) != N_CELLS or len(np.unique(codes)) != N_CELLS:
            raise DataError(f"table '{self.path}' does not hold each of the {N_CELLS} NB201 cells once")
        order = np.empty(N_CELLS, dtype=np.int64)
        order[codes] = np.arange(N_CELLS)
        return order


@functools.lru_cache(maxsize=8)
def load_table(path: str | Path) -> Table:
    """Read an NB201 CSV once per process (benchmarks build many problems on one table)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"NB201 table '{path}' not found (e.g. ../shared/data/nb201/nb201_table.csv)")
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if not header:
            raise DataError(f"NB201 table '{path}' is empty")
        data = list(zip(*rows))
    if len(data) != len(header):
        raise DataError(f"NB201 table '{path}' has ragged rows")
    return Table(path, dict(zip(header, data)))


class NB201Problem(Problem):
    """Maximise ``search_column`` and minimise one or more cost columns of NB201 tables.

    With a ``score_column`` (e.g. the 200-epoch mean test accuracy beside a validation or a
    12-epoch column that is searched on) each evaluation also reports the score as a held-out
    metric: no strategy sees it, and a benchmark scores the front found on it, against the
    true front of the score column.

    Args:
        accuracy: the searched accuracy of every cell, indexed by :attr:`Cell.code`.
        costs: the costs of every cell, shape (15625, m), rows indexed by :attr:`Cell.code`.
        search_column: the name the searched accuracy is reported under.
        cost_columns: the names the costs are reported under (m of them).
        source: a JSON-able description of where the columns came from.
        noise: simulated measurement noise on the cost columns.
        score: the held-out accuracy of every cell (None: the front is scored on ``accuracy``).
        score_column: the name ``score`` is reported under.
        rungs: tabular multi-fidelity: per level (epochs), the column name and accuracy of every
            cell; the top level's must be ``accuracy``. A budget's level is reported under
            ``search_column``; the front is scored on ``score`` (default: the top level's column).
    """

    def __init__(self, accuracy: np.ndarray, costs: np.ndarray, search_column: str,
                 cost_columns: Sequence[str], source: dict | None = None, noise: MeasurementNoise | None = None,
                 score: np.ndarray | None = None, score_column: str | None = None,
                 rungs: Mapping[float, tuple[str, np.ndarray]] | None = None):
        self.rungs = {float(level): rungs[level] for level in sorted(rungs)} if rungs else {}
        if self.rungs:  # a low rung reports its own column under search_column: score on the top column
            self.fidelities = tuple(self.rungs)
            score_column = score_column or search_column
            score = accuracy if score_column == search_column else score
        self.noise = noise
        self.space = NB201Space()
        self.cost_columns = tuple(cost_columns)
        costs_objectives = tuple(Objective.minimize(c) for c in self.cost_columns)
        self.objectives = (Objective.maximize(search_column), *costs_objectives)
        self.accuracy, self.costs = accuracy, np.asarray(costs, float).reshape(len(accuracy), -1)
        self.search_column = search_column
        kept = self.rungs or score_column not in (None, search_column)
        self.score, self.score_column = (score, score_column) if kept else (None, None)
        self._score_objectives = (self.objectives if self.score is None
                                  else (Objective.maximize(self.score_column), *costs_objectives))
        self.source = source or {}
        self._reference: float | None = None

    @classmethod
    @checked
    def from_options(cls, table: str | None = None, search_column: str | None = None,
                     score_column: str | None = None, fidelity_columns: tuple[str, ...] = (),
                     cost_column: tuple[str, ...] = ("hwnb_fpga_lat_ms_c10",),
                     cost_table: str | None = None, latency_noise: Annotated[float, Range(0, 5)] = 0.0,
                     side_by_side_noise: Annotated[float, Range(0, 5)] = 0.01) -> "NB201Problem":
        """NAS-Bench-201 from its tables, objectives chosen by column name.

        Args:
            table: the table CSV (e.g. ../shared/data/nb201/nb201_table.csv).
            search_column: the accuracy column the search sees (maximised). Honest choices are
                what a real search could measure: ``c10valid_valid_acc_200ep_mean`` (validation)
                or a 12-epoch single run (``c100_test_acc_12ep_1run``, ...). Default:
                c10_test_acc_200ep_mean, or with --fidelity-columns the top level's column.
            score_column: the accuracy column fronts are scored on, never shown to the search
                (e.g. ``c10_test_acc_200ep_mean``); default: the search column itself, which is
                not an honest benchmark.
            fidelity_columns: tabular multi-fidelity, LEVEL=COLUMN comma-separated, e.g.
                12=c10_test_acc_12ep_1run,200=c10valid_valid_acc_200ep_mean: a schedule
                (--schedule asha) reads each rung's column; without one every cell is read at the
                top level. The score column may not be a lower level's column; it may be the top
                level's (c100 and in16 have no 200-epoch validation column), and the problem is
                then described as not honest (``honest: false``, flagged by ``evonas benchmark``).
            cost_column: one or more cost columns (minimised), comma-separated on the command line.
            cost_table: a second table the cost columns may come from
                (e.g. ../shared/data/nb201_hw_latency_help/nb201_latency_ms__help.csv).
            latency_noise: simulate measuring the cost columns on a drifting machine: each
                evaluation multiplies them by lognormal noise of this sigma and reports its
                interval (0: exact table values).
            side_by_side_noise: the sigma left when two candidates are measured again side by
                side, drift compensated (noise-aware dominance); 0.01 is what hardware.drift
                reaches on CPU targets here.
        """
        noise = MeasurementNoise(latency_noise, side_by_side_noise) if latency_noise else None
        if table is None:
            raise UserError("nb201 needs --table PATH (e.g. ../shared/data/nb201/nb201_table.csv)")
        columns = (cost_column,) if isinstance(cost_column, str) else tuple(cost_column)
        return cls.from_tables(table, search_column, columns, cost_table, noise, score_column,
                               parse_fidelity_columns(fidelity_columns) if fidelity_columns else None)

    @classmethod
    def from_tables(cls, table: str | Path, search_column: str | None, cost_columns: Sequence[str] | str,
                    cost_table: str | Path | None = None, noise: MeasurementNoise | None = None,
                    score_column: str | None = None,
                    fidelity_columns: Mapping[float, str] | None = None) -> "NB201Problem":
        """Columns by name: the accuracies from ``table``, each cost from ``cost_table`` if it has it, else ``table``.

        With ``noise``, the costs are reported as a noisy machine would measure them; with
        ``fidelity_columns`` (level -> column) each level's column is read for its rung."""
        search_column = check_fidelity_columns(fidelity_columns or {}, search_column, score_column)
        columns = (cost_columns,) if isinstance(cost_columns, str) else tuple(cost_columns)
        if not columns:
            raise UserError("--cost-column needs at least one column")
        names = (search_column, *columns)
        if len(set(names)) != len(names):
            raise UserError(f"--search-column and --cost-column repeat a column: {', '.join(names)}")
        if score_column in columns:
            raise UserError(f"--score-column {score_column!r} is also a cost column")
        acc_table = load_table(table)
        cost_src = load_table(cost_table) if cost_table else None
        order = acc_table.cell_order()
        accuracy = acc_table.numeric(search_column)[order]
        score = None if score_column is None else acc_table.numeric(score_column)[order]
        costs = []
        for column in columns:
            src = cost_src if cost_src is not None and column in cost_src.columns else acc_table
            costs.append(src.numeric(column)[src.cell_order()])
        source = {"table": str(table), "cost_table": None if cost_table is None else str(cost_table)}
        levels = fidelity_columns or {}
        rungs = {level: (column, acc_table.numeric(column)[order]) for level, column in levels.items()}
        return cls(accuracy, np.column_stack(costs), search_column, columns, source, noise, score, score_column,
                   rungs)

    @property
    def score_objectives(self) -> tuple[Objective, ...]:
        return self._score_objectives

    def _columns(self) -> dict[str, np.ndarray]:
        return {self.search_column: self.accuracy, **{c: self.costs[:, i] for i, c in enumerate(self.cost_columns)}}

    def evaluate(self, proposal: Proposal) -> Evaluation:
        """The cell's columns; with rungs, the searched accuracy at the budget's level (no budget: the top)."""
        code = proposal.genome.code
        metrics = {name: float(column[code]) for name, column in self._columns().items()}
        fidelity = self._level(proposal)
        if fidelity is not None:
            metrics[self.search_column] = float(self.rungs[fidelity][1][code])
        if self.noise is not None:
            metrics.update(self.noise.measured(self._costs(code), [proposal.seed or 0, code]))
        scores = {} if self.score is None else {self.score_column: float(self.score[code])}
        return Evaluation(metrics, fidelity=fidelity, scores=scores)

    def _level(self, proposal: Proposal) -> float | None:
        """The rung ``proposal`` is read at: its budget's level, the top one without a budget (None: no rungs)."""
        if not self.rungs:
            return None
        if proposal.budget is None:
            return self.fidelities[-1]
        for level in self.fidelities:
            if math.isclose(level, proposal.budget.fidelity, rel_tol=1e-9):
                return level
        raise ValueError(f"nb201 has no accuracy column at fidelity {proposal.budget.fidelity:g}; "
                         f"its fidelities: {', '.join(f'{f:g}' for f in self.fidelities)}")

    @property
    def honest(self) -> bool:
        """Whether the front is scored on a column the search never reads (with rungs: none of theirs)."""
        searched = {column for column, _ in self.rungs.values()} | {self.search_column}
        return self.score_column is not None and self.score_column not in searched

    def _costs(self, code: int) -> dict[str, float]:
        return {c: float(self.costs[code, i]) for i, c in enumerate(self.cost_columns)}

    def remeasure(self, genomes: Sequence[Cell], seed: int) -> list[dict[str, float]] | None:
        """With simulated noise: the cost columns of ``genomes`` measured again side by side."""
        if self.noise is None:
            return None
        return self.noise.remeasured([self._costs(g.code) for g in genomes], seed)

    def metric_names(self) -> frozenset[str]:
        names = super().metric_names()
        if self.noise is None:
            return names
        return names | {n for c in self.cost_columns for n in interval_names(c)}

    def cheap_metrics(self, genome: Cell, names: Sequence[str]) -> dict[str, float]:
        """Cost columns are known without "training" (they are hardware measurements)."""
        return {c: float(self.costs[genome.code, i]) for i, c in enumerate(self.cost_columns) if c in names}

    def values(self) -> np.ndarray:
        """Every cell's objectives in minimisation form, indexed by :attr:`Cell.code`."""
        return np.column_stack([-self.accuracy, self.costs])

    def score_values(self) -> np.ndarray:
        """Every cell's score objectives in minimisation form (the score column for the accuracy)."""
        return self.values() if self.score is None else np.column_stack([-self.score, self.costs])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Min and max of each objective over the whole table (so HV uses reference (1, ..., 1));
        with rungs, the accuracy's over every rung's column."""
        values = self.values()
        lower, upper = values.min(axis=0), values.max(axis=0)
        if self.rungs:
            every = np.concatenate([acc for _, acc in self.rungs.values()])
            lower[0], upper[0] = -every.max(), -every.min()
        return lower, upper

    def score_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Min and max of each score objective over the whole table."""
        values = self.score_values()
        return values.min(axis=0), values.max(axis=0)

    def true_front(self) -> np.ndarray:
        """The distinct non-dominated score vectors of the whole table (minimisation form)."""
        values = self.score_values()
        return np.unique(values[find_non_dominated(values)], axis=0)

    def reference_hypervolume(self) -> float:
        """Hypervolume of :meth:`true_front`, scaled by :meth:`score_bounds`: the best any search can reach.

        Computed once per problem: a benchmark asks for it at the start of every run."""
        if self._reference is None:
            self._reference = hypervolume(self.true_front(), *self.score_bounds())
        return self._reference

    def floor_hypervolume(self) -> float:
        """Hypervolume, on the score objectives, of the search column's true front.

        What a search that evaluated every cell would be scored: its front is chosen on the
        search column, so with a noisy search column even a perfect search keeps an ``hv_gap``.
        """
        values = self.values()
        return hypervolume(self.score_values()[find_non_dominated(values)], *self.score_bounds())

    def check_constraints(self, constraints: Sequence[Constraint]) -> None:
        """Raise :class:`UserError` if a constraint names an unknown metric or no cell satisfies them all."""
        self.check_metric_names(constraints)
        check_against_table(constraints, self._columns())

    def describe(self) -> dict:
        noise = {} if self.noise is None else {"latency_noise": self.noise.sigma,
                                               "side_by_side_noise": self.noise.side_by_side}
        rungs = {} if not self.rungs else {
            "fidelity_columns": {f"{level:g}": column for level, (column, _) in self.rungs.items()},
            "honest": self.honest}
        return {"problem": "nb201", "search_column": self.search_column, "score_column": self.score_column,
                "cost_columns": list(self.cost_columns),
                **self.source, **noise, **rungs}


def parse_fidelity_columns(entries: Sequence[str]) -> dict[float, str]:
    """``("12=col_a", "200=col_b")`` -> {12.0: "col_a", 200.0: "col_b"}; raises :class:`UserError`."""
    levels: dict[float, str] = {}
    for entry in entries:
        text, _, column = entry.partition("=")
        try:
            level = float(text)
        except ValueError:
            level = math.nan
        if not column.strip() or not 0 < level < math.inf:
            raise UserError(f"--fidelity-columns takes LEVEL=COLUMN entries with a positive level, e.g. "
                            f"12=c10_test_acc_12ep_1run,200=c10valid_valid_acc_200ep_mean; got {entry!r}")
        if level in levels:
            raise UserError(f"--fidelity-columns names level {level:g} twice")
        levels[level] = column.strip()
    if len(levels) < 2:
        raise UserError(f"--fidelity-columns needs at least two levels, got {len(levels)}")
    return levels


def check_fidelity_columns(levels: Mapping[float, str], search_column: str | None, score_column: str | None) -> str:
    """The search column (default: the top level's column, else c10_test_acc_200ep_mean); refuses a
    search column that is not the top level's and a score column that a lower level reads."""
    if not levels:
        return search_column or "c10_test_acc_200ep_mean"
    top = levels[max(levels)]
    if search_column not in (None, top):
        raise UserError(f"--search-column {search_column!r} must be the top fidelity's column {top!r} "
                        "(with --fidelity-columns every level's accuracy is reported under it)")
    lower = {column: level for level, column in levels.items() if column != top}
    if score_column in lower:
        raise UserError(f"--score-column {score_column!r} is the fidelity {lower[score_column]:g} column: "
                        "the search would see the score it is judged on")
    return top
