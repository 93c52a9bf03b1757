"""The built-in tasks: splits, imbalance, generated sequences and ring scores."""

from collections import Counter

import pytest
import torch
from tricklab_worker.engine.options import ModelOptions
from tricklab_worker.engine.tasks import BaseConfig
from tricklab_worker.tasks_builtin.digits import DigitsTask
from tricklab_worker.tasks_builtin.digits_imbalanced import DigitsImbalancedTask
from tricklab_worker.tasks_builtin.ring_gan import RingGanTask, ring_centers, ring_scores
from tricklab_worker.tasks_builtin.sequences import SequencesTask, generate_sequences


def test_digits_split_is_stratified_60_20_20_and_fixed_by_seed() -> None:
    data = DigitsTask().load_data(BaseConfig({}), seed=0)
    sizes = [len(data.train_targets), len(data.val_targets), len(data.test_targets)]
    assert sum(sizes) == 1797 and sizes == pytest.approx([1078, 359, 360], abs=1)
    shares = Counter(data.test_targets.tolist())
    assert max(shares.values()) - min(shares.values()) <= 2
    again = DigitsTask().load_data(BaseConfig({}), seed=0)
    assert torch.equal(again.test_inputs, data.test_inputs)
    assert not torch.equal(DigitsTask().load_data(BaseConfig({}), seed=1).test_inputs, data.test_inputs)
    assert data.train_inputs.min().item() >= 0.0 and data.train_inputs.max().item() <= 1.0


def test_imbalanced_binary_keeps_the_ratio_in_every_split() -> None:
    data = DigitsImbalancedTask().load_data(BaseConfig({"imbalance_ratio": 20.0, "minority_class": 3}), seed=0)
    targets = torch.cat([data.train_targets, data.val_targets, data.test_targets])
    negatives, positives = (targets == 0).sum().item(), (targets == 1).sum().item()
    assert negatives / positives == pytest.approx(20, rel=0.05)
    assert data.minority_classes == [1] and data.n_classes == 2
    assert (data.test_targets == 1).sum().item() >= 3


def test_imbalanced_multiclass_subsamples_only_the_minority_digit() -> None:
    base = BaseConfig({"mode": "multiclass", "imbalance_ratio": 10.0, "minority_class": 7})
    data = DigitsImbalancedTask().load_data(base, seed=0)
    counts = Counter(torch.cat([data.train_targets, data.val_targets, data.test_targets]).tolist())
    assert counts[7] == pytest.approx(counts[1] / 10, abs=3) and data.minority_classes == [7]


def test_sequences_label_is_the_majority_motif_class() -> None:
    tokens, labels = generate_sequences(n_samples=50, vocab_size=100, seq_len=16, n_classes=4, seed=0)
    for row, label in zip(tokens, labels, strict=True):
        motif_classes = Counter(int(t) // 4 for t in row if t < 16)
        assert motif_classes.most_common(1)[0][0] == label
    data = SequencesTask().load_data(BaseConfig({"n_samples": 100}), seed=0)
    assert len(data.train_targets) == 60 and data.train_inputs.dtype == torch.int64


def test_ring_samples_cover_all_modes_and_score_perfectly() -> None:
    task, base = RingGanTask(), BaseConfig({})
    torch.manual_seed(0)
    real = task.sample_real(base, 4000, torch.device("cpu"))
    scores = task.score(base, real)
    assert scores["modes_covered"] == 8 and scores["hq_share"] > 0.98
    collapsed = ring_centers(2.0)[:1].repeat(100, 1)
    assert ring_scores(collapsed, radius=2.0, sigma=0.02, mode_share=0.01) == {"modes_covered": 1.0, "hq_share": 1.0}
    critic = task.build_critic(base, ModelOptions(norm="batch", dropout=0.5))
    assert critic.output.out_features == 1
    assert not any(isinstance(m, torch.nn.BatchNorm1d | torch.nn.Dropout) for m in critic.modules())
