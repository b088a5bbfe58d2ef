"""Plug-ins from outside the package: module paths, entry points, and the per-plug-in checks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from evonas.api import registry
from evonas.api.study import Study
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.objectives import Objective
from evonas.core.registry import Registry, RegistryWarning
from evonas.testing import check_morphism, check_objective, check_space, check_strategy, check_target
from evonas.testing.synthetic import SyntheticProblem

ROOT = Path(__file__).resolve().parents[1]

TINY = '''
"""A tiny outside strategy: uniform samples, never repeated."""

from typing import Annotated

from evonas.core.options import Range
from evonas.core.problem import Proposal
from populations.base import Strategy, unseen


class TinyRandom(Strategy):
    """Uniform samples, redrawn while seen.

    Args:
        my_option: draws tried for an unseen genome.
    """

    def __init__(self, my_option: Annotated[int, Range(1, 100)] = 20):
        self.my_option = my_option

    def setup(self, space, n_objectives, rng):
        super().setup(space, n_objectives, rng)
        self.seen_ = set()

    def ask(self):
        return Proposal(unseen(lambda: self.space_.sample(self.rng_), self.seen_, self.my_option))

    def tell(self, trial):
        self.seen_.add(trial.genome)
'''


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A folder holding the module ``tinymod`` (TinyRandom) and a distribution registering it as
    the ``evonas.strategies`` entry point ``tiny``."""
    where = tmp_path_factory.mktemp("outside")
    (where / "tinymod.py").write_text(TINY)
    dist = where / "tiny_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[evonas.strategies]\ntiny = tinymod:TinyRandom\n")
    return where


