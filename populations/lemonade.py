"""LEMONADE: Lamarckian evolution for multi-objective architecture design (Elsken et al., ICLR 2019).

One generation of Algorithm 1 of the paper, with P the current Pareto front:

1. fit a kernel density estimate p_KDE to the *cheap* objectives of P;
2. sample ``n_pc`` parents from P with probability proportional to 1 / p_KDE(parent)
   and make one child from each by a random network morphism;
3. accept ``n_ac`` children, without replacement, with probability proportional to
   1 / p_KDE(child): children in sparse regions of cheap-objective space are preferred;
4. only the accepted children are trained (they inherit their parent's weights through
   the :class:`~morphisms.base.MorphismPlan` payload) and P becomes the Pareto front of
   P and the children.

Cheap objectives (parameters, FLOPs, latency) come from the problem without training
(:meth:`~evonas.core.problem.Problem.cheap_metrics`). They are compared on a log scale (costs
span orders of magnitude), standardised per objective over P, with a Gaussian kernel whose
bandwidth follows Scott's rule unless given.

With a ``prior`` (a training-free objective such as a zero-cost proxy,
:mod:`evonas.mobilenet.proxies`), step 3 also weighs each child by the proxy's rank among
this generation's m candidate children: child i, ranked r_i (1 = best by the proxy, ties
sharing their mean rank, a NaN score last), gets

    w_i = ((m - r_i + 1) / m) ** prior_strength

and is accepted with probability proportional to (1 / p_KDE(i)) * w_i. A rank, not the
proxy's value, so synflow's scale (orders of magnitude) weighs no more than NWOT's; with the
default strength 1 the best child weighs m times the worst, with 0 the prior has no effect.
The proxy is computed only when there is a choice (more candidate children than ``n_ac``).
With ``prior_draws`` d > 1, each random genome (P0) is also the best by the proxy of d random
draws (the first of equals). The proxy draws no random numbers (the problem builds each
untrained network from the run seed and the genome), so a run with a prior replays exactly on
resume.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.neighbors import KernelDensity

from evonas.core.objectives import Objective
from evonas.core.problem import Problem, Proposal, Trial
from morphisms.base import Morphism, MorphismPlan
from morphisms.operators import MORPHISMS
from morphisms.registry import morphism
from evonas.core.pareto import ParetoArchive
from evonas.core.options import Range
from populations.base import Strategy
from populations.training_free import best_index, require_training_free, worst_last

DEFAULT_CHEAP = ("params", "flops")
PRIOR_ROLE = "a LEMONADE prior"


def log_standardize(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` on a log10 scale, standardised by the mean and std of ``reference`` (same transform)."""
    ref, pts = np.log10(np.maximum(reference, 1e-12)), np.log10(np.maximum(points, 1e-12))
    std = ref.std(axis=0)
    return (pts - ref.mean(axis=0)) / np.where(std > 0, std, 1.0)


def inverse_density_probabilities(reference: np.ndarray, queries: np.ndarray,
                                  bandwidth: float | str = "scott") -> np.ndarray:
    """Probabilities proportional to 1 / p_KDE(query), p_KDE a Gaussian KDE fitted to ``reference``.

    Both arrays are (n, d) cheap-objective values; they are log-standardised by
    ``reference`` (:func:`log_standardize`) before the KDE.
    """
    kde = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(log_standardize(reference, reference))
    neg_log_density = -kde.score_samples(log_standardize(reference, queries))
    # floored so no query gets probability 0 (an exp underflow far inside a dense cluster):
    # sampling n_ac children without replacement needs n_ac non-zero probabilities
    weights = np.maximum(np.exp(neg_log_density - neg_log_density.max()), 1e-12)
    return weights / weights.sum()


def rank_weights(scores: np.ndarray, objective: Objective, strength: float) -> np.ndarray:
    """Rank weights ``((m - r + 1) / m) ** strength`` of ``scores`` (m values of ``objective``).

    r is a score's rank, 1 the best in ``objective``'s direction; equal scores share their
    mean rank and NaN ranks last. Weights lie in (0, 1], the best score's is 1.
    """
    ranks = rankdata(worst_last(scores, objective), method="average")
    m = len(ranks)
    return ((m - ranks + 1) / m) ** strength


