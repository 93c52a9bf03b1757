import torch
from torch import nn
from tricklab_worker.engine.run import prepare_classification
from tricklab_worker.tasks_builtin.digits import DigitsTask

from tests.worker.helpers import make_config


def test_dropout_follows_every_hidden_activation_and_is_off_in_eval() -> None:
    config = make_config("digits", {"dropout": {"p": 0.5}}, depth=3, width=16)
    model = prepare_classification(config, DigitsTask(), torch.device("cpu"), task_input="image").model
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 3 and all(d.p == 0.5 for d in dropouts)
    inputs = torch.rand(4, 64)
    model.eval()
    assert torch.equal(model(inputs), model(inputs))
    model.train()
    assert not torch.equal(model(inputs), model(inputs))


def test_base_model_has_no_dropout() -> None:
    model = prepare_classification(make_config("digits"), DigitsTask(), torch.device("cpu"), task_input="image").model
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
