"""Shapes and structure of the model builders (models/mlp, cnn, sequence, layers, classifier)."""

import pytest
import torch
from torch import nn
from tricklab_worker.engine.options import ConfigError, ModelOptions
from tricklab_worker.models import MLP, EmbeddingClassifier, InputClassifier, SmallCNN, make_norm


@pytest.mark.parametrize("residual", [False, True])
def test_mlp_has_depth_hidden_layers_and_the_first_one_projects(residual: bool) -> None:
    model = MLP(64, 10, depth=5, width=24, options=ModelOptions(residual=residual))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 24)] + [(24, 24)] * 4 + [(24, 10)]
    assert model(torch.rand(7, 64)).shape == (7, 10)
    assert model.first_layer_weight() is linears[0].weight


def test_cnn_reshapes_flat_images_and_rejects_non_squares() -> None:
    model = SmallCNN(64, 10, depth=3, width=4, options=ModelOptions(norm="group", norm_groups=2, residual=True))
    assert model(torch.rand(5, 64)).shape == (5, 10)
    with pytest.raises(ConfigError, match="square"):
        SmallCNN(60, 10, depth=1, width=4, options=ModelOptions())


def test_embedding_classifier_exposes_embeddings_as_the_attack_surface() -> None:
    model = EmbeddingClassifier(30, 4, depth=2, width=8, options=ModelOptions())
    tokens = torch.randint(0, 30, (3, 11))
    features = model.embed(tokens)
    assert features.shape == (3, 11, 8)
    assert torch.equal(model.classify(features), model(tokens))
    assert model.first_layer_weight().shape == (8, 8)


def test_plain_modules_are_wrapped_with_their_inputs_as_attack_surface() -> None:
    wrapped = InputClassifier(nn.Linear(3, 2))
    inputs = torch.rand(4, 3)
    assert torch.equal(wrapped.embed(inputs), inputs) and wrapped(inputs).shape == (4, 2)


def test_depth_below_one_and_no_norm() -> None:
    with pytest.raises(ConfigError, match="at least one hidden layer"):
        MLP(2, 2, depth=0, width=4, options=ModelOptions())
    assert isinstance(make_norm(ModelOptions(), 4, spatial=False), nn.Identity)
