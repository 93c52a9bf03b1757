"""Token classifier: embedding (the attack surface for FGM), mean pooling, MLP head."""

from __future__ import annotations

from torch import Tensor, nn

from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.models.classifier import Classifier
from tricklab_worker.models.mlp import MLP


class EmbeddingClassifier(Classifier):
    """``embed`` returns the per-token embeddings so adversarial training can perturb them."""

    def __init__(self, vocab_size: int, n_classes: int, *, depth: int, width: int, options: ModelOptions) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, width)
        self.head = MLP(width, n_classes, depth=depth, width=width, options=options)

    def embed(self, inputs: Tensor) -> Tensor:
        out: Tensor = self.embedding(inputs)
        return out

    def classify(self, features: Tensor) -> Tensor:
        out: Tensor = self.head.classify(features.mean(dim=1))
        return out

    def first_layer_weight(self) -> Tensor:
        return self.head.projection.weight
