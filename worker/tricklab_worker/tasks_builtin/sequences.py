"""Generated token sequences whose class is the majority of the motif tokens they contain."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tricklab_worker.engine.options import ConfigError, ModelOptions
from tricklab_worker.engine.tasks import BaseConfig, ClassificationData, ClassificationTask
from tricklab_worker.models import EmbeddingClassifier

MOTIFS_PER_CLASS = 4
OWN_MOTIF_TOKENS = 3
DISTRACTOR_MOTIF_TOKENS = 2


def generate_sequences(
    *, n_samples: int, vocab_size: int, seq_len: int, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Background tokens plus 3 motif tokens of the true class and 2 of other classes (a noisy bag of words).

    Motif tokens are ids 0 .. n_classes * 4 - 1; class c owns ids 4c .. 4c + 3.
    """
    n_motif = n_classes * MOTIFS_PER_CLASS
    if vocab_size <= n_motif or seq_len < OWN_MOTIF_TOKENS + DISTRACTOR_MOTIF_TOKENS:
        raise ConfigError(
            f"sequences: vocab_size must exceed n_classes * {MOTIFS_PER_CLASS} = {n_motif} and seq_len must be >= 5"
        )
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, n_classes, size=n_samples)
    tokens = rng.randint(n_motif, vocab_size, size=(n_samples, seq_len))
    for row, label in enumerate(labels):
        own = label * MOTIFS_PER_CLASS + rng.randint(0, MOTIFS_PER_CLASS, size=OWN_MOTIF_TOKENS)
        others = (label + rng.randint(1, n_classes, size=DISTRACTOR_MOTIF_TOKENS)) % n_classes
        distractors = others * MOTIFS_PER_CLASS + rng.randint(0, MOTIFS_PER_CLASS, size=DISTRACTOR_MOTIF_TOKENS)
        positions = rng.choice(seq_len, size=OWN_MOTIF_TOKENS + DISTRACTOR_MOTIF_TOKENS, replace=False)
        tokens[row, positions] = np.concatenate([own, distractors])
    return tokens.astype(np.int64), labels.astype(np.int64)


class SequencesTask(ClassificationTask):
    """Embedding + mean pooling + MLP head; a 60/20/20 split of sequences generated from the seed."""

    def load_data(self, base: BaseConfig, seed: int) -> ClassificationData:
        tokens, labels = generate_sequences(
            n_samples=base.get_int("n_samples", 4000),
            vocab_size=base.get_int("vocab_size", 200),
            seq_len=base.get_int("seq_len", 32),
            n_classes=base.get_int("n_classes", 4),
            seed=seed,
        )
        n_train, n_val = int(0.6 * len(labels)), int(0.2 * len(labels))
        x, y = torch.from_numpy(tokens), torch.from_numpy(labels)
        return ClassificationData(
            train_inputs=x[:n_train],
            train_targets=y[:n_train],
            val_inputs=x[n_train : n_train + n_val],
            val_targets=y[n_train : n_train + n_val],
            test_inputs=x[n_train + n_val :],
            test_targets=y[n_train + n_val :],
            n_classes=base.get_int("n_classes", 4),
        )

    def build_model(self, base: BaseConfig, options: ModelOptions, data: ClassificationData) -> nn.Module:
        return EmbeddingClassifier(
            base.get_int("vocab_size", 200),
            data.n_classes,
            depth=base.get_int("depth", 2),
            width=base.get_int("width", 64),
            options=options,
        )
