"""Conformance checks of targets, objectives, morphisms and search spaces, for their authors.

Plain functions (no pytest): each raises :class:`AssertionError` whose message starts with the
failed check's name. :mod:`evonas.testing.conformance` runs them on every registered plug-in.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Direction, MetricContext, Objective
from evonas.core.options import options_of

SPACE_SAMPLES = 40
"""Genomes each space and morphism check draws."""


def _fail(check: str, message: str) -> None:
    raise AssertionError(f"{check}: {message}")


def _expect(ok: bool, check: str, message: str) -> None:
    if not ok:
        _fail(check, message)


# -- targets --------------------------------------------------------------------------------------


def check_target_options(factory: Callable, label: str, others: set[str] | frozenset[str] = frozenset()) -> None:
    """Every option of a target factory has help text, and no flag repeats or clashes with ``others``."""
    options = options_of(factory)
    undocumented = [o.name for o in options if not o.help.strip()]
    _expect(not undocumented, "target_options_are_documented",
            f"{label}: options without help text in the docstring's Args: {undocumented}")
    flags = [o.flag for o in options]
    clashes = sorted(set(flags) & set(others))
    _expect(len(flags) == len(set(flags)) and not clashes, "target_option_flags_do_not_clash",
            f"{label}: flags {clashes or flags} repeat or clash with another plug-in's")


def _small_model():
    import torch

    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 10)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


def check_target(target: Any, refusal_ok: Callable[[str], bool] = lambda message: True, protocol: Any = None,
                 calibration_seconds: float | None = None) -> str | None:
    """Check a target, given as a :class:`~hardware.targets.Target` or a factory made with its defaults.

    The factory's options must be documented; the target must time a small network (median and
    IQR in ms) and give JSON-able settings. A factory may instead refuse, where its hardware is
    absent, with a one-line :class:`UserError` that ``refusal_ok`` accepts.

    Args:
        target: the target, or its factory.
        refusal_ok: whether a factory's refusal message is an acceptable reason.
        protocol: a :class:`~hardware.targets.TimingProtocol` to time with instead of the
            target's own, set on the target (the check is that it times, not how precisely);
            None: its own.
        calibration_seconds: how long a drift-compensating target calibrates its reference
            network, set on the target instead of its own setting; None: its own.

    Returns:
        The refusal's message, or None when the target measured.
    """
    from hardware.targets import Target

    if not isinstance(target, Target):
        label = getattr(target, "__qualname__", repr(target))
        check_target_options(target, label)
        try:
            target = target()
        except UserError as exc:
            _expect("\n" not in str(exc) and refusal_ok(str(exc)), "refuses_clearly",
                    f"{label} refused with an unclear error: {exc}")
            return str(exc)
    _expect(isinstance(target, Target), "is_a_target", f"made a {type(target).__name__}, not a hardware Target")
    _shorten(target, protocol, calibration_seconds)
    measurement = target.measure(_small_model(), (1, 8, 8))
    _expect(0 < measurement.median_ms < 1000 and measurement.iqr_ms >= 0, "measures_a_small_network",
            f"median {measurement.median_ms} ms, IQR {measurement.iqr_ms} ms")
    try:
        json.dumps(target.settings())
    except (TypeError, ValueError) as exc:
        _fail("settings_are_json", f"{target.settings()!r}: {exc}")
    return None


def _shorten(target: Any, protocol: Any, calibration_seconds: float | None) -> None:
    """Give ``target`` the check's timing ``protocol`` and ``calibration_seconds``, where set."""
    from dataclasses import replace

    if protocol is not None:
        target.protocol = protocol
    if calibration_seconds is not None and getattr(target, "compensation", None) is not None:
        target.compensation = replace(target.compensation, calibration_seconds=calibration_seconds)


# -- objectives -----------------------------------------------------------------------------------


