"""Drift-compensated latency: a network timed against a fixed reference network, run by run.

A cloud VM or a laptop changes speed by tens of percent within seconds (other tenants,
frequency scaling, memory bandwidth), and it does so for every network alike. So each
candidate run is paired with a run of a fixed *reference network* just before it, and the
latency reported is the median of the per-pair ratios ``candidate / reference`` times the
reference's *calibrated* latency: the reference's speed on this machine, measured once and
kept in a calibration file keyed by the environment fingerprint, so that later processes
(another ``evonas profile``, a resumed search, a pool worker) scale by the same figure.

Measured on this machine class (``benchmarks/latency_repeatability.py``): while raw medians
drifted by 10-57% against the calibration, three passes over the same 12 networks at
224x224 agreed within a median of 0.6-0.9% with per-pair ratios, 1.0-1.4% with ratios of
5-run block medians, and 3-4% with an affine fit of candidate on reference (the slope is
poorly determined when the reference's level barely moves); raw medians differed by 4-5%.

During each measurement the machine is watched (:class:`LoadProbe`): the reference's own
drift, other processes' CPU time on the cores the timing runs on, and steal time from
``/proc/stat``. A measurement disturbed by other processes is taken again, up to
``Compensation.attempts`` times; what was seen is recorded with it, and ``flags`` name what
made it less trustworthy (drift beyond ``max_drift`` is compensated, yet recorded).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import psutil

CALIBRATION_ENV = "EVONAS_CALIBRATION_FILE"
CALIBRATION_FORMAT = "evonas-latency-calibration"
REFERENCE_CLASSES = 1000
REMEASURED = ("contention", "steal")
"""Flags worth measuring again for: other processes come and go. Drift is compensated (the flag
records it), and an imprecise measurement has already been extended up to ``patience``."""


@dataclass(frozen=True)
class Compensation:
    """How a drift-compensated latency is measured.

    How many pairs are timed, and for how long, follows the target's
    :class:`~hardware.targets.TimingProtocol` (``warmup_min``, ``repeats_min``, ``min_seconds``,
    ``repeats_max``); this holds what only compensation needs.

    Attributes:
        precision: the 95% confidence interval of the median ratio must be within this
            relative half-width, else the measurement is taken again.
        max_drift: the reference's 5-run medians may spread by at most this fraction
            (max / min - 1) during one measurement.
        max_other_load: other processes may use at most this fraction of the timing cores.
        max_steal: the hypervisor may steal at most this fraction of CPU time.
        patience: while the median ratio is less precise than ``precision``, keep timing pairs
            up to this many times the protocol's ``min_seconds``.
        attempts: measurements taken, at most, when contention or steal disturbed one; the
            most precise is kept.
        calibration_seconds: how long the reference is timed to calibrate it.
    """

    precision: float = 0.02
    max_drift: float = 0.15
    max_other_load: float = 0.10
    max_steal: float = 0.05
    patience: float = 4.0
    attempts: int = 3
    calibration_seconds: float = 3.0


@dataclass(frozen=True)
class Calibration:
    """The reference network's latency on this machine, and what it was measured for."""

    key: str
    reference: str
    median_ms: float
    created: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Conditions:
    """What the machine did during a measurement: fractions of CPU time (0..1)."""

    other_load: float
    steal: float
    cores: tuple[int, ...]


@dataclass(frozen=True)
class Estimate:
    """A compensated latency from timed pairs (milliseconds)."""

    median_ms: float
    low_ms: float
    high_ms: float
    precision: float
    raw_median_ms: float
    raw_iqr_ms: float
    reference_ms: float
    reference_drift: float
    pairs: int


