"""Example: plug your own search space and problem into evonas.

The space here is the hidden layers of a small multi-layer perceptron (1-3 layers, each 16-128
units wide, ReLU or tanh); the problem trains it with scikit-learn on the 8x8 digits and
scores validation accuracy against the parameter count. Nothing in it is specific to neural
networks: any space works that implements the :class:`evonas.SearchSpace` protocol

* ``sample(rng)`` / ``mutate(genome, rng) -> (child, operator_name)`` for evolutionary strategies,
* ``cardinalities()`` / ``encode(genome)`` / ``decode(vector)`` for vector-based ones (DE, NSGA-II),
* ``parse(text)`` with ``parse(str(g)) == g``, so the run store can keep genomes as text,

with hashable genomes, and any problem that subclasses :class:`evonas.Problem` (``space``,
``objectives``, ``evaluate`` and ``bounds``). Each search takes a few seconds on a CPU::

    python examples/custom_space.py --evaluations 20 --strategy nsga2 --out runs/mlp
"""

from __future__ import annotations

import argparse
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

import evonas

WIDTHS = (16, 32, 64, 128)
ACTIVATIONS = ("relu", "tanh")
MAX_DEPTH = 3
N_FEATURES, N_CLASSES = 64, 10


@dataclass(frozen=True)
class MLP:
    """A genome: the activation and the width of each hidden layer. Frozen, so hashable."""

    activation: str
    widths: tuple[int, ...]

    def __str__(self) -> str:  # e.g. "relu:64-32"
        return f"{self.activation}:{'-'.join(map(str, self.widths))}"

    @property
    def params(self) -> int:
        sizes = (N_FEATURES, *self.widths, N_CLASSES)
        return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))


class MLPSpace:
    """Satisfies the ``evonas.SearchSpace`` protocol (no base class needed)."""

    def sample(self, rng: np.random.Generator) -> MLP:
        depth = int(rng.integers(1, MAX_DEPTH + 1))
        return MLP(ACTIVATIONS[rng.integers(2)], tuple(int(rng.choice(WIDTHS)) for _ in range(depth)))

    def mutate(self, genome: MLP, rng: np.random.Generator) -> tuple[MLP, str]:
        while True:
            op = ("width", "depth", "activation")[rng.integers(3)]
            widths = list(genome.widths)
            if op == "width":
                i = int(rng.integers(len(widths)))
                widths[i] = int(rng.choice([w for w in WIDTHS if w != widths[i]]))
            elif op == "depth" and len(widths) < MAX_DEPTH and (len(widths) == 1 or rng.random() < 0.5):
                widths.append(int(rng.choice(WIDTHS)))
            elif op == "depth" and len(widths) > 1:
                widths.pop()
            child = MLP(ACTIVATIONS[1 - ACTIVATIONS.index(genome.activation)] if op == "activation"
                        else genome.activation, tuple(widths))
            if child != genome:
                return child, f"mutate_{op}"

    def parse(self, text: str) -> MLP:
        activation, _, widths = text.partition(":")
        genome = MLP(activation, tuple(int(w) for w in widths.split("-")))
        if activation not in ACTIVATIONS or not 1 <= len(genome.widths) <= MAX_DEPTH \
                or any(w not in WIDTHS for w in genome.widths):
            raise evonas.UserError(f"{text!r} is not a genome of this space")
        return genome

    # integer encoding: [activation, depth - 1, width index of each of the MAX_DEPTH layers]
    def cardinalities(self) -> tuple[int, ...]:
        return (len(ACTIVATIONS), MAX_DEPTH, *(len(WIDTHS),) * MAX_DEPTH)

    def encode(self, genome: MLP) -> np.ndarray:
        layers = [WIDTHS.index(w) for w in genome.widths] + [0] * (MAX_DEPTH - len(genome.widths))
        return np.array([ACTIVATIONS.index(genome.activation), len(genome.widths) - 1, *layers])

    def decode(self, vector) -> MLP:
        act, depth, *layers = (int(v) for v in vector)
        return MLP(ACTIVATIONS[act], tuple(WIDTHS[i] for i in layers[:depth + 1]))

    def largest(self) -> MLP:
        return MLP("relu", (max(WIDTHS),) * MAX_DEPTH)


class DigitsMLP(evonas.Problem):
    """Train each MLP with scikit-learn for ``epochs`` passes; report accuracy and parameters."""

    def __init__(self, epochs: int = 30, seed: int = 0):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        self.space = MLPSpace()
        self.objectives = (
            evonas.Objective.maximize("accuracy", bounds=(0.0, 1.0)),
            evonas.Objective.minimize("params", bounds=(0.0, float(self.space.largest().params))),
        )
        self.epochs, self.seed = epochs, seed
        x, y = load_digits(return_X_y=True)
        self.data = train_test_split(x / 16.0, y, test_size=0.25, random_state=seed, stratify=y)

    def evaluate(self, proposal: evonas.Proposal) -> evonas.Evaluation:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        genome = proposal.genome
        x_train, x_val, y_train, y_val = self.data
        net = MLPClassifier(genome.widths, activation=genome.activation, max_iter=self.epochs,
                            random_state=(self.seed * 7919 + zlib.crc32(str(genome).encode())) % 2**32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # few epochs on purpose
            net.fit(x_train, y_train)
        return evonas.Evaluation({"accuracy": net.score(x_val, y_val), "params": float(genome.params)},
                                 fidelity=self.epochs)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Each objective's range in minimisation form (maximised ones negated)."""
        pairs = [sorted((o.to_min(o.bounds[0]), o.to_min(o.bounds[1]))) for o in self.objectives]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


STRATEGIES = {
    "aging": lambda: evonas.AgingEvolution(population=6, sample_size=2),  # sample / mutate
    "nsga2": lambda: evonas.PymooNSGA2(population=6),  # cardinalities / encode / decode
    "de": lambda: evonas.DifferentialEvolution(population=6),
    "random": lambda: evonas.RandomSearch(),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20, help="candidates to evaluate")
    parser.add_argument("--epochs", type=float, default=30, help="training epochs (max_iter) per candidate")
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="aging")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="run directory (new or empty); default: keep in memory")
    args = parser.parse_args(argv)

    space = MLPSpace()
    rng = np.random.default_rng(args.seed)
    for g in (space.sample(rng) for _ in range(100)):  # the protocol's round-trip contracts
        assert space.parse(str(g)) == g and space.decode(space.encode(g)) == g

    problem = DigitsMLP(epochs=max(1, round(args.epochs)), seed=args.seed)
    with evonas.Study(problem, STRATEGIES[args.strategy](), seed=args.seed, out=args.out) as study:
        result = study.optimize(evaluations=args.evaluations)

    print(f"{args.strategy}: {len(result.trials)} MLPs trained, hypervolume {result.hypervolume[-1][2]:.4f}")
    print("Pareto front (accuracy vs. parameters):")
    for t in result.front:
        print(f"  #{t.id:<3} {str(t.genome):<16} accuracy {t.metrics['accuracy']:.3f}  "
              f"params {t.metrics['params']:.0f}")


if __name__ == "__main__":
    main()
