import math

import pytest
import torch
from torch import nn
from tricklab_worker.engine.evaluation import probabilities_of
from tricklab_worker.engine.hooks import FinalContext
from tricklab_worker.tricks.cyclic_lr import CyclicCosineSchedule, SnapshotEnsemble, cyclic_cosine_lr


def seed_formula(x: int, lr_init: float, lr_min: float, cycle: int) -> float:
    # verbatim from the seed document (numpy replaced by math)
    return ((lr_init - lr_min) / 2) * (math.cos(math.pi * (((x - 1) % cycle) / (cycle))) + 1) + lr_min


def test_matches_the_seed_formula_at_chosen_steps() -> None:
    for step in (1, 2, 5, 10, 11, 17, 20, 21, 100):
        assert cyclic_cosine_lr(step, lr_max=0.1, lr_min=0.001, cycle=10) == pytest.approx(
            seed_formula(step, 0.1, 0.001, 10)
        )
    assert cyclic_cosine_lr(11, lr_max=0.1, lr_min=0.001, cycle=10) == pytest.approx(0.1)  # restart


def test_matches_cosine_annealing_warm_restarts() -> None:
    parameter = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.2)
    reference = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=7, eta_min=0.01)
    schedule = CyclicCosineSchedule(lr_max=0.2, lr_min=0.01, cycle=7)
    for step in range(1, 30):
        # torch's epoch counter starts at 0 for the first step, ours at 1
        assert schedule(step) == pytest.approx(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()


def test_snapshot_ensemble_is_the_averaged_softmax_of_the_stored_snapshots() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    ensemble = SnapshotEnsemble(cycle=2)
    stored: list[nn.Module] = []
    for step in range(1, 7):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.5 * torch.randn_like(parameter))
        ensemble.on_step_end(step, model)
        if step % 2 == 0:
            stored.append(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)))
            stored[-1].load_state_dict(model.state_dict())
    assert len(ensemble.snapshots) == 3
    inputs, targets = torch.randn(50, 4), torch.randint(0, 3, (50,))
    expected = torch.stack([torch.softmax(member(inputs), dim=1) for member in stored]).mean(dim=0).detach()
    accuracy = (expected.argmax(dim=1) == targets).float().mean().item()
    metrics = ensemble.final_metrics(FinalContext(model, inputs, targets, probabilities_of))
    assert metrics["snapshot_ensemble_accuracy"] == pytest.approx(accuracy)
    assert metrics["snapshot_ensemble_members"] == 3


def test_keep_limits_the_snapshots_to_the_last_ones() -> None:
    model = nn.Linear(2, 2)
    ensemble = SnapshotEnsemble(cycle=1, keep=2)
    for step in range(1, 5):
        with torch.no_grad():
            model.weight.fill_(float(step))
        ensemble.on_step_end(step, model)
    assert [s["weight"][0, 0].item() for s in ensemble.snapshots] == [3.0, 4.0]
    restored = SnapshotEnsemble(cycle=1, keep=2)
    restored.load_state_dict(ensemble.state_dict())
    assert len(restored.snapshots) == 2
