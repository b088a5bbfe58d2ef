"""The OFA MobileNetV3 space as a surrogate benchmark (Cai et al., Once-for-All, ICLR 2020).

A network has 5 stages of 2-4 blocks (20 block slots), each block a kernel size {3,5,7}
and an expand ratio {3,4,6}, and an input resolution (the Note10 lookup tables hold
160..224 in steps of 4). Its accuracy is predicted by OFA's MLP accuracy predictor
(``acc_predictor_mlp_weights.npz``) and its latency is the sum of the Samsung Note10
lookup-table entries of its layers (``raw/latency_table@note10/<r>_lookup_table.yaml``),
both from ``--data-dir`` (``../shared/data/ofa_mbv3``, see its SOURCE.md).

Genome string: ``r192 k53,53,773,5573,335 e33,44,634,4443,666`` = resolution, then per
stage the kernel sizes and the expand ratios of its blocks (a stage's depth is its number
of digits). Metrics: ``accuracy`` (fraction) and ``latency_ms``.

Hypervolume reference (no true front is known): accuracy scaled from
:data:`ACCURACY_RANGE` and latency from the space's exact latency range (fastest to slowest
network, computed from the tables), reference point (1, 1).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from evonas.core.errors import DataError, UserError
from evonas.core.objectives import Constraint, Objective
from evonas.core.problem import Evaluation, Problem, Proposal

KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)
N_STAGES, MAX_DEPTH = 5, 4
N_SLOTS = N_STAGES * MAX_DEPTH
ACCURACY_RANGE = (0.70, 0.85)
"""Predicted accuracies mapped to [1, 0] for the hypervolume (fixed, so runs compare)."""

# OFA-MobileNetV3 width 1.2, as in the Note10 tables (see SOURCE.md): the stem's width (also
# that of the fixed first block), per stage the output width, first-block stride, SE and
# h-swish flags, then the head's widths.
STEM_WIDTH = 24
STAGE_WIDTHS = (32, 48, 96, 136, 192)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_SE = (0, 1, 0, 1, 1)
STAGE_HS = (0, 0, 1, 1, 1)
FINAL_EXPAND, FEATURE_MIX, CLASSES = 1152, 1536, 1000
_GENOME = re.compile(r"r(\d+) k([\d,]+) e([\d,]+)")


@dataclass(frozen=True)
class OFAArch:
    """One OFA-MobileNetV3 network: per-stage block (kernel, expand) lists and a resolution."""

    kernels: tuple[tuple[int, ...], ...]
    expands: tuple[tuple[int, ...], ...]
    resolution: int

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(k) for k in self.kernels)

    def __str__(self) -> str:
        ks = ",".join("".join(map(str, k)) for k in self.kernels)
        es = ",".join("".join(map(str, e)) for e in self.expands)
        return f"r{self.resolution} k{ks} e{es}"

    def slots(self) -> tuple[list[int], list[int], list[int]]:
        """OFA's flat form: ks[20], e[20] (0 beyond a stage's depth) and d[5]."""
        ks, es = [0] * N_SLOTS, [0] * N_SLOTS
        for s, (k, e) in enumerate(zip(self.kernels, self.expands)):
            ks[MAX_DEPTH * s:MAX_DEPTH * s + len(k)] = k
            es[MAX_DEPTH * s:MAX_DEPTH * s + len(e)] = e
        return ks, es, list(self.depths)

    @classmethod
    def from_slots(cls, ks: Sequence[int], e: Sequence[int], d: Sequence[int], resolution: int) -> "OFAArch":
        """The inverse of :meth:`slots`: slots beyond a stage's depth are ignored (not validated)."""
        stages = [range(MAX_DEPTH * s, MAX_DEPTH * s + depth) for s, depth in enumerate(d)]
        return cls(tuple(tuple(ks[i] for i in slots) for slots in stages),
                   tuple(tuple(e[i] for i in slots) for slots in stages), resolution)


