"""Model builders that honour ``ModelOptions`` (activation, init, normalization, dropout, residual)."""

from tricklab_worker.models.classifier import Classifier, InputClassifier
from tricklab_worker.models.cnn import SmallCNN
from tricklab_worker.models.layers import PreActBlock, init_weights, make_activation, make_norm
from tricklab_worker.models.mlp import MLP
from tricklab_worker.models.sequence import EmbeddingClassifier

__all__ = [
    "MLP",
    "Classifier",
    "EmbeddingClassifier",
    "InputClassifier",
    "PreActBlock",
    "SmallCNN",
    "init_weights",
    "make_activation",
    "make_norm",
]
