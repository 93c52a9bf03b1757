import pytest
from tricklab_worker.engine.options import ConfigError, Timing
from tricklab_worker.engine.setup import base_options, configure, make_tricks
from tricklab_worker.engine.tasks import BaseConfig
from tricklab_worker.tricks.radam import RAdam

from tests.worker.helpers import make_config


def test_tricks_are_instantiated_from_the_registry_with_their_params() -> None:
    tricks = make_tricks({"radam": {"beta1": 0.8, "beta2": 0.99}})
    assert isinstance(tricks[0], RAdam) and tricks[0].params == {"beta1": 0.8, "beta2": 0.99}
    with pytest.raises(ConfigError, match="unknown tricks"):
        make_tricks({"lookahead": {}})


def test_base_options_then_tricks() -> None:
    config = make_config("digits", {"relu": {}, "radam": {}}, lr=0.01, activation="sigmoid", schedule="cosine")
    options = base_options(
        config,
        BaseConfig(config.base),
        kind="classification",
        task_input="image",
        timing=Timing(10, 100),
        n_classes=10,
        minority=[],
        input_range=(0.0, 1.0),
    )
    assert options.model.activation == "sigmoid" and options.optimizer.name == "sgd"
    assert options.lr_at(1) == pytest.approx(0.01)
    configure(options, make_tricks(config.tricks))
    assert options.model.activation == "relu" and options.optimizer.name == "radam"