class OFASpace:
    """Sampling, one-choice mutation, parsing and integer encoding of OFA networks.

    Args:
        resolutions: the input resolutions allowed (those the latency tables cover).
    """

    def __init__(self, resolutions: Sequence[int]):
        self.resolutions = tuple(sorted(resolutions))

    def parse(self, text: str) -> OFAArch:
        m = _GENOME.fullmatch(text.strip())
        if m is None:
            raise UserError(f"malformed OFA genome {text!r}: expected e.g. 'r192 k53,53,773,5573,335 e33,44,634,4443,666'")
        ks = tuple(tuple(int(c) for c in part) for part in m.group(2).split(","))
        es = tuple(tuple(int(c) for c in part) for part in m.group(3).split(","))
        arch = OFAArch(ks, es, int(m.group(1)))
        self.validate(arch, text)
        return arch

    def validate(self, arch: OFAArch, text: str = "") -> None:
        """Raise :class:`UserError` naming the first choice outside the space."""
        where = f"OFA genome {text or str(arch)!r}"
        if arch.resolution not in self.resolutions:
            raise UserError(f"{where}: resolution {arch.resolution} not in {self.resolutions}")
        if len(arch.kernels) != N_STAGES or len(arch.expands) != N_STAGES:
            raise UserError(f"{where}: needs {N_STAGES} stages")
        for s, (k, e) in enumerate(zip(arch.kernels, arch.expands)):
            if len(k) != len(e) or len(k) not in DEPTHS:
                raise UserError(f"{where}: stage {s} depth must be one of {DEPTHS} for kernels and expands")
            if set(k) - set(KERNELS) or set(e) - set(EXPANDS):
                raise UserError(f"{where}: stage {s} kernels must be in {KERNELS}, expands in {EXPANDS}")

    def sample(self, rng: np.random.Generator) -> OFAArch:
        return self.decode(rng.integers(self.cardinalities()))

    def mutate(self, genome: OFAArch, rng: np.random.Generator) -> tuple[OFAArch, str]:
        """Change one choice: a block's kernel or expand ratio, a stage's depth, or the resolution."""
        options = self._choices(genome)
        name, value = options[int(rng.integers(len(options)))]
        return self._apply(genome, name, value, rng), name

    def neighbours(self, genome: OFAArch) -> list[OFAArch]:
        """Every network one choice away (a deeper stage's new block takes kernel 3, expand 3)."""
        return [self._apply(genome, name, value, None) for name, value in self._choices(genome)]

    def _choices(self, g: OFAArch) -> list[tuple[str, tuple]]:
        out = [("mutate_resolution", (r,)) for r in self.resolutions if r != g.resolution]
        for s in range(N_STAGES):
            out += [("mutate_depth", (s, d)) for d in DEPTHS if d != g.depths[s]]
            for j in range(g.depths[s]):
                out += [("mutate_kernel", (s, j, k)) for k in KERNELS if k != g.kernels[s][j]]
                out += [("mutate_expand", (s, j, e)) for e in EXPANDS if e != g.expands[s][j]]
        return out

    @staticmethod
    def _apply(g: OFAArch, name: str, value: tuple, rng: np.random.Generator | None) -> OFAArch:
        if name == "mutate_resolution":
            return OFAArch(g.kernels, g.expands, value[0])
        ks, es = list(g.kernels), list(g.expands)
        if name == "mutate_depth":
            s, d = value
            extra = d - len(ks[s])
            new_k = tuple(rng.choice(KERNELS, extra)) if rng is not None and extra > 0 else (KERNELS[0],) * extra
            new_e = tuple(rng.choice(EXPANDS, extra)) if rng is not None and extra > 0 else (EXPANDS[0],) * extra
            ks[s] = (ks[s] + tuple(int(k) for k in new_k))[:d]
            es[s] = (es[s] + tuple(int(e) for e in new_e))[:d]
        else:
            s, j, v = value
            target = ks if name == "mutate_kernel" else es
            target[s] = target[s][:j] + (v,) + target[s][j + 1:]
        return OFAArch(tuple(ks), tuple(es), g.resolution)

    # -- integer encoding: resolution, 5 depths, then (kernel, expand) of the 20 slots ----
    def cardinalities(self) -> tuple[int, ...]:
        return (len(self.resolutions),) + (len(DEPTHS),) * N_STAGES + (len(KERNELS), len(EXPANDS)) * N_SLOTS

    def encode(self, genome: OFAArch) -> np.ndarray:
        ks, es, ds = genome.slots()
        out = [self.resolutions.index(genome.resolution)] + [DEPTHS.index(d) for d in ds]
        for k, e in zip(ks, es):
            out += [KERNELS.index(k) if k else 0, EXPANDS.index(e) if e else 0]
        return np.asarray(out, dtype=np.int64)

    def decode(self, vector: Sequence[int]) -> OFAArch:
        v = [int(x) for x in vector]
        depths = [DEPTHS[i] for i in v[1:1 + N_STAGES]]
        blocks = v[1 + N_STAGES:]
        kernels, expands = [], []
        for s, d in enumerate(depths):
            slots = range(MAX_DEPTH * s, MAX_DEPTH * s + d)
            kernels.append(tuple(KERNELS[blocks[2 * i]] for i in slots))
            expands.append(tuple(EXPANDS[blocks[2 * i + 1]] for i in slots))
        return OFAArch(tuple(kernels), tuple(expands), self.resolutions[v[0]])


