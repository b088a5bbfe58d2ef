"""A cheap accuracy surrogate for strategies: ridge regression on one-hot encoded genomes.

Any :class:`~evonas.core.problem.SearchSpace` encodes a genome as a fixed-length integer vector
with :meth:`cardinalities` choices per position; one-hot features of that vector make a
linear model of the additive effect of every choice. On the OFA and NB201 tables such a
model ranks the children of good networks with a Spearman correlation near 0.85-0.9 after a
few hundred trials, which is enough to choose the most promising of many candidates before
spending an evaluation.

The model keeps ``(X^T X + alpha I)^-1`` up to date with a Sherman-Morrison update per sample
and ``X^T y``, so adding a sample and refitting are a few small matrix-vector products
whatever the number of trials, with no LAPACK call (whose thread pool costs far more than
the arithmetic at this size on a busy machine).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


# Hand-written on purpose (issue 27, measured 2026-12-07 on 2 cores of an AMD EPYC): scikit-learn's
# Ridge (fit_intercept=False on centred targets, one BLAS thread; commit a3acfd1 on branch sklearn-gp)
# gives the same weights (seeded bounded runs on nb201 and ofa proposed the same genomes) but refits
# from all samples each time: bounded's 400-evaluation runs took about 2x as long on nb201
# (0.75 -> 1.5 s) and 1.1-1.3x on ofa. Command: benchmarks/bounded_ridge_ab.py; docs/benchmarks.md.
class OneHotRidge:
    """Ridge regression of a scalar on the one-hot features of integer-encoded genomes.

    Predictions are ``mean(y) + sum of the weights of the chosen values``; the weights solve
    ``(X^T X + alpha I) w = X^T (y - mean(y))``.

    Args:
        cardinalities: choices per position of the encoding (``space.cardinalities()``).
        alpha: ridge penalty (in units of samples: the weight of a value seen ``n`` times
            is shrunk by about ``alpha / (n + alpha)``).
    """

    def __init__(self, cardinalities: Sequence[int], alpha: float = 1.0):
        cards = np.asarray(cardinalities, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]).astype(np.int64)
        self.n_features = int(cards.sum())
        self.alpha = alpha
        self._inverse = np.eye(self.n_features) / alpha
        self._counts = np.zeros(self.n_features)
        self._xty = np.zeros(self.n_features)
        self._sum_y = 0.0
        self.n_samples = 0
        self.coef_: np.ndarray | None = None
        self.intercept_ = 0.0
        self._fitted_at = 0

    def add(self, code: np.ndarray, y: float) -> None:
        """Record one sample: an encoded genome and its target value."""
        idx = self.offsets + np.asarray(code, dtype=np.int64)
        column = self._inverse[:, idx].sum(axis=1)  # A^-1 x for the one-hot x
        self._inverse -= np.outer(column, column) / (1.0 + column[idx].sum())
        self._counts[idx] += 1.0
        self._xty[idx] += y
        self._sum_y += y
        self.n_samples += 1

    @property
    def stale(self) -> int:
        """Samples added since the last :meth:`fit`."""
        return self.n_samples - self._fitted_at

    def fit(self) -> None:
        """Solve for the weights on every sample added so far."""
        if self.n_samples == 0:
            return
        mean = self._sum_y / self.n_samples
        self.coef_ = self._inverse @ (self._xty - mean * self._counts)
        self.intercept_ = mean
        self._fitted_at = self.n_samples

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Predicted targets of encoded genomes, shape ``(n, len(cardinalities))`` -> ``(n,)``."""
        if self.coef_ is None:
            raise RuntimeError("OneHotRidge.predict before fit")
        codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
        return self.intercept_ + self.coef_[self.offsets + codes].sum(axis=1)
