"""RAdam (torch.optim.RAdam) instead of the base optimizer, same lr and weight decay.

It also wins over wgan's default optimizer (RMSprop / Adam(0.5, 0.9)): ``pinned`` tells wgan so.
"""

from __future__ import annotations

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.engine.options import RunOptions


class RAdam(Trick):
    name = "radam"

    def configure(self, options: RunOptions) -> None:
        options.optimizer.name = "radam"
        options.optimizer.betas = (self.float_param("beta1"), self.float_param("beta2"))
        options.optimizer.pinned = True
