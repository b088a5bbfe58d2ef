"""Zero-cost proxies: exact values on networks where they can be worked out by hand, float64
synflow where float32 overflows, and the untrained network left untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from evonas.core.errors import UserError
from evonas.mobilenet import proxies
from evonas.mobilenet.builder import build
from evonas.mobilenet.data import embedded_default
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.mobilenet.proxies import ProxyBatch, ProxyOverflow


def _chain(layers: int, width: int = 64, seed: int = 0) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    chain = nn.Sequential(*[nn.Linear(width, width, bias=False) for _ in range(layers)])
    with torch.no_grad():
        for layer in chain:
            layer.weight.copy_(torch.randn(width, width, generator=g) * math.sqrt(2 / width))
    return chain


def _log10_flow(chain: nn.Sequential) -> float:
    """Synflow of a bias-free linear chain, worked out in log space: the output sum R of the
    positive chain is homogeneous of degree 1 in each layer's weights, so the score is layers x R."""
    v, log_scale = np.ones(chain[0].in_features), 0.0
    for layer in chain:
        v = np.abs(layer.weight.detach().double().numpy()) @ v
        log_scale += math.log10(v.max())
        v /= v.max()
    return math.log10(len(chain)) + log_scale + math.log10(v.sum())


def test_synflow_is_exact_where_float32_overflows():
    chain = _chain(60)  # about 9x per layer: R ~ 1e57, past float32's 3.4e38
    naive = chain.float()
    with torch.no_grad():
        for p in naive.parameters():
            p.abs_()
    with torch.no_grad():
        assert not math.isfinite(float(naive(torch.ones(1, 64)).sum()))
    chain = _chain(60)
    score = proxies.synflow(chain, (64,))
    assert score > 40 and score == pytest.approx(_log10_flow(chain), abs=1e-9)


def test_synflow_past_float64_raises_instead_of_returning_inf():
    with pytest.raises(ProxyOverflow, match="float64"):
        proxies.synflow(_chain(400, seed=1), (64,))


def _logits_gradient(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d(mean cross-entropy)/dW of logits x W^T, by hand."""
    logits = x @ w.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p.T @ x / len(y)


def test_snip_and_grad_norm_match_the_gradient_worked_out_by_hand():
    g = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5, bias=False))
    batch = ProxyBatch(torch.randn(16, 3, 2, 2, generator=g), torch.randint(0, 5, (16,), generator=g))
    w = model[1].weight.detach().double().numpy()
    grad = _logits_gradient(w, batch.images.flatten(1).double().numpy(), batch.labels.numpy())
    assert proxies.snip(model, batch) == pytest.approx(np.abs(w * grad).sum(), rel=1e-5)
    assert proxies.grad_norm(model, batch) == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def _digits_network(seed: int = 0):
    data = embedded_default()
    config = SpaceConfig.for_resolution(8)
    genome = MobileNetSpace(config).sample(np.random.default_rng(seed))
    model = build(genome, config, data.input_shape, data.num_classes, torch.Generator().manual_seed(seed))
    return model, data


def test_proxies_score_a_real_network_on_real_digits_and_leave_it_untouched():
    model, data = _digits_network()
    batch = ProxyBatch(torch.as_tensor(data.x[:64]), torch.as_tensor(data.y[:64]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = {"synflow": proxies.synflow(model, data.input_shape),
              **{name: proxy(model, batch) for name, proxy in proxies.ON_A_BATCH.items()}}
    assert all(math.isfinite(v) for v in scores.values()), scores
    assert scores["snip"] > 0 and scores["grad_norm"] > 0
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(p.grad is not None for p in model.parameters())


def test_nwot_prefers_a_network_that_tells_the_images_apart():
    """Identical images get identical codes: a rank-one kernel, whose log-determinant is -inf."""
    model, data = _digits_network(seed=1)
    distinct = ProxyBatch(torch.as_tensor(data.x[:32]), torch.as_tensor(data.y[:32]))
    same = ProxyBatch(torch.as_tensor(data.x[:1]).repeat(32, 1, 1, 1), torch.as_tensor(data.y[:32]))
    assert math.isfinite(proxies.nwot(model, distinct))
    assert proxies.nwot(model, same) < proxies.nwot(model, distinct)
    assert proxies.nwot(model, same) == -math.inf


def test_a_malformed_batch_is_one_clear_error():
    with pytest.raises(UserError, match="proxy batch"):
        ProxyBatch(torch.zeros(4, 8, 8), torch.zeros(4))
    with pytest.raises(UserError, match="proxy batch"):
        ProxyBatch(torch.zeros(1, 1, 8, 8), torch.zeros(1))


@pytest.mark.slow  # trains three networks
def test_proxies_are_objectives_of_a_real_search_with_a_relative_hypervolume(tmp_path):
    """Computed before training on the run's fixed sample batch; no natural range, so relative."""
    from evonas.api.registry import OBJECTIVES
    from evonas.api.study import Study
    from evonas.engine.driver import candidate_seed
    from evonas.mobilenet.problem import ImageClassification

    objectives = [OBJECTIVES.get(name)() for name in ("accuracy", "synflow", "nwot")]
    problem = ImageClassification.from_options(objectives, seed=0, epochs=0.2)
    first = problem.sample()
    assert first is problem.sample() and len(first.labels) == 64
    assert torch.equal(first.images, ImageClassification.from_options(objectives, seed=0, epochs=0.2).sample().images)
    with Study(problem, "random", seed=0, out=tmp_path / "run") as study:
        result = study.optimize(evaluations=3)
    assert [t.state.name for t in result.trials] == ["OK"] * 3
    for trial in result.trials:
        model = problem.build(trial.genome, problem.generator(trial.genome, candidate_seed(0, trial.id)))
        assert trial.metrics["synflow"] == pytest.approx(proxies.synflow(model, problem.splits.input_shape))
        assert math.isfinite(trial.metrics["nwot"])
    assert result.normalisation.relative and set(result.normalisation.seen) == {"synflow", "nwot"}
