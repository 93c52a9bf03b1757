"""The shape every classifier has for the engine: an attack surface, then a head.

``embed`` maps raw inputs to the tensor adversarial training perturbs (the inputs themselves
for vector/image tasks, the embedding output for token tasks); ``classify`` maps it to logits.
"""

from __future__ import annotations

from torch import Tensor, nn


class Classifier(nn.Module):
    """Base class of built-in classifiers; plugin tasks may return any ``nn.Module`` instead."""

    def embed(self, inputs: Tensor) -> Tensor:
        return inputs

    def classify(self, features: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, inputs: Tensor) -> Tensor:
        return self.classify(self.embed(inputs))

    def first_layer_weight(self) -> Tensor:
        """The weight whose gradient norm reveals vanishing gradients (first trainable layer)."""
        for parameter in self.parameters():
            if parameter.dim() >= 2:
                return parameter
        raise ValueError("model has no weight matrix")


class InputClassifier(Classifier):
    """Wraps a plain module so its inputs are the attack surface."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def classify(self, features: Tensor) -> Tensor:
        out: Tensor = self.module(features)
        return out
