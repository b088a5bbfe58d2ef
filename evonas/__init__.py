"""evonas: evolutionary, multi-objective, hardware-aware neural architecture search.

Everything public is importable from here; any other module path is private and may change.
Names are loaded on first use, so ``import evonas`` stays cheap (torch loads only with the
objects that need it)::

    import evonas

    problem = evonas.ImageClassification.from_options(
        objectives=[evonas.accuracy(), evonas.latency("edge-cpu"), evonas.params()], epochs=1)
    study = evonas.Study(problem, evonas.AgingEvolution(population=8), out="runs/demo")
    result = study.optimize(evaluations=16)
    result.export("exported/")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    # running a search
    "Study": "evonas.api.study", "SearchResult": "evonas.api.study", "AskTellProblem": "evonas.api.study",
    "Pending": "evonas.engine.driver", "Search": "evonas.engine.driver",
    "MaxEvaluations": "evonas.engine.driver", "MaxSeconds": "evonas.engine.driver", "AnyOf": "evonas.engine.driver",
    "MaxEpochs": "evonas.engine.driver", "ASHA": "evonas.engine.schedule", "Schedule": "evonas.engine.schedule",
    "export_front": ("evonas.api.spec", "export_run"),
    "Executor": "evonas.engine.executors", "InProcess": "evonas.engine.executors",
    "ProcessPool": "evonas.engine.executors", "RayPool": "evonas.engine.ray_executor",
    # the ground types
    "Objective": "evonas.core.objectives", "Direction": "evonas.core.objectives",
    "Constraint": "evonas.core.objectives", "MetricContext": "evonas.core.objectives",
    "Problem": "evonas.core.problem", "SearchSpace": "evonas.core.problem", "Proposal": "evonas.core.problem",
    "Evaluation": "evonas.core.problem", "Trial": "evonas.core.problem", "TrialState": "evonas.core.problem",
    "Budget": "evonas.core.problem", "Checkpoint": "evonas.core.problem",
    "UserError": "evonas.core.errors", "options_of": "evonas.core.options",
    "hypervolume": "evonas.core.pareto", "ParetoArchive": "evonas.core.pareto",
    # built-in objectives
    "accuracy": ("evonas.mobilenet.problem", "accuracy_objective"),
    "latency": "hardware.objectives", "params": "hardware.objectives", "flops": "hardware.objectives",
    "peak_memory": "hardware.objectives",
    # the MobileNetV3-like domain
    "ImageClassification": "evonas.mobilenet.problem", "MobileNetSpace": "evonas.mobilenet.space",
    "SpaceConfig": "evonas.mobilenet.space", "Genome": "evonas.mobilenet.space",
    "Activation": "evonas.mobilenet.space",
    "load_dataset": "evonas.mobilenet.data", "TrainConfig": "evonas.mobilenet.training",
    # benchmark problems
    "NB201Problem": "evonas.problems.nb201", "OFAProblem": "evonas.problems.ofa",
    "build_network": ("evonas.mobilenet.builder", "build"),
    # hardware
    "get_target": "hardware.registry", "Target": "hardware.targets",
    "ExternalTarget": "hardware.external", "CallableTarget": "hardware.external",
    "load_ofa_table": "hardware.ofa_lut", "ofa_table_path": "hardware.ofa_lut", "ofa_latency_ms": "hardware.ofa_lut",
    # strategies
    "Strategy": "populations.base", "RandomSearch": "populations.random_search",
    "AgingEvolution": "populations.aging", "DifferentialEvolution": "populations.de",
    "PymooNSGA2": "populations.nsga2", "ParetoLocalSearch": "populations.pareto_local",
    "SurrogateParetoLocalSearch": "populations.surrogate_pls", "BoundedEvolution": "populations.bounded",
    "Lemonade": "populations.lemonade",
    # checks for plug-in authors (evonas.testing: no pytest needed)
    "check_strategy": "evonas.testing.checks", "check_target": "evonas.testing.plugin_checks",
    "check_objective": "evonas.testing.plugin_checks", "check_morphism": "evonas.testing.plugin_checks",
    "check_space": "evonas.testing.plugin_checks",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # the installed version, read once from the package metadata
        from evonas.core.version import evonas_version

        globals()[name] = evonas_version()
        return globals()[name]
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module 'evonas' has no attribute {name!r}")
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"__version__"})


if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily above
    __version__: str
    from evonas.api.study import AskTellProblem, SearchResult, Study  # noqa: F401
    from evonas.core.objectives import Constraint, Direction, MetricContext, Objective  # noqa: F401
    from evonas.core.problem import Evaluation, Problem, Proposal, SearchSpace, Trial, TrialState  # noqa: F401