class AccuracyPredictor:
    """OFA's MLP accuracy predictor (128 -> 400 -> 400 -> 400 -> 1, ReLU) in numpy."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.layers = [(weights[f"{i}.weight"].astype(np.float64), weights[f"{i}.bias"].astype(np.float64))
                       for i in (0, 2, 4, 6)]

    @staticmethod
    def features(arch: OFAArch) -> np.ndarray:
        """OFA's 128-d one-hot input: kernels at 3i, expands at 60+3i, resolution at 120+(r-112)//16."""
        x = np.zeros(128)
        ks, es, _ = arch.slots()
        for i, (k, e) in enumerate(zip(ks, es)):
            if k:
                x[3 * i + KERNELS.index(k)] = 1
                x[60 + 3 * i + EXPANDS.index(e)] = 1
        x[120 + (arch.resolution - 112) // 16] = 1
        return x

    def predict(self, arch: OFAArch) -> float:
        h = self.features(arch)
        for i, (w, b) in enumerate(self.layers):
            h = w @ h + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return float(h[0])


class LatencyTable:
    """Note10 latency as a sum of lookup-table layers, pre-tabulated per (resolution, stage, slot, k, e).

    Args:
        tables: resolution -> that resolution's table (layer id -> mean latency in ms, see :func:`read_table`).
    """

    def __init__(self, tables: dict[int, dict[str, float]]):
        self.resolutions = tuple(sorted(tables))
        self.fixed = {r: self._fixed(r, tables[r]) for r in self.resolutions}
        self.blocks = {r: self._blocks(r, tables[r]) for r in self.resolutions}

    @staticmethod
    def _lookup(table: dict[str, float], key: str, r: int) -> float:
        if key not in table:
            raise DataError(f"latency table for resolution {r} lacks layer {key!r}")
        return table[key]

    def _fixed(self, r: int, table: dict[str, float]) -> float:
        stem, head = _fixed_keys(r)
        return sum(self._lookup(table, k, r) for k in stem + head)

    def _blocks(self, r: int, table: dict[str, float]) -> np.ndarray:
        """lat[s, j, k, e]: latency of block j of stage s with kernel k and expand e."""
        out = np.zeros((N_STAGES, MAX_DEPTH, len(KERNELS), len(EXPANDS)))
        for s in range(N_STAGES):
            for j in range(MAX_DEPTH):
                for a, k in enumerate(KERNELS):
                    for b, e in enumerate(EXPANDS):
                        out[s, j, a, b] = self._lookup(table, _slot_key(r, s, j, k, e), r)
        return out

    def latency(self, arch: OFAArch) -> float:
        lat = self.fixed[arch.resolution]
        blocks = self.blocks[arch.resolution]
        for s, (ks, es) in enumerate(zip(arch.kernels, arch.expands)):
            for j, (k, e) in enumerate(zip(ks, es)):
                lat += blocks[s, j, KERNELS.index(k), EXPANDS.index(e)]
        return float(lat)

    def extremes(self) -> tuple[float, float]:
        """Exact latency of the fastest and the slowest network (a sum of independent choices)."""
        def total(r, pick):
            per_block = pick(pick(self.blocks[r], axis=3), axis=2)  # [s, j]
            by_depth = np.stack([per_block[:, :d].sum(axis=1) for d in DEPTHS], axis=1)
            return self.fixed[r] + pick(by_depth, axis=1).sum()
        return (min(total(r, np.min) for r in self.resolutions), max(total(r, np.max) for r in self.resolutions))


def table_path(root: str | Path, resolution: int) -> Path:
    """``root/<resolution>_lookup_table.yaml`` (OFA's file naming)."""
    return Path(root) / f"{resolution}_lookup_table.yaml"


def read_table(path: str | Path) -> dict[str, float]:
    """An OFA YAML latency table (layer id -> ``{count, mean, std}``) as ``{layer id: mean latency in ms}``.

    Raises:
        UserError: the file is missing or is not an OFA latency table.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # C loader: ~10x faster
    except OSError as exc:
        raise UserError(f"cannot read OFA latency table '{path}': {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"'{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) and "mean" in v for v in raw.values()):
        raise UserError(f"'{path}' is not an OFA latency table (expected 'layer id: {{count, mean, std}}' entries)")
    return {str(k): float(v["mean"]) for k, v in raw.items()}


def layer_keys(arch: OFAArch) -> list[str]:
    """The table's layer ids of ``arch``, in network order (as OFA's own latency estimator lists them)."""
    stem, head = _fixed_keys(arch.resolution)
    blocks = [_slot_key(arch.resolution, s, j, k, e)
              for s, (ks, es) in enumerate(zip(arch.kernels, arch.expands)) for j, (k, e) in enumerate(zip(ks, es))]
    return stem + blocks + head


def _spatial(r: int) -> list[int]:
    """Input spatial size of each stage (stem halves, then the stage strides), then the head's."""
    h, sizes = _size(r, 2), []
    for stride in STAGE_STRIDES:
        sizes.append(h)
        h = _size(h, stride)
    return sizes + [h]