def check_objective(objective: Any) -> None:
    """Check an :class:`~evonas.core.objectives.Objective` (or a factory called without arguments).

    Its name must be usable in ``--objectives`` and ``--constraint``, its fields well typed, its
    bounds finite and increasing, and its source (where it has one) must give one finite number
    (or a mapping holding it) for a small MobileNet-like network, untrained if training-free, with
    32 of the embedded digits as the context's ``sample``.
    """
    if not isinstance(objective, Objective) and callable(objective):
        objective = objective()
    _expect(isinstance(objective, Objective), "is_an_objective", f"got a {type(objective).__name__}")
    name = objective.name
    _expect(isinstance(name, str) and name.isidentifier(), "name_is_an_identifier",
            f"{name!r} is not usable in --objectives and --constraint")
    _expect(isinstance(objective.direction, Direction), "direction_is_typed", f"{objective.direction!r}")
    _expect(isinstance(objective.unit, str) and isinstance(objective.training_free, bool), "fields_are_typed",
            f"unit {objective.unit!r}, training_free {objective.training_free!r}")
    if objective.bounds is not None:
        low, high = objective.bounds
        _expect(math.isfinite(low) and math.isfinite(high) and low < high, "bounds_are_finite_and_increasing",
                f"{objective.bounds}")
    if objective.source is None:
        return
    _expect(callable(objective.source), "source_is_callable", f"{objective.source!r}")
    _expect(_finite_metric(objective, _source_value(objective)), "source_gives_a_finite_number",
            f"{name}: the source gave {_source_value(objective)!r}")


def _source_value(objective: Objective) -> Any:
    import torch

    from evonas.mobilenet.builder import build
    from evonas.mobilenet.data import embedded_default
    from evonas.mobilenet.proxies import ProxyBatch
    from evonas.mobilenet.space import MobileNetSpace, SpaceConfig

    space = MobileNetSpace(SpaceConfig.for_resolution(8))
    genome = space.sample(np.random.default_rng(0))
    model = build(genome, space.config, (1, 8, 8), 10, torch.Generator().manual_seed(0)).eval()
    digits = embedded_default()  # a sample of real training data, for sources that need some
    sample = ProxyBatch(torch.as_tensor(digits.x[:32]), torch.as_tensor(digits.y[:32]))
    return objective.source(model, genome, MetricContext((1, 8, 8), 10, {}, trained=False, sample=sample))


def _finite_metric(objective: Objective, value: Any) -> bool:
    if isinstance(value, dict):
        value = value.get(objective.name)
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


# -- morphisms ------------------------------------------------------------------------------------


def check_morphism(morphism: Any, samples: int = SPACE_SAMPLES) -> None:
    """Check a :class:`~morphisms.base.Morphism` (an instance or its class) on the small MobileNet space.

    It must refuse quietly what it does not apply to, apply to some of ``samples`` random
    genomes, propose the same step from the same seed, make children inside the space that
    differ from the parent, and give child weights that load into the child network; a
    function-preserving one must keep the eval-mode output (to 1e-4 of the logits' scale).
    """
    from morphisms.base import Morphism

    if isinstance(morphism, type):
        morphism = morphism()
    _expect(isinstance(morphism, Morphism), "is_a_morphism", f"got a {type(morphism).__name__}")
    _expect(isinstance(morphism.name, str) and bool(morphism.name.strip()), "has_a_name", f"{morphism.name!r}")
    _expect(not morphism.applies((0, 1, 2), object()), "refuses_other_spaces",
            f"{morphism.name} claims to apply to a genome of another space")
    space, rng = _morphism_space(), np.random.default_rng(0)
    applied = 0
    for _ in range(samples):
        genome = space.sample(rng)
        if morphism.applies(genome, space):
            _check_one_step(morphism, genome, space, int(rng.integers(2**31)))
            applied += 1
        else:
            _expect(morphism.propose(genome, space, rng) is None, "refuses_quietly",
                    f"{morphism.name} proposes a step where it does not apply")
    _expect(applied > 0, "applies_somewhere", f"{morphism.name} applies to none of {samples} sampled genomes")


def _morphism_space():
    from evonas.mobilenet.space import MobileNetSpace, SpaceConfig

    return MobileNetSpace(SpaceConfig.for_resolution(8))


