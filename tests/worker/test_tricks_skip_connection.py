import torch
from torch import nn
from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.engine.run import prepare_classification
from tricklab_worker.models.layers import PreActBlock
from tricklab_worker.tasks_builtin.digits import DigitsTask

from tests.worker.helpers import make_config


def test_residual_block_is_the_identity_at_zero_weights() -> None:
    for activation in ("sigmoid", "tanh", "relu"):
        block = PreActBlock(nn.Linear(8, 8), ModelOptions(activation=activation, residual=True), 8, spatial=False)
        nn.init.zeros_(block.transform.weight)
        nn.init.zeros_(block.transform.bias)
        hidden = torch.randn(5, 8)
        assert torch.equal(block(hidden), hidden)


def test_plain_and_residual_nets_share_depth_width_and_init() -> None:
    def build(tricks: dict[str, dict[str, object]]) -> nn.Module:
        config = make_config("digits", tricks, depth=6, width=32)
        return prepare_classification(config, DigitsTask(), torch.device("cpu"), task_input="image").model

    plain, residual = build({}), build({"skip_connection": {}})
    plain_state, residual_state = plain.state_dict(), residual.state_dict()
    assert plain_state.keys() == residual_state.keys()
    assert all(torch.equal(plain_state[k], residual_state[k]) for k in plain_state)
    blocks = [m for m in residual.modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 5 and all(b.residual for b in blocks)
    inputs = torch.rand(3, 64)
    assert not torch.allclose(plain(inputs), residual(inputs))