def _size(h_in: int, stride: int) -> int:
    return (h_in - 1) // stride + 1


def _fixed_keys(r: int) -> tuple[list[str], list[str]]:
    """The layer ids every network at resolution ``r`` has: (stem and first block, head)."""
    h0, h = _size(r, 2), _spatial(r)[-1]
    c = STAGE_WIDTHS[-1]
    stem = [f"Conv-input:{r}x{r}x3-output:{h0}x{h0}x{STEM_WIDTH}",
            _block_key(h0, STEM_WIDTH, STEM_WIDTH, STEM_WIDTH, 3, 1, 1, 0, 0)]
    head = [f"Conv_1-input:{h}x{h}x{c}-output:{h}x{h}x{FINAL_EXPAND}",
            f"AvgPool2D-input:{h}x{h}x{FINAL_EXPAND}-output:1x1x{FINAL_EXPAND}",
            f"Conv_2-input:1x1x{FINAL_EXPAND}-output:1x1x{FEATURE_MIX}",
            f"Logits-input:1x1x{FEATURE_MIX}-output:{CLASSES}"]
    return stem, head


def _slot_key(r: int, stage: int, j: int, kernel: int, expand: int) -> str:
    """The layer id of block ``j`` of ``stage`` at resolution ``r``."""
    first = j == 0
    c_in = (STAGE_WIDTHS[stage - 1] if stage else STEM_WIDTH) if first else STAGE_WIDTHS[stage]
    h_in = _spatial(r)[stage if first else stage + 1]
    return _block_key(h_in, c_in, STAGE_WIDTHS[stage], round(c_in * expand), kernel,
                      STAGE_STRIDES[stage] if first else 1, int(not first), STAGE_SE[stage], STAGE_HS[stage])