class Lemonade(Strategy):
    """LEMONADE with network morphisms and density-based parent and child selection.

    The first ``n_init`` proposals are random genomes (P0). Afterwards each empty queue
    triggers a generation (see the module docstring) whose ``n_ac`` accepted children are
    then proposed one by one. Children that repeat a genome already proposed are dropped
    before acceptance. On spaces the morphisms do not apply to (benchmark tables), a
    child is the space's own ``mutate`` of the parent; without cheap metrics from the
    problem, selection is uniform.

    Args:
        n_pc: children generated per generation (paper: n_pc).
        n_ac: children accepted, hence trained, per generation (paper: n_ac).
        n_init: random genomes evaluated first.
        cheap: names of the cheap objectives, those the problem knows without training.
        morphisms: the operators children are made with (instances, or names of
            :data:`morphisms.registry.MORPHISM_REGISTRY` / ``module:Class`` paths).
        bandwidth: KDE bandwidth on the standardised scale, or 'scott'.
        prior: a training-free objective with a source (e.g. a zero-cost proxy,
            ``evonas.mobilenet.proxies.objective("nwot")``; on the command line its registered
            name) whose rank among a generation's children weighs their acceptance (see the
            module docstring); None: no prior.
        prior_strength: the exponent of the prior's rank weight (0: no effect; 1: the best
            child weighs m times the worst of m).
        prior_draws: with a prior, each random genome (P0, or a generation that made no new
            child) is the best by the prior of this many random draws (1: random, as without).
    """

    name = "lemonade"

    def __init__(
        self,
        n_pc: Annotated[int, Range(1, 1_000)] = 8,
        n_ac: Annotated[int, Range(1, 1_000)] = 2,
        n_init: Annotated[int, Range(1)] = 4,
        cheap: Sequence[str] = DEFAULT_CHEAP,
        morphisms: Sequence[Morphism | str] = MORPHISMS,
        bandwidth: float | str = "scott",
        prior: Objective | None = None,
        prior_strength: Annotated[float, Range(0, 100)] = 1.0,
        prior_draws: Annotated[int, Range(1, 1_000)] = 1,
    ):
        self.n_pc = n_pc
        self.n_ac = n_ac
        self.n_init = n_init
        self.cheap = tuple(cheap)
        self.morphisms = tuple(morphisms)
        self.bandwidth = bandwidth
        self.prior = prior
        self.prior_strength = prior_strength
        self.prior_draws = prior_draws

    def check(self, n_objectives: int) -> None:
        """Also refuse a prior that cannot be computed before training."""
        super().check(n_objectives)
        if self.prior is not None:
            require_training_free(self.prior, PRIOR_ROLE)

    def bind(self, problem: Problem) -> None:
        """Refuse a prior that is not training-free, or (in the problem's own line) one on a problem
        that cannot score untrained networks."""
        if isinstance(self.prior, Objective):
            require_training_free(self.prior, PRIOR_ROLE, problem)
        super().bind(problem)

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        self.operators_ = tuple(morphism(m) if isinstance(m, str) else m for m in self.morphisms)
        self.archive_ = ParetoArchive()
        self.ok_: list[Trial] = []
        self.queue_: deque[Proposal] = deque()
        self.seen_: set = set()
        self.issued_ = 0
        self.told_ = 0

    # -- ask/tell ---------------------------------------------------------------------------
    def ask(self) -> Proposal:
        self.issued_ += 1
        if max(self.issued_, self.told_ + 1) > self.n_init and self.ok_:
            if not self.queue_:
                self.queue_.extend(self.generation())
            if self.queue_:
                return self.queue_.popleft()
        return Proposal(self._random(), None, "random")

    def tell(self, trial: Trial) -> None:
        self.told_ += 1
        self.seen_.add(trial.genome)
        if trial.ok:
            self.ok_.append(trial)
            self.archive_.add(trial)

    def parent_ids(self) -> set[int]:
        """The population parents are drawn from, and the parents of children queued but not yet asked."""
        population = {t.id for t in self.population()} if self.ok_ else set()
        return population | {p.parent_id for p in self.queue_ if p.parent_id is not None}

    # -- one generation ---------------------------------------------------------------------
    def population(self) -> list[Trial]:
        """P: the feasible Pareto front, or the least-violating trials while none is feasible."""
        if len(self.archive_):
            return list(self.archive_.trials)
        least = min(t.violation for t in self.ok_)
        return [t for t in self.ok_ if t.violation == least]

    def generation(self) -> list[Proposal]:
        """Generate ``n_pc`` children of density-sampled parents; return the ``n_ac`` accepted."""
        pop = self.population()
        names = [n for n in self.cheap if all(n in t.metrics for t in pop)]
        ref = np.array([[t.metrics[n] for n in names] for t in pop])
        p_parent = self._probabilities(ref, ref) if names else np.full(len(pop), 1 / len(pop))
        children: dict = {}
        for i in self.rng_.choice(len(pop), size=self.n_pc, p=p_parent):
            child = self._child(pop[i])
            if child.genome not in self.seen_ and child.genome not in children:
                children[child.genome] = child
        if not children:
            return []
        kids = list(children.values())
        p_child = self._child_probabilities(ref, names, kids)
        if self.prior is not None and len(kids) > self.n_ac:
            p_child = self._with_prior(p_child, kids)
        accepted = self.rng_.choice(len(kids), size=min(self.n_ac, len(kids)), replace=False, p=p_child)
        proposals = [kids[i] for i in accepted]
        self.seen_.update(p.genome for p in proposals)
        return proposals

    def _child_probabilities(self, ref: np.ndarray, names: list[str], kids: list[Proposal]) -> np.ndarray:
        metrics = [self.problem_.cheap_metrics(k.genome, names) if self.problem_ else {} for k in kids]
        known = [n for n in names if all(n in m for m in metrics)]
        if not known:
            return np.full(len(kids), 1 / len(kids))
        cols = [names.index(n) for n in known]
        queries = np.array([[m[n] for n in known] for m in metrics])
        return self._probabilities(ref[:, cols], queries)

    def _with_prior(self, p_child: np.ndarray, kids: list[Proposal]) -> np.ndarray:
        """``p_child`` times the prior's rank weights of ``kids``, renormalised (floored, as the
        density's are, so that ``n_ac`` children keep a non-zero chance under a strong prior)."""
        scores = np.asarray(self.problem_.training_free([k.genome for k in kids], self.prior), float)
        weighted = p_child * rank_weights(scores, self.prior, self.prior_strength)
        weighted = np.maximum(weighted / weighted.max(), 1e-12)
        return weighted / weighted.sum()

    def _probabilities(self, ref: np.ndarray, queries: np.ndarray) -> np.ndarray:
        return inverse_density_probabilities(ref, queries, self.bandwidth)

    def _child(self, parent: Trial) -> Proposal:
        """A child of ``parent`` by a random applicable morphism (or the space's mutation)."""
        ops = [m for m in self.operators_ if m.applies(parent.genome, self.space_)]
        if not ops:
            genome, op = self.space_.mutate(parent.genome, self.rng_)
            return Proposal(genome, parent.id, op)
        step = ops[int(self.rng_.integers(len(ops)))].propose(parent.genome, self.space_, self.rng_)
        genome = step.genome(parent.genome)
        self.space_.validate(genome)
        return Proposal(genome, parent.id, step.name, MorphismPlan(parent.genome, step))

    def _random(self):
        """A random genome (P0): the best by the prior of ``prior_draws`` draws where both are set."""
        if self.prior is None or self.prior_draws == 1:
            genome = self._sample()
        else:
            drawn = [self._sample() for _ in range(self.prior_draws)]
            scores = np.asarray(self.problem_.training_free(drawn, self.prior), float)
            genome = drawn[best_index(scores, self.prior)]
        self.seen_.add(genome)
        return genome

    def _sample(self):
        for _ in range(10):
            genome = self.space_.sample(self.rng_)
            if genome not in self.seen_:
                break
        return genome
