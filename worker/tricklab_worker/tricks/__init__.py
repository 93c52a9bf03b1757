"""One module per trick family; ``TRICK_REGISTRY`` maps each catalog name to its implementation class."""

from tricklab_worker.engine.hooks import Trick
from tricklab_worker.tricks.adversarial import Adversarial
from tricklab_worker.tricks.cyclic_lr import CyclicLR
from tricklab_worker.tricks.dropout import Dropout
from tricklab_worker.tricks.flooding import Flooding
from tricklab_worker.tricks.focal_loss import Focal
from tricklab_worker.tricks.label_smoothing import LabelSmoothing
from tricklab_worker.tricks.normalization import BatchNorm, GroupNorm
from tricklab_worker.tricks.radam import RAdam
from tricklab_worker.tricks.relu import ReLU
from tricklab_worker.tricks.skip_connection import SkipConnection
from tricklab_worker.tricks.warmup import Warmup
from tricklab_worker.tricks.wgan import WGAN

TRICK_REGISTRY: dict[str, type[Trick]] = {
    cls.name: cls
    for cls in (
        CyclicLR,
        Focal,
        Warmup,
        Flooding,
        Dropout,
        BatchNorm,
        GroupNorm,
        LabelSmoothing,
        ReLU,
        RAdam,
        Adversarial,
        WGAN,
        SkipConnection,
    )
}

__all__ = ["TRICK_REGISTRY", "Trick"]
