"""...and the torch side: a dataset and a model factory that honours the tricks' ModelOptions."""

import torch
from torch import nn
from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.engine.tasks import BaseConfig, ClassificationData, ClassificationTask
from tricklab_worker.models import MLP


class BlobsTask(ClassificationTask):
    def load_data(self, base: BaseConfig, seed: int) -> ClassificationData:
        generator = torch.Generator().manual_seed(seed)
        targets = torch.randint(0, 2, (300,), generator=generator)
        inputs = torch.randn(300, 2, generator=generator) + 3.0 * targets[:, None].float()
        return ClassificationData(
            inputs[:200], targets[:200], inputs[200:250], targets[200:250], inputs[250:], targets[250:], n_classes=2
        )

    def build_model(self, base: BaseConfig, options: ModelOptions, data: ClassificationData) -> nn.Module:
        # a plain nn.Sequential would do too: the engine wraps modules that are not Classifiers
        mlp = MLP(2, 2, depth=2, width=base.get_int("width"), options=options)
        return nn.Sequential(nn.Identity(), mlp)