def _cli(args: list[str], cwd: Path, outside: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(outside), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "evonas", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


# -- an outside strategy --------------------------------------------------------------------------


def test_an_outside_strategy_passes_check_strategy(outside, monkeypatch):
    monkeypatch.syspath_prepend(str(outside))
    cls = registry.strategy_class("tinymod:TinyRandom")
    assert cls.__module__ == "tinymod"
    check_strategy(cls)
    study = Study(SyntheticProblem(2), "tinymod:TinyRandom", seed=0)
    assert len(study.optimize(evaluations=5).trials) == 5


@pytest.mark.slow
def test_an_outside_strategy_runs_from_the_cli_with_its_option(outside, tmp_path):
    done = _cli(["search", "--space", "grid", "--strategy", "tinymod:TinyRandom", "--my-option", "3",
                 "--evaluations", "6", "--out", str(tmp_path / "run"), "--no-progress"], tmp_path, outside)
    assert done.returncode == 0, done.stderr
    assert "6 candidates evaluated" in done.stdout
    helped = _cli(["search", "--space", "grid", "--strategy", "tinymod:TinyRandom", "--help"], tmp_path, outside)
    assert "--my-option" in helped.stdout and "options of --strategy tinymod:TinyRandom" in helped.stdout
    refused = _cli(["search", "--space", "grid", "--strategy", "tinymod:TinyRandom", "--my-option", "0",
                    "--out", str(tmp_path / "refused")], tmp_path, outside)
    assert refused.returncode == 2 and "--my-option must be between 1 and 100" in refused.stderr
    assert not (tmp_path / "refused").exists()


def test_an_entry_point_is_found_by_name(outside, monkeypatch):
    monkeypatch.syspath_prepend(str(outside))
    registry.STRATEGIES.refresh()
    try:
        assert "tiny" in registry.STRATEGIES.names() and "tiny" in registry.STRATEGIES
        assert registry.strategy_class("tiny").__name__ == "TinyRandom"
        with pytest.raises(UserError, match=r"unknown strategy 'tinny'; choose one of: .*tiny"):
            registry.strategy_class("tinny")
    finally:
        monkeypatch.undo()
        registry.STRATEGIES.refresh()
    assert "tiny" not in registry.STRATEGIES


def test_a_built_in_name_wins_over_an_entry_point_with_a_warning(tmp_path, monkeypatch):
    dist = tmp_path / "clash-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clash\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[evonas.strategies]\nrandom = tinymod:TinyRandom\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh = Registry("strategy", "evonas.strategies", registry.STRATEGIES.entries)
    ignored = "random = tinymod:TinyRandom .* is ignored: strategy 'random' is built in"
    with pytest.warns(RegistryWarning, match=ignored):
        assert fresh.names() == registry.STRATEGIES.names()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read once: no second warning
        assert fresh.get("random").__name__ == "RandomSearch"


@pytest.mark.slow
def test_an_entry_point_strategy_runs_from_the_cli(outside, tmp_path):
    done = _cli(["search", "--space", "grid", "--strategy", "tiny", "--my-option", "2", "--evaluations", "4",
                 "--out", str(tmp_path / "run"), "--no-progress"], tmp_path, outside)
    assert done.returncode == 0, done.stderr
    assert "4 candidates evaluated" in done.stdout


# -- broken strategies and bad paths --------------------------------------------------------------


def _repeater():
    """A broken strategy: it proposes its first sample over and over."""
    from evonas.core.problem import Proposal
    from populations.random_search import RandomSearch

    class Repeater(RandomSearch):
        """Proposes its first sample forever.

        Args:
            max_retries: unused.
        """

        def ask(self):
            self.first_ = getattr(self, "first_", None) or self.space_.sample(self.rng_)
            return Proposal(self.first_)
    return Repeater


def test_a_repeating_strategy_fails_check_strategy_naming_the_check():
    with pytest.raises(AssertionError, match=r"^no_repeated_proposals: .* proposed 4[89] repeats"):
        check_strategy(_repeater())


def test_a_nondeterministic_strategy_fails_check_strategy_naming_the_check():
    from evonas.core.problem import Proposal
    from populations.random_search import RandomSearch

    class Unseeded(RandomSearch):
        """Draws from an unseeded generator.

        Args:
            max_retries: unused.
        """

        def ask(self):
            return Proposal(self.space_.sample(np.random.default_rng()))

    with pytest.raises(AssertionError, match=r"^same_seed_same_history: .*two runs with seed 0 differ"):
        check_strategy(Unseeded)


def test_an_undocumented_option_fails_check_strategy():
    from populations.random_search import RandomSearch

    class Quiet(RandomSearch):
        def __init__(self, max_retries: int = 20):
            super().__init__(max_retries)

    with pytest.raises(AssertionError, match=r"^options_are_documented_and_ranged: .*\['max_retries'\]"):
        check_strategy(Quiet)


@pytest.mark.parametrize("args,expected", [
    (["--space", "grid", "--strategy", "nomod_zz:Foo"], "cannot load strategy 'nomod_zz:Foo': ModuleNotFoundError"),
    (["--space", "grid", "--strategy", "tinymod:Nope"], "cannot load strategy 'tinymod:Nope': AttributeError"),
    (["--space", "nomod_zz:make"], "cannot load search space 'nomod_zz:make'"),
    (["--target", "nomod_zz:make"], "cannot load target 'nomod_zz:make'"),
    (["--space", "grid", "--backend", "nomod_zz:Pool"], "cannot load backend 'nomod_zz:Pool'"),
], ids=["module", "attribute", "space", "target", "backend"])
def test_a_bad_module_path_is_one_line_and_exit_2_with_nothing_written(args, expected, outside, tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.syspath_prepend(str(outside))
    monkeypatch.chdir(tmp_path)
    assert main(["search", *args, "--evaluations", "2", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and expected in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_a_bad_module_path_exits_2_from_the_command_line(outside, tmp_path):
    """The same refusal from a real ``python -m evonas`` process: its exit code and its whole stderr."""
    done = _cli(["search", "--space", "grid", "--strategy", "nomod_zz:Foo", "--evaluations", "2", "--out",
                 str(tmp_path / "run")], tmp_path, outside)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "cannot load strategy 'nomod_zz:Foo': ModuleNotFoundError" in done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_a_bad_path_from_python_is_a_user_error():
    with pytest.raises(UserError, match="cannot load strategy 'nomod_zz:Foo'"):
        Study(SyntheticProblem(2), "nomod_zz:Foo")
    with pytest.raises(UserError, match="cannot load objective 'nomod_zz:f'"):
        registry.OBJECTIVES.get("nomod_zz:f")
    from morphisms.registry import morphism

    with pytest.raises(UserError, match="not a morphisms.base.Morphism"):
        morphism("evonas.core.objectives:Objective")


# -- the other checks -----------------------------------------------------------------------------


def test_check_space_passes_built_ins_and_fails_a_broken_space():
    from evonas.problems.grid import GridProblem

    check_space(SyntheticProblem().space)
    grid = GridProblem.from_options().space
    check_space(grid)

    class Forgetful:
        """The grid's space, but ``parse`` forgets the first choice."""

        def __getattr__(self, name):
            return getattr(grid, name)

        def parse(self, text):
            return grid.parse("0-" + text.split("-", 1)[1])

    with pytest.raises(AssertionError, match="^parse_round_trips: "):
        check_space(Forgetful())


def test_check_objective_passes_built_ins_and_fails_broken_ones():
    check_objective(registry.OBJECTIVES.get("params"))
    check_objective(registry.OBJECTIVES.get("flops")())
    with pytest.raises(AssertionError, match="^source_gives_a_finite_number: size"):
        check_objective(Objective.minimize("size", "MB", lambda model, genome, context: float("nan")))
    with pytest.raises(AssertionError, match="^source_gives_a_finite_number: size: the source gave 'big'"):
        check_objective(Objective.minimize("size", "MB", lambda model, genome, context: "big"))
    with pytest.raises(AssertionError, match="^is_an_objective: got a dict"):
        check_objective(lambda: {"name": "size"})


def test_check_morphism_passes_a_built_in_and_fails_a_broken_one():
    from morphisms.operators import GrowKernel
    from morphisms.registry import morphism

    check_morphism(morphism("grow_kernel"), samples=8)

    class Careless(GrowKernel):
        """Claims to preserve the function but copies no weights."""

        name = "careless_grow"

        def transfer(self, parent, site, src, dst):
            return None

    with pytest.raises(AssertionError, match="^function_preserving_keeps_the_output: careless_grow"):
        check_morphism(Careless, samples=8)


def test_check_target_passes_a_built_in_and_fails_broken_ones():
    from hardware.targets import TimingProtocol, edge_cpu

    quick = TimingProtocol(repeats_min=5, min_seconds=0.0)
    assert check_target(edge_cpu(protocol=quick)) is None
    own = edge_cpu()  # its own protocol (at least 1 s of timing) and calibration (3 s), replaced for the check
    assert check_target(own, protocol=quick, calibration_seconds=0.1) is None
    assert own.protocol == quick and own.compensation.calibration_seconds == 0.1

    def not_a_target():
        """Returns a string."""
        return "cpu"

    with pytest.raises(AssertionError, match="^is_a_target: made a str"):
        check_target(not_a_target)

    def undocumented(speed: float = 1.0):
        return edge_cpu()

    with pytest.raises(AssertionError, match=r"^target_options_are_documented: .*\['speed'\]"):
        check_target(undocumented)