def _check_one_step(morphism: Any, genome: Any, space: Any, seed: int) -> None:
    import torch

    from evonas.mobilenet.builder import MobileNetLike, build

    step = morphism.propose(genome, space, np.random.default_rng(seed))
    again = morphism.propose(genome, space, np.random.default_rng(seed))
    _expect(step is not None and step.site == again.site, "same_seed_same_step",
            f"{morphism.name} on {genome}: {step} then {again}")
    child = step.genome(genome)
    _expect(child != genome, "child_differs", f"{morphism.name} on {genome}: the child is the parent")
    try:
        space.validate(child)
    except (UserError, ValueError) as exc:
        _fail("child_is_in_the_space", f"{morphism.name} on {genome}: {exc}")
    gen = torch.Generator().manual_seed(seed)
    parent = build(genome, space.config, (1, 8, 8), 10, gen).eval()
    weights = step.weights(genome, parent.state_dict(), space.config, gen)
    model = MobileNetLike(child, space.config, 1, 10)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        _fail("child_weights_load", f"{morphism.name} on {genome}: {str(exc).splitlines()[0]}")
    if morphism.function_preserving:
        x = torch.randn(4, 1, 8, 8, generator=gen)
        with torch.no_grad():
            expected, got = parent(x), model.eval()(x)
        error = ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12)).item()
        _expect(error <= 1e-4, "function_preserving_keeps_the_output",
                f"{morphism.name} on {genome}: max |child - parent| / max |parent| = {error:.3g}")


# -- search spaces --------------------------------------------------------------------------------


def check_space(space: Any, samples: int = SPACE_SAMPLES) -> None:
    """Check a :class:`~evonas.core.problem.SearchSpace` on ``samples`` random genomes.

    Sampling and mutation are functions of the generator; genomes are hashable, print and parse
    back, and encode into integers below :meth:`cardinalities` that decode back; a mutant is a
    different genome of the space with an operator name; ``neighbours`` (optional) are distinct
    and exclude the genome; malformed text is refused with a one-line :class:`UserError`.
    """
    first = [space.sample(np.random.default_rng(0)) for _ in range(2)]
    _expect(first[0] == first[1], "same_seed_same_sample", f"{first[0]} then {first[1]}")
    cards = tuple(space.cardinalities())
    _expect(len(cards) > 0 and all(int(c) >= 1 for c in cards), "cardinalities", f"{cards}")
    rng = np.random.default_rng(1)
    genomes = [space.sample(rng) for _ in range(samples)]
    _expect(len({*genomes}) > 1, "samples_vary", f"{samples} samples are all {genomes[0]}")
    for genome in genomes:
        _check_genome(space, genome, cards)
    try:
        space.parse("not a genome !")
    except UserError as exc:
        _expect("\n" not in str(exc), "parse_refuses_clearly", f"a multi-line error: {exc}")
    else:
        _fail("parse_refuses_clearly", "'not a genome !' was parsed")


def _check_genome(space: Any, genome: Any, cards: tuple[int, ...]) -> None:
    hash(genome)
    _expect(space.parse(str(genome)) == genome, "parse_round_trips", f"{genome!s} parses to {space.parse(str(genome))}")
    code = np.asarray(space.encode(genome))
    _expect(code.shape == (len(cards),) and bool(np.all((code >= 0) & (code < np.array(cards)))),
            "encode_within_cardinalities", f"{genome}: {code.tolist()} for cardinalities {cards}")
    _expect(space.decode(code) == genome, "decode_round_trips", f"{genome}: decodes to {space.decode(code)}")
    child, op = space.mutate(genome, np.random.default_rng(2))
    again, _ = space.mutate(genome, np.random.default_rng(2))
    _expect(child == again, "same_seed_same_mutant", f"{genome}: {child} then {again}")
    _expect(child != genome and isinstance(op, str) and bool(op), "mutant_differs",
            f"{genome}: mutate gave {child} ({op!r})")
    _expect(space.parse(str(child)) == child, "mutant_is_in_the_space", f"{genome}: mutant {child}")
    if hasattr(space, "neighbours"):
        near = list(space.neighbours(genome))
        _expect(len(near) == len(set(near)) and genome not in near, "neighbours_are_distinct",
                f"{genome}: {len(near)} neighbours, {len(set(near))} distinct, itself among them: {genome in near}")
