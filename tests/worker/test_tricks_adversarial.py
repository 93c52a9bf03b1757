import pytest
import torch
import torch.nn.functional as F
from torch import nn
from tricklab_worker.engine.options import ConfigError
from tricklab_worker.engine.run import prepare_classification
from tricklab_worker.tasks_builtin.digits import DigitsTask
from tricklab_worker.tasks_builtin.sequences import SequencesTask
from tricklab_worker.tricks.adversarial import FGM, PGD, fgm_perturb, fgsm_perturb, pgd_perturb

from tests.worker.helpers import make_config


@pytest.fixture
def classifier() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 4))
    return model, torch.rand(64, 20), torch.randint(0, 4, (64,))


def test_fgsm_moves_every_input_by_exactly_epsilon(classifier: tuple[nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, inputs, targets = classifier
    adversarial = fgsm_perturb(model, inputs, targets, F.cross_entropy, epsilon=0.05)
    assert (adversarial - inputs).abs().max().item() == pytest.approx(0.05)
    assert F.cross_entropy(model(adversarial), targets) > F.cross_entropy(model(inputs), targets)


def test_fgsm_respects_the_input_range(classifier: tuple[nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, inputs, targets = classifier
    adversarial = fgsm_perturb(model, inputs, targets, F.cross_entropy, epsilon=0.5, bounds=(0.0, 1.0))
    assert adversarial.min().item() >= 0.0 and adversarial.max().item() <= 1.0


def test_pgd_stays_in_the_ball_and_raises_the_loss_beyond_fgsm(
    classifier: tuple[nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, inputs, targets = classifier
    generator = torch.Generator().manual_seed(0)
    adversarial = pgd_perturb(model, inputs, targets, F.cross_entropy, epsilon=0.1, steps=10, generator=generator)
    assert (adversarial - inputs).abs().max().item() <= 0.1 + 1e-6
    clean = F.cross_entropy(model(inputs), targets).item()
    one_step = F.cross_entropy(model(fgsm_perturb(model, inputs, targets, F.cross_entropy, epsilon=0.1)), targets)
    attacked = F.cross_entropy(model(adversarial), targets).item()
    assert clean < one_step.item() <= attacked + 1e-4
    assert PGD(0.1, 10).perturb(model, inputs, targets, F.cross_entropy).sub(inputs).abs().max() <= 0.1 + 1e-6


def test_fgm_perturbation_has_l2_norm_epsilon_per_sample() -> None:
    torch.manual_seed(0)
    embedding, head = nn.Embedding(50, 8), nn.Sequential(nn.Flatten(), nn.Linear(8 * 6, 3))
    tokens, targets = torch.randint(0, 50, (10, 6)), torch.randint(0, 3, (10,))
    features = embedding(tokens)
    perturbed = fgm_perturb(head, features, targets, F.cross_entropy, epsilon=0.5)
    norms = (perturbed - features).flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full((10,), 0.5), atol=1e-5)
    assert FGM(0.5).perturb(head, features, targets, F.cross_entropy).shape == features.shape
    assert F.cross_entropy(head(perturbed), targets) > F.cross_entropy(head(features), targets)


def test_method_must_fit_the_task_input() -> None:
    with pytest.raises(ConfigError, match="use fgsm or pgd"):
        prepare_classification(
            make_config("digits", {"adversarial": {"method": "fgm"}}),
            DigitsTask(),
            torch.device("cpu"),
            task_input="image",
        )
    run = prepare_classification(
        make_config("sequences", {"adversarial": {"method": "fgm", "epsilon": 0.5}}, n_samples=200),
        SequencesTask(),
        torch.device("cpu"),
        task_input="tokens",
    )
    assert run.options.adversarial is not None and run.options.adversarial.adversary == FGM(0.5)
