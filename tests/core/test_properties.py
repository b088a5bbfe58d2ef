"""Property-based tests (hypothesis): any text given to a parser either parses to a value that
round-trips or raises the one-line UserError, never another exception."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evonas.api.spec import RunSpec, parse_custom_objective
from evonas.problems.nb201 import NB201Space, parse_cell
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, Direction
from evonas.core.options import options_of
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.testing.synthetic import SyntheticSpace
from populations.aging import AgingEvolution

SPACE = MobileNetSpace(SpaceConfig())
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that looks like a genome often enough to reach deep into the parser
GENOME_ALPHABET = st.sampled_from(list("stemc_rehsk0123456789|:-_x "))
genome_like = st.one_of(st.text(), st.text(GENOME_ALPHABET, max_size=80),
                        st.builds(lambda g, i, c: g[:i] + c + g[i + 1:],
                                  st.builds(lambda s: str(SPACE.sample(np.random.default_rng(s))), st.integers(0, 10**6)),
                                  st.integers(0, 60), st.sampled_from(list("0123456789|:-_xk"))))


def _one_line_user_error(call) -> object | None:
    try:
        return call()
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None


@SETTINGS
@given(genome_like)
def test_genome_strings_parse_and_round_trip_or_are_a_user_error(text):
    genome = _one_line_user_error(lambda: SPACE.parse(text))
    if genome is not None:
        assert SPACE.parse(str(genome)) == genome
        SPACE.validate(genome)


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_sampled_and_mutated_genomes_round_trip(seed):
    rng = np.random.default_rng(seed)
    genome = SPACE.sample(rng)
    child, operator = SPACE.mutate(genome, rng)
    for g in (genome, child):
        assert SPACE.parse(str(g)) == g
        assert SPACE.decode(SPACE.encode(g)) == g  # exact: every field of a valid genome is encoded
        assert SPACE.encode(SPACE.decode(SPACE.encode(g))).tolist() == SPACE.encode(g).tolist()
    assert operator


@SETTINGS
@given(st.one_of(st.text(), st.text(st.sampled_from(list("|+~0123nonskip_connectavgpol13x")), max_size=90)))
def test_nb201_cells_parse_and_round_trip_or_are_a_user_error(text):
    cell = _one_line_user_error(lambda: parse_cell(text))
    if cell is not None:
        assert parse_cell(str(cell)) == cell and NB201Space().decode(NB201Space().encode(cell)) == cell


@SETTINGS
@given(st.one_of(st.text(), st.builds(lambda n, op, v: f"{n}{op}{v}", st.text(max_size=12),
                                      st.sampled_from(["<=", ">=", "<", "=", "=>"]), st.text(max_size=12))))
def test_constraints_parse_or_are_a_user_error(text):
    constraint = _one_line_user_error(lambda: Constraint.parse(text))
    if constraint is not None:
        assert Constraint.parse(str(constraint).replace(" ", "")) == constraint


@SETTINGS
@given(st.text(max_size=40))
def test_custom_objective_specs_parse_or_are_a_user_error(text):
    _one_line_user_error(lambda: parse_custom_objective(text))


@SETTINGS
@given(st.text(max_size=10))
def test_directions_parse_or_are_a_user_error(text):
    direction = _one_line_user_error(lambda: Direction.parse(text))
    assert direction is None or isinstance(direction, Direction)


@SETTINGS
@given(st.sampled_from(options_of(AgingEvolution)), st.text(max_size=12))
def test_option_values_parse_or_are_a_user_error(option, text):
    value = _one_line_user_error(lambda: option.parse(text))
    assert value is None or isinstance(value, option.type)


@SETTINGS
@given(st.text(st.sampled_from(list("0123456789-")), min_size=1, max_size=11))
def test_synthetic_space_parse(text):
    space = SyntheticSpace()
    genome = _one_line_user_error(lambda: space.parse(text))
    assert genome is None or space.parse(str(genome)) == genome


CONFIG_VALUES = st.one_of(st.none(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=8),
                          st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers()))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["space", "strategy", "evaluations", "seed", "time_limit", "constraints",
                                        "objectives", "strategy_options", "problem_options", "max_latency",
                                        "target_options", "init", "unknown_key"]), CONFIG_VALUES, max_size=6))
def test_stored_run_configs_load_or_are_a_user_error(data):
    """A malformed stored config (a hand-edited run.db) is one clear error, never a traceback."""
    _one_line_user_error(lambda: RunSpec.from_dict(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["--evaluations", "--seed", "--time-limit", "--max-latency", "--population",
                                 "--strategy", "--space", "--objectives", "--constraint", "x", "-1", "0", "3",
                                 "nan", "1e309", "aging", "nb201", "accuracy"]), max_size=6))
def test_random_search_flags_never_crash_the_cli(tmp_path_factory, argv):
    """Random flag sequences exit 2 with one error line before doing anything, or would start a run."""
    out = tmp_path_factory.mktemp("r") / "run"
    code = main(["search", "--out", str(out), "--no-progress", *argv, "--help"])  # --help: never runs a search
    assert code in (0, 2)
