"""A cheap accuracy surrogate for strategies: ridge regression on one-hot encoded genomes.

Any :class:`~evonas.core.problem.SearchSpace` encodes a genome as a fixed-length integer vector
with :meth:`cardinalities` choices per position; one-hot features of that vector make a
linear model of the additive effect of every choice. On the OFA and NB201 tables such a
model ranks the children of good networks with a Spearman correlation near 0.85-0.9 after a
few hundred trials, which is enough to choose the most promising of many candidates before
spending an evaluation.

The weights are solved by scikit-learn's :class:`~sklearn.linear_model.Ridge` on the samples
recorded so far, when asked to (:meth:`OneHotRidge.fit`); a strategy refits every few samples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import Ridge
from threadpoolctl import ThreadpoolController

_blas: ThreadpoolController | None = None


def one_blas_thread():
    """A context limiting BLAS to one thread: the matrices of the surrogates are small, and on a
    busy machine threads only contend (a ridge fit on 400 OFA samples: 157 ms with two threads,
    7 ms with one, 2026-12-07)."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


class OneHotRidge:
    """Ridge regression of a scalar on the one-hot features of integer-encoded genomes.

    Predictions are ``mean(y) + sum of the weights of the chosen values``; the weights solve
    ``(X^T X + alpha I) w = X^T (y - mean(y))`` (scikit-learn's ``Ridge`` without an
    intercept, on centred targets).

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
        self._columns: list[np.ndarray] = []  # one-hot column indices of each sample
        self._y: list[float] = []
        self.coef_: np.ndarray | None = None
        self.intercept_ = 0.0
        self._fitted_at = 0

    @property
    def n_samples(self) -> int:
        """Samples recorded so far."""
        return len(self._y)

    def add(self, code: np.ndarray, y: float) -> None:
        """Record one sample: an encoded genome and its target value."""
        self._columns.append(self.offsets + np.asarray(code, dtype=np.int64))
        self._y.append(float(y))

    @property
    def stale(self) -> int:
        """Samples added since the last :meth:`fit`."""
        return self.n_samples - self._fitted_at

    def fit(self) -> None:
        """Solve for the weights on every sample added so far."""
        if self.n_samples == 0:
            return
        x = np.zeros((self.n_samples, self.n_features))
        x[np.arange(self.n_samples)[:, None], np.array(self._columns)] = 1.0
        y = np.array(self._y)
        mean = y.mean()
        with one_blas_thread():
            self.coef_ = Ridge(alpha=self.alpha, fit_intercept=False, solver="cholesky").fit(x, y - mean).coef_
        self.intercept_ = mean
        self._fitted_at = self.n_samples

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Predicted targets of encoded genomes, shape ``(n, len(cardinalities))`` -> ``(n,)``."""
        if self.coef_ is None:
            raise RuntimeError("OneHotRidge.predict before fit")
        codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
        return self.intercept_ + self.coef_[self.offsets + codes].sum(axis=1)
