"""Names to plug-ins: the tables of strategies, peers, problems, objectives and backends.

Every table is an :class:`evonas.core.registry.Registry`: entries are ``"module:attribute"``
strings, imported on first use, so a table-backed search never pays for torch or
onnxruntime. Outside packages add their own through the entry-point groups
``evonas.strategies``, ``evonas.problems`` and ``evonas.objectives`` (a built-in name wins over
an entry point of the same name), and a module path ``module:Class`` works anywhere a name
does. The other tables live in their own layers: targets in :mod:`hardware.registry`,
morphisms in :mod:`morphisms.registry`. Adding a built-in strategy is its own file plus one
line here; the conformance suite (:mod:`evonas.testing`) then covers it.
"""

from __future__ import annotations

from typing import Any, Callable

from evonas.core.registry import Registry, is_path
from evonas.core.registry import resolve as _resolve

STRATEGIES = Registry("strategy", "evonas.strategies", {
    "random": "populations.random_search:RandomSearch",
    "aging": "populations.aging:AgingEvolution",
    "de": "populations.de:DifferentialEvolution",
    "nsga2": "populations.nsga2:PymooNSGA2",
    "pls": "populations.pareto_local:ParetoLocalSearch",
    "spls": "populations.surrogate_pls:SurrogateParetoLocalSearch",
    "bounded": "populations.bounded:BoundedEvolution",
    "lemonade": "populations.lemonade:Lemonade",
})

PEERS = Registry("peer", None, {
    "optuna-tpe": "populations.optuna_peers:OptunaTPE",
    "optuna-nsga2": "populations.optuna_peers:OptunaNSGA2",
    "optuna-random": "populations.optuna_peers:OptunaRandom",
})
"""Other libraries' samplers that benchmarks run beside the strategies (``--peers``; Optuna extra)."""

PROBLEMS = Registry("search space", "evonas.problems", {
    "mobilenet": "evonas.mobilenet.problem:ImageClassification.from_options",
    "nb201": "evonas.problems.nb201:NB201Problem.from_options",
    "ofa": "evonas.problems.ofa:OFAProblem.from_options",
    "grid": "evonas.problems.grid:GridProblem.from_options",
})

DEFAULT_STRATEGIES: dict[str, str] = {
    "mobilenet": "lemonade",  # children inherit trained weights: several times the evaluations per minute
    "nb201": "spls",          # leads Optuna's TPE under the honest protocol (docs/benchmarks.md)
    "ofa": "aging",           # budgets of thousands: spls's Gaussian process grows cubically with the trials
    "grid": "spls",           # leads TPE on the discretised ZDT and DTLZ problems (docs/benchmarks.md)
}
"""The strategy a search space gets when none is named (``RunSpec.strategy`` left unset)."""

OBJECTIVES = Registry("objective", "evonas.objectives", {
    "accuracy": "evonas.mobilenet.problem:accuracy_objective",
    "params": "hardware.objectives:params",
    "flops": "hardware.objectives:flops",
    "latency_ms": "hardware.objectives:latency",
    "peak_memory_mb": "hardware.objectives:peak_memory",
    "synflow": "evonas.mobilenet.proxies:synflow_objective",
    "snip": "evonas.mobilenet.proxies:snip_objective",
    "grad_norm": "evonas.mobilenet.proxies:grad_norm_objective",
    "nwot": "evonas.mobilenet.proxies:nwot_objective",
})
"""Built-in objectives of the mobilenet problem (``--objectives``)."""


SCHEDULES = Registry("schedule", "evonas.schedules", {
    "none": "evonas.engine.schedule:no_schedule",
    "asha": "evonas.engine.schedule:ASHA",
})
"""Multi-fidelity schedules (``--schedule``; ``none``, the default, trains every candidate fully)."""
NO_SCHEDULE = "none"


BACKENDS = Registry("backend", None, {
    "local": "evonas.engine.executors:InProcess",
    "process": "evonas.engine.executors:ProcessPool",
    "ray": "evonas.engine.ray_executor:RayPool",
})
"""Where candidates are evaluated (``--backend``)."""


def resolve(spec: str) -> Any:
    """Import ``"module:attr.attr"`` and return the object (one-line :class:`UserError` if it cannot be)."""
    return _resolve(spec)


def lookup(kind: str, table: Registry, name: str) -> Callable:
    """The plug-in ``name`` of ``table`` (``kind`` is kept for callers; the table names its own kind)."""
    return table.get(name)


def default_strategy(space: str) -> str:
    """The strategy name ``space`` is searched with when none is given: the table's for a built-in
    space, aging evolution for an outside one (from an entry point or a module path)."""
    if space in DEFAULT_STRATEGIES:
        return DEFAULT_STRATEGIES[space]
    PROBLEMS.check(space)
    return "aging"


def strategy_class(name: str) -> Callable:
    """The strategy class called ``name`` (a registered name or ``module:Class``)."""
    return STRATEGIES.get(name)


def peer_class(name: str) -> Callable:
    """The peer sampler called ``name``."""
    return PEERS.get(name)


def problem_factory(name: str) -> Callable:
    """The problem factory of search space ``name`` (a registered name or ``module:factory``)."""
    return PROBLEMS.get(name)


def schedule_class(name: str) -> Callable:
    """The factory of schedule ``name`` (``none``'s makes None: no schedule)."""
    return SCHEDULES.get(name)


def target_factory(name: str) -> Callable:
    """The factory of target ``name`` (built-in, from an entry point, or ``module:factory``)."""
    from hardware.registry import TARGETS

    return TARGETS.get(name)


__all__ = ["STRATEGIES", "PEERS", "PROBLEMS", "OBJECTIVES", "BACKENDS", "SCHEDULES", "NO_SCHEDULE", "schedule_class", "DEFAULT_STRATEGIES", "Registry", "is_path",
           "resolve", "lookup", "default_strategy", "strategy_class", "peer_class", "problem_factory",
           "target_factory"]
