"""Names to plug-ins: the one place a strategy, problem or built-in objective gets a CLI name.

Entries are ``"module:attribute"`` strings, imported on first use, so a table-backed search
never pays for torch or onnxruntime. Adding a strategy is its own file plus one line here;
the conformance suite (:mod:`evonas.testing`) then covers it.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from evonas.core.errors import UserError

STRATEGIES: dict[str, str] = {
    "random": "populations.random_search:RandomSearch",
    "aging": "populations.aging:AgingEvolution",
    "de": "populations.de:DifferentialEvolution",
    "nsga2": "populations.nsga2:PymooNSGA2",
    "pls": "populations.pareto_local:ParetoLocalSearch",
    "spls": "populations.surrogate_pls:SurrogateParetoLocalSearch",
    "bounded": "populations.bounded:BoundedEvolution",
    "lemonade": "populations.lemonade:Lemonade",
}

PEERS: dict[str, str] = {
    "optuna-tpe": "populations.optuna_peers:OptunaTPE",
    "optuna-nsga2": "populations.optuna_peers:OptunaNSGA2",
    "optuna-random": "populations.optuna_peers:OptunaRandom",
}
"""Other libraries' samplers that benchmarks run beside the strategies (``--peers``; Optuna extra)."""

PROBLEMS: dict[str, str] = {
    "mobilenet": "evonas.mobilenet.problem:ImageClassification.from_options",
    "nb201": "evonas.problems.nb201:NB201Problem.from_options",
    "ofa": "evonas.problems.ofa:OFAProblem.from_options",
    "grid": "evonas.problems.grid:GridProblem.from_options",
}

DEFAULT_STRATEGIES: dict[str, str] = {
    "mobilenet": "lemonade",  # children inherit trained weights: several times the evaluations per minute
    "nb201": "spls",          # leads Optuna's TPE under the honest protocol (docs/benchmarks.md)
    "ofa": "aging",           # budgets of thousands: spls's Gaussian process grows cubically with the trials
    "grid": "spls",           # leads TPE on the discretised ZDT and DTLZ problems (docs/benchmarks.md)
}
"""The strategy a search space gets when none is named (``RunSpec.strategy`` left unset)."""

OBJECTIVES: dict[str, str] = {
    "accuracy": "evonas.mobilenet.problem:accuracy_objective",
    "params": "hardware.objectives:params",
    "flops": "hardware.objectives:flops",
    "latency_ms": "hardware.objectives:latency",
    "peak_memory_mb": "hardware.objectives:peak_memory",
}
"""Built-in objectives of the mobilenet problem (``--objectives``)."""


BACKENDS: dict[str, str] = {
    "local": "evonas.engine.executors:InProcess",
    "process": "evonas.engine.executors:ProcessPool",
    "ray": "evonas.engine.ray_executor:RayPool",
}
"""Where candidates are evaluated (``--backend``)."""


def resolve(spec: str) -> Any:
    """Import ``"module:attr.attr"`` and return the object."""
    module, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def lookup(kind: str, table: dict[str, str], name: str) -> Callable:
    """The plug-in ``name`` of ``table``; an unknown name is a :class:`UserError` listing the choices."""
    if name not in table:
        raise UserError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(table))}")
    return resolve(table[name])


def default_strategy(space: str) -> str:
    """The strategy name ``space`` is searched with when none is given."""
    if space not in DEFAULT_STRATEGIES:
        raise UserError(f"unknown search space {space!r}; choose one of: {', '.join(sorted(PROBLEMS))}")
    return DEFAULT_STRATEGIES[space]


def strategy_class(name: str) -> Callable:
    return lookup("strategy", STRATEGIES, name)


def peer_class(name: str) -> Callable:
    return lookup("peer", PEERS, name)


def problem_factory(name: str) -> Callable:
    return lookup("search space", PROBLEMS, name)


def target_factory(name: str) -> Callable | None:
    """The factory of built-in target ``name`` (``None`` for a user target ``module:factory``)."""
    if ":" in name:
        return None
    from hardware.registry import TARGETS

    if name not in TARGETS:
        raise UserError(f"unknown target {name!r}; choose one of: {', '.join(sorted(TARGETS))}")
    return TARGETS[name]