def reference_genome(input_shape: tuple[int, int, int]):
    """The reference network's genome at ``input_shape``: the middle choice of every gene of the space."""
    from evonas.mobilenet.space import MobileNetSpace, SpaceConfig

    space = MobileNetSpace(SpaceConfig.for_resolution(min(input_shape[1:])))
    return space.decode([c // 2 for c in space.cardinalities()])


def reference_name(input_shape: tuple[int, int, int]) -> str:
    """What identifies the reference network: its genome, input shape and classes."""
    return f"{reference_genome(input_shape)}@{'x'.join(map(str, input_shape))}/{REFERENCE_CLASSES}"


def reference_network(input_shape: tuple[int, int, int]):
    """The reference network at ``input_shape`` (fixed weights), in eval mode."""
    import torch

    from evonas.mobilenet.builder import build
    from evonas.mobilenet.space import SpaceConfig

    config = SpaceConfig.for_resolution(min(input_shape[1:]))
    return build(reference_genome(input_shape), config, tuple(input_shape), REFERENCE_CLASSES,
                 torch.Generator().manual_seed(0)).eval()


def calibration_key(fingerprint: dict[str, Any], reference: str) -> str:
    """A digest of what a calibration is valid for: the machine, libraries, target and reference."""
    from hardware.fingerprint import IDENTITY_KEYS, TARGET_IGNORED

    target = {k: v for k, v in fingerprint.get("target", {}).items() if k not in TARGET_IGNORED}
    identity = {k: fingerprint.get(k) for k in IDENTITY_KEYS}
    text = json.dumps({"identity": identity, "target": target, "reference": reference}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def default_calibration_file() -> Path:
    """``$EVONAS_CALIBRATION_FILE``, else ``$XDG_CACHE_HOME/evonas/latency-calibration.json`` (~/.cache)."""
    if os.environ.get(CALIBRATION_ENV):
        return Path(os.environ[CALIBRATION_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "evonas" / "latency-calibration.json"


class CalibrationFile:
    """Calibrations by key in one JSON file, shared by every process on the machine.

    The first process to need a calibration measures it while holding the file's lock, so
    concurrent processes wait for it and then scale by the same figure.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_calibration_file()

    def get_or_measure(self, key: str, reference: str, measure: Callable[[], float]) -> Calibration:
        """The stored calibration for ``key``, or a new one from ``measure()`` (ms), stored."""
        with self._locked():
            entries = self._read()
            if key in entries:
                return Calibration(**entries[key])
            calibration = Calibration(key, reference, float(measure()), time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            entries[key] = calibration.as_dict()
            self._write(entries)
            return calibration

    def forget(self, key: str) -> bool:
        """Drop ``key``'s calibration (the next measurement recalibrates); True if there was one."""
        with self._locked():
            entries = self._read()
            found = entries.pop(key, None) is not None
            self._write(entries)
            return found

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict]:
        from evonas.core.errors import UserError

        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"latency calibration file {self.path} is unreadable ({exc}); delete it to recalibrate")
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise UserError(f"{self.path} is not an evonas latency calibration file; delete it or set {CALIBRATION_ENV}")
        return dict(data.get("calibrations", {}))

    def _write(self, entries: dict[str, dict]) -> None:
        handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".calibration-")
        with os.fdopen(handle, "w") as out:
            json.dump({"format": CALIBRATION_FORMAT, "calibrations": entries}, out, indent=1)
        os.replace(tmp, self.path)


def calibrate(ref_run: Callable[[], object], seconds: float, time_once: Callable[[Callable[[], object]], float],
              block: int = 5) -> float:
    """The reference's calibrated latency (ms): the 10th percentile of its 5-run medians over ``seconds``.

    A low percentile rather than the median, because drift only ever slows a machine down: the
    fast level is the one it returns to.
    """
    for _ in range(10):
        ref_run()
    medians, start = [], time.perf_counter()
    while len(medians) < 20 or time.perf_counter() - start < seconds:
        medians.append(np.median([time_once(ref_run) for _ in range(block)]))
    return float(np.percentile(medians, 10) * 1e3)


def time_pairs(runs: Sequence[Callable[[], object]], ref_run: Callable[[], object], warmup: int, min_pairs: int,
               min_seconds: float, max_pairs: int, time_once: Callable[[Callable[[], object]], float],
               precision: float = 0.0, max_seconds: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Alternate one reference run with one run of each candidate; seconds of each.

    ``min_pairs`` rounds at least, then more until ``min_seconds`` have passed, then more until
    every candidate's median ratio is known to ``precision`` (see :func:`ratio_precision`) or
    ``max_seconds`` have passed; ``max_pairs`` at most. Returns (candidates x rounds, rounds).
    """
    for _ in range(warmup):
        ref_run()
        for run in runs:
            run()
    cand: list[list[float]] = [[] for _ in runs]
    ref: list[float] = []
    start = time.perf_counter()

    def more() -> bool:
        n, elapsed = len(ref), time.perf_counter() - start
        if n >= max_pairs:
            return False
        if n < min_pairs or elapsed < min_seconds:
            return True
        if elapsed >= max_seconds:
            return False
        return n % 10 != 0 or max(ratio_precision(np.asarray(c) / np.asarray(ref)) for c in cand) > precision

    while more():
        ref.append(time_once(ref_run))
        for times, run in zip(cand, runs):
            times.append(time_once(run))
    return np.asarray(cand), np.asarray(ref)


def ratio_precision(ratios: np.ndarray) -> float:
    """Relative half-width of the distribution-free 95% confidence interval of the median of ``ratios``."""
    ratios = np.sort(ratios)
    n = len(ratios)
    half = 1.96 * np.sqrt(n) / 2
    lo_i, hi_i = max(int(np.floor(n / 2 - half)), 0), min(int(np.ceil(n / 2 + half)), n - 1)
    return float((ratios[hi_i] - ratios[lo_i]) / 2 / np.median(ratios))


def estimate(cand_s: np.ndarray, ref_s: np.ndarray, calibrated_ms: float, block: int = 5) -> Estimate:
    """The compensated latency of timed pairs, scaled by the reference's calibrated latency.

    ``low_ms`` / ``high_ms`` are the quartiles of the per-pair compensated values; ``precision``
    is the relative half-width of the distribution-free 95% confidence interval of their median.
    """
    ratios = cand_s / ref_s
    n = len(ratios)
    median = float(np.median(ratios))
    q1, q3 = np.percentile(ratios, [25, 75])
    blocks = np.median(ref_s[: n // block * block].reshape(-1, block), axis=1) if n >= 2 * block else ref_s
    raw_q1, raw_q3 = np.percentile(cand_s * 1e3, [25, 75])
    return Estimate(
        median_ms=median * calibrated_ms, low_ms=float(q1 * calibrated_ms), high_ms=float(q3 * calibrated_ms),
        precision=ratio_precision(ratios),
        raw_median_ms=float(np.median(cand_s) * 1e3), raw_iqr_ms=float(raw_q3 - raw_q1),
        reference_ms=float(np.median(ref_s) * 1e3), reference_drift=float(blocks.max() / blocks.min() - 1), pairs=n)


def _cpu_times(cores: tuple[int, ...]) -> tuple[float, float, float]:
    """(busy, total, steal) seconds summed over ``cores`` since boot."""
    per_cpu = psutil.cpu_times(percpu=True)
    busy = total = steal = 0.0
    for core in cores:
        t = per_cpu[core]
        core_total = sum(t)
        idle = t.idle + getattr(t, "iowait", 0.0)
        busy += core_total - idle
        total += core_total
        steal += getattr(t, "steal", 0.0)
    return busy, total, steal


class LoadProbe:
    """Context manager: other processes' share of the cores this process may run on, and steal time.

    ``conditions`` is set on exit. Other load is the cores' busy time minus this process's own
    CPU time, over their total time; it is only meaningful when the timing runs on few cores
    (``edge-cpu`` pins one).
    """

    def __init__(self) -> None:
        self.conditions: Conditions | None = None

    def __enter__(self) -> "LoadProbe":
        proc = psutil.Process()
        self._cores = tuple(proc.cpu_affinity()) if hasattr(proc, "cpu_affinity") else tuple(range(psutil.cpu_count()))
        self._own = sum(proc.cpu_times()[:2])
        self._times = _cpu_times(self._cores)
        return self

    def __exit__(self, *exc) -> None:
        busy0, total0, steal0 = self._times
        busy1, total1, steal1 = _cpu_times(self._cores)
        own = sum(psutil.Process().cpu_times()[:2]) - self._own
        total = max(total1 - total0, 1e-9)
        self.conditions = Conditions(other_load=float(min(max((busy1 - busy0 - own) / total, 0.0), 1.0)),
                                     steal=float(min(max((steal1 - steal0) / total, 0.0), 1.0)), cores=self._cores)


def flags(est: Estimate, conditions: Conditions, comp: Compensation) -> tuple[str, ...]:
    """What makes a measurement untrustworthy under ``comp``'s thresholds (empty if nothing)."""
    found = []
    if est.precision > comp.precision:
        found.append(f"imprecise: 95% CI +-{est.precision:.1%} > +-{comp.precision:.1%}")
    if est.reference_drift > comp.max_drift:
        found.append(f"drift: reference varied {est.reference_drift:.0%} > {comp.max_drift:.0%}")
    if conditions.other_load > comp.max_other_load:
        found.append(f"contention: other processes used {conditions.other_load:.0%} of core(s) "
                     f"{','.join(map(str, conditions.cores))}")
    if conditions.steal > comp.max_steal:
        found.append(f"steal: the hypervisor took {conditions.steal:.0%} of CPU time")
    return tuple(found)