def _block_key(h_in: int, c_in: int, c_out: int, mid: int, kernel: int, stride: int, idskip: int,
               se: int, hs: int) -> str:
    h_out = _size(h_in, stride)
    return (f"expanded_conv-input:{h_in}x{h_in}x{c_in}-output:{h_out}x{h_out}x{c_out}-expand:{mid}"
            f"-kernel:{kernel}-stride:{stride}-idskip:{idskip}-se:{se}-hs:{hs}")


@functools.lru_cache(maxsize=4)
def load_ofa(data_dir: str | Path) -> tuple[AccuracyPredictor, LatencyTable]:
    """Read the predictor weights and the Note10 tables once per process."""
    data_dir = Path(data_dir)
    weights, lut_dir = data_dir / "acc_predictor_mlp_weights.npz", data_dir / "raw" / "latency_table@note10"
    if not weights.is_file() or not lut_dir.is_dir():
        raise DataError(f"'{data_dir}' is not an OFA data directory (needs acc_predictor_mlp_weights.npz and "
                        "raw/latency_table@note10/; e.g. ../shared/data/ofa_mbv3)")
    with np.load(weights) as npz:
        predictor = AccuracyPredictor(dict(npz))
    tables = {int(path.name.split("_")[0]): read_table(path) for path in sorted(lut_dir.glob("*_lookup_table.yaml"))}
    if not tables:
        raise DataError(f"no *_lookup_table.yaml in '{lut_dir}'")
    return predictor, LatencyTable(tables)


class OFAProblem(Problem):
    """Maximise predicted ``accuracy``, minimise Note10 ``latency_ms`` over the OFA space.

    Args:
        data_dir: the directory holding the predictor weights and the latency tables.
    """

    def __init__(self, data_dir: str | Path):
        self.data_dir = str(data_dir)
        self.predictor, self.latency_table = load_ofa(data_dir)
        self.space = OFASpace(self.latency_table.resolutions)
        self.objectives = (Objective.maximize("accuracy"), Objective.minimize("latency_ms", "ms"))

    @classmethod
    def from_options(cls, data_dir: str | None = None) -> "OFAProblem":
        """OFA MobileNetV3: predicted accuracy against Samsung Note10 latency.

        Args:
            data_dir: directory with OFA's predictor weights and latency tables (e.g. ../shared/data/ofa_mbv3).
        """
        if data_dir is None:
            raise UserError("ofa needs --data-dir PATH (e.g. ../shared/data/ofa_mbv3)")
        return cls(data_dir)

    def evaluate(self, proposal: Proposal) -> Evaluation:
        arch = proposal.genome
        return Evaluation({"accuracy": self.predictor.predict(arch), "latency_ms": self.latency_table.latency(arch)})

    def cheap_metrics(self, genome: OFAArch, names: Sequence[str]) -> dict[str, float]:
        return {"latency_ms": self.latency_table.latency(genome)} if "latency_ms" in names else {}

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed reference: accuracy over :data:`ACCURACY_RANGE`, latency over the space's range."""
        fastest, slowest = self.latency_table.extremes()
        return np.array([-ACCURACY_RANGE[1], fastest]), np.array([-ACCURACY_RANGE[0], slowest])

    def check_constraints(self, constraints: Sequence[Constraint]) -> None:
        """Latency bounds are checked exactly against the fastest and slowest networks."""
        self.check_metric_names(constraints)
        fastest, slowest = self.latency_table.extremes()
        for c in constraints:
            if c.name == "latency_ms" and c.upper is not None and c.upper < fastest:
                raise UserError(f"{c} is infeasible: the fastest network in the space takes {fastest:.2f} ms")
            if c.name == "latency_ms" and c.lower is not None and c.lower > slowest:
                raise UserError(f"{c} is infeasible: the slowest network in the space takes {slowest:.2f} ms")

    def describe(self) -> dict:
        return {"problem": "ofa", "data_dir": self.data_dir, "accuracy_range": list(ACCURACY_RANGE)}
