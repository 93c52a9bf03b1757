"""Sampled gradient norms, against torch's own total norm and per-layer norms."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from tricklab_worker.engine.gradient_norms import GradientNormSampler


def _backward(model: nn.Module, seed: int) -> None:
    model.zero_grad(set_to_none=True)
    generator = torch.Generator().manual_seed(seed)
    model(torch.randn(32, 8, generator=generator)).pow(2).mean().backward()


def test_each_sample_is_torchs_total_norm_and_the_first_layer_norms_are_summed() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    parameters = list(model.parameters())
    sampler = GradientNormSampler(parameters, 0)
    expected_totals, expected_first = [], []
    for step, seed in [(10, 1), (20, 2), (30, 3)]:
        _backward(model, seed)
        sampler.sample(step)
        expected_totals.append(torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None]))
        expected_first.append(model[0].weight.grad.norm())
    batch = sampler.drain()
    assert batch is not None and batch.steps == [10, 20, 30]
    torch.testing.assert_close(batch.totals, torch.stack(expected_totals))
    torch.testing.assert_close(batch.first_layer_norms, expected_first)
    assert sampler.drain() is None  # drained: nothing pending until the next sample


def test_parameters_without_a_gradient_are_left_out_and_can_differ_between_samples() -> None:
    frozen, first, other = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))
    sampler = GradientNormSampler([frozen, first, other], 1)
    (first * 2.0).sum().backward()  # first.grad = 2s: norm sqrt(12); frozen and other have none
    sampler.sample(1)
    (other * 3.0).sum().backward()  # now first (still 2s) and other (3s: norm sqrt(18)) have gradients
    sampler.sample(2)
    batch = sampler.drain()
    assert batch is not None and batch.steps == [1, 2]
    torch.testing.assert_close(batch.totals, torch.tensor([12.0, 30.0]).sqrt())
    torch.testing.assert_close(batch.first_layer_norms, [torch.tensor(12.0).sqrt()] * 2)


def test_a_first_layer_without_a_gradient_is_not_counted_and_no_gradient_is_no_sample() -> None:
    frozen, trained = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    sampler = GradientNormSampler([frozen, trained], 0)
    sampler.sample(1)  # no gradients at all yet
    assert sampler.drain() is None
    (trained * 2.0).sum().backward()
    sampler.sample(2)
    batch = sampler.drain()
    assert batch is not None and batch.first_layer_norms == []
    torch.testing.assert_close(batch.totals, torch.tensor([12.0]).sqrt())


@pytest.mark.parametrize("n_layers", [1, 2, 3, 7])
def test_a_total_has_the_same_bits_whichever_samples_share_its_drain(n_layers: int) -> None:
    torch.manual_seed(n_layers)
    layers = [nn.Linear(8, 8) for _ in range(n_layers)]
    model = nn.Sequential(*layers)
    parameters = list(model.parameters())
    together, alone = GradientNormSampler(parameters, 0), GradientNormSampler(parameters, 0)
    one_by_one = []
    for step in range(1, 34):
        _backward(model, step)
        together.sample(step)
        alone.sample(step)
        batch = alone.drain()
        assert batch is not None
        one_by_one.append(batch.totals)
    batch = together.drain()
    assert batch is not None
    assert torch.equal(batch.totals, torch.cat(one_by_one))
