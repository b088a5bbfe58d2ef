"""A :class:`~evonas.api.study.Study` from a :class:`~evonas.api.spec.RunSpec`: a new run, or a stored one resumed.

Kept apart from :mod:`evonas.api.spec` so that the spec does not import the study, which
imports the spec to export a stored run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from evonas.api.spec import RunSpec, build_constraints, build_problem, build_schedule, build_strategy, stored_spec
from evonas.api.study import Study
from evonas.core.errors import UserError
from evonas.engine.store import RunStore


def open_study(spec: RunSpec, out: str | Path | None, callbacks: Sequence = ()) -> Study:
    """Validate everything, then create the run directory and a ready :class:`Study`.

    Nothing is written before every input has been checked.
    """
    strategy, problem, initial, constraints = _objects(spec)
    return Study(problem, strategy, constraints, spec.seed, out, initial=initial, callbacks=tuple(callbacks),
                 config=spec.to_dict(), noise_aware=spec.noise_aware, schedule=build_schedule(spec))


def resume_study(run_dir: str | Path, callbacks: Sequence = ()) -> tuple[Study, RunSpec]:
    """Reopen a run made from a :class:`RunSpec` (the CLI's runs) with its stored spec.

    The run store is opened once, as its writer: the spec, the settings and every stored
    candidate are read through that one connection.
    """
    store = RunStore.open(run_dir, writer=True)
    try:
        spec = stored_spec(store.config)
        if spec is None:
            raise UserError(f"run '{run_dir}' was not created from the command line; resume it with Study.resume(...)")
        strategy, problem, initial, constraints = _objects(spec)
        study = Study.resume(store, problem, strategy, constraints=constraints, seed=spec.seed, initial=initial,
                             callbacks=tuple(callbacks), config=spec.to_dict(), noise_aware=spec.noise_aware,
                             schedule=build_schedule(spec))
    except BaseException:
        store.close()
        raise
    return study, spec


def _objects(spec: RunSpec) -> tuple:
    """(strategy, problem, initial genomes, constraints) of ``spec``, built in that order."""
    strategy = build_strategy(spec)
    problem = build_problem(spec)
    initial = tuple(problem.space.parse(text) for text in spec.init)
    return strategy, problem, initial, build_constraints(spec, problem)
