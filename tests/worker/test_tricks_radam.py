import torch
from torch import nn
from tricklab_worker.engine.options import OptimizerOptions, build_optimizer
from tricklab_worker.tricks.radam import RAdam

from tests.worker.test_tricks_warmup import options


def test_radam_trajectory_equals_torch_radam_with_the_same_lr_and_weight_decay() -> None:
    run = options(lr=0.01)
    run.optimizer.weight_decay = 1e-3
    RAdam({"beta1": 0.9, "beta2": 0.999}).configure(run)
    torch.manual_seed(0)
    ours, reference = nn.Linear(5, 3), nn.Linear(5, 3)
    reference.load_state_dict(ours.state_dict())
    optimizer = build_optimizer(run.optimizer, list(ours.parameters()))
    torch_radam = torch.optim.RAdam(reference.parameters(), lr=0.01, weight_decay=1e-3)
    assert isinstance(optimizer, torch.optim.RAdam)
    inputs = torch.randn(16, 5)
    for _ in range(10):
        for model, opt in ((ours, optimizer), (reference, torch_radam)):
            opt.zero_grad()
            model(inputs).pow(2).mean().backward()
            opt.step()
    assert torch.equal(ours.weight, reference.weight)


def test_radam_wins_over_the_wgan_default_optimizer() -> None:
    from tricklab_worker.tricks.wgan import WGAN

    for order in ((RAdam, WGAN), (WGAN, RAdam)):
        run = options()
        params = {
            RAdam: {"beta1": 0.9, "beta2": 0.999},
            WGAN: {"variant": "gp", "clip": 0.01, "gp_lambda": 10.0, "n_critic": 5},
        }
        for cls in order:
            cls(params[cls]).configure(run)
        assert run.optimizer == OptimizerOptions(name="radam", lr=0.1, betas=(0.9, 0.999), pinned=True)
